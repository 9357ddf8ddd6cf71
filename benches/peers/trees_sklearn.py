"""Tree heads next to scikit-learn: ammc's `boosted_trees` and scikit-learn's
HistGradientBoostingClassifier with the same settings, on exactly the same samples, in two
settings:

- raw: the 64 pixel values of each digit (`flat -> boosted_trees(…)`);
- cnn: the 64 features of a frozen CNN backbone pretrained on the same train split
  (`features(weights = pretrain, frozen = true) -> boosted_trees(…)`, as in
  examples/trees_digits.amm); scikit-learn gets the backbone's features from
  `ammc predict … pretrain --features features`.

Both split the digits 70/15/15 (ammc's split, exported with `ammc export data`), train on
the train split and early-stop on the validation split (scikit-learn's `X_val`/`y_val`,
scoring "loss", tolerance 1e-7) with the same patience, and report test accuracy.
Settings: rounds (max_iter), depth (max_depth, leaves unlimited), lr (learning_rate),
min_leaf (min_samples_leaf), l2 (l2_regularization), bins (max_bins). The data is not
normalised (trees do not need it), so exported splits are the raw values.

Times: ammc's is the fit alone (`seconds.train` of summary.json: binning and boosting,
features already computed), on `--threads`; scikit-learn's is `fit()` wall time with
OMP_NUM_THREADS set to the same count (and OMP_WAIT_POLICY=passive unless set: spinning
OpenMP threads starve on a loaded machine).

Usage: python3 benches/peers/trees_sklearn.py [path/to/ammc] [--threads 2] [--rounds 200]
       [--depth 4] [--lr 0.1] [--min-leaf 20] [--l2 1.0] [--patience 10]
A benchmark, not a test: prints a table and exits 0 unless a run fails.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SOURCE = """
use std.heads.{{classifier}}
data digits = builtin.digits(split = [0.7, 0.15, 0.15], seed = 0, normalize = "none")
backbone features {{
    conv(16, kernel = 3, pad = 1) relu
    maxpool(2)
    flatten
    dense(64) relu
}}
backbone flat {{ flatten }}
model pre = features -> classifier(classes = 10)
model on_cnn = features(weights = pretrain, frozen = true) -> {head}
model on_pixels = flat -> {head}
train pretrain {{ model = pre data = digits loss = cross_entropy optimizer = adam(lr = 2e-3) epochs = 15 }}
train cnn {{ model = on_cnn data = digits }}
train raw {{ model = on_pixels data = digits }}
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("ammc", nargs="?", default=os.path.join(ROOT, "target", "release", "ammc"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--min-leaf", type=int, default=20)
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument("--bins", type=int, default=255)
    ap.add_argument("--patience", type=int, default=10)
    a = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    # OpenMP's default spin-waiting makes scikit-learn 10-40x slower on a machine whose
    # cores are busy with other work (measured: 27 s instead of 1.5-2.8 s for 50 rounds).
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier
    import sklearn

    head = (
        f"boosted_trees(trees = {a.rounds}, depth = {a.depth}, lr = {a.lr}, "
        f"min_leaf = {a.min_leaf}, l2 = {a.l2}, bins = {a.bins}, early_stopping = {a.patience})"
    )
    work = tempfile.mkdtemp(prefix="trees-bench-")
    amm = os.path.join(work, "bench.amm")
    open(amm, "w").write(SOURCE.format(head=head))
    out = os.path.join(work, "runs")
    run = lambda *args: subprocess.run([a.ammc, *args], check=True, capture_output=True, text=True)

    ammc = {}
    for block in ["raw", "cnn"]:
        t = time.perf_counter()
        run("run", amm, block, "--quiet", "--threads", str(a.threads), "--out", out)
        wall = time.perf_counter() - t
        s = json.load(open(os.path.join(out, block, "summary.json")))
        ammc[block] = {
            "acc": s["metrics"]["test"]["accuracy"],
            "fit": s["seconds"]["train"],
            "rounds": s["best_round"],
            "trained": s["rounds_trained"],
            "wall": wall,
        }

    data = os.path.join(work, "data")
    run("export", "data", amm, "raw", "-o", data, "--out", out)
    split = {}
    for name in ["train", "val", "test"]:
        x = np.load(os.path.join(data, f"{name}_x.npy")).reshape(-1, 64)
        y = np.load(os.path.join(data, f"{name}_y.npy"))
        f = os.path.join(work, f"{name}_features.npy")
        run("predict", amm, "pretrain", "--input", os.path.join(data, f"{name}_x.npy"),
            "--features", "features", "--output", f, "--out", out)
        split[name] = {"raw": x, "cnn": np.load(f).reshape(len(y), -1), "y": y}

    rows = []
    for block in ["raw", "cnn"]:
        clf = HistGradientBoostingClassifier(
            learning_rate=a.lr, max_iter=a.rounds, max_depth=a.depth, max_leaf_nodes=None,
            min_samples_leaf=a.min_leaf, l2_regularization=a.l2, max_bins=a.bins,
            early_stopping=True, scoring="loss", n_iter_no_change=a.patience, tol=1e-7,
            random_state=0,
        )
        t = time.perf_counter()
        clf.fit(split["train"][block], split["train"]["y"],
                X_val=split["val"][block], y_val=split["val"]["y"])
        fit = time.perf_counter() - t
        acc = float((clf.predict(split["test"][block]) == split["test"]["y"]).mean())
        n = len(split["test"]["y"])
        m = ammc[block]
        # Binomial standard error of a test accuracy on n samples.
        se = math.sqrt(max(acc * (1 - acc), 1e-12) / n)
        rows.append((block, m, acc, clf.n_iter_, fit, se, n))

    print(f"digits 70/15/15, {a.threads} threads; {head}; scikit-learn {sklearn.__version__}")
    print(f"{'features':<9} {'ammc acc':>9} {'sklearn acc':>11} {'diff/se':>8} "
          f"{'ammc rounds':>11} {'sk rounds':>9} {'ammc fit s':>10} {'sk fit s':>9}")
    for block, m, acc, iters, fit, se, n in rows:
        print(f"{block:<9} {m['acc']:>9.4f} {acc:>11.4f} {(m['acc'] - acc) / se:>8.2f} "
              f"{m['rounds']:>5}/{m['trained']:<5} {iters:>9} {m['fit']:>10.3f} {fit:>9.3f}")
    print(f"(test n = {rows[0][6]}; diff/se: accuracy difference over one binomial standard error)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
