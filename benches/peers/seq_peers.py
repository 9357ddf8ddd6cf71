"""Sequence recipes in ammc and in PyTorch eager, on exactly the same samples: the GRU on
row-by-row digits (examples/seq_digits.amm) and the GRU on the adding problem
(examples/seq_adding.amm, block fit_rnn). The script asks ammc for its train/test split
(`ammc export data`, normalised as training sees it) and trains the same network in
PyTorch with the same recipe: nn.GRU(batch_first=True) on the final state -> nn.Linear,
PyTorch's default initialisation, Adam (lr 5e-3, betas 0.9/0.999, eps 1e-8), batch 32
shuffled every epoch with the last short batch kept; digits: softmax cross-entropy, 25
epochs, cosine decay per step to 0; adding: MSE, 30 epochs, constant rate.

Both train on one thread (`ammc run --threads 1`, torch.set_num_threads(1)). Prints, per
recipe, mean ± std over the seeds of the test metric (accuracy or MSE) and the training
throughput (samples per second of training, evaluation excluded), and the throughput
ratio ammc / PyTorch. A benchmark, not a test.

Usage: python3 benches/peers/seq_peers.py [path/to/ammc] [--seeds 3] [--recipe digits|adding|all]
"""
import argparse
import json
import math
import os
import re
import subprocess
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECIPES = {
    # name: (file, block, units, epochs, cosine, classes or None for regression)
    "digits": ("examples/seq_digits.amm", "fit", 64, 25, True, 10),
    "adding": ("examples/seq_adding.amm", "fit_rnn", 32, 30, False, None),
}
BATCH, LR = 32, 5e-3


def with_seed(src, seed):
    out, n = re.subn(r"(\n\s*batch = 32\n)", lambda m: m.group(1) + f"    seed = {seed}\n", src)
    assert n >= 1, "the recipe's train block changed: update seq_peers.py"
    return out


def ammc_runs(ammc, recipe, seeds, work):
    path, block, *_rest, classes = RECIPES[recipe]
    src = open(os.path.join(ROOT, path)).read()
    metrics, rates = [], []
    for s in seeds:
        file = os.path.join(work, f"{recipe}_seed{s}.amm")
        open(file, "w").write(with_seed(src, s))
        out = os.path.join(work, f"runs-{recipe}-{s}")
        subprocess.run([ammc, "run", file, block, "--quiet", "--threads", "1", "--out", out],
                       check=True, stdout=subprocess.DEVNULL)
        summary = json.load(open(os.path.join(out, block, "summary.json")))
        test = summary["metrics"]["test"]
        metrics.append(test["accuracy"] if classes else test["mse"])
        rates.append(summary["samples_per_sec"])
    return metrics, rates


def export_split(ammc, recipe, work):
    path, block, *_ = RECIPES[recipe]
    d = os.path.join(work, f"data-{recipe}")
    subprocess.run([ammc, "export", "data", os.path.join(ROOT, path), block, "-o", d],
                   check=True, stderr=subprocess.DEVNULL)
    load = lambda n: np.load(os.path.join(d, n))
    return load("train_x.npy"), load("train_y.npy"), load("test_x.npy"), load("test_y.npy")


def torch_runs(recipe, seeds, xtr, ytr, xte, yte):
    import torch
    from torch import nn

    _, _, units, epochs, cosine, classes = RECIPES[recipe]
    torch.set_num_threads(1)
    features = xtr.shape[-1]
    xtr_t, xte_t = torch.from_numpy(xtr.astype(np.float32)), torch.from_numpy(xte.astype(np.float32))
    if classes:
        ytr_t, yte_t = torch.from_numpy(ytr.astype(np.int64)), torch.from_numpy(yte.astype(np.int64))
        loss_fn = nn.CrossEntropyLoss()
    else:
        ytr_t = torch.from_numpy(ytr.astype(np.float32)).reshape(len(ytr), -1)
        yte_t = torch.from_numpy(yte.astype(np.float32)).reshape(len(yte), -1)
        loss_fn = nn.MSELoss()

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(features, units, batch_first=True)
            self.head = nn.Linear(units, classes or 1)

        def forward(self, x):
            return self.head(self.gru(x)[1][0])

    steps = epochs * -(-len(xtr_t) // BATCH)
    metrics, rates = [], []
    for s in seeds:
        torch.manual_seed(s)
        net = Net()
        opt = torch.optim.Adam(net.parameters(), lr=LR, betas=(0.9, 0.999), eps=1e-8)
        factor = (lambda t: (1 + math.cos(math.pi * min(t, steps) / steps)) / 2) if cosine else (lambda t: 1.0)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        g = torch.Generator().manual_seed(s)
        t0 = time.perf_counter()
        for _ in range(epochs):
            order = torch.randperm(len(xtr_t), generator=g)
            for i in range(0, len(order), BATCH):
                idx = order[i:i + BATCH]
                opt.zero_grad()
                loss_fn(net(xtr_t[idx]), ytr_t[idx]).backward()
                opt.step()
                sched.step()
        rates.append(epochs * len(xtr_t) / (time.perf_counter() - t0))
        net.eval()
        with torch.no_grad():
            out = net(xte_t)
            metrics.append((out.argmax(1) == yte_t).float().mean().item() if classes
                           else float(((out - yte_t) ** 2).mean()))
    return metrics, rates


def stats(v):
    return f"{np.mean(v):.4f} ± {np.std(v, ddof=1) if len(v) > 1 else 0.0:.4f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ammc", nargs="?", default=os.path.join(ROOT, "target", "release", "ammc"))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--recipe", default="all", choices=["digits", "adding", "all"])
    args = ap.parse_args()
    seeds = list(range(args.seeds))
    recipes = list(RECIPES) if args.recipe == "all" else [args.recipe]
    with tempfile.TemporaryDirectory() as work:
        for recipe in recipes:
            what = "accuracy" if RECIPES[recipe][5] else "MSE"
            am, ar = ammc_runs(os.path.abspath(args.ammc), recipe, seeds, work)
            split = export_split(os.path.abspath(args.ammc), recipe, work)
            tm, tr = torch_runs(recipe, seeds, *split)
            print(f"{recipe}: test {what} ammc {stats(am)}  PyTorch {stats(tm)}  ({len(seeds)} seeds)")
            print(f"{recipe}: training samples/s ammc {np.mean(ar):.0f}  PyTorch {np.mean(tr):.0f}  "
                  f"ratio ammc/PyTorch {np.mean(ar) / np.mean(tr):.2f}")


if __name__ == "__main__":
    main()
