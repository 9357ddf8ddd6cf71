"""Training speed against PyTorch eager, interleaved run by run (issue 17).

Models (the `.amm` files beside this script, and the same networks in PyTorch):
  mlp256   MLP 784-256-256-10            0.27 M MACs/sample
  lenet5   LeNet-5 (ReLU, max pooling)   0.42 M
  mlp1024  MLP 784-1024-1024-10          1.86 M
  cnn32    conv 32 -> pool -> conv 64 -> pool -> dense 128 -> 10, 3x3 pad 1   4.24 M
  digits   examples/quickstart.amm: 64-128-64-10 on the 8x8 digits, Adam, batch 32, 30 epochs

Recipe of the four 28x28 models: 1 epoch of 20,000 synthetic [1, 28, 28] images (the
`synthetic` loader, seed 3; no MNIST offline), batch 64 shuffled, cross-entropy (mean),
SGD lr 0.01 momentum 0.9. Both frameworks train on exactly the same arrays: the script asks
ammc for them (`ammc export data FILE fit`, normalised as training sees them).

Timing: ammc's own `samples_per_sec` from the run's summary.json (training steps only: batch
gathering, forward, loss, backward, update; the JIT's compile of the short last batch is
included); PyTorch's training loop timed the same way (indexing the batch, zero_grad,
forward, loss, backward, step). The digits row reports milliseconds per epoch instead.

PyTorch runs in this process with `OMP_WAIT_POLICY=PASSIVE` (set before importing torch, so
its idle OpenMP threads sleep instead of spinning against ammc's) and
`torch.set_num_threads(t)`; ammc runs as `ammc run FILE fit --threads t --quiet`. For each
model the order is ammc 1t, torch 1t, ammc 2t, torch 2t, repeated `--repeats` times; the
printed ratios are medians of per-repeat ratios, so a slow spell of the shared machine hits
both sides of a ratio alike.

Usage: python3 benches/peers/train_peers.py [path/to/ammc] [--repeats 3] [--models a,b]
Without PyTorch it prints how to install it and exits 0 (a throwaway venv:
`python3 -m venv /tmp/venv-torch && /tmp/venv-torch/bin/pip install torch numpy`).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODELS = {
    "mlp256": os.path.join(HERE, "mlp256.amm"),
    "lenet5": os.path.join(HERE, "lenet5.amm"),
    "mlp1024": os.path.join(HERE, "mlp1024.amm"),
    "cnn32": os.path.join(HERE, "cnn32.amm"),
    "digits": os.path.join(ROOT, "examples", "quickstart.amm"),
}
THREADS = (1, 2)


def torch_net(name):
    from torch import nn

    if name == "mlp256":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256),
                             nn.ReLU(), nn.Linear(256, 10))
    if name == "mlp1024":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 1024), nn.ReLU(),
                             nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))
    if name == "lenet5":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    if name == "cnn32":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))
    if name == "digits":
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64),
                             nn.ReLU(), nn.Linear(64, 10))
    raise ValueError(name)


def recipe(name):
    """(epochs, batch, optimizer factory) as in the `.amm` file."""
    import torch

    if name == "digits":
        return 30, 32, lambda p: torch.optim.Adam(p, lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    return 1, 64, lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9)


def torch_run(name, x, y, threads, seed):
    """Trains `name` in PyTorch eager; returns (samples/s, seconds per epoch)."""
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    net = torch_net(name)
    epochs, batch, make_opt = recipe(name)
    opt = make_opt(net.parameters())
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(seed)
    trained = 0.0
    for _ in range(epochs):
        t0 = time.perf_counter()
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            opt.zero_grad(set_to_none=True)
            loss_fn(net(x[idx]), y[idx]).backward()
            opt.step()
        trained += time.perf_counter() - t0
    return len(x) * epochs / trained, trained / epochs


def ammc_run(ammc, path, threads, work):
    """`ammc run` on one thread count; returns (samples/s, seconds per epoch)."""
    out = tempfile.mkdtemp(dir=work)
    subprocess.run([ammc, "run", path, "fit", "--quiet", "--threads", str(threads),
                    "--out", out], check=True, stdout=subprocess.DEVNULL)
    s = json.load(open(os.path.join(out, "fit", "summary.json")))
    sps = s["samples_per_sec"]
    return sps, s["samples"]["train"] / sps


def export(ammc, name, work):
    import numpy as np
    import torch

    d = os.path.join(work, "data-" + name)
    subprocess.run([ammc, "export", "data", MODELS[name], "fit", "-o", d], check=True,
                   stderr=subprocess.DEVNULL)
    x = np.load(os.path.join(d, "train_x.npy"))
    y = np.load(os.path.join(d, "train_y.npy"))
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)


def loadavg():
    try:
        return open("/proc/loadavg").read().split()[0]
    except OSError:
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ammc", nargs="?", default=os.path.join(ROOT, "target", "release", "ammc"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("train_peers: skipped, PyTorch is not installed (python3 -m venv /tmp/venv-torch "
              "&& /tmp/venv-torch/bin/pip install torch numpy, then run this script with "
              "/tmp/venv-torch/bin/python)")
        return 0
    if not os.path.exists(args.ammc):
        print(f"train_peers: {args.ammc} not found (cargo build --release first)")
        return 1
    torch.set_num_interop_threads(1)
    names = [n for n in args.models.split(",") if n]
    for n in names:
        if n not in MODELS:
            print(f"train_peers: unknown model {n!r} (known: {', '.join(MODELS)})")
            return 1
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = loadavg()
    print(f"# {started}, load average {load_before}, torch {torch.__version__}, "
          f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, {args.repeats} repeats",
          flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name in names:
            x, y = export(args.ammc, name, work)
            ammc_res = {t: [] for t in THREADS}
            torch_res = {t: [] for t in THREADS}
            for r in range(args.repeats):
                for t in THREADS:
                    ammc_res[t].append(ammc_run(args.ammc, MODELS[name], t, work))
                    torch_res[t].append(torch_run(name, x, y, t, r))
                    print(f"  {name} repeat {r + 1} {t}t: ammc {ammc_res[t][-1][0]:,.0f} "
                          f"torch {torch_res[t][-1][0]:,.0f} samples/s", file=sys.stderr,
                          flush=True)
            rows.append((name, ammc_res, torch_res))
    med = statistics.median
    print()
    print("| model | ammc 1t | torch 1t | ammc/torch 1t | ammc 2t | torch 2t "
          "| ammc/torch 2t | ammc 2t/1t | torch 2t/1t |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, a, p in rows:
        n = args.repeats
        ratio = {t: med(a[t][i][0] / p[t][i][0] for i in range(n)) for t in THREADS}
        sa = med(a[2][i][0] / a[1][i][0] for i in range(n))
        sp = med(p[2][i][0] / p[1][i][0] for i in range(n))
        if name == "digits":
            cell = lambda res, t: f"{med(v[1] for v in res[t]) * 1000:.2f} ms/epoch"
        else:
            cell = lambda res, t: f"{med(v[0] for v in res[t]):,.0f}/s"
        print(f"| {name} | {cell(a, 1)} | {cell(p, 1)} | **{ratio[1]:.2f}×** | {cell(a, 2)} "
              f"| {cell(p, 2)} | **{ratio[2]:.2f}×** | {sa:.2f}× | {sp:.2f}× |")
    print()
    print(f"load average {load_before} before, {loadavg()} after; medians of {args.repeats} "
          "interleaved repeats; ratios are medians of per-repeat ratios")
    print(json.dumps({name: {"ammc": a, "torch": p} for name, a, p in rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
