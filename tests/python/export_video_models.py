"""Exports torchvision's video networks (r3d_18, mc3_18, r2plus1d_18) as a user would (README's
torch.onnx.export call, opset 13: bn_export.write_checked) with random weights and randomized BN running
statistics and affine parameters (bn_export.randomize_bn), so that a wrong fold or a wrong statistic shows,
and writes what PyTorch computes with them.

Usage: export_video_models.py OUT_DIR [ARCH...]
Writes OUT_DIR/<arch>/model.onnx (a bnserve model repository) and OUT_DIR/<arch>.json:
  eval:  {"input", "output"}      an eval-mode forward of a 2x3x4x32x32 clip batch
  train: {"input", "bn": [{"node", "running_mean", "running_var"}]}
                                  BN running statistics after one train-mode forward of another batch
                                  (PyTorch momentum 0.1, the unbiased batch variance)
Tensors are {"shape", "data"}. Needs torch and torchvision (/usr/bin/python3).
"""
import copy
import json
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bn_export import randomize_bn, write_checked  # noqa: E402

ARCHS = ["r3d_18", "mc3_18", "r2plus1d_18"]
CLIP = (2, 3, 4, 32, 32)  # N, C, T, H, W: small, yet every block sees T >= 1 and H, W >= 2


def tensor_json(t):
    return {"shape": list(t.shape), "data": t.detach().double().flatten().tolist()}


def export(arch, out_dir, seed):
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = getattr(torchvision.models.video, arch)(weights=None)
    randomize_bn(model, generator)
    model.eval()
    eval_input = torch.randn(*CLIP, generator=generator)
    train_input = torch.randn(*CLIP, generator=generator) * 1.5 + 0.25
    model_dir = os.path.join(out_dir, arch)
    os.makedirs(model_dir, exist_ok=True)
    write_checked(os.path.join(model_dir, "model.onnx"), model, eval_input)
    with torch.no_grad():
        eval_output = model(eval_input)
        trained = copy.deepcopy(model).train()
        trained(train_input)
    bn = [{"node": name, "running_mean": m.running_mean.double().tolist(),
           "running_var": m.running_var.double().tolist()}
          for name, m in trained.named_modules() if isinstance(m, torch.nn.BatchNorm3d)]
    with open(os.path.join(out_dir, arch + ".json"), "w") as f:
        json.dump({"eval": {"input": tensor_json(eval_input), "output": tensor_json(eval_output)},
                   "train": {"input": tensor_json(train_input), "bn": bn}}, f)


def main():
    out_dir = sys.argv[1]
    archs = sys.argv[2:] or ARCHS
    torch.set_num_threads(1)
    for arch in archs:
        export(arch, out_dir, seed=100 + ARCHS.index(arch))


if __name__ == "__main__":
    main()
