#!/usr/bin/python3
"""Generates one torchvision architecture for the zoo test (tests/zoo/zoo_test.cc), as a new user would
export it (tests/python/bn_export.py: the README's torch.onnx.export, opset 13, dynamic batch):

    /usr/bin/python3 tests/zoo/gen_zoo_model.py --arch resnet18 --out DIR
    /usr/bin/python3 tests/zoo/gen_zoo_model.py --list all|ci
    /usr/bin/python3 tests/zoo/gen_zoo_model.py --coverage --out DIR

writes DIR/<arch>/ with
    model.onnx     the export of torchvision's model (weights=None, every BN's running_mean, running_var,
                   weight and bias randomized so that a wrong fold shows), checked to keep one BN node per
                   BN module;
    input.npy      the seeded float32 input batch (2 instances, the architecture's small input shape);
    expected.npy   PyTorch's eval output for it, computed in float64 from the same weights;
    meta.json      BN module count, shapes, versions, seconds spent, and the generator's digest.
DIR/<arch>/ is reused while meta.json names this generator's digest (sources of this file and
bn_export.py, torch and torchvision versions): regenerating large models takes a while, checking the cache
takes no torch import. Needs /usr/bin/python3 with torch, torchvision and onnx (Debian python3-torchvision,
python3-onnx).

Every architecture has a family; the CI list (--list ci) holds the small architectures that between them
have every operator and attribute combination (each attribute's value) of the whole list, so CI proves
every operator the zoo needs in a few minutes. --coverage checks that claim on a cache holding the whole list
(run_zoo.sh --all fills it). VGG stays out (its 224x224 input and 500 MB of weights take 3 GB of memory in
the test). Of the two signatures only it has, MaxPool 2x2 stride 2 is in the pooling operator test and the
CNN of tests/fixtures/torch; AveragePool 1x1 stride 1 (its AdaptiveAvgPool2d((7, 7)) on a 7x7 map) only
in run_zoo.sh --all.
"""
import argparse
import hashlib
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BN_EXPORT = os.path.join(HERE, "..", "python", "bn_export.py")
BATCH = 2  # two instances: the dry-run recalibration's train forward needs more than one value per channel

IMAGE = (3, 64, 64)
# torchvision's VGG ends in AdaptiveAvgPool2d((7, 7)), which torch.onnx exports only when the feature map
# is a multiple of 7: 224x224 gives exactly 7x7.
VGG_IMAGE = (3, 224, 224)
# inception_v3 needs at least 75x75.
INCEPTION_IMAGE = (3, 80, 80)
CLIP = (3, 4, 32, 32)  # channels, frames, height, width

# name -> (family, input shape without the batch axis, in the CI list)
ARCHITECTURES = {}


def _add(family, shape, names, ci=()):
    for name in names:
        ARCHITECTURES[name] = (family, shape, name in ci)


_add("resnet", IMAGE, ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
                       "resnext101_32x8d", "wide_resnet50_2"], ci=["resnet18"])
_add("mobilenet_v2", IMAGE, ["mobilenet_v2"], ci=["mobilenet_v2"])
_add("mobilenet_v3", IMAGE, ["mobilenet_v3_small", "mobilenet_v3_large"], ci=["mobilenet_v3_small"])
_add("efficientnet", IMAGE, [f"efficientnet_b{i}" for i in range(8)] +
     ["efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l"], ci=["efficientnet_b0"])
_add("densenet", IMAGE, ["densenet121", "densenet161", "densenet169", "densenet201"], ci=["densenet121"])
_add("shufflenet_v2", IMAGE, ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5",
                              "shufflenet_v2_x2_0"], ci=["shufflenet_v2_x0_5"])
_add("regnet", IMAGE, ["regnet_x_400mf", "regnet_x_800mf", "regnet_x_1_6gf", "regnet_y_400mf", "regnet_y_800mf",
                       "regnet_y_1_6gf"], ci=["regnet_y_400mf"])
_add("mnasnet", IMAGE, ["mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3"], ci=["mnasnet0_5"])
_add("googlenet", IMAGE, ["googlenet"], ci=["googlenet"])
_add("inception", INCEPTION_IMAGE, ["inception_v3"], ci=["inception_v3"])
_add("vgg", VGG_IMAGE, ["vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"])
_add("segmentation", IMAGE, ["fcn_resnet50", "fcn_resnet101", "deeplabv3_resnet50", "deeplabv3_resnet101",
                             "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large"],
     ci=["deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large", "fcn_resnet50"])
_add("video", CLIP, ["r3d_18", "mc3_18", "r2plus1d_18"], ci=["r3d_18", "mc3_18", "r2plus1d_18"])


def digest():
    """Changes whenever what this generator would write changes."""
    import importlib.metadata as md
    h = hashlib.sha256()
    for path in (os.path.abspath(__file__), BN_EXPORT):
        with open(path, "rb") as f:
            h.update(f.read())
    for package in ("torch", "torchvision", "onnx"):
        try:
            h.update(f"{package}={md.version(package)};".encode())
        except md.PackageNotFoundError:
            h.update(f"{package}=?;".encode())
    return h.hexdigest()


def cached(folder, want):
    try:
        with open(os.path.join(folder, "meta.json")) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return False
    return meta.get("generator") == want and all(
        os.path.exists(os.path.join(folder, n)) for n in ("model.onnx", "input.npy", "expected.npy"))


def build(name):
    """torchvision's eval-mode model, with a single output tensor."""
    import torch
    import torchvision.models as tvm
    import torchvision.models.segmentation as seg
    import torchvision.models.video as video

    family = ARCHITECTURES[name][0]
    if family == "segmentation":
        # weights_backbone=None: nothing is downloaded; aux_loss stays off (its head is train-time only).
        inner = getattr(seg, name)(weights=None, weights_backbone=None)

        class OutOnly(torch.nn.Module):
            """The "out" map: what a user serving the model wants from its dict of outputs."""

            def __init__(self, model):
                super().__init__()
                self.model = model

            def forward(self, x):
                return self.model(x)["out"]

        model = OutOnly(inner)
    elif family == "video":
        model = getattr(video, name)(weights=None)
    elif family in ("googlenet", "inception"):
        # Auxiliary classifiers are train-time only; init_weights=True is what the constructor does anyway,
        # spelled out to skip its warning.
        model = getattr(tvm, name)(weights=None, aux_logits=False, init_weights=True)
    else:
        model = getattr(tvm, name)(weights=None)
    return model.eval()


def generate(name, folder, want):
    import numpy as np
    import torch
    sys.path.insert(0, os.path.dirname(BN_EXPORT))
    from bn_export import bn_modules, randomize_bn, write_checked

    torch.set_grad_enabled(False)
    started = time.monotonic()
    seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")
    torch.manual_seed(seed)
    model = build(name)
    randomize_bn(model, torch.Generator().manual_seed(seed + 1))
    x = torch.randn((BATCH,) + ARCHITECTURES[name][1], generator=torch.Generator().manual_seed(seed + 2))
    built = time.monotonic()
    os.makedirs(folder, exist_ok=True)
    onnx_path = os.path.join(folder, "model.onnx")
    nodes = write_checked(onnx_path + ".tmp", model, x)
    exported = time.monotonic()
    expected = model.double()(x.double())
    assert torch.isfinite(expected).all(), f"{name}: PyTorch output is not finite"
    np.save(os.path.join(folder, "input.npy"), x.numpy(), allow_pickle=False)
    np.save(os.path.join(folder, "expected.npy"), expected.numpy(), allow_pickle=False)
    meta = {
        "arch": name,
        "family": ARCHITECTURES[name][0],
        "bn_modules": len(bn_modules(model)),
        "bn_nodes": len(nodes),
        "input_shape": list(x.shape),
        "output_shape": list(expected.shape),
        "onnx_bytes": os.path.getsize(onnx_path + ".tmp"),
        "build_seconds": round(built - started, 2),
        "export_seconds": round(exported - built, 2),
        "reference_seconds": round(time.monotonic() - exported, 2),
        "generator": want,
    }
    os.replace(onnx_path + ".tmp", onnx_path)
    # meta.json last: it is what marks the folder complete.
    with open(os.path.join(folder, "meta.json.tmp"), "w") as f:
        json.dump(meta, f, indent=1)
    os.replace(os.path.join(folder, "meta.json.tmp"), os.path.join(folder, "meta.json"))
    return meta


def node_signature(node):
    """(operator, attributes with their values): what the CI list must cover. A Constant's value and a Conv's
    group count (beyond grouped or not) are data, not kernel choices."""
    import onnx
    attributes = []
    for a in node.attribute:
        if a.name == "value":
            continue
        v = onnx.helper.get_attribute_value(a)
        if a.name == "group":
            v = "grouped" if v > 1 else 1
        attributes.append((a.name, v.decode() if isinstance(v, bytes) else tuple(v) if isinstance(v, list) else v))
    return node.op_type, tuple(sorted(attributes))


def coverage(out):
    """Prints every operator/attribute signature of the architectures cached in OUT that no CI architecture
    has; returns how many (generate the whole list first: run_zoo.sh --all)."""
    import onnx
    seen = {}
    for name, (_, _, ci) in ARCHITECTURES.items():
        path = os.path.join(out, name, "model.onnx")
        if not os.path.exists(path):
            print(f"{name}: not generated, not checked")
            continue
        for node in onnx.load(path, load_external_data=False).graph.node:
            seen.setdefault(node_signature(node), set()).add((name, ci))
    missing = {sig: sorted(n for n, _ in users) for sig, users in seen.items() if not any(ci for _, ci in users)}
    for sig, users in sorted(missing.items(), key=str):
        print(f"not in the CI list: {sig} in {', '.join(users)}")
    print(f"{len(seen) - len(missing)} of {len(seen)} operator/attribute signatures covered by the CI list")
    return len(missing)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", help="architecture name (see --list all)")
    parser.add_argument("--out", help="cache folder; the architecture goes to OUT/<arch>/")
    parser.add_argument("--list", choices=["all", "ci"], help="print architecture names, one a line")
    parser.add_argument("--coverage", action="store_true",
                        help="with --out: signatures of the generated architectures that the CI list misses")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the reference (default 1)")
    args = parser.parse_args()
    if args.list:
        for name, (_, _, ci) in ARCHITECTURES.items():
            if args.list == "all" or ci:
                print(name)
        return 0
    if args.coverage and args.out:
        return 1 if coverage(args.out) else 0
    if args.arch not in ARCHITECTURES or not args.out:
        parser.error(f"--arch must be one of {', '.join(ARCHITECTURES)}, with --out")
    folder = os.path.join(args.out, args.arch)
    want = digest()
    if cached(folder, want):
        return 0
    import torch
    torch.set_num_threads(args.threads)
    meta = generate(args.arch, folder, want)
    print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
