"""Accuracy parity: the quickstart recipe (examples/quickstart.amm) in ammc and in PyTorch
eager (and scikit-learn's MLPClassifier when installed), 10 seeds each, on exactly the same
samples: the script asks ammc for its train/test split (`ammc export data`, normalised as
training sees it) and feeds the same arrays to the peers.

Recipe: 64 -> dense(128) relu -> dense(64) relu -> dense(10), softmax cross-entropy (mean
over the batch), Adam(lr 1e-3, betas 0.9/0.999, eps 1e-8), 30 epochs, batch 32, shuffled
every epoch, last short batch kept, PyTorch's default initialisation.

`--recipe cnn` runs examples/cnn.amm instead (conv 16 -> pool -> residual of two convs ->
conv 32 -> pool -> dense 10; cross-entropy with label smoothing 0.05; AdamW(1e-2, weight
decay 1e-4); 20 warm-up steps then cosine decay to 0 per step; 30 epochs of 32); PyTorch
gets the same module, optimizer and per-step schedule; scikit-learn has no CNN and is left out.

Usage: python3 benches/peers/accuracy_parity.py [path/to/ammc] [--seeds 10] [--init NAME]
       [--recipe quickstart|cnn]
`--init kaiming_normal` (or kaiming_uniform, xavier_uniform, xavier_normal) adds `init = NAME`
to the train block and applies the same torch.nn.init scheme (biases 0) in PyTorch;
scikit-learn keeps its own (Glorot) initialisation.
Prints per-framework mean and std of the test accuracy and Welch's t-test of ammc against
each peer (scipy's when installed, else computed here with a Student-t tail by numerical
integration). A benchmark, not a test: it prints numbers and always exits 0 unless a run fails.
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECIPES = {
    "quickstart": os.path.join(ROOT, "examples", "quickstart.amm"),
    "cnn": os.path.join(ROOT, "examples", "cnn.amm"),
}
EPOCHS, BATCH = 30, 32


def with_seed(src: str, seed: int, init: str) -> str:
    """The quickstart with `seed = S` (initialisation, order, dropout) and `init = …` in its
    train block."""
    extra = f"    seed = {seed}\n" + (f"    init = {init}\n" if init != "torch" else "")
    out, n = re.subn(r"(\n\s*batch = 32\n)", lambda m: m.group(1) + extra, src)
    assert n == 1, "the recipe's train block changed: update accuracy_parity.py"
    return out


def ammc_runs(ammc: str, recipe: str, seeds: list[int], work: str, init: str) -> list[float]:
    src = open(RECIPES[recipe]).read()
    accs = []
    for s in seeds:
        path = os.path.join(work, f"{recipe}_seed{s}.amm")
        open(path, "w").write(with_seed(src, s, init))
        out = os.path.join(work, f"runs{s}")
        subprocess.run([ammc, "run", path, "fit", "--quiet", "--out", out], check=True,
                       stdout=subprocess.DEVNULL)
        summary = json.load(open(os.path.join(out, "fit", "summary.json")))
        accs.append(summary["metrics"]["test"]["accuracy"])
    return accs


def export_split(ammc: str, recipe: str, work: str):
    d = os.path.join(work, "data")
    subprocess.run([ammc, "export", "data", RECIPES[recipe], "fit", "-o", d], check=True,
                   stderr=subprocess.DEVNULL)
    load = lambda n: np.load(os.path.join(d, n))
    return load("train_x.npy"), load("train_y.npy"), load("test_x.npy"), load("test_y.npy")


def torch_runs(recipe, seeds, xtr, ytr, xte, yte, init="torch"):
    import math as m

    import torch
    from torch import nn

    class Residual(nn.Module):
        def __init__(self, body):
            super().__init__()
            self.body = body

        def forward(self, x):
            return self.body(x) + x

    def quickstart_net():
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64),
                             nn.ReLU(), nn.Linear(64, 10))

    def cnn_net():
        conv = lambda i, o: nn.Conv2d(i, o, 3, padding=1)
        return nn.Sequential(
            conv(1, 16), nn.ReLU(), nn.MaxPool2d(2),
            Residual(nn.Sequential(conv(16, 16), nn.ReLU(), conv(16, 16))), nn.ReLU(),
            conv(16, 32), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(128, 10))

    torch.set_num_threads(1)
    xtr_t, ytr_t = torch.from_numpy(xtr), torch.from_numpy(ytr)
    xte_t, yte_t = torch.from_numpy(xte), torch.from_numpy(yte)
    steps_per_epoch = -(-len(xtr_t) // BATCH)
    accs = []
    for s in seeds:
        torch.manual_seed(s)
        # Each layer's own initialisation is PyTorch's default (kaiming_uniform a=√5).
        net = quickstart_net() if recipe == "quickstart" else cnn_net()
        if init != "torch":
            fill = {
                "kaiming_uniform": lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu"),
                "kaiming_normal": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
                "xavier_uniform": nn.init.xavier_uniform_,
                "xavier_normal": nn.init.xavier_normal_,
            }[init]
            for layer in net.modules():
                if isinstance(layer, (nn.Linear, nn.Conv2d)):
                    fill(layer.weight)
                    nn.init.zeros_(layer.bias)
        if recipe == "quickstart":
            opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
            loss_fn = nn.CrossEntropyLoss()
            factor = lambda t: 1.0
        else:
            opt = torch.optim.AdamW(net.parameters(), lr=1e-2, betas=(0.9, 0.999), eps=1e-8,
                                    weight_decay=1e-4)
            loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
            warmup, total = 20, EPOCHS * steps_per_epoch
            t_max = max(1, total - warmup)
            # ammc: (t + 1) / W during warm-up, then cosine to 0 over the remaining steps.
            factor = lambda t: ((t + 1) / warmup if t < warmup
                                else (1 + m.cos(m.pi * min(t - warmup, t_max) / t_max)) / 2)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        g = torch.Generator().manual_seed(s)
        for _ in range(EPOCHS):
            order = torch.randperm(len(xtr_t), generator=g)
            for i in range(0, len(order), BATCH):
                idx = order[i:i + BATCH]
                opt.zero_grad()
                loss_fn(net(xtr_t[idx]), ytr_t[idx]).backward()
                opt.step()
                sched.step()
        net.eval()
        with torch.no_grad():
            accs.append((net(xte_t).argmax(1) == yte_t).float().mean().item())
    return accs


def sklearn_runs(recipe, seeds, xtr, ytr, xte, yte, init="torch"):
    if recipe != "quickstart":
        return None  # no convolutional network in scikit-learn
    from sklearn.neural_network import MLPClassifier
    import warnings

    accs = []
    for s in seeds:
        clf = MLPClassifier(hidden_layer_sizes=(128, 64), activation="relu", solver="adam",
                            alpha=0.0, batch_size=BATCH, learning_rate_init=1e-3,
                            max_iter=EPOCHS, shuffle=True, random_state=s, tol=0.0,
                            n_iter_no_change=EPOCHS + 1, beta_1=0.9, beta_2=0.999,
                            epsilon=1e-8)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "max_iter reached": intended, 30 epochs
            clf.fit(xtr.reshape(len(xtr), -1), ytr)
        accs.append(float(clf.score(xte.reshape(len(xte), -1), yte)))
    return accs


def student_t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with df degrees of freedom, via the regularised incomplete
    beta function I_x(df/2, 1/2) / 2 with x = df / (df + t²) (continued fraction, as in
    Numerical Recipes' betacf)."""
    x = df / (df + t * t)
    a, b = df / 2.0, 0.5
    lbeta = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    front = math.exp(math.log(x) * a + math.log(1.0 - x) * b + lbeta) / a
    # Lentz's continued fraction for I_x(a, b).
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    f = d
    for m in range(1, 300):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            f *= c * d
    half = front * f / 2.0
    return half if t >= 0 else 1.0 - half


def welch(a, b):
    """Welch's t statistic, degrees of freedom and two-sided p-value of mean(a) - mean(b)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        return 0.0, float("nan"), 1.0 if a.mean() == b.mean() else 0.0
    t = (a.mean() - b.mean()) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    try:
        from scipy import stats
        p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    except ImportError:
        p = 2.0 * student_t_sf(abs(t), df)
    return t, df, p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ammc", nargs="?", default=os.path.join(ROOT, "target", "release", "ammc"))
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--init", default="torch",
                    choices=["torch", "kaiming_uniform", "kaiming_normal", "xavier_uniform",
                             "xavier_normal"])
    ap.add_argument("--recipe", default="quickstart", choices=sorted(RECIPES))
    args = ap.parse_args()
    seeds = list(range(args.seeds))
    results = {}
    with tempfile.TemporaryDirectory() as work:
        t0 = time.time()
        results["ammc"] = ammc_runs(args.ammc, args.recipe, seeds, work, args.init)
        print(f"ammc: {args.seeds} runs in {time.time() - t0:.1f} s", file=sys.stderr)
        xtr, ytr, xte, yte = export_split(args.ammc, args.recipe, work)
        for name, fn in (("pytorch", torch_runs), ("sklearn", sklearn_runs)):
            try:
                t0 = time.time()
                accs = fn(args.recipe, seeds, xtr, ytr, xte, yte, args.init)
                if accs is None:
                    continue
                results[name] = accs
                print(f"{name}: {args.seeds} runs in {time.time() - t0:.1f} s", file=sys.stderr)
            except ImportError as e:
                print(f"{name}: skipped ({e.name} is not installed)", file=sys.stderr)
    print(f"{args.recipe} recipe, init {args.init}, {len(xtr)} train / {len(xte)} test digits, "
          f"seeds {seeds[0]}..{seeds[-1]}")
    print(f"{'framework':<10} {'mean acc':>9} {'std':>7} {'min':>7} {'max':>7}")
    for name, accs in results.items():
        a = np.asarray(accs)
        print(f"{name:<10} {a.mean():>9.4f} {a.std(ddof=1):>7.4f} {a.min():>7.4f} {a.max():>7.4f}")
    for name in results:
        if name == "ammc":
            continue
        t, df, p = welch(results["ammc"], results[name])
        verdict = "no significant gap" if p > 0.05 else ("ammc ahead" if t > 0 else "ammc behind")
        print(f"Welch t-test ammc vs {name}: t = {t:+.3f}, df = {df:.1f}, p = {p:.4f} ({verdict})")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
