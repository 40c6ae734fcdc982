"""Exports torchvision architectures for tests/core/engine/torchvision_ops_heavy_test.cc.

usage: /usr/bin/python3 export_torchvision_cases.py OUT_DIR NAME[:SIZE] ...

For each NAME (a torchvision.models or torchvision.models.segmentation builder; a segmentation model's
output is its "out" map) writes OUT_DIR/NAME.onnx, exported exactly as the README
prescribes (tests/python/bn_export.py), from random weights with randomized BN running statistics and affine
parameters (so a wrong fold shows), and OUT_DIR/NAME.json holding a random input batch of 2 images of
SIZE x SIZE (default 64), PyTorch's eval-mode output for it and, keyed by each BN's running-mean
initializer, the per-channel mean of that BN's input in that forward (float64), and PyTorch's output for the
first image alone (a second batch size: shapes computed in the graph must follow the batch).
Needs torch 1.13, torchvision 0.14 and onnx (/usr/bin/python3).
"""
import json
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bn_export  # noqa: E402


def tensor_json(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().double().flatten().tolist()]}


class SegmentationOutput(torch.nn.Module):
    """A segmentation model whose forward returns the "out" map alone (ONNX export needs tensors)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


def build(name):
    if hasattr(torchvision.models, name):
        return getattr(torchvision.models, name)(weights=None)
    # No pretrained backbone either: nothing is downloaded.
    return SegmentationOutput(getattr(torchvision.models.segmentation, name)(weights=None, weights_backbone=None))


def export_case(out_dir, name, size, seed):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = build(name)
    bn_export.randomize_bn(model, g)
    model.eval()
    x = torch.randn((2, 3, size, size), generator=g)
    data = bn_export.export_preserve(model, x[:1])
    means = {}
    hooks = []
    for path, bn in bn_export.bn_modules(model):
        def hook(module, inputs, path=path):
            means[path + ".running_mean"] = inputs[0].detach().double().transpose(0, 1).flatten(1).mean(1).tolist()
        hooks.append(bn.register_forward_pre_hook(hook))
    with torch.no_grad():
        y = model(x)
    for h in hooks:
        h.remove()
    with torch.no_grad():
        y_first = model(x[:1])
    with open(os.path.join(out_dir, name + ".onnx"), "wb") as f:
        f.write(data)
    with open(os.path.join(out_dir, name + ".json"), "w") as f:
        json.dump({"input": tensor_json(x), "output": tensor_json(y), "bn_input_means": means,
                   "first_output": tensor_json(y_first)}, f)


def main():
    out_dir = sys.argv[1]
    for k, arg in enumerate(sys.argv[2:]):
        name, _, size = arg.partition(":")
        export_case(out_dir, name, int(size or 64), seed=1000 + k)


if __name__ == "__main__":
    main()
