"""`ammc export onnx` against onnxruntime.

For each example: train it (`ammc run`), export it, run onnxruntime on raw inputs and
compare with `ammc predict` on the same inputs (within 1e-5). `onnx.checker` must accept
every model, the batch dimension must be dynamic, and no Dropout may remain.

Usage: python3 tests/python/check_onnx.py target/release/ammc
Needs: pip install onnx onnxruntime numpy
"""

import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort

# (example, input sample shape, raw value range): digits are 0..16, synthetic images ~N(0, 1).
EXAMPLES = [
    ("examples/quickstart.amm", (1, 8, 8), "digits"),
    ("examples/cnn.amm", (1, 8, 8), "digits"),
    ("examples/lenet5.amm", (1, 28, 28), "normal"),
    ("examples/custom_head.amm", (1, 8, 8), "digits"),  # batchnorm, dropout, standardize
    ("examples/regression.amm", (32,), "digits"),  # gelu, dropout, regression
]


def main():
    ammc = os.path.abspath(sys.argv[1])
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for example, shape, kind in EXAMPLES:
            name = os.path.splitext(os.path.basename(example))[0]
            out = os.path.join(tmp, name)
            subprocess.run([ammc, "run", example, "fit", "--quiet", "--out", out], check=True,
                           stdout=subprocess.DEVNULL)
            path = os.path.join(tmp, name + ".onnx")
            subprocess.run([ammc, "export", "onnx", example, "fit", "-o", path, "--out", out],
                           check=True)
            model = onnx.load(path)
            onnx.checker.check_model(model, full_check=True)
            ops = {n.op_type for n in model.graph.node}
            assert "Dropout" not in ops, ops
            batch = model.graph.input[0].type.tensor_type.shape.dim[0]
            assert batch.dim_param == "N", batch

            n = 37  # not a multiple of any training batch
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

            session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            names = [o.name for o in session.get_outputs()]
            results = dict(zip(names, session.run(None, {"input": x})))
            got = results.get("probabilities", results["output"])
            assert got.shape == expected.shape, (got.shape, expected.shape)
            err = float(np.max(np.abs(got - expected)))
            assert err <= 1e-5, f"{example}: max |onnxruntime - ammc predict| = {err}"
            # A different batch size runs too (dynamic batch).
            one = session.run(None, {"input": x[:1]})[names.index("probabilities")
                                                       if "probabilities" in names else 0]
            assert np.max(np.abs(one - expected[:1])) <= 1e-5
            print(f"{example}: ops {sorted(ops)}; max difference {err:.2e}")
    print("onnx: onnxruntime agrees with ammc predict")


if __name__ == "__main__":
    main()
