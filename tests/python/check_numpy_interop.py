"""Arrays written by NumPy in several dtypes and layouts load through ammc's NPY loader
with the right shapes: `ammc check --json` on a generated .amm reports them.
Usage: python3 tests/python/check_numpy_interop.py path/to/ammc"""
import json
import subprocess
import sys
import tempfile

import numpy as np

ammc = sys.argv[1]
rng = np.random.default_rng(0)
with tempfile.TemporaryDirectory() as d:
    cases = [
        ("f4_c", rng.normal(size=(60, 1, 6, 6)).astype("<f4"), rng.integers(0, 3, 60).astype("<i8")),
        ("f8_fortran", np.asfortranarray(rng.normal(size=(60, 12))), rng.integers(0, 4, 60).astype("u1")),
        ("big_endian", rng.normal(size=(60, 5, 5)).astype(">f4"), rng.integers(0, 2, 60).astype(">i4")),
    ]
    for name, x, y in cases:
        np.save(f"{d}/{name}_x.npy", x)
        np.save(f"{d}/{name}_y.npy", y)
        classes = int(y.max()) + 1
        src = f"""
use std.heads.{{classifier}}
data arrays = npy(features = "{name}_x.npy", labels = "{name}_y.npy", split = [0.8, 0.2])
backbone f {{ flatten dense(8) relu }}
model m = f -> classifier(classes = {classes})
train t {{ model = m data = arrays loss = cross_entropy optimizer = adam }}
"""
        path = f"{d}/{name}.amm"
        open(path, "w").write(src)
        out = subprocess.run([ammc, "check", "--json", path], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        summary = json.loads(out.stdout)[0]
        expected = list(x.shape[1:]) if x.ndim != 3 else [1, *x.shape[1:]]
        assert summary["input"] == expected, (name, summary["input"], expected)
        print(f"numpy {name}: {x.dtype.str} {'F' if np.isfortran(x) else 'C'} {list(x.shape)} -> input {summary['input']}, {classes} classes")
