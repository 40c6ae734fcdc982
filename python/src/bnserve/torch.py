"""PyTorch helpers: export a BatchNorm model the way bnserve serves it, and check the file.

Needs torch and onnx. Usage:

    from bnserve.torch import export_for_serving
    model.eval()
    export_for_serving(model, example_batch, "repository/mynet/model.onnx")
"""
import dataclasses
import io
from typing import List, Tuple

import numpy as np
import torch
import torch.nn as nn

from bnserve import _onnx_numpy

# The README's export: opset 13 is the oldest whose BatchNormalization semantics bnserve and every recent
# PyTorch agree on; 14+ adds the training_mode attribute, which must be 0.
DEFAULT_OPSET = 13


class ExportError(Exception):
    """The model or its ONNX file cannot be served as it is; the message says why and what to do."""


@dataclasses.dataclass(frozen=True)
class ExportReport:
    """What export_for_serving wrote and checked."""
    path: str
    opset: int
    bn_layers: List[Tuple[str, str]]  # (PyTorch module path, ONNX node name = bnserve layer name)
    max_abs_diff: float  # ONNX output vs the module's on the example


def _bn_modules(model):
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def _check_module(model):
    if model.training:
        raise ExportError("the model is in train mode: call model.eval() before exporting. A train-mode export "
                          "records BatchNormalization in training mode (batch statistics), which bnserve rejects; "
                          "bnserve serves the running statistics and recalibrates them itself")
    training = [name for name, m in _bn_modules(model) if m.training]
    if training:
        raise ExportError("BatchNorm modules left in train mode (the model is in eval mode, they are not): %s; "
                          "call model.eval() after the last .train() on a submodule" % ", ".join(training))
    untracked = [name for name, m in _bn_modules(model) if not m.track_running_stats]
    if untracked:
        raise ExportError("BatchNorm modules with track_running_stats=False have no running statistics to serve "
                          "or recalibrate: %s" % ", ".join(untracked))


def _as_tuple(example):
    return tuple(example) if isinstance(example, (tuple, list)) else (example,)


def export_for_serving(model, example, path, *, opset=DEFAULT_OPSET, input_names=None, output_names=None,
                       rtol=1e-4, atol=1e-5):
    """Exports `model` (in eval mode) to ONNX as bnserve needs it, checks the file, then writes it to `path`.

    The export is the README's: BN nodes kept (training=TrainingMode.PRESERVE, do_constant_folding=False),
    batch dim dynamic, the given opset. The checks (check_onnx): every BatchNorm module has an inference-mode
    BatchNormalization node, and the file's output on `example` matches the module's (evaluated with this
    package's NumPy evaluator, within rtol/atol). Raises ExportError, naming the problem, before writing
    anything. Returns an ExportReport.

    example: a batch (tensor) or a tuple of them, one per model input.
    input_names/output_names: default "input"/"output" (numbered when there are several).
    """
    _check_module(model)
    inputs = _as_tuple(example)
    with torch.no_grad():
        reference = _as_tuple(model(*inputs))
    input_names = list(input_names or (["input"] if len(inputs) == 1 else ["input%d" % i for i in range(len(inputs))]))
    output_names = list(output_names or (["output"] if len(reference) == 1
                                         else ["output%d" % i for i in range(len(reference))]))
    buffer = io.BytesIO()
    torch.onnx.export(model, inputs if len(inputs) > 1 else inputs[0], buffer,
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False, opset_version=opset,
                      input_names=input_names, output_names=output_names,
                      dynamic_axes={name: {0: "batch"} for name in input_names + output_names})
    data = buffer.getvalue()
    layers, diff = check_onnx(data, model, example, rtol=rtol, atol=atol)
    with open(path, "wb") as f:
        f.write(data)
    return ExportReport(str(path), opset, layers, diff)


def check_onnx(onnx_file, model, example, *, rtol=1e-4, atol=1e-5):
    """Checks an ONNX file (path or bytes) against the eval-mode `model` it was exported from: every
    BatchNorm module has a BatchNormalization node (none folded into a Conv/Gemm), no node is in training
    mode, and the file's outputs on `example` match the module's. Raises ExportError; returns
    (the (module path, node name) pairs, the largest absolute output difference)."""
    import onnx
    _check_module(model)
    proto = onnx.load_from_string(onnx_file) if isinstance(onnx_file, bytes) else onnx.load(onnx_file)
    nodes = [n for n in proto.graph.node if n.op_type == "BatchNormalization"]
    trained = [n.name or n.output[0] for n in nodes
               if len(n.output) > 1 or any(a.name == "training_mode" and a.i for a in n.attribute)]
    if trained:
        raise ExportError("BatchNormalization nodes in training mode: %s. Export with model.eval() and "
                          "training=torch.onnx.TrainingMode.PRESERVE (bnserve serves inference-mode BN only)"
                          % ", ".join(trained))
    layers = _match_bn_nodes(_bn_modules(model), nodes)
    inputs = _as_tuple(example)
    with torch.no_grad():
        reference = [r.detach().cpu().numpy() for r in _as_tuple(model(*inputs))]
    feeds = {i.name: np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)
             for i, x in zip(proto.graph.input, inputs)}
    try:
        outputs = _onnx_numpy.run(proto, feeds)
    except _onnx_numpy.UnsupportedOperator as e:
        raise ExportError("cannot check the file's output: bnserve.torch's NumPy evaluator does not run "
                          "operator %s (check it by loading the model in bnserve and comparing Client.predict)"
                          % e) from None
    diff = 0.0
    for name, got, want in zip([o.name for o in proto.graph.output], outputs, reference):
        if got.shape != want.shape:
            raise ExportError("ONNX output %s has shape %s, the module's %s" % (name, got.shape, want.shape))
        diff = max(diff, float(np.max(np.abs(got - want), initial=0.0)))
        if not np.allclose(got, want, rtol=rtol, atol=atol):
            raise ExportError("ONNX output %s differs from the module's on the example (largest difference %.3g, "
                              "rtol %g, atol %g): the export does not compute what the model does" %
                              (name, diff, rtol, atol))
    return layers, diff


def _match_bn_nodes(modules, nodes):
    """(module path, node name) for every BatchNorm module. A node is matched by its running-mean input
    "<path>.running_mean"; the exporter may rename deduplicated initializers, so leftovers are matched in
    order when their counts agree."""
    by_path = {}
    for node in nodes:
        if len(node.input) >= 4 and node.input[3].endswith(".running_mean"):
            by_path[node.input[3][:-len(".running_mean")]] = node
    matched = [(path, by_path[path]) for path, _ in modules if path in by_path]
    left_modules = [path for path, _ in modules if path not in by_path]
    left_nodes = [n for n in nodes if n not in by_path.values()]
    if len(left_nodes) < len(left_modules):
        raise ExportError("BatchNorm modules without a BatchNormalization node in the ONNX file (%d of %d): %s. "
                          "They were folded away (into a Conv/Gemm); export with do_constant_folding=False and "
                          "training=torch.onnx.TrainingMode.PRESERVE so bnserve can recalibrate them"
                          % (len(left_modules), len(modules), ", ".join(left_modules)))
    matched += list(zip(left_modules, left_nodes))
    order = {path: i for i, (path, _) in enumerate(modules)}
    matched.sort(key=lambda pair: order[pair[0]])
    return [(path, node.name or path) for path, node in matched]
