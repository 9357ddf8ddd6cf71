"""A trained `model.safetensors` loads into an equivalent PyTorch module written here, and
PyTorch's predictions equal `ammc predict`'s within 1e-5.

For each example: train it (`ammc run`), build the same network with torch.nn (the module
names below mirror ammc's tensor names, so `load_state_dict(strict=True)` checks that every
tensor is there with PyTorch's layout), apply the normalisation stored in the file's
metadata to raw inputs, and compare softmax probabilities with `ammc predict` on the same
raw inputs; and `ammc predict --features STAGE` against the first stage's output.

Usage: python3 tests/python/check_torch.py target/release/ammc
Needs: pip install torch safetensors numpy. Without torch it prints why and exits 0.
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

try:
    import torch
    from torch import nn
except ImportError:
    print("check_torch: SKIPPED — torch cannot be imported (pip install torch)")
    sys.exit(0)
from safetensors import safe_open
from safetensors.torch import load_file


class Residual(nn.Module):
    """ammc's `residual { … }`: body(x) + x."""

    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, x):
        return self.body(x) + x


def named(**layers):
    """A Sequential whose children carry ammc's layer names (`conv1`, `dense2`, …)."""
    seq = nn.Sequential()
    for name, layer in layers.items():
        seq.add_module(name, layer)
    return seq


def quickstart():
    # mlp: flatten dense(128) relu dense(64) relu; classifier: flatten dense(10).
    return nn.ModuleDict({
        "mlp": named(flatten=nn.Flatten(), dense1=nn.Linear(64, 128), relu1=nn.ReLU(),
                     dense2=nn.Linear(128, 64), relu2=nn.ReLU()),
        "classifier": named(flatten=nn.Flatten(), dense1=nn.Linear(64, 10)),
    })


class CnnFeatures(nn.Module):
    """examples/cnn.amm's backbone; ammc numbers convs in order, residual body included."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1)
        self.conv3 = nn.Conv2d(16, 16, 3, padding=1)
        self.conv4 = nn.Conv2d(16, 32, 3, padding=1)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.relu(x + self.conv3(torch.relu(self.conv2(x))))
        x = nn.functional.max_pool2d(torch.relu(self.conv4(x)), 2)
        return x.flatten(1)


def cnn():
    return nn.ModuleDict({
        "features": CnnFeatures(),
        "classifier": named(flatten=nn.Flatten(), dense1=nn.Linear(128, 10)),
    })


def lenet5():
    return nn.ModuleDict({
        "lenet5": named(conv1=nn.Conv2d(1, 6, 5, padding=2), relu1=nn.ReLU(),
                        maxpool1=nn.MaxPool2d(2), conv2=nn.Conv2d(6, 16, 5), relu2=nn.ReLU(),
                        maxpool2=nn.MaxPool2d(2), flatten=nn.Flatten(),
                        dense1=nn.Linear(400, 120), relu3=nn.ReLU(),
                        dense2=nn.Linear(120, 84), relu4=nn.ReLU()),
        "classifier": named(flatten=nn.Flatten(), dense1=nn.Linear(84, 10)),
    })


def custom_head():
    # tower(units = 64, depth = 2): flatten (dense batchnorm relu) x2;
    # scores: dense(32) tanh dropout dense(10). ammc's batchnorm eps is PyTorch's 1e-5.
    return nn.ModuleDict({
        "tower": named(flatten=nn.Flatten(), dense1=nn.Linear(64, 64),
                       batchnorm1=nn.BatchNorm1d(64), relu1=nn.ReLU(),
                       dense2=nn.Linear(64, 64), batchnorm2=nn.BatchNorm1d(64),
                       relu2=nn.ReLU()),
        "scores": named(dense1=nn.Linear(64, 32), tanh=nn.Tanh(), dropout=nn.Dropout(0.2),
                        dense2=nn.Linear(32, 10)),
    })


# (example, torch module, stage order, sample shape, raw inputs)
EXAMPLES = [
    ("examples/quickstart.amm", quickstart, ["mlp", "classifier"], (1, 8, 8), "digits"),
    ("examples/cnn.amm", cnn, ["features", "classifier"], (1, 8, 8), "digits"),
    ("examples/lenet5.amm", lenet5, ["lenet5", "classifier"], (1, 28, 28), "normal"),
    ("examples/custom_head.amm", custom_head, ["tower", "scores"], (1, 8, 8), "digits"),
]


def load(module, path):
    """ammc's tensors into the module; strict, so a missing or extra tensor fails."""
    state = load_file(path)
    # BatchNorm1d also keeps a step counter ammc has no use for (momentum is fixed).
    for key, value in module.state_dict().items():
        if key.endswith("num_batches_tracked"):
            state[key] = value
    module.load_state_dict(state, strict=True)
    return module.eval()


def normalise(path, x):
    """The train split's normalisation stored by `ammc run`: (x - shift) * scale."""
    with safe_open(path, "np") as f:
        meta = f.metadata() or {}
    if "ammc.normalization" not in meta:
        return x
    n = json.loads(meta["ammc.normalization"])
    shape = x.shape
    flat = x.reshape(len(x), -1)
    flat = (flat - np.asarray(n["shift"], np.float32)) * np.asarray(n["scale"], np.float32)
    return flat.reshape(shape).astype(np.float32)


def main():
    ammc = os.path.abspath(sys.argv[1])
    rng = np.random.default_rng(1)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        for example, build, stages, shape, kind in EXAMPLES:
            name = os.path.splitext(os.path.basename(example))[0]
            out = os.path.join(tmp, name)
            subprocess.run([ammc, "run", example, "fit", "--quiet", "--out", out], check=True,
                           stdout=subprocess.DEVNULL)
            weights = os.path.join(out, "fit", "model.safetensors")
            module = load(build(), weights)

            n = 41
            if kind == "digits":
                x = rng.integers(0, 17, size=(n, *shape)).astype(np.float32)
            else:
                x = rng.standard_normal((n, *shape)).astype(np.float32)
            inp = os.path.join(tmp, name + "-x.npy")
            np.save(inp, x)
            pred = os.path.join(tmp, name + "-pred.npy")
            subprocess.run([ammc, "predict", example, "fit", "--input", inp, "--output", pred,
                            "--out", out], check=True, stderr=subprocess.DEVNULL)
            expected = np.load(pred)

            feats = os.path.join(tmp, name + "-features.npy")
            subprocess.run([ammc, "predict", example, "fit", "--input", inp, "--features",
                            stages[0], "--output", feats, "--out", out], check=True,
                           stderr=subprocess.DEVNULL)
            backbone = np.load(feats)

            with torch.no_grad():
                h = torch.from_numpy(normalise(weights, x))
                for i, stage in enumerate(stages):
                    h = module[stage](h)
                    if i == 0:
                        # `--features STAGE`: the backbone's activations, same shape, same values.
                        want = h.numpy()
                        assert backbone.shape == want.shape, (backbone.shape, want.shape)
                        # Activations are not bounded like probabilities: 1e-5 of the tensor's
                        # scale (its largest magnitude, at least 1).
                        scale = max(1.0, float(np.max(np.abs(want))))
                        ferr = float(np.max(np.abs(backbone - want))) / scale
                        assert ferr <= 1e-5, f"{example}: --features {stages[0]} differs by {ferr}"
                got = torch.softmax(h, dim=1).numpy()
            assert got.shape == expected.shape, (got.shape, expected.shape)
            err = float(np.max(np.abs(got - expected)))
            assert err <= 1e-5, f"{example}: max |torch - ammc predict| = {err}"
            agree = float(np.mean(got.argmax(1) == expected.argmax(1)))
            assert agree == 1.0, f"{example}: classes differ on {1 - agree:.1%} of inputs"
            print(f"{example}: {len(module.state_dict())} tensors loaded strictly; "
                  f"max difference {err:.2e}; --features {stages[0]} {list(backbone.shape)} "
                  f"within {ferr:.1e}")
    print("torch: PyTorch modules loaded from model.safetensors agree with ammc predict")


if __name__ == "__main__":
    main()
