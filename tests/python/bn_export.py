"""The one way this repository exports PyTorch models with BatchNorm to ONNX, the check that the BN
nodes survived (bn-semantics.md section 5.3), and a seeded randomizer for BN state.

A default torch.onnx.export folds Conv->BN into the conv, which leaves nothing to query or recalibrate. We
export an eval-mode model with TrainingMode.PRESERVE and no constant folding instead. Each BN module then
becomes one inference-mode BatchNormalization node whose mean/var inputs are the initializers
"<module>.running_mean" and "<module>.running_var".

Used by tests/fixtures/gen_fixtures.py, tests/bench/gen_bench_models.py and deploy/examples/make_examples.py
(each adds this folder to sys.path). Needs torch 1.13 and onnx 1.12 (/usr/bin/python3).
"""
import io

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import numpy_helper

BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
DEFAULT_OPSET = 13


def bn_modules(model):
    """(module path, module) for every BatchNorm module, in registration order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, BN_TYPES)]


def export_preserve(model, example_input, opset=DEFAULT_OPSET):
    """Serialized ONNX of an eval-mode model with BN nodes kept and a dynamic batch axis."""
    assert not model.training, "export an eval-mode model: PRESERVE on a train-mode model exports training BN"
    f = io.BytesIO()
    torch.onnx.export(model, example_input, f, training=torch.onnx.TrainingMode.PRESERVE,
                      do_constant_folding=False, opset_version=opset, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    return f.getvalue()


def node_attr(node, name):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return None


def check_bn_export(data, model, opset=DEFAULT_OPSET):
    """Asserts one inference-mode BN node per BN module, carrying that module's exact tensors and attributes.

    Returns [(module path, onnx NodeProto)] in graph order."""
    mp = onnx.load_from_string(data)
    onnx.checker.check_model(mp)
    assert [o.version for o in mp.opset_import if o.domain in ("", "ai.onnx")] == [opset]
    inits = {i.name: numpy_helper.to_array(i) for i in mp.graph.initializer}
    consts = {n.output[0]: numpy_helper.to_array(node_attr(n, "value"))
              for n in mp.graph.node if n.op_type == "Constant"}
    # torch deduplicates equal-valued initializers through Identity nodes (a fresh BN has weight equal to
    # running_var); our models must have distinct statistics so every BN keeps its own initializers. Other
    # tensors may be deduplicated (torchvision's zero-initialized squeeze-excitation biases are): users'
    # exports have such Identity nodes too.
    bn_inputs = {i for n in mp.graph.node if n.op_type == "BatchNormalization" for i in n.input[1:]}
    assert not any(n.op_type == "Identity" and n.output[0] in bn_inputs for n in mp.graph.node), \
        "Identity node feeding a BN: its initializers were deduplicated"
    modules = dict(bn_modules(model))
    nodes = []
    for node in mp.graph.node:
        if node.op_type != "BatchNormalization":
            continue
        assert len(node.input) == 5 and len(node.output) == 1, node
        path = node.input[3][: -len(".running_mean")]
        assert node.input[3] == path + ".running_mean" and node.input[4] == path + ".running_var", node
        bn = modules[path]
        assert np.array_equal(inits[node.input[3]], bn.running_mean.numpy())
        assert np.array_equal(inits[node.input[4]], bn.running_var.numpy())
        if bn.affine:
            assert (node.input[1], node.input[2]) == (path + ".weight", path + ".bias"), node
            assert np.array_equal(inits[node.input[1]], bn.weight.detach().numpy())
            assert np.array_equal(inits[node.input[2]], bn.bias.detach().numpy())
        else:
            assert np.array_equal(consts[node.input[1]], np.ones(bn.num_features, np.float32))
            assert np.array_equal(consts[node.input[2]], np.zeros(bn.num_features, np.float32))
        assert node_attr(node, "epsilon") == float(np.float32(bn.eps))
        expected_momentum = 1.0 if bn.momentum is None else float(np.float32(1.0 - bn.momentum))
        assert node_attr(node, "momentum") == expected_momentum
        assert node_attr(node, "training_mode") == (0 if opset >= 14 else None)
        nodes.append((path, node))
    assert sorted(p for p, _ in nodes) == sorted(modules), "BN nodes missing from the export"
    return nodes


def write_checked(path, model, example_input, opset=DEFAULT_OPSET):
    """Exports, checks and writes the model; returns the BN nodes as check_bn_export does."""
    data = export_preserve(model, example_input, opset)
    nodes = check_bn_export(data, model, opset)
    with open(path, "wb") as f:
        f.write(data)
    return nodes


def randomize_bn(model, generator):
    """Non-trivial BN state for untrained models: running_mean ~ N(0, 0.1^2), running_var ~ U(0.5, 1.5),
    weight ~ U(0.8, 1.2), bias ~ N(0, 0.1^2), num_batches_tracked = 100. Distinct values also keep the
    exporter from deduplicating initializers (a fresh BN has weight equal to running_var)."""
    with torch.no_grad():
        for _, m in bn_modules(model):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=generator) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=generator) + 0.5)
            if m.affine:
                m.weight.copy_(torch.rand(c, generator=generator) * 0.4 + 0.8)
                m.bias.copy_(torch.randn(c, generator=generator) * 0.1)
            m.num_batches_tracked.fill_(100)
