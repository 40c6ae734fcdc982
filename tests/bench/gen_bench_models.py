#!/usr/bin/python3
"""Writes the benchmark models to tests/bench/models/ (gitignored; regenerate rather than commit):

    /usr/bin/python3 tests/bench/gen_bench_models.py

For each model in bench_models.MODELS: <name>.onnx (eval model exported with TrainingMode.PRESERVE,
opset 13, dynamic batch, BN nodes kept) and <name>_input.npy (the seeded float32 input batch, .npy
format 1.0). identity.onnx is a single Identity node on input [batch, 784]. Deterministic: re-runs are
byte-identical. The torchvision architectures are skipped when torchvision is not installed.
"""
import os
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import bench_models  # noqa: E402
from bn_export import DEFAULT_OPSET, write_checked  # noqa: E402

OUT = os.path.join(HERE, "models")
torch.set_num_threads(1)
torch.set_grad_enabled(False)


def write_identity(path, features):
    """One Identity node, same I/O names, opset and IR version as the torch exports."""
    shape = ["batch", features]
    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["output"], name="/Identity")], "identity",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", DEFAULT_OPSET)],
                              producer_name="bnserve gen_bench_models")
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, path)


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in bench_models.MODELS:
        try:
            model, x = bench_models.build(name)
        except ImportError as e:  # the torchvision architectures without torchvision
            print(f"{name}: skipped ({e})")
            continue
        path = os.path.join(OUT, f"{name}.onnx")
        if name == "identity":
            write_identity(path, x.shape[1])
            bn_count = 0
        else:
            bn_count = len(write_checked(path, model, x))
        y = model(x)
        assert torch.isfinite(y).all(), name
        np.save(os.path.join(OUT, f"{name}_input.npy"), x.numpy(), allow_pickle=False)
        print(f"{name}: {bn_count} BN nodes, input {list(x.shape)}, output {list(y.shape)}, "
              f"{os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
