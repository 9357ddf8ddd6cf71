#!/usr/bin/env python3
"""Interop check between ammc's data layer and numpy / safetensors.

Usage: python3 tests/data_numpy_check.py DIR

Run by `tests/data_interop.rs`, which first writes into DIR:
  - rust_expected.json: {file: {"shape": [...], "dtype": "float32"|"float64", "values": [...]}}
    for every .npy it wrote, and {"tensors": {...}, "metadata": {...}} for rust.safetensors;
  - the files themselves (written by ammc's npy::write and safetensors::write).

This script
  1. loads every Rust-written file with numpy.load / safetensors.numpy.load_file and checks
     shape, dtype, memory order and exact values (exit status 1 on any mismatch);
  2. writes numpy-produced files covering every dtype ammc reads (f4 f8 i1..i8 u1..u8 bool),
     both byte orders, C and Fortran order, format versions 1.0 / 2.0 / 3.0, a features/labels
     pair, and safetensors files (f32 with metadata, and f16 which ammc must reject), plus
     py_expected.json describing them, for the Rust side to read back.
"""

import json
import os
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file


def fail(msg):
    print(f"numpy check FAILED: {msg}", file=sys.stderr)
    sys.exit(1)


def check_rust_files(d):
    with open(os.path.join(d, "rust_expected.json")) as f:
        expected = json.load(f)
    checks = 0
    for name, exp in expected["npy"].items():
        arr = np.load(os.path.join(d, name), allow_pickle=False)
        if list(arr.shape) != exp["shape"]:
            fail(f"{name}: shape {arr.shape} != {exp['shape']}")
        if str(arr.dtype) != exp["dtype"] or arr.dtype.byteorder not in "<=|":
            fail(f"{name}: dtype {arr.dtype!r} != {exp['dtype']}")
        if not arr.flags["C_CONTIGUOUS"]:
            fail(f"{name}: not C order")
        want = np.array(exp["values"], dtype=np.float64).reshape(exp["shape"])
        if not np.array_equal(arr.astype(np.float64), want):
            fail(f"{name}: values differ:\n{arr}\nvs\n{want}")
        checks += 1
    st = expected["safetensors"]
    path = os.path.join(d, "rust.safetensors")
    tensors = load_file(path)
    if sorted(tensors) != sorted(st["tensors"]):
        fail(f"safetensors names {sorted(tensors)} != {sorted(st['tensors'])}")
    for name, exp in st["tensors"].items():
        t = tensors[name]
        if t.dtype != np.float32 or list(t.shape) != exp["shape"]:
            fail(f"safetensors {name}: {t.dtype} {t.shape} vs float32 {exp['shape']}")
        want = np.array(exp["values"], dtype=np.float64).reshape(exp["shape"])
        if not np.array_equal(t.astype(np.float64), want):
            fail(f"safetensors {name}: values differ")
        checks += 1
    with safe_open(path, framework="np") as f:
        if (f.metadata() or {}) != st["metadata"]:
            fail(f"safetensors metadata {f.metadata()} != {st['metadata']}")
    checks += 1
    return checks


def write_python_files(d):
    expected = {"npy": {}, "pair": {}, "safetensors": {}}
    base = np.arange(12, dtype=np.float64).reshape(3, 4) - 5.0

    def record(name, arr):
        expected["npy"][name] = {
            "shape": list(arr.shape),
            # Values in C (logical) order, as float64 (exact for every dtype used here).
            "values": np.ascontiguousarray(arr).astype(np.float64).ravel().tolist(),
        }

    for code in ["f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"]:
        for order in "<>":
            vals = base if code[0] in "fi" else base + 5.0
            if code[0] == "f":
                vals = vals / 4.0  # exact binary fractions
            arr = vals.astype(order + code)
            name = f"py_{code}_{'le' if order == '<' else 'be'}.npy"
            np.save(os.path.join(d, name), arr)
            record(name, arr)
    b = np.array([[True, False, True], [False, False, True]])
    np.save(os.path.join(d, "py_bool.npy"), b)
    record("py_bool.npy", b)
    f = np.asfortranarray(base.astype("<f4"))
    np.save(os.path.join(d, "py_fortran.npy"), f)
    record("py_fortran.npy", f)
    f3 = np.asfortranarray(np.arange(24, dtype="<i2").reshape(2, 3, 4))
    np.save(os.path.join(d, "py_fortran3d.npy"), f3)
    record("py_fortran3d.npy", f3)
    for version in [(1, 0), (2, 0), (3, 0)]:
        name = f"py_v{version[0]}.npy"
        with open(os.path.join(d, name), "wb") as fh:
            np.lib.format.write_array(fh, base.astype(">f8"), version=version)
        record(name, base)
    # A features/labels pair: 10 uint8 images of 4x4 and int64 labels 0..2.
    x = (np.arange(160) % 17).astype(np.uint8).reshape(10, 4, 4)
    y = np.array([i % 3 for i in range(10)], dtype=np.int64)
    np.save(os.path.join(d, "pair_x.npy"), x)
    np.save(os.path.join(d, "pair_y.npy"), y)
    expected["pair"] = {
        "features": x.astype(np.float64).ravel().tolist(),
        "labels": y.tolist(),
    }
    w = (np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5) / 8
    bias = np.array([1.5, -0.25], dtype=np.float32)
    save_file({"w": w, "bias": bias}, os.path.join(d, "py.safetensors"), metadata={"by": "python"})
    expected["safetensors"] = {
        "tensors": {
            "w": {"shape": [2, 3], "values": w.astype(np.float64).ravel().tolist()},
            "bias": {"shape": [2], "values": bias.astype(np.float64).ravel().tolist()},
        },
        "metadata": {"by": "python"},
    }
    save_file({"h": np.ones((2, 2), dtype=np.float16)}, os.path.join(d, "py_f16.safetensors"))
    with open(os.path.join(d, "py_expected.json"), "w") as fh:
        json.dump(expected, fh)
    return len(expected["npy"]) + 3


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    d = sys.argv[1]
    checked = check_rust_files(d)
    written = write_python_files(d)
    print(f"numpy check: {checked} Rust-written arrays/tensors verified, {written} files written")


if __name__ == "__main__":
    main()
