"""NumPy arrays (and anything np.asarray takes: lists, torch tensors) to and from bnserve.v1.Tensor."""
import numpy as np

from bnserve.v1 import tensor_pb2

ENCODINGS = ("raw", "values")


def as_float32(x, what):
    """x as a C-ordered little-endian float32 array; torch tensors are detached and moved to the CPU."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    try:
        array = np.asarray(x, dtype="<f4")
    except (TypeError, ValueError) as e:
        raise TypeError("%s: expected an array of numbers, got %s (%s)" % (what, type(x).__name__, e)) from None
    return np.ascontiguousarray(array)


def to_tensor(x, what, encoding="raw"):
    """A Tensor message holding x in the chosen encoding ("raw": raw_float32_le, "values": packed floats)."""
    if encoding not in ENCODINGS:
        raise ValueError("encoding: expected one of %s, got %r" % (ENCODINGS, encoding))
    array = as_float32(x, what)
    tensor = tensor_pb2.Tensor(shape=array.shape)
    if encoding == "raw":
        tensor.raw_float32_le = array.tobytes()
    else:
        tensor.values.extend(array.ravel().tolist())
    return tensor


def from_tensor(tensor):
    """The float32 array a Tensor message carries (either encoding)."""
    shape = tuple(tensor.shape)
    if tensor.raw_float32_le:
        return np.frombuffer(tensor.raw_float32_le, dtype="<f4").astype(np.float32).reshape(shape)
    return np.asarray(tensor.values, dtype=np.float32).reshape(shape)


def wire_encoding(encoding):
    """The TensorEncoding asked for outputs, matching the request's encoding."""
    if encoding == "raw":
        return tensor_pb2.TENSOR_ENCODING_RAW_FLOAT32_LE
    return tensor_pb2.TENSOR_ENCODING_VALUES
