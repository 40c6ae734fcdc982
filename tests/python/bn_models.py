"""PyTorch building blocks shared by the fixture, benchmark and example generators, so each network shape
is written once. Attribute names become module paths and ONNX initializer names ("bn1.running_mean", ...),
and registration order fixes the order in which seeded initializers draw random numbers: changing either
changes the generated files.

Needs torch (/usr/bin/python3).
"""
import torch.nn as nn


class BnMlp(nn.Module):
    """in-h1-BN1d-ReLU-h2-BN1d-ReLU-out (fc1, bn1, relu1, fc2, bn2, relu2, fc3)."""

    def __init__(self, features, hidden1, hidden2, outputs):
        super().__init__()
        self.fc1 = nn.Linear(features, hidden1)
        self.bn1 = nn.BatchNorm1d(hidden1)
        self.relu1 = nn.ReLU()
        self.fc2 = nn.Linear(hidden1, hidden2)
        self.bn2 = nn.BatchNorm1d(hidden2)
        self.relu2 = nn.ReLU()
        self.fc3 = nn.Linear(hidden2, outputs)

    def forward(self, x):
        x = self.relu1(self.bn1(self.fc1(x)))
        x = self.relu2(self.bn2(self.fc2(x)))
        return self.fc3(x)


class BasicBlock(nn.Module):
    """torchvision.models.resnet.BasicBlock. A `downsample` passed in is registered last, after bn2, as
    when it is assigned after construction."""
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


def conv1x1_bn(inplanes, planes, stride):
    """The 1x1 convolution + BN shortcut of a BasicBlock that changes shape."""
    return nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))


class DigitsCnn(nn.Module):
    """Conv(1->16, valid)-BN-ReLU, Conv(16->32)-BN-ReLU, MaxPool 2, Conv(32->32)-BN-ReLU, GAP, Linear(32,10).

    The first conv has no padding: a zero border would turn a global intensity offset into an edge pattern
    that no per-channel statistic can undo, so the first BN could not absorb a sensor shift."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.pool = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(32, 32, 3, padding=1)
        self.bn3 = nn.BatchNorm2d(32)
        self.relu = nn.ReLU()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))           # 6x6
        x = self.pool(self.relu(self.bn2(self.conv2(x))))  # 3x3
        x = self.relu(self.bn3(self.conv3(x)))
        return self.fc(self.flatten(self.gap(x)))


class SmallMlp(nn.Module):
    """8-16-BN1d-ReLU-3, untrained: a second model so the repository holds more than one."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.bn1 = nn.BatchNorm1d(16)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        return self.fc2(self.relu(self.bn1(self.fc1(x))))
