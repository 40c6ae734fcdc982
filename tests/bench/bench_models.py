"""PyTorch definitions of the benchmark models, shared by gen_bench_models.py (which exports them to ONNX)
and by PyTorch-side benchmarks, so both sides run the same networks with the same weights.

    import sys; sys.path.insert(0, "tests/bench"); import bench_models
    model, x = bench_models.build("cnn")          # eval-mode model with randomized BN state, seeded input

Randomized BN state comes from tools/bn_export.py (randomize_bn).

Needs torch (/usr/bin/python3). ResNet18 is written out below (it predates torchvision on this machine); its
module tree, parameter names and init match torchvision.models.resnet18(weights=None). r3d_18 and the
torchvision architectures (mobilenet_v3_large, efficientnet_b0, deeplabv3_mobilenet_v3_large, built the way
the zoo test builds them: tests/zoo/gen_zoo_model.py) need torchvision.
"""
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from bn_export import randomize_bn  # noqa: E402
from bn_models import BasicBlock, BnMlp, conv1x1_bn  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "zoo"))

SEED = 1234


def Mlp():
    """784-512-BN1d-ReLU-256-BN1d-ReLU-10."""
    return BnMlp(784, 512, 256, 10)


def conv_bn_relu(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())


class CifarCnn(nn.Module):
    """[Conv3x3-BN-ReLU]x2 (32), MaxPool2, [Conv3x3-BN-ReLU]x2 (64), MaxPool2, GAP, Linear(64,10)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn_relu(3, 32), conv_bn_relu(32, 32), nn.MaxPool2d(2),
            conv_bn_relu(32, 64), conv_bn_relu(64, 64), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(self.features(x))


class ResNet18(nn.Module):
    """torchvision.models.resnet18(weights=None): same modules, names and initialization."""

    def __init__(self, num_classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, 2)
        self.layer2 = self._make_layer(128, 2, stride=2)
        self.layer3 = self._make_layer(256, 2, stride=2)
        self.layer4 = self._make_layer(512, 2, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = conv1x1_bn(self.inplanes, planes, stride)
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class Tiny(nn.Module):
    """Linear(16,16)-BN1d-ReLU: a few hundred FLOPs, for measuring per-request (RPC) overhead."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 16)
        self.bn = nn.BatchNorm1d(16)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.fc(x)))


def R3d18():
    """torchvision.models.video.r3d_18(weights=None): 3-D convolutions and BatchNorm3d on a 16-frame
    112x112 clip (Kinetics' input). Imported here only: the other models do not need torchvision."""
    import torchvision
    return torchvision.models.video.r3d_18(weights=None)


def torchvision_model(name):
    import gen_zoo_model  # imports torchvision: only for these models
    return gen_zoo_model.build(name)


# name -> (constructor, per-sample input shape, batch size of the saved input). identity has no BN: it
# measures the runtime's binding overhead; gen_bench_models.py writes it as a one-node ONNX graph.
MODELS = {
    "mlp": (Mlp, (784,), 64),
    "cnn": (CifarCnn, (3, 32, 32), 16),
    "resnet18": (ResNet18, (3, 224, 224), 1),
    "r3d_18": (R3d18, (3, 16, 112, 112), 1),
    "tiny": (Tiny, (16,), 1),
    "mobilenet_v3_large": (lambda: torchvision_model("mobilenet_v3_large"), (3, 224, 224), 1),
    "efficientnet_b0": (lambda: torchvision_model("efficientnet_b0"), (3, 224, 224), 1),
    "deeplabv3_mobilenet_v3_large": (lambda: torchvision_model("deeplabv3_mobilenet_v3_large"), (3, 520, 520), 1),
    "identity": (nn.Identity, (784,), 64),
}


def build(name, seed=SEED):
    """(eval-mode model with seeded weights and randomized BN state, seeded float32 input batch)."""
    ctor, sample_shape, batch = MODELS[name]
    torch.manual_seed(seed)
    model = ctor()
    generator = torch.Generator().manual_seed(seed)
    randomize_bn(model, generator)
    model.eval()
    x = torch.randn((batch,) + sample_shape, generator=generator, dtype=torch.float32)
    return model, x
