"""A small NumPy evaluator for inference-mode ONNX graphs, written independently of bnserve's C++ engine so
that export_for_serving can check an exported file without a server or ONNX Runtime. It covers the operators
of docs/operators.md (Conv and pools 1-D/2-D) and computes in float64. Needs the onnx package."""
import numpy as np


class UnsupportedOperator(Exception):
    pass


def _attrs(node):
    import onnx
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _pads(attrs, spatial, x_shape, kernel, strides, dilations):
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for d in range(spatial):
            size = x_shape[2 + d]
            out = -(-size // strides[d])
            total = max(0, (out - 1) * strides[d] + (kernel[d] - 1) * dilations[d] + 1 - size)
            small, large = total // 2, total - total // 2
            begin.append(small if auto_pad == "SAME_UPPER" else large)
            end.append(large if auto_pad == "SAME_UPPER" else small)
        return begin, end
    if auto_pad == "VALID":
        return [0] * spatial, [0] * spatial
    pads = list(attrs.get("pads", [0] * (2 * spatial)))
    return pads[:spatial], pads[spatial:]


def _windows(x, kernel, strides, dilations, pad_begin, pad_end, pad_value, ceil_mode=False):
    """x [N, C, *S] -> windows [N, C, *out, *kernel] (a strided view of the padded input)."""
    spatial = len(kernel)
    out = []
    extra = []
    for d in range(spatial):
        span = (kernel[d] - 1) * dilations[d] + 1
        size = x.shape[2 + d] + pad_begin[d] + pad_end[d] - span
        n = (-(-size // strides[d]) if ceil_mode else size // strides[d]) + 1
        out.append(n)
        extra.append(max(0, (n - 1) * strides[d] + span - (x.shape[2 + d] + pad_begin[d] + pad_end[d])))
    widths = [(0, 0), (0, 0)] + [(pad_begin[d], pad_end[d] + extra[d]) for d in range(spatial)]
    padded = np.pad(x, widths, constant_values=pad_value)
    s = padded.strides
    shape = padded.shape[:2] + tuple(out) + tuple(kernel)
    strides_ = s[:2] + tuple(s[2 + d] * strides[d] for d in range(spatial)) + tuple(
        s[2 + d] * dilations[d] for d in range(spatial))
    return np.lib.stride_tricks.as_strided(padded, shape, strides_, writeable=False), out


def _conv(x, w, b, attrs):
    spatial = x.ndim - 2
    kernel = list(w.shape[2:])
    strides = list(attrs.get("strides", [1] * spatial))
    dilations = list(attrs.get("dilations", [1] * spatial))
    group = attrs.get("group", 1)
    begin, end = _pads(attrs, spatial, x.shape, kernel, strides, dilations)
    windows, out = _windows(x, kernel, strides, dilations, begin, end, 0.0)
    n, c = x.shape[:2]
    m = w.shape[0]
    cg, mg = c // group, m // group
    results = []
    for g in range(group):
        win = windows[:, g * cg:(g + 1) * cg]  # [N, cg, *out, *k]
        wg = w[g * mg:(g + 1) * mg]  # [mg, cg, *k]
        axes_win = [1] + list(range(2 + spatial, 2 + 2 * spatial))
        axes_w = [1] + list(range(2, 2 + spatial))
        y = np.tensordot(win, wg, axes=(axes_win, axes_w))  # [N, *out, mg]
        results.append(np.moveaxis(y, -1, 1))
    y = np.concatenate(results, axis=1)
    if b is not None:
        y = y + b.reshape((1, m) + (1,) * spatial)
    return y


def _pool(x, attrs, kind):
    spatial = x.ndim - 2
    kernel = list(attrs["kernel_shape"])
    strides = list(attrs.get("strides", [1] * spatial))
    dilations = list(attrs.get("dilations", [1] * spatial))
    begin, end = _pads(attrs, spatial, x.shape, kernel, strides, dilations)
    ceil_mode = bool(attrs.get("ceil_mode", 0))
    axes = tuple(range(2 + spatial, 2 + 2 * spatial))
    if kind == "max":
        windows, _ = _windows(x, kernel, strides, dilations, begin, end, -np.inf, ceil_mode)
        return windows.max(axis=axes)
    windows, _ = _windows(x, kernel, strides, dilations, begin, end, np.nan, ceil_mode)
    total = np.nansum(windows, axis=axes)
    if attrs.get("count_include_pad", 0):
        ones = np.pad(np.ones(x.shape[2:]), [(b, e) for b, e in zip(begin, end)], constant_values=1.0)
        counts, _ = _windows(ones[None, None], kernel, strides, dilations, [0] * spatial, [0] * spatial, np.nan,
                             ceil_mode)
        return total / np.sum(~np.isnan(counts), axis=axes)
    return total / np.sum(~np.isnan(windows), axis=axes)


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _node(op, ins, attrs, opset):
    x = ins[0] if ins else None
    if op in ("Identity", "Dropout"):
        return x
    if op == "Relu":
        return np.maximum(x, 0)
    if op == "LeakyRelu":
        return np.where(x >= 0, x, x * attrs.get("alpha", 0.01))
    if op == "Sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if op == "Tanh":
        return np.tanh(x)
    if op in ("Add", "Sub", "Mul", "Div"):
        return {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op](ins[0], ins[1])
    if op == "Clip":
        lo = attrs.get("min", -np.inf) if opset < 11 else (ins[1] if len(ins) > 1 and ins[1] is not None else -np.inf)
        hi = attrs.get("max", np.inf) if opset < 11 else (ins[2] if len(ins) > 2 and ins[2] is not None else np.inf)
        return np.clip(x, lo, hi)
    if op == "Gemm":
        a = ins[0].T if attrs.get("transA", 0) else ins[0]
        b = ins[1].T if attrs.get("transB", 0) else ins[1]
        y = attrs.get("alpha", 1.0) * (a @ b)
        if len(ins) > 2 and ins[2] is not None:
            y = y + attrs.get("beta", 1.0) * ins[2]
        return y
    if op == "MatMul":
        return np.matmul(ins[0], ins[1])
    if op == "Conv":
        return _conv(x, ins[1], ins[2] if len(ins) > 2 else None, attrs)
    if op == "MaxPool":
        return _pool(x, attrs, "max")
    if op == "AveragePool":
        return _pool(x, attrs, "avg")
    if op == "GlobalAveragePool":
        return x.mean(axis=tuple(range(2, x.ndim)), keepdims=True)
    if op == "BatchNormalization":
        if attrs.get("training_mode", 0):
            raise UnsupportedOperator("BatchNormalization with training_mode=1")
        shape = (1, -1) + (1,) * (x.ndim - 2)
        scale, bias, mean, var = (v.reshape(shape) for v in ins[1:5])
        return (x - mean) / np.sqrt(var + attrs.get("epsilon", 1e-5)) * scale + bias
    if op == "Flatten":
        axis = attrs.get("axis", 1) % max(x.ndim, 1)
        return x.reshape(int(np.prod(x.shape[:axis])), -1)
    if op == "Reshape":
        shape = [x.shape[i] if (d == 0 and not attrs.get("allowzero", 0)) else d
                 for i, d in enumerate(ins[1].astype(np.int64).tolist())]
        return x.reshape(shape)
    if op == "Transpose":
        return np.transpose(x, attrs.get("perm"))
    if op == "Concat":
        return np.concatenate(ins, axis=attrs["axis"])
    if op == "Softmax":
        axis = attrs.get("axis", 1 if opset < 13 else -1)
        if opset < 13:
            axis %= x.ndim
            flat = x.reshape(int(np.prod(x.shape[:axis])), -1)
            return _softmax(flat, 1).reshape(x.shape)
        return _softmax(x, axis)
    if op == "Constant":
        import onnx.numpy_helper
        return onnx.numpy_helper.to_array(attrs["value"]).astype(np.float64)
    raise UnsupportedOperator(op)


def run(model_proto, inputs, outputs=None):
    """Evaluates the graph on {input name: array}; returns the values named in `outputs` (default: the graph
    outputs, in graph order) as float64 arrays."""
    import onnx.numpy_helper
    opset = next((o.version for o in model_proto.opset_import if o.domain in ("", "ai.onnx")), 13)
    values = {i.name: onnx.numpy_helper.to_array(i) for i in model_proto.graph.initializer}
    values = {k: (v.astype(np.float64) if v.dtype.kind == "f" else v) for k, v in values.items()}
    values.update({k: np.asarray(v, np.float64) for k, v in inputs.items()})
    for node in model_proto.graph.node:
        if node.domain not in ("", "ai.onnx"):
            raise UnsupportedOperator("%s.%s" % (node.domain, node.op_type))
        ins = [values[name] if name else None for name in node.input]
        values[node.output[0]] = _node(node.op_type, ins, _attrs(node), opset)
    return [values[name] for name in (outputs or [o.name for o in model_proto.graph.output])]
