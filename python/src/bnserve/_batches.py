"""Recalibration batches from any iterable, encoded once and kept, so a retried stream resends exactly what
the first attempt sent (the server compares the retry with the first attempt through a digest)."""
import threading

from bnserve import _tensors
from bnserve.v1 import recalibration_pb2


def batch_inputs(item, num_inputs):
    """The model inputs of one item: an array; or a tuple/list whose first num_inputs entries are the
    inputs (a DataLoader's (x, y) gives x for a one-input model); or a dict with key "x" or "input"."""
    if isinstance(item, dict):
        for key in ("x", "input", "inputs"):
            if key in item:
                item = item[key]
                break
        else:
            raise TypeError("a batch dict needs an 'x' or 'input' key, got keys %s" % sorted(item))
    if isinstance(item, (tuple, list)) and item and not _is_number_row(item):
        if len(item) < num_inputs:
            raise TypeError("a batch tuple needs the model's %d inputs first, got %d entries" % (num_inputs, len(item)))
        return list(item[:num_inputs])
    if num_inputs != 1:
        raise TypeError("the model has %d inputs: give each batch as a tuple of %d arrays" % (num_inputs, num_inputs))
    return [item]


def _is_number_row(item):
    """A plain nested list of numbers (one array), not a tuple of arrays."""
    first = item[0]
    return isinstance(first, (int, float)) or (isinstance(first, list) and first and isinstance(first[0], (int, float)))


class ReplayableBatches:
    """Pulls items from `source` lazily and keeps the encoded requests; every iteration replays what was
    pulled so far, then continues with the source. Thread-safe: gRPC consumes each attempt's requests on its
    own thread, and a failed attempt's thread may still be pulling when the retry starts."""

    def __init__(self, source, num_inputs, encoding):
        self._source = iter(source)
        self._num_inputs = num_inputs
        self._encoding = encoding
        self._lock = threading.Lock()
        self._sent = []  # (RecalibrateRequest, samples), in source order
        self._exhausted = False

    def _get(self, index):
        """Item `index` as (request, samples), pulling from the source as needed; None past the end."""
        with self._lock:
            while len(self._sent) <= index and not self._exhausted:
                try:
                    item = next(self._source)
                except StopIteration:
                    self._exhausted = True
                    break
                number = len(self._sent)
                inputs = batch_inputs(item, self._num_inputs)
                tensors = [_tensors.to_tensor(x, "batch %d input %d" % (number, k), self._encoding)
                           for k, x in enumerate(inputs)]
                request = recalibration_pb2.RecalibrateRequest(
                    batch=recalibration_pb2.RecalibrationBatch(inputs=tensors))
                self._sent.append((request, tensors[0].shape[0] if tensors[0].shape else 1))
            return self._sent[index] if index < len(self._sent) else None

    def requests(self, on_batch):
        """RecalibrateRequest batch messages; on_batch(index, samples) after each one is handed out."""
        index = 0
        while True:
            entry = self._get(index)
            if entry is None:
                return
            yield entry[0]
            on_batch(index, entry[1])
            index += 1
