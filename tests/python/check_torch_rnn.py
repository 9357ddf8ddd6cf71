"""Recurrent models trained by ammc load into torch.nn.GRU / torch.nn.LSTM (batch_first)
and reproduce `ammc predict` within 1e-5.

Each model below is trained briefly (`ammc run`) from a small .amm file written here, then
built with torch.nn under the same names, so `load_state_dict(strict=True)` checks that every
tensor is there in PyTorch's layout (`weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`,
`bias_hh_l0`, `*_reverse`; gates r, z, n and i, f, g, o). Raw inputs are normalised with the
statistics stored in the weights' metadata, and softmax probabilities (classifiers) or
values (regression) are compared with `ammc predict` on the same raw inputs.

Usage: python3 tests/python/check_torch_rnn.py target/release/ammc
Needs: torch and numpy (Debian's python3-torch will do). Without torch it prints why and exits 0.
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
    print("check_torch_rnn: SKIPPED — torch cannot be imported (pip install torch, or apt install python3-torch)")
    sys.exit(0)


def read_safetensors(path):
    """Tensors and metadata of a safetensors file, read with numpy only (the format: an
    8-byte little-endian header length, a JSON header, then the raw little-endian data), so
    the check also runs with a distribution's torch that has no `safetensors` package."""
    with open(path, "rb") as f:
        data = f.read()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])
    meta = header.pop("__metadata__", {}) or {}
    body = data[8 + size:]
    dtypes = {"F32": "<f4", "F64": "<f8"}
    tensors = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        array = np.frombuffer(body[start:end], dtype=dtypes[info["dtype"]])
        tensors[name] = torch.from_numpy(array.reshape(info["shape"]).copy())
    return tensors, meta

DIGITS = 'data rows = builtin.digits(as = "rows", normalize = "scale", seed = 2)'
ADDING = "data adding = builtin.adding(n = 400, steps = 12, seed = 3)"


def program(data, name, backbone, head, loss, epochs=2):
    return f"""use std.heads.{{classifier, regressor}}
{data}
backbone reader {{ {backbone} }}
model net = reader -> {head}
train fit {{
    model = net
    data = {name}
    loss = {loss}
    optimizer = adam(lr = 0.01)
    epochs = {epochs}
    batch = 32
}}
"""


def final_states(rnn, x):
    """ammc's `return_sequences = false`: each direction's final state (PyTorch's h_n)."""
    out = rnn(x)
    h_n = out[1][0] if isinstance(rnn, nn.LSTM) else out[1]
    return torch.cat([h_n[d] for d in range(h_n.shape[0])], dim=1)


class Reader(nn.Module):
    """A backbone as a list of (name, module, how to apply it)."""

    def __init__(self, layers):
        super().__init__()
        self.steps = []
        for name, module, apply in layers:
            self.add_module(name, module)
            self.steps.append((module, apply))

    def forward(self, x):
        for module, apply in self.steps:
            x = apply(module, x)
        return x


def seq_out(rnn, x):
    return rnn(x)[0]


def conv_over_time(conv, x):
    # ammc's conv1d reads [N, T, C]; PyTorch's Conv1d reads [N, C, T].
    return conv(x.transpose(1, 2)).transpose(1, 2)


CASES = [
    (
        "gru",
        program(DIGITS, "rows", "gru(16)", "classifier(classes = 10)", "cross_entropy"),
        lambda: [("gru1", nn.GRU(8, 16, batch_first=True), final_states)],
        16, 10, (8, 8), "digits",
    ),
    (
        "lstm_bidirectional",
        program(DIGITS, "rows", "lstm(12, bidirectional = true)", "classifier(classes = 10)",
                "cross_entropy"),
        lambda: [("lstm1", nn.LSTM(8, 12, batch_first=True, bidirectional=True), final_states)],
        24, 10, (8, 8), "digits",
    ),
    (
        "conv1d_gru_bidirectional_sequences_mean",
        program(DIGITS, "rows",
                "conv1d(6, kernel = 3, pad = 1) relu gru(8, return_sequences = true, bidirectional = true) mean",
                "classifier(classes = 10)", "cross_entropy"),
        lambda: [
            ("conv1d1", nn.Conv1d(8, 6, 3, padding=1), conv_over_time),
            ("relu1", nn.ReLU(), lambda m, x: m(x)),
            ("gru1", nn.GRU(6, 8, batch_first=True, bidirectional=True), seq_out),
            ("mean1", nn.Identity(), lambda m, x: x.mean(dim=1)),
        ],
        16, 10, (8, 8), "digits",
    ),
    (
        "lstm_sequences_last_regression",
        program(ADDING, "adding", "lstm(10, return_sequences = true) last",
                "regressor(outputs = 1)", "mse", epochs=3),
        lambda: [
            ("lstm1", nn.LSTM(2, 10, batch_first=True), seq_out),
            ("last1", nn.Identity(), lambda m, x: x[:, -1, :]),
        ],
        10, 1, (12, 2), "adding",
    ),
]


def normalise(path, x):
    """The train split's normalisation stored by `ammc run`: (x - shift) * scale."""
    meta = read_safetensors(path)[1]
    if "ammc.normalization" not in meta:
        return x
    n = json.loads(meta["ammc.normalization"])
    flat = x.reshape(len(x), -1)
    flat = (flat - np.asarray(n["shift"], np.float32)) * np.asarray(n["scale"], np.float32)
    return flat.reshape(x.shape).astype(np.float32)


def main():
    ammc = os.path.abspath(sys.argv[1])
    rng = np.random.default_rng(1)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        for name, source, layers, features, outputs, shape, kind in CASES:
            path = os.path.join(tmp, name + ".amm")
            with open(path, "w") as f:
                f.write(source)
            out = os.path.join(tmp, name + "-runs")
            subprocess.run([ammc, "run", path, "fit", "--quiet", "--out", out], check=True,
                           stdout=subprocess.DEVNULL)
            weights = os.path.join(out, "fit", "model.safetensors")
            reader = Reader(layers())
            head = nn.Linear(features, outputs)
            module = nn.ModuleDict({"reader": reader})
            module.add_module("classifier" if outputs > 1 else "regressor",
                              nn.ModuleDict({"dense1": head}))
            module.load_state_dict(read_safetensors(weights)[0], strict=True)
            module.eval()

            n = 37
            if kind == "digits":
                x = rng.integers(0, 17, size=(n, *shape)).astype(np.float32)
            else:
                x = np.zeros((n, *shape), np.float32)
                x[:, :, 0] = rng.random((n, shape[0]))
                for row in x:
                    row[rng.integers(0, shape[0] // 2), 1] = 1.0
                    row[rng.integers(shape[0] // 2, shape[0]), 1] = 1.0
            inp = os.path.join(tmp, name + "-x.npy")
            np.save(inp, x)
            pred = os.path.join(tmp, name + "-pred.npy")
            subprocess.run([ammc, "predict", path, "fit", "--input", inp, "--output", pred,
                            "--out", out], check=True, stderr=subprocess.DEVNULL)
            expected = np.load(pred)
            with torch.no_grad():
                h = head(reader(torch.from_numpy(normalise(weights, x))))
                got = (torch.softmax(h, dim=1) if outputs > 1 else h).numpy()
            assert got.shape == expected.shape, (got.shape, expected.shape)
            err = float(np.max(np.abs(got - expected)))
            assert err <= 1e-5, f"{name}: max |torch - ammc predict| = {err}"
            print(f"{name}: {len(module.state_dict())} tensors loaded strictly into "
                  f"{', '.join(type(m).__name__ for _, m, _ in layers())}; "
                  f"max difference {err:.2e}")
    print("torch rnn: nn.GRU / nn.LSTM loaded from model.safetensors agree with ammc predict")


if __name__ == "__main__":
    main()
