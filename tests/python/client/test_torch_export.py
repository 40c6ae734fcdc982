"""bnserve.torch.export_for_serving on example models: the file passes the repository's own export check
(tests/python/bn_export.py), loads into a live bnserve, and the server's predictions match the module's.
The usual mistakes give clear errors: a model in train mode, BN folded away, training-mode BN nodes."""
import io
import os

import numpy as np
import onnx
import onnx.numpy_helper
import pytest
import torch
import torch.nn as nn

from bn_export import check_bn_export, randomize_bn
from bn_models import BasicBlock, BnMlp, DigitsCnn, SmallMlp, conv1x1_bn


class SmallResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.block1 = BasicBlock(8, 8)
        self.block2 = BasicBlock(8, 16, stride=2, downsample=conv1x1_bn(8, 16, 2))
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = self.pool(self.relu(self.bn1(self.conv1(x))))
        x = self.block2(self.block1(x))
        return self.fc(torch.flatten(self.gap(x), 1))


def example_models():
    generator = torch.Generator().manual_seed(7)
    torch.manual_seed(7)
    cnn = nn.Sequential(nn.Conv2d(1, 6, 3), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(6 * 3 * 3, 4), nn.BatchNorm1d(4, affine=False, momentum=None), nn.Sigmoid())
    models = {"mlp": (BnMlp(6, 12, 10, 3), torch.randn(5, 6, generator=generator)),
              "resnet": (SmallResNet(), torch.randn(4, 3, 12, 12, generator=generator)),
              "cnn": (cnn, torch.randn(3, 1, 8, 8, generator=generator))}
    for model, _ in models.values():
        randomize_bn(model, generator)
        model.eval()
    return models


@pytest.mark.parametrize("name", ["mlp", "resnet", "cnn"])
def test_export_for_serving_then_serve(bnserve, server, name):
    from bnserve.torch import export_for_serving
    model, example = example_models()[name]
    folder = os.path.join(server.repository, "export_" + name)
    os.makedirs(folder)
    path = os.path.join(folder, "model.onnx")
    report = export_for_serving(model, example, path)
    bn_paths = [p for p, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert [p for p, _ in report.bn_layers] == bn_paths
    assert report.max_abs_diff < 1e-4 and report.opset == 13
    check_bn_export(open(path, "rb").read(), model, 13)  # the repository's own export check
    with bnserve.Client(server.address) as client:
        assert client.load("export_" + name).state == "available"
        info = client.describe("export_" + name)
        assert [layer.name for layer in info] == [node for _, node in report.bn_layers]
        bigger = torch.cat([example, example * 0.5 + 0.1])  # the batch dim is dynamic
        with torch.no_grad():
            want = model(bigger).numpy()
        np.testing.assert_allclose(client.predict("export_" + name, bigger).output, want, rtol=1e-4, atol=1e-5)


def test_train_mode_model_is_refused(bnserve, tmp_path):
    from bnserve.torch import ExportError, export_for_serving
    model, example = example_models()["mlp"]
    model.train()
    with pytest.raises(ExportError, match=r"train mode: call model\.eval\(\)"):
        export_for_serving(model, example, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
    model.eval()
    model.bn2.train()
    with pytest.raises(ExportError, match="bn2"):
        export_for_serving(model, example, tmp_path / "m.onnx")


def test_folded_and_training_mode_exports_are_refused(bnserve):
    from bnserve.torch import ExportError, check_onnx
    model, example = example_models()["resnet"]
    folded = io.BytesIO()
    torch.onnx.export(model, example, folded, opset_version=13)  # the default: Conv+BN folded
    with pytest.raises(ExportError, match="without a BatchNormalization node.*bn1.*folded away"):
        check_onnx(folded.getvalue(), model, example)
    trained = io.BytesIO()
    model.train()
    torch.onnx.export(model, example, trained, opset_version=15, training=torch.onnx.TrainingMode.TRAINING,
                      do_constant_folding=False)
    model.eval()
    with pytest.raises(ExportError, match="training mode"):
        check_onnx(trained.getvalue(), model, example)


def test_output_mismatch_is_refused(bnserve):
    from bnserve.torch import ExportError, check_onnx
    model, example = example_models()["mlp"]
    exported = io.BytesIO()
    torch.onnx.export(model, example, exported, training=torch.onnx.TrainingMode.PRESERVE,
                      do_constant_folding=False, opset_version=13)
    with torch.no_grad():
        model.fc3.bias += 1.0  # the module no longer computes what the file does
    with pytest.raises(ExportError, match="differs from the module"):
        check_onnx(exported.getvalue(), model, example)


@pytest.mark.parametrize("name,module", [("digits", DigitsCnn), ("mlp", SmallMlp)])
def test_bundled_examples_reexported(bnserve, server, data, name, module):
    """The bundled example models, rebuilt in PyTorch from their ONNX weights and exported again: the same
    initializers, the same BN layer names, the same predictions as the bundled file."""
    from bnserve.torch import export_for_serving
    bundled = onnx.load(os.path.join(server.repository, name, "model.onnx"))
    weights = {i.name: torch.from_numpy(onnx.numpy_helper.to_array(i).copy()) for i in bundled.graph.initializer}
    model = module()
    model.load_state_dict(weights, strict=False)  # num_batches_tracked is not in the file
    model.eval()
    x = data["test"][:40] if name == "digits" else np.random.default_rng(5).normal(size=(40, 8)).astype(np.float32)
    folder = os.path.join(server.repository, "reexport_" + name)
    os.makedirs(folder)
    report = export_for_serving(model, torch.from_numpy(x[:4]), os.path.join(folder, "model.onnx"))
    exported = {i.name: onnx.numpy_helper.to_array(i)
                for i in onnx.load(os.path.join(folder, "model.onnx")).graph.initializer}
    assert sorted(exported) == sorted(weights)
    for key, value in weights.items():
        np.testing.assert_array_equal(exported[key], value.numpy())
    with bnserve.Client(server.address) as client:
        client.load("reexport_" + name)
        assert [n for _, n in report.bn_layers] == [layer.name for layer in client.describe(name)]
        np.testing.assert_allclose(client.predict("reexport_" + name, x).output,
                                   client.predict(name, x, version=1).output, rtol=1e-5, atol=1e-5)
