"""Python's `safetensors` opens a model written by `ammc run` and sees the documented names,
PyTorch layouts and values. Run by .ci/run after `ammc run examples/cnn.amm --out DIR`."""
import json
import sys

from safetensors.numpy import load_file

run_dir = sys.argv[1]
tensors = load_file(f"{run_dir}/fit/model.safetensors")
expected = {
    "features.conv1.weight": (16, 1, 3, 3),   # OIHW
    "features.conv1.bias": (16,),
    "features.conv2.weight": (16, 16, 3, 3),
    "features.conv4.weight": (32, 16, 3, 3),
    "classifier.dense1.weight": (10, 128),    # [out, in]
    "classifier.dense1.bias": (10,),
}
for name, shape in expected.items():
    assert name in tensors, f"missing {name}; have {sorted(tensors)}"
    assert tensors[name].shape == shape, f"{name}: {tensors[name].shape} != {shape}"
    assert str(tensors[name].dtype) == "float32", tensors[name].dtype
summary = json.load(open(f"{run_dir}/fit/summary.json"))
assert summary["metrics"]["test"]["accuracy"] >= 0.97, summary
lines = open(f"{run_dir}/fit/metrics.jsonl").read().splitlines()
assert len(lines) == summary["epochs"], (len(lines), summary["epochs"])
print(f"safetensors: {len(tensors)} tensors with the documented names and shapes; "
      f"test accuracy {summary['metrics']['test']['accuracy']:.4f}")
