"""bnserve.Client: every bnserve.v1 RPC as a method, NumPy in and NumPy out.

One Client owns one gRPC channel; it is thread-safe (gRPC channels are), and a context manager that closes
the channel on exit.
"""
import os
import random
import time
import uuid

import grpc
import numpy as np

from bnserve import _tensors, errors, results
from bnserve._batches import ReplayableBatches
from bnserve._progress import progress_bar
from bnserve.v1 import (bnserve_service_pb2_grpc, drift_pb2, inference_pb2, model_pb2, recalibration_pb2,
                        statistics_pb2, versions_pb2)

_MODES = {"ema": recalibration_pb2.RECALIBRATION_MODE_EMA,
          "cumulative": recalibration_pb2.RECALIBRATION_MODE_CUMULATIVE,
          "population": recalibration_pb2.RECALIBRATION_MODE_POPULATION,
          "exact": recalibration_pb2.RECALIBRATION_MODE_EXACT,
          "prior": recalibration_pb2.RECALIBRATION_MODE_PRIOR,
          "alpha": recalibration_pb2.RECALIBRATION_MODE_ALPHA}
_FORWARD = {"train": statistics_pb2.FORWARD_MODE_TRAIN, "eval": statistics_pb2.FORWARD_MODE_EVAL}
# A recalibration whose outcome is unknown (the stream may or may not have committed) is retried with the
# same request_id; the server answers a committed one with that version (deduplicated).
_OUTCOME_UNKNOWN = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED)
_HEALTH = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


def _choice(value, allowed, field):
    if value not in allowed:
        raise ValueError("%s: expected one of %s, got %r" % (field, sorted(allowed), value))
    return allowed[value]


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _version_number(version, field="version"):
    """None (or 0) = the served version; else an int >= 1."""
    if version is None:
        return 0
    if isinstance(version, results.Version):
        return version.version
    if int(version) != version or version < 0:
        raise ValueError("%s: expected None or a version number >= 1, got %r" % (field, version))
    return int(version)


class Client:
    """A connection to a bnserve server.

    Args:
      address: "host:port" (default $BNSERVE_ADDR, else "localhost:50051").
      tls: False for plaintext; True to verify the server with the system roots; or the path of a PEM file
        of root certificates.
      tls_client_cert, tls_client_key: PEM files for mutual TLS.
      token: bearer token sent as `authorization: Bearer <token>` (docs/security.md).
      timeout: deadline of each call, in seconds (a recalibration: of each attempt).
      encoding: "raw" (raw little-endian float32 bytes, the fast path) or "values" (packed floats).
      attempts: default attempts of recalibrate() when its outcome is unknown.

    Every method raises a bnserve.BnServeError subclass (NotFound, InvalidArgument, ...) on failure.
    """

    def __init__(self, address=None, *, tls=False, tls_client_cert=None, tls_client_key=None, token=None,
                 timeout=60.0, encoding="raw", attempts=5):
        self.address = address or os.environ.get("BNSERVE_ADDR") or "localhost:50051"
        if encoding not in _tensors.ENCODINGS:
            raise ValueError("encoding: expected one of %s, got %r" % (_tensors.ENCODINGS, encoding))
        self.timeout = timeout
        self.encoding = encoding
        self.attempts = attempts
        self._metadata = (("authorization", "Bearer " + token),) if token else ()
        # The server bounds what it sends (Models.max_message_bytes); accept whatever that is.
        options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
        if tls:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(tls) if isinstance(tls, (str, os.PathLike)) else None,
                private_key=_read(tls_client_key) if tls_client_key else None,
                certificate_chain=_read(tls_client_cert) if tls_client_cert else None)
            self._channel = grpc.secure_channel(self.address, credentials, options)
        else:
            self._channel = grpc.insecure_channel(self.address, options)
        self._stub = bnserve_service_pb2_grpc.BnServeStub(self._channel)
        self._health = self._channel.unary_unary("/grpc.health.v1.Health/Check",
                                                 request_serializer=_health_request,
                                                 response_deserializer=_health_status)

    # --- lifecycle ---

    def close(self):
        """Closes the channel; calls in progress are cancelled."""
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "bnserve.Client(%r)" % self.address

    def _call(self, method, request, timeout=None):
        try:
            return method(request, timeout=timeout or self.timeout, metadata=self._metadata)
        except grpc.RpcError as e:
            raise errors.from_rpc_error(e) from None

    # --- model repository ---

    def models(self):
        """Every model of the repository with its state (ListModels). Returns results.Models."""
        response = self._call(self._stub.ListModels, model_pb2.ListModelsRequest())
        return results.Models([results.ModelStatus.from_proto(m) for m in response.models],
                              response.max_message_bytes)

    def describe(self, name):
        """Inputs, outputs, BN layers and served version of model `name` (DescribeModel): results.ModelInfo."""
        return results.ModelInfo.from_proto(
            self._call(self._stub.DescribeModel, model_pb2.DescribeModelRequest(model=name)))

    def load(self, name):
        """Loads the repository folder `name` (new, unloaded or failed); returns its ModelStatus."""
        return results.ModelStatus.from_proto(
            self._call(self._stub.LoadModel, model_pb2.LoadModelRequest(model=name)).status)

    def reload(self, name):
        """Re-reads model `name` from disk and swaps it in once built; returns its ModelStatus."""
        return results.ModelStatus.from_proto(
            self._call(self._stub.ReloadModel, model_pb2.ReloadModelRequest(model=name)).status)

    def unload(self, name):
        """Stops serving model `name` (its committed statistics stay on disk); returns its ModelStatus."""
        return results.ModelStatus.from_proto(
            self._call(self._stub.UnloadModel, model_pb2.UnloadModelRequest(model=name)).status)

    def health(self, service=""):
        """grpc.health.v1 status: "SERVING", "NOT_SERVING", ...; service "" = the server, else a model name."""
        return _HEALTH.get(self._call(self._health, service), "UNKNOWN")

    # --- inference ---

    def _inputs(self, x, what):
        """One array, or a tuple/list of arrays (one per model input), or a dict {input name: array}."""
        if isinstance(x, dict):
            return [_tensors.to_tensor(v, "%s[%r]" % (what, k), self.encoding) for k, v in x.items()], list(x)
        if isinstance(x, tuple):
            return [_tensors.to_tensor(v, "%s[%d]" % (what, i), self.encoding) for i, v in enumerate(x)], None
        return [_tensors.to_tensor(x, what, self.encoding)], None

    def _predict_request(self, name, x, version, candidate):
        tensors, names = self._inputs(x, "x")
        if names:
            for tensor, input_name in zip(tensors, names):
                tensor.name = input_name
        return inference_pb2.PredictRequest(model=name, statistics_version=_version_number(version),
                                            candidate_id=_candidate_id(candidate, required=False), inputs=tensors,
                                            output_encoding=_tensors.wire_encoding(self.encoding))

    def predict(self, name, x, *, version=None, candidate=None):
        """Runs model `name` in inference mode (Predict).

        x: an array [N, ...] (a batch) or [...] (one instance, without the batch dim); a tuple of arrays or a
          dict {input name: array} for a model with several inputs. Lists and torch tensors work too.
        version: statistics version to pin; None = the served one.
        candidate: a staged candidate's id (or results.Candidate) to predict with instead, for an A/B
          (docs/drift.md); not with `version`. Such calls are not monitored traffic.
        Returns results.Prediction (outputs as float32 arrays, the version that computed them - for a
        candidate, the version it was built from - and candidate_id).
        """
        response = self._call(self._stub.Predict, self._predict_request(name, x, version, candidate))
        return results.Prediction.from_proto(response)

    def predict_stream(self, name, batches, *, version=None, candidate=None):
        """Many predictions over one PredictStream call: yields a results.Prediction per item of `batches`,
        in order. The first failing request ends the stream with its error."""
        requests = (self._predict_request(name, x, version, candidate) for x in batches)
        try:
            for response in self._stub.PredictStream(requests, timeout=self.timeout, metadata=self._metadata):
                yield results.Prediction.from_proto(response)
        except grpc.RpcError as e:
            raise errors.from_rpc_error(e) from None

    # --- statistics ---

    def running_stats(self, name, *, version=None, layers=None, include_affine=False):
        """Running statistics of a version of model `name` (GetRunningStats).

        version: None = the served one. layers: BN layer names (None = all). include_affine: add gamma/beta.
        Returns results.RunningStats; stats[i] or stats["layer name"] is a results.LayerRunningStats.
        """
        request = statistics_pb2.GetRunningStatsRequest(model=name, statistics_version=_version_number(version),
                                                        layers=list(layers or ()), include_affine=include_affine)
        response = self._call(self._stub.GetRunningStats, request)
        return results.RunningStats(response.model, results.Version.from_proto(response.version),
                                    [results.LayerRunningStats.from_proto(layer) for layer in response.layers])

    def batch_stats(self, name, x, *, version=None, forward="train", sort_by_drift=False, chunk_rows=None):
        """What every BN layer of model `name` sees in batch x and how far it drifts from the running
        statistics (GetBatchStats). Changes no state.

        version: running statistics to compare with (None = served). forward: "train" (BN normalizes with the
          batch's statistics, as PyTorch's train mode) or "eval". sort_by_drift: largest mean KL first.
        chunk_rows: stream the batch in chunks of this many rows (GetBatchStatsStream) - the statistics are
          those of the whole batch. By default a batch larger than half the server's message limit is chunked.
        Returns results.BatchStats.
        """
        tensors, _ = self._inputs(x, "x")
        header = statistics_pb2.GetBatchStatsRequest(model=name, statistics_version=_version_number(version),
                                                     forward_mode=_choice(forward, _FORWARD, "forward"),
                                                     sort_by_drift=sort_by_drift)
        payload = sum(t.ByteSize() for t in tensors)
        if chunk_rows is None:
            limit = self.models().max_message_bytes // 2 if payload > (2 << 20) else None
            rows = tensors[0].shape[0] if tensors[0].shape else 1
            if limit and payload > limit:
                chunk_rows = max(1, rows * limit // payload)
        if chunk_rows is None:
            header.inputs.extend(tensors)
            return results.BatchStats.from_proto(self._call(self._stub.GetBatchStats, header))
        arrays = [_tensors.from_tensor(t) for t in tensors]

        def chunks():
            for i, begin in enumerate(range(0, arrays[0].shape[0], chunk_rows)):
                request = statistics_pb2.GetBatchStatsRequest()
                if i == 0:
                    request.CopyFrom(header)  # later chunks carry only inputs
                request.inputs.extend(_tensors.to_tensor(a[begin:begin + chunk_rows], "x", self.encoding)
                                      for a in arrays)
                yield request

        return results.BatchStats.from_proto(self._call(self._stub.GetBatchStatsStream, chunks()))

    def moments(self, x, axes, *, keep_dims=False):
        """Mean and BIASED variance of x over `axes` (tf.nn.moments; float64 on the server): results.Moments
        with arrays shaped as the reduced x."""
        axes = [axes] if isinstance(axes, int) else list(axes)
        request = statistics_pb2.MomentsRequest(x=_tensors.to_tensor(x, "x", self.encoding), axes=axes,
                                                keep_dims=keep_dims)
        response = self._call(self._stub.Moments, request)
        shape = tuple(response.shape)
        return results.Moments(np.asarray(response.mean, np.float64).reshape(shape),
                               np.asarray(response.variance, np.float64).reshape(shape))

    # --- recalibration and versions ---

    def recalibrate(self, name, batches, *, mode="ema", momentum=None, prior_strength=None, alpha=None, reset=False,
                    layers=None, forward="train", dry_run=False, stage=False, expected_version=None, note="",
                    request_id=None, attempts=None, progress=None):
        """Recomputes the BN running statistics of model `name` from unlabeled batches and commits them as a
        new version (Recalibrate); the statistics depend on how the data is split into batches.

        batches: any iterable of batches [N, ...]: a list, a generator, a torch DataLoader yielding tensors or
          (x, y) tuples (labels are ignored). For a model with k inputs, each item is a tuple whose first k
          entries are the inputs. Items are pulled lazily and kept (encoded) until the call returns, so that
          a retry resends exactly the same batches.
        mode: "ema", "cumulative" (torch.optim.swa_utils.update_bn with reset=True), "population", "exact", or
          the label-free adaptation modes "prior" and "alpha", which mix the served statistics with the streamed
          ones (docs/recalibration.md). momentum: EMA momentum for every layer instead of each layer's own.
          prior_strength: mode "prior" only, N >= 0 (None = the server's default, 16). alpha: mode "alpha" only,
          in [0, 1] (None = 0.9). The server refuses either with another mode, and reset or momentum with these
          two (bnserve.InvalidArgument naming the field).
        reset: start from PyTorch's reset statistics. layers: BN layer names to update (None = all).
        forward: "train" or "eval". dry_run: compute and report, commit nothing.
        stage: stage the statistics as a candidate instead of committing them (result.candidate_id): not
          served, shadowed on live traffic, then promote() or discard() (docs/drift.md). Not with dry_run or
          request_id; sent once (without a request_id, a retry could stage twice).
        expected_version: refuse (bnserve.Aborted) unless this version is served at the start and the end.
        note: text recorded in the version history.
        request_id: idempotency key; default a random UUID. A stream whose outcome is unknown (UNAVAILABLE,
          DEADLINE_EXCEEDED, CANCELLED) is resent up to `attempts` times with the same key and batches; if the
          first attempt had committed, the server answers with that version (result.deduplicated).
        progress: a tqdm bar (None = when tqdm is installed and stderr is a terminal or in a notebook).
        Returns results.Recalibration.
        """
        if stage and (dry_run or request_id):
            raise ValueError("stage: a staged candidate commits nothing, so it takes neither dry_run nor "
                             "request_id; got dry_run=%r, request_id=%r" % (dry_run, request_id))
        num_inputs = len(self.describe(name).inputs) or 1
        config = recalibration_pb2.RecalibrationConfig(
            model=name, mode=_choice(mode, _MODES, "mode"), reset=reset, layers=list(layers or ()),
            forward_mode=_choice(forward, _FORWARD, "forward"), dry_run=dry_run, stage=stage,
            expected_version=_version_number(expected_version, "expected_version"), note=note or "")
        if momentum is not None:
            config.momentum = momentum
        if prior_strength is not None:
            config.prior_strength = prior_strength
        if alpha is not None:
            config.alpha = alpha
        if not dry_run and not stage:
            config.request_id = request_id or str(uuid.uuid4())
        elif request_id:
            config.request_id = request_id
        replay = ReplayableBatches(batches, num_inputs, self.encoding)
        total = len(batches) if hasattr(batches, "__len__") else None
        attempts = 1 if stage else max(1, attempts or self.attempts)
        backoff = 0.1
        for attempt in range(1, attempts + 1):
            bar = progress_bar(progress, total, "recalibrate %s" % name)
            if attempt > 1:
                bar.set_postfix_str("attempt %d" % attempt)
            try:
                response = self._recalibrate_once(config, replay, bar)
                return results.Recalibration.from_proto(response, attempt)
            except grpc.RpcError as e:
                if e.code() not in _OUTCOME_UNKNOWN or attempt == attempts:
                    error = errors.from_rpc_error(e)
                    if attempt > 1:
                        error.message += " (after %d attempts with request_id %s)" % (attempt, config.request_id)
                        error.args = (error.message,)
                    raise error from None
            finally:
                bar.close()
            # Equal jitter: clients that failed together do not retry together.
            time.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, 5.0)

    def _recalibrate_once(self, config, replay, bar):
        failure = []

        def requests():
            yield recalibration_pb2.RecalibrateRequest(config=config)
            try:
                yield from replay.requests(lambda index, samples: bar.update(1))
            except Exception as e:  # a bad batch: cancel the call (nothing is committed) and raise it below
                failure.append(e)
                raise

        try:
            return self._stub.Recalibrate(requests(), timeout=self.timeout, metadata=self._metadata)
        except grpc.RpcError:
            if failure:
                raise failure[0] from None
            raise

    def history(self, name):
        """The lineage of model `name`'s served version, oldest first (ListVersions): results.History."""
        response = self._call(self._stub.ListVersions, versions_pb2.ListVersionsRequest(model=name))
        return results.History(response.model, response.current_version,
                               [results.Version.from_proto(v) for v in response.versions])

    def rollback(self, name, to, *, expected_version=None):
        """Serves version `to` again by committing a copy of it as a new version (Rollback); returns the new
        results.Version. expected_version: refuse (bnserve.Aborted) unless it is the served one."""
        request = versions_pb2.RollbackRequest(model=name, to_version=_version_number(to, "to"),
                                               expected_version=_version_number(expected_version,
                                                                                "expected_version"))
        return results.Version.from_proto(self._call(self._stub.Rollback, request).new_version)

    def export(self, name, path=None, *, version=None):
        """The ONNX model `name` with a version's statistics in its BN nodes (Export), written to `path` when
        given. Returns results.Exported (the bytes, the version, the path)."""
        request = versions_pb2.ExportRequest(model=name, statistics_version=_version_number(version))
        data, model, exported_version = [], name, 0
        try:
            for i, chunk in enumerate(self._stub.Export(request, timeout=self.timeout, metadata=self._metadata)):
                if i == 0:
                    model, exported_version = chunk.model, chunk.statistics_version
                data.append(chunk.data)
        except grpc.RpcError as e:
            raise errors.from_rpc_error(e) from None
        blob = b"".join(data)
        if path is not None:
            with open(path, "wb") as f:
                f.write(blob)
            path = os.fspath(path)
        return results.Exported(model, exported_version, blob, path)

    # --- drift monitoring and candidates (docs/drift.md) ---

    def drift(self, name, *, windows=None):
        """What the drift monitor sees in model `name`'s live traffic (GetDrift): alarm and why, the calibrated
        threshold, the `windows` most recent windows (None = the server's default, 32) with per-layer scores,
        staged candidates with their shadow evaluation, recent events. Returns results.Drift.
        bnserve.FailedPrecondition when monitoring is off for the model."""
        return results.Drift.from_proto(self._call(self._stub.GetDrift, self._drift_request(name, windows)))

    def watch_drift(self, name, *, windows=None):
        """A generator of results.Drift (WatchDrift): the state at once, then after every window and decision
        of the monitor, for as long as it is iterated. Closing it (or leaving a `for` loop, or garbage
        collection) ends the call. No deadline: it runs until stopped."""
        call = self._stub.WatchDrift(self._drift_request(name, windows), metadata=self._metadata)
        try:
            for response in call:
                yield results.Drift.from_proto(response)
        except grpc.RpcError as e:
            raise errors.from_rpc_error(e) from None
        finally:
            call.cancel()

    def promote(self, name, candidate, *, note=""):
        """Commits staged candidate `candidate` (an id or a results.Candidate) of model `name` as a new version
        with origin "adapt" and serves it (PromoteCandidate); returns the new version number. bnserve.Aborted
        when the served version is no longer the one the candidate was built from."""
        request = drift_pb2.PromoteCandidateRequest(model=name, candidate_id=_candidate_id(candidate), note=note)
        return self._call(self._stub.PromoteCandidate, request).statistics_version

    def discard(self, name, candidate):
        """Drops staged candidate `candidate` (an id or a results.Candidate) of model `name` (DiscardCandidate)."""
        request = drift_pb2.DiscardCandidateRequest(model=name, candidate_id=_candidate_id(candidate))
        self._call(self._stub.DiscardCandidate, request)

    @staticmethod
    def _drift_request(name, windows):
        if windows is not None and (int(windows) != windows or windows < 1):
            raise ValueError("windows: expected None or a number of windows >= 1, got %r" % (windows,))
        return drift_pb2.GetDriftRequest(model=name, windows=int(windows or 0))


def _candidate_id(candidate, required=True):
    """A candidate id >= 1 from an int or a results.Candidate; None = 0 (none) unless required."""
    if candidate is None and not required:
        return 0
    if isinstance(candidate, results.Candidate):
        return candidate.candidate_id
    if isinstance(candidate, bool) or not isinstance(candidate, (int, np.integer)) or candidate < 1:
        raise ValueError("candidate: expected a staged candidate's id (>= 1), got %r" % (candidate,))
    return int(candidate)


def _health_request(service):
    """grpc.health.v1.HealthCheckRequest{service} in protobuf wire format (field 1, length-delimited); the
    health protos are not part of bnserve.v1, and this one field is all the client needs."""
    data = service.encode()
    length, varint = len(data), bytearray()
    while True:
        byte, length = length & 0x7F, length >> 7
        varint.append(byte | (0x80 if length else 0))
        if not length:
            break
    return b"\x0a" + bytes(varint) + data if data else b""


def _health_status(data):
    """HealthCheckResponse.status (field 1, varint; absent = 0 UNKNOWN)."""
    if len(data) >= 2 and data[0] == 0x08:
        return data[1]
    return 0
