"""bnserve as operators and Open Inference Protocol clients see it, from Python against a live server.

Open Inference Protocol: stubs generated at test time from proto/inference/grpc_predict_v2.proto drive
inference.GRPCInferenceService on bnserve's gRPC port (metadata, ModelInfer with fp32_contents and with
raw_input_contents and a pinned version, compared bit for bit with bnserve.v1 Predict; wrong name, shape,
datatype and byte count); urllib drives the HTTP/JSON routes on the HTTP port (every endpoint, malformed
JSON, a wrong shape, an unknown model, bearer tokens).

Starts the bnserve binary with --metrics-listen 127.0.0.1:0 on a temporary copy of the torch MLP fixture
(ports read from the JSON log lines), makes a known number of calls over gRPC (bnserve.v1 stubs generated
from proto/ at test time), and checks the /metrics exposition with an independent parser
(python3-prometheus-client): exact request counts by method, model and code, latency histogram counts,
samples, served version and commit time, commits, process metrics, and that names which are not models
share the model="" series. The drift series: the bundled digits model monitored (config.json), its clean
and then shifted test images (deploy/examples/data) as Predict traffic, and the scores, threshold, alarm,
sample and window counts and decisions checked against GetDrift.

With --prometheus BIN (the ctest `heavy` variant) it runs only PrometheusServerTest: a real Prometheus server on loopback that
scrapes bnserve every second, and it checks through Prometheus's HTTP API that the scraped counts are exact.

Usage: test_observability.py --bnserve BIN --proto-dir DIR --fixtures DIR [--prometheus BIN]
"""
import argparse
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_grpc_contract import generate_stubs, tensor  # noqa: E402

ARGS = None


class BnServe:
    """bnserve with a gRPC port and an HTTP port, both chosen by the OS, logs parsed as JSON lines."""

    def __init__(self, binary, repository, extra_args=()):
        self.process = subprocess.Popen(
            [binary, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--model-repository",
             repository, "--log-format", "json", "--worker-threads", "2", "--drain-seconds", "5"] + list(extra_args),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self.port = self.http_port = None
        for line in self.process.stdout:
            self.lines.append(line)
            message = json.loads(line)["msg"]
            if "event=http_started" in message:
                self.http_port = int(message.split(" port=")[1].split()[0])
            if "event=server_started" in message:
                self.port = int(message.split(" port=")[1].split()[0])
                break
        if self.port is None or self.http_port is None:
            raise RuntimeError("bnserve did not start:\n" + "".join(self.lines))
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True)
        self.reader.start()

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=60)
        self.reader.join(timeout=10)
        return code


def http(method, url, body=None, headers=None):
    """(status, body bytes) of one request; HTTP errors are answers, not exceptions."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def scrape(http_port):
    """{(name, frozenset(labels)): value} of bnserve's /metrics, parsed by prometheus_client."""
    from prometheus_client.parser import text_string_to_metric_families
    status, body = http("GET", "http://127.0.0.1:%d/metrics" % http_port)
    assert status == 200, (status, body)
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def series(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


class Fixture:
    """Stubs, a repository with the torch MLP, and a running bnserve, shared by the tests of one class."""

    @staticmethod
    def start(test_class, extra_args=(), add_models=None):
        """add_models(repository): puts more models into the repository before the server starts."""
        test_class.tmp = tempfile.mkdtemp(prefix="bnserve_obs_")
        stubs = os.path.join(test_class.tmp, "stubs")
        generate_stubs(ARGS.proto_dir, stubs)
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I" + ARGS.proto_dir, "--python_out=" + stubs,
                        "--grpc_python_out=" + stubs, "inference/grpc_predict_v2.proto"], check=True)
        from inference import grpc_predict_v2_pb2, grpc_predict_v2_pb2_grpc
        import grpc
        from bnserve.v1 import (bnserve_service_pb2_grpc, inference_pb2, recalibration_pb2, statistics_pb2,
                                tensor_pb2)
        test_class.grpc = grpc
        test_class.pb = {"tensor": tensor_pb2, "inference": inference_pb2, "recalibration": recalibration_pb2,
                         "statistics": statistics_pb2, "oip": grpc_predict_v2_pb2}
        repository = os.path.join(test_class.tmp, "repository")
        os.makedirs(os.path.join(repository, "mlp"))
        shutil.copy(os.path.join(ARGS.fixtures, "mlp_bn1d.onnx"), os.path.join(repository, "mlp", "model.onnx"))
        with open(os.path.join(ARGS.fixtures, "mlp_bn1d.json")) as f:
            test_class.fixture = json.load(f)
        test_class.repository = repository
        if add_models:
            add_models(repository)
        test_class.server = BnServe(ARGS.bnserve, repository, extra_args)
        test_class.channel = grpc.insecure_channel("127.0.0.1:%d" % test_class.server.port)
        test_class.stub = bnserve_service_pb2_grpc.BnServeStub(test_class.channel)
        test_class.oip = grpc_predict_v2_pb2_grpc.GRPCInferenceServiceStub(test_class.channel)

    @staticmethod
    def stop(test_class):
        test_class.channel.close()
        if test_class.server.process.poll() is None:
            test_class.server.stop()
        shutil.rmtree(test_class.tmp, ignore_errors=True)


def predict(test, model, shape, data, raw=False):
    request = test.pb["inference"].PredictRequest(model=model)
    request.inputs.append(tensor(test.pb["tensor"], shape, data, raw))
    return test.stub.Predict(request, timeout=60)


def make_known_calls(test):
    """7 good Predicts of 3 samples, 2 on a name that is no model, 1 with a wrong shape, one commit."""
    eval_input = test.fixture["eval"]["input"]
    rows = eval_input["shape"][0]
    for i in range(7):
        predict(test, "mlp", eval_input["shape"], eval_input["data"], raw=bool(i % 2))
    for name in ("nope", "other-nope"):
        with test.assertRaises(test.grpc.RpcError) as caught:
            predict(test, name, eval_input["shape"], eval_input["data"])
        test.assertEqual(caught.exception.code(), test.grpc.StatusCode.NOT_FOUND)
    with test.assertRaises(test.grpc.RpcError) as caught:
        predict(test, "mlp", [2, 19], [0.0] * 38)
    test.assertEqual(caught.exception.code(), test.grpc.StatusCode.INVALID_ARGUMENT)
    recalibration, statistics = test.pb["recalibration"], test.pb["statistics"]

    def messages():
        yield recalibration.RecalibrateRequest(config=recalibration.RecalibrationConfig(
            model="mlp", mode=recalibration.RECALIBRATION_MODE_CUMULATIVE, reset=True,
            forward_mode=statistics.FORWARD_MODE_TRAIN, expected_version=1))
        for batch in test.fixture["train"]["batches"]:
            yield recalibration.RecalibrateRequest(batch=recalibration.RecalibrationBatch(
                inputs=[tensor(test.pb["tensor"], batch["shape"], batch["data"], raw=True)]))

    before = time.time()
    summary = test.stub.Recalibrate(messages(), timeout=120)
    test.assertEqual(summary.new_version.version, 2)
    return {"predict_samples": 7 * rows,
            "recalibration_samples": sum(b["shape"][0] for b in test.fixture["train"]["batches"]),
            "commit_after": before, "commit_before": time.time()}


class MetricsExpositionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        Fixture.start(cls)

    @classmethod
    def tearDownClass(cls):
        Fixture.stop(cls)

    def test_counts_versions_and_process_metrics_are_exact(self):
        before = scrape(self.server.http_port)
        self.assertEqual(series(before, "bnserve_model_statistics_version", model="mlp"), 1)
        self.assertEqual(series(before, "bnserve_model_statistics_commit_time_seconds", model="mlp"), 0)
        self.assertEqual(series(before, "bnserve_model_state", model="mlp", state="available"), 1)
        self.assertEqual(series(before, "bnserve_model_state", model="mlp", state="error"), 0)
        expected = make_known_calls(self)
        cpu_before = self.cpu_seconds()
        got = scrape(self.server.http_port)
        cpu_after = self.cpu_seconds()
        self.assertEqual(series(got, "bnserve_requests_total", method="Predict", model="mlp", code="OK"), 7)
        self.assertEqual(
            series(got, "bnserve_requests_total", method="Predict", model="mlp", code="INVALID_ARGUMENT"), 1)
        # Names that are not models never become label values.
        self.assertEqual(series(got, "bnserve_requests_total", method="Predict", model="", code="NOT_FOUND"), 2)
        self.assertFalse([key for key in got if ("model", "nope") in key[1]])
        self.assertEqual(series(got, "bnserve_requests_total", method="Recalibrate", model="mlp", code="OK"), 1)
        self.assertEqual(series(got, "bnserve_request_duration_seconds_count", method="Predict", model="mlp"), 8)
        self.assertEqual(
            series(got, "bnserve_request_duration_seconds_bucket", method="Predict", model="mlp", le="+Inf"), 8)
        self.assertGreater(series(got, "bnserve_request_duration_seconds_sum", method="Predict", model="mlp"), 0)
        self.assertEqual(series(got, "bnserve_inference_samples_total", model="mlp")
                         - series(before, "bnserve_inference_samples_total", model="mlp"), expected["predict_samples"])
        self.assertEqual(series(got, "bnserve_recalibration_samples_total", model="mlp"),
                         expected["recalibration_samples"])
        self.assertEqual(series(got, "bnserve_commits_total", model="mlp"), 1)
        self.assertEqual(series(got, "bnserve_commit_failures_total", model="mlp"), 0)
        self.assertEqual(series(got, "bnserve_model_load_failures_total", model="mlp"), 0)
        self.assertEqual(series(got, "bnserve_recalibration_streams_open", model="mlp"), 0)
        self.assertEqual(series(got, "bnserve_model_statistics_version", model="mlp"), 2)
        committed = series(got, "bnserve_model_statistics_commit_time_seconds", model="mlp")
        self.assertGreaterEqual(committed, int(expected["commit_after"]) - 1)
        self.assertLessEqual(committed, expected["commit_before"] + 1)
        # The process metrics, checked against /proc read here.
        with open("/proc/%d/status" % self.server.process.pid) as f:
            rss_kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        self.assertAlmostEqual(series(got, "process_resident_memory_bytes") / 1024, rss_kib, delta=rss_kib * 0.5)
        self.assertGreaterEqual(series(got, "process_cpu_seconds_total"), cpu_before)
        self.assertLessEqual(series(got, "process_cpu_seconds_total"), cpu_after)
        fds = len(os.listdir("/proc/%d/fd" % self.server.process.pid))
        self.assertAlmostEqual(series(got, "process_open_fds"), fds, delta=3)
        self.assertAlmostEqual(series(got, "process_start_time_seconds"), time.time(), delta=600)

    def test_stream_messages_count_one_by_one(self):
        eval_input = self.fixture["eval"]["input"]
        rows = eval_input["shape"][0]
        before = scrape(self.server.http_port)
        requests = []
        for _ in range(3):
            request = self.pb["inference"].PredictRequest(model="mlp")
            request.inputs.append(tensor(self.pb["tensor"], eval_input["shape"], eval_input["data"], raw=True))
            requests.append(request)
        self.assertEqual(len(list(self.stub.PredictStream(iter(requests), timeout=60))), 3)
        got = scrape(self.server.http_port)
        ok = dict(method="PredictStream", model="mlp", code="OK")
        self.assertEqual(series(got, "bnserve_requests_total", **ok) - (series(before, "bnserve_requests_total", **ok) or 0), 3)
        samples_before = series(before, "bnserve_inference_samples_total", model="mlp")
        self.assertEqual(series(got, "bnserve_inference_samples_total", model="mlp") - samples_before, 3 * rows)

    def cpu_seconds(self):
        """utime + stime of the server from /proc/<pid>/stat (fields 14 and 15 of proc(5))."""
        with open("/proc/%d/stat" % self.server.process.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def test_unknown_path_and_method(self):
        status, body = http("GET", "http://127.0.0.1:%d/nope" % self.server.http_port)
        self.assertEqual(status, 404)
        self.assertIn("/nope", json.loads(body)["error"])
        status, body = http("POST", "http://127.0.0.1:%d/metrics" % self.server.http_port, body=b"x")
        self.assertEqual(status, 405)


EXAMPLES = None  # deploy/examples of the checkout, next to --proto-dir
DRIFT_WINDOW = 16


def add_monitored_digits(repository):
    """The bundled digits model, every served sample monitored, windows of DRIFT_WINDOW images."""
    shutil.copytree(os.path.join(EXAMPLES, "repository", "digits"), os.path.join(repository, "digits"))
    with open(os.path.join(repository, "digits", "config.json"), "w") as f:
        json.dump({"drift": {"sample_rate": 1.0, "window_samples": DRIFT_WINDOW}}, f)


class DriftMetricsTest(unittest.TestCase):
    """bnserve_drift_*, bnserve_adapt_decisions_total and bnserve_candidates_staged after monitored traffic."""

    @classmethod
    def setUpClass(cls):
        import numpy as np
        Fixture.start(cls, add_models=add_monitored_digits)
        from bnserve.v1 import drift_pb2
        cls.drift_pb = drift_pb2
        data = os.path.join(EXAMPLES, "data")
        cls.clean = np.load(os.path.join(data, "digits_test.npy"))
        cls.shifted = np.load(os.path.join(data, "digits_shifted_test.npy"))

    @classmethod
    def tearDownClass(cls):
        Fixture.stop(cls)

    def send(self, images, count):
        """`count` images as Predicts of 8 on the served version, then waits until the monitor has processed
        every sample it took; returns GetDrift's answer."""
        for begin in range(0, count, 8):
            rows = images[begin % (len(images) - 8):][:min(8, count - begin)]
            predict(self, "digits", list(rows.shape), rows.ravel().tolist(), raw=True)
        deadline = time.time() + 60
        while True:
            drift = self.stub.GetDrift(self.drift_pb.GetDriftRequest(model="digits", windows=256), timeout=60)
            if drift.samples_processed + drift.samples_dropped >= drift.samples_sampled or time.time() > deadline:
                return drift

    def assertClose(self, scraped, value):
        """The exposition's text form of a double, to 12 significant digits."""
        self.assertIsNotNone(scraped)
        self.assertAlmostEqual(scraped, value, delta=abs(value) * 1e-12)

    def test_drift_series_follow_the_monitor(self):
        layers = ["/bn%d/BatchNormalization" % i for i in (1, 2, 3)]
        empty = scrape(self.server.http_port)
        # No monitor yet (no prediction served), and the unmonitored mlp never has one.
        self.assertFalse([key for key in empty if key[0].startswith("bnserve_drift")])

        drift = self.send(self.clean, 20 * DRIFT_WINDOW)
        got = scrape(self.server.http_port)
        self.assertEqual(drift.samples_processed, 20 * DRIFT_WINDOW)
        self.assertEqual(series(got, "bnserve_drift_samples_total", model="digits", outcome="sampled"),
                         20 * DRIFT_WINDOW)
        self.assertEqual(series(got, "bnserve_drift_samples_total", model="digits", outcome="processed"),
                         20 * DRIFT_WINDOW)
        self.assertEqual(series(got, "bnserve_drift_samples_total", model="digits", outcome="dropped"), 0)
        self.assertEqual(series(got, "bnserve_drift_windows_total", model="digits"), 20)
        self.assertClose(series(got, "bnserve_drift_threshold", model="digits"), drift.calibration.threshold)
        self.assertGreater(drift.calibration.threshold, 0)
        self.assertEqual(series(got, "bnserve_drift_alarm", model="digits"), 0)
        last = drift.windows[-1]
        self.assertFalse(last.reference)
        self.assertGreater(series(got, "bnserve_drift_score", model="digits"), 0)
        self.assertClose(series(got, "bnserve_drift_score", model="digits"), last.score)
        for layer in last.layers:
            self.assertClose(series(got, "bnserve_drift_layer_score", model="digits", layer=layer.name), layer.score)
        self.assertEqual(sorted(l.name for l in last.layers), layers)
        self.assertEqual(series(got, "bnserve_adapt_decisions_total", model="digits", kind="reference"), 1)
        self.assertIsNone(series(got, "bnserve_adapt_decisions_total", model="digits", kind="alarm"))
        self.assertEqual(series(got, "bnserve_candidates_staged", model="digits"), 0)
        self.assertFalse([key for key in got if key[0].startswith("bnserve_drift") and ("model", "mlp") in key[1]])
        # A scrape counts nothing twice.
        again = scrape(self.server.http_port)
        self.assertEqual(series(again, "bnserve_drift_windows_total", model="digits"), 20)
        self.assertEqual(series(again, "bnserve_adapt_decisions_total", model="digits", kind="reference"), 1)

        # The new sensor: the alarm, and the counters go on.
        drift = self.send(self.shifted, 10 * DRIFT_WINDOW)
        got = scrape(self.server.http_port)
        self.assertTrue(drift.alarm, drift.alarm_reason)
        self.assertEqual(series(got, "bnserve_drift_alarm", model="digits"), 1)
        self.assertGreater(series(got, "bnserve_drift_score", model="digits"), drift.calibration.threshold)
        self.assertEqual(series(got, "bnserve_drift_windows_total", model="digits"), 30)
        self.assertEqual(series(got, "bnserve_drift_samples_total", model="digits", outcome="processed"),
                         30 * DRIFT_WINDOW)
        self.assertEqual(series(got, "bnserve_adapt_decisions_total", model="digits", kind="alarm"), 1)
        self.assertEqual(series(got, "bnserve_adapt_decisions_total", model="digits", kind="reference"), 1)


def commit_version_2(test):
    """Recalibrates the MLP once (version 2), so that versions 1 and 2 predict differently."""
    recalibration, statistics = test.pb["recalibration"], test.pb["statistics"]

    def messages():
        yield recalibration.RecalibrateRequest(config=recalibration.RecalibrationConfig(
            model="mlp", mode=recalibration.RECALIBRATION_MODE_CUMULATIVE, reset=True,
            forward_mode=statistics.FORWARD_MODE_TRAIN, expected_version=1))
        for batch in test.fixture["train"]["batches"]:
            yield recalibration.RecalibrateRequest(batch=recalibration.RecalibrationBatch(
                inputs=[tensor(test.pb["tensor"], batch["shape"], batch["data"], raw=True)]))

    test.assertEqual(test.stub.Recalibrate(messages(), timeout=120).new_version.version, 2)


def v1_predict_bits(test, version):
    """The output of bnserve.v1 Predict on the fixture's eval input, as raw little-endian bytes."""
    eval_input = test.fixture["eval"]["input"]
    request = test.pb["inference"].PredictRequest(model="mlp", statistics_version=version)
    request.inputs.append(tensor(test.pb["tensor"], eval_input["shape"], eval_input["data"], raw=True))
    response = test.stub.Predict(request, timeout=60, metadata=getattr(test, "grpc_metadata", ()))
    test.assertEqual(response.statistics_version, version)
    return list(response.outputs[0].shape), response.outputs[0].raw_float32_le


class OipGrpcTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        Fixture.start(cls)
        commit_version_2(cls())

    @classmethod
    def tearDownClass(cls):
        Fixture.stop(cls)

    def infer_request(self, raw, version="", shape=None, data=None, datatype="FP32", name="input"):
        oip = self.pb["oip"]
        eval_input = self.fixture["eval"]["input"]
        shape = eval_input["shape"] if shape is None else shape
        data = eval_input["data"] if data is None else data
        request = oip.ModelInferRequest(model_name="mlp", model_version=version, id="req-%s" % version)
        tensor_in = request.inputs.add(name=name, datatype=datatype, shape=shape)
        if raw:
            request.raw_input_contents.append(struct.pack("<%df" % len(data), *data))
        else:
            tensor_in.contents.fp32_contents.extend(data)
        return request

    def test_health_and_metadata(self):
        oip = self.pb["oip"]
        self.assertTrue(self.oip.ServerLive(oip.ServerLiveRequest(), timeout=30).live)
        self.assertTrue(self.oip.ServerReady(oip.ServerReadyRequest(), timeout=30).ready)
        self.assertTrue(self.oip.ModelReady(oip.ModelReadyRequest(name="mlp"), timeout=30).ready)
        self.assertTrue(self.oip.ModelReady(oip.ModelReadyRequest(name="mlp", version="2"), timeout=30).ready)
        self.assertFalse(self.oip.ModelReady(oip.ModelReadyRequest(name="mlp", version="9"), timeout=30).ready)
        server = self.oip.ServerMetadata(oip.ServerMetadataRequest(), timeout=30)
        self.assertEqual(server.name, "bnserve")
        self.assertTrue(server.version)
        metadata = self.oip.ModelMetadata(oip.ModelMetadataRequest(name="mlp"), timeout=30)
        self.assertEqual(metadata.name, "mlp")
        self.assertEqual(list(metadata.versions), ["1", "2"])
        self.assertEqual([(t.name, t.datatype, list(t.shape)) for t in metadata.inputs], [("input", "FP32", [-1, 20])])
        self.assertEqual([(t.name, t.datatype, list(t.shape)) for t in metadata.outputs],
                         [(self.fixture["output_name"], "FP32", [-1, 5])])

    def test_infer_in_both_encodings_matches_v1_predict_bit_for_bit(self):
        for version in ("", "1", "2"):
            want_shape, want_bytes = v1_predict_bits(self, int(version or 2))
            for raw in (False, True):
                with self.subTest(version=version, raw=raw):
                    response = self.oip.ModelInfer(self.infer_request(raw, version), timeout=60)
                    self.assertEqual(response.model_name, "mlp")
                    self.assertEqual(response.model_version, version or "2")
                    self.assertEqual(response.id, "req-%s" % version)
                    self.assertEqual(len(response.outputs), 1)
                    output = response.outputs[0]
                    self.assertEqual((output.name, output.datatype), (self.fixture["output_name"], "FP32"))
                    self.assertEqual(list(output.shape), want_shape)
                    if raw:
                        self.assertEqual(len(output.contents.fp32_contents), 0)
                        self.assertEqual(list(response.raw_output_contents), [want_bytes])
                    else:
                        self.assertEqual(len(response.raw_output_contents), 0)
                        got = struct.pack("<%df" % len(output.contents.fp32_contents), *output.contents.fp32_contents)
                        self.assertEqual(got, want_bytes)
        # Versions 1 and 2 really differ, so the pin is observable.
        self.assertNotEqual(v1_predict_bits(self, 1)[1], v1_predict_bits(self, 2)[1])

    def assertCode(self, request, code, *fragments):
        with self.assertRaises(self.grpc.RpcError) as caught:
            self.oip.ModelInfer(request, timeout=60)
        self.assertEqual(caught.exception.code(), code, caught.exception.details())
        for fragment in fragments:
            self.assertIn(fragment, caught.exception.details())

    def test_errors_name_the_field(self):
        invalid, not_found = self.grpc.StatusCode.INVALID_ARGUMENT, self.grpc.StatusCode.NOT_FOUND
        request = self.infer_request(raw=False)
        request.model_name = "nope"
        self.assertCode(request, not_found, "nope")
        self.assertCode(self.infer_request(raw=False, version="9"), not_found, "9")
        self.assertCode(self.infer_request(raw=False, version="latest"), invalid, "model_version", "latest")
        self.assertCode(self.infer_request(raw=False, name="wrong_name"), invalid, "wrong_name")
        self.assertCode(self.infer_request(raw=False, shape=[3, 19], data=[0.5] * 57), invalid, "inputs[0].shape")
        self.assertCode(self.infer_request(raw=False, datatype="FP64"), invalid, "inputs[0].datatype", "FP64")
        self.assertCode(self.infer_request(raw=False, data=[0.5] * 7), invalid, "inputs[0].contents.fp32_contents")
        request = self.infer_request(raw=True)
        request.raw_input_contents[0] = request.raw_input_contents[0][:-1]
        self.assertCode(request, invalid, "raw_input_contents[0]", "bytes")
        request = self.infer_request(raw=True)
        request.raw_input_contents.append(b"\0" * 4)
        self.assertCode(request, invalid, "raw_input_contents", "one entry per input")
        request = self.infer_request(raw=False)
        request.outputs.add(name="nope")
        self.assertCode(request, invalid, "outputs[0].name")


class OipHttpTest(unittest.TestCase):
    """The HTTP/JSON routes, with bearer tokens and --read-auth token: every route but health needs one."""

    @classmethod
    def setUpClass(cls):
        cls.token_dir = tempfile.mkdtemp(prefix="bnserve_obs_tokens_")
        token_file = os.path.join(cls.token_dir, "tokens")
        with open(token_file, "w") as f:
            f.write("admin admin-token-0123456789\nread read-token-0123456789\n")
        os.chmod(token_file, 0o600)
        Fixture.start(cls, ["--token-file", token_file, "--read-auth", "token"])
        cls.base = "http://127.0.0.1:%d" % cls.server.http_port
        cls.auth = {"Authorization": "Bearer read-token-0123456789"}
        cls.grpc_metadata = (("authorization", "Bearer read-token-0123456789"),)

    @classmethod
    def tearDownClass(cls):
        Fixture.stop(cls)
        shutil.rmtree(cls.token_dir, ignore_errors=True)

    def get(self, path, headers=None):
        status, body = http("GET", self.base + path, headers=self.auth if headers is None else headers)
        return status, json.loads(body)

    def post(self, path, body, headers=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        status, answer = http("POST", self.base + path, body=data,
                              headers=dict(self.auth if headers is None else headers,
                                           **{"Content-Type": "application/json"}))
        return status, json.loads(answer)

    def infer_body(self, shape=None, data=None):
        eval_input = self.fixture["eval"]["input"]
        return {"id": "http-1", "inputs": [{"name": "input", "datatype": "FP32",
                                            "shape": eval_input["shape"] if shape is None else shape,
                                            "data": eval_input["data"] if data is None else data}]}

    def test_health_is_open_and_metadata_needs_a_token(self):
        self.assertEqual(self.get("/v2/health/live", headers={}), (200, {"live": True}))
        self.assertEqual(self.get("/v2/health/ready", headers={}), (200, {"ready": True}))
        status, body = self.get("/v2/models/mlp", headers={})
        self.assertEqual(status, 401)
        self.assertIn("token", body["error"])
        status, body = self.get("/v2/models/mlp", headers={"Authorization": "Bearer wrong-token-0123456789"})
        self.assertEqual(status, 401)
        self.assertEqual(http("GET", self.base + "/metrics")[0], 401)
        self.assertEqual(http("GET", self.base + "/metrics", headers=self.auth)[0], 200)

    def test_metadata_ready_and_server(self):
        status, body = self.get("/v2")
        self.assertEqual((status, body["name"]), (200, "bnserve"))
        status, body = self.get("/v2/models/mlp")
        self.assertEqual(status, 200)
        self.assertEqual(body["inputs"], [{"name": "input", "datatype": "FP32", "shape": [-1, 20]}])
        self.assertEqual(body["outputs"], [{"name": self.fixture["output_name"], "datatype": "FP32", "shape": [-1, 5]}])
        self.assertEqual(body["versions"], ["1"])
        self.assertEqual(self.get("/v2/models/mlp/ready"), (200, {"name": "mlp", "ready": True}))
        self.assertEqual(self.get("/v2/models/mlp/versions/1/ready"), (200, {"name": "mlp", "ready": True}))
        self.assertEqual(self.get("/v2/models/mlp/versions/5/ready")[0], 400)
        status, body = self.get("/v2/models/nope")
        self.assertEqual(status, 404)
        self.assertIn("nope", body["error"])
        self.assertEqual(self.get("/v2/models/nope/ready")[0], 404)

    def test_infer_matches_v1_predict_bit_for_bit(self):
        want_shape, want_bytes = v1_predict_bits(self, 1)
        for path in ("/v2/models/mlp/infer", "/v2/models/mlp/versions/1/infer"):
            status, body = self.post(path, self.infer_body())
            self.assertEqual(status, 200, body)
            self.assertEqual((body["model_name"], body["model_version"], body["id"]), ("mlp", "1", "http-1"))
            output = body["outputs"][0]
            self.assertEqual((output["name"], output["datatype"], output["shape"]),
                             (self.fixture["output_name"], "FP32", want_shape))
            self.assertEqual(struct.pack("<%df" % len(output["data"]), *output["data"]), want_bytes)
        # Nested row-major arrays are the same tensor.
        eval_input = self.fixture["eval"]["input"]
        rows, cols = eval_input["shape"]
        nested = [eval_input["data"][r * cols:(r + 1) * cols] for r in range(rows)]
        status, body = self.post("/v2/models/mlp/infer", self.infer_body(data=nested))
        self.assertEqual(status, 200, body)
        self.assertEqual(struct.pack("<%df" % len(body["outputs"][0]["data"]), *body["outputs"][0]["data"]),
                         want_bytes)

    def test_infer_errors(self):
        status, body = self.post("/v2/models/mlp/infer", b'{"inputs": [')
        self.assertEqual(status, 400)
        self.assertIn("request body", body["error"])
        status, body = self.post("/v2/models/mlp/infer", self.infer_body(shape=[3, 19], data=[0.5] * 57))
        self.assertEqual(status, 400)
        self.assertIn("inputs[0].shape", body["error"])
        status, body = self.post("/v2/models/mlp/infer", {"inputs": [{"name": "input", "datatype": "FP32",
                                                                      "shape": [1, 20], "data": ["x"] * 20}]})
        self.assertEqual(status, 400)
        self.assertIn("inputs[0].data[0]", body["error"])
        status, body = self.post("/v2/models/mlp/infer", {"outputs": []})
        self.assertEqual(status, 400)
        self.assertIn("inputs", body["error"])
        status, body = self.post("/v2/models/nope/infer", self.infer_body())
        self.assertEqual(status, 404)
        self.assertIn("nope", body["error"])
        status, body = self.post("/v2/models/mlp/infer", self.infer_body(), headers={})
        self.assertEqual(status, 401)
        status, body = self.get("/v2/models/mlp/infer")
        self.assertEqual(status, 405)
        status, body = self.get("/v2/models/mlp/bogus")
        self.assertEqual(status, 404)

    def test_curl_speaks_to_it(self):
        curl = shutil.which("curl")
        if curl is None:
            self.fail("curl not installed (deploy/packages-test.txt lists it)")
        out = subprocess.run([curl, "-s", "-H", "Authorization: Bearer read-token-0123456789", "-H",
                              "Content-Type: application/json", "-d", json.dumps(self.infer_body()),
                              self.base + "/v2/models/mlp/infer"], check=True, capture_output=True, text=True)
        self.assertEqual(json.loads(out.stdout)["outputs"][0]["shape"], v1_predict_bits(self, 1)[0])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrometheusServerTest(unittest.TestCase):
    """A real Prometheus scrapes bnserve; its HTTP API must report the exact counts."""

    @classmethod
    def setUpClass(cls):
        Fixture.start(cls)
        cls.prometheus_dir = os.path.join(cls.tmp, "prometheus")
        os.makedirs(cls.prometheus_dir)
        config = os.path.join(cls.prometheus_dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n"
                    "  - job_name: bnserve\n    static_configs:\n      - targets: ['127.0.0.1:%d']\n"
                    % cls.server.http_port)
        cls.prometheus_port = free_port()
        cls.prometheus_log = open(os.path.join(cls.prometheus_dir, "log"), "w")
        cls.prometheus = subprocess.Popen(
            [ARGS.prometheus, "--config.file=" + config, "--storage.tsdb.path=" + os.path.join(cls.prometheus_dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % cls.prometheus_port],
            stdout=cls.prometheus_log, stderr=subprocess.STDOUT)

    @classmethod
    def tearDownClass(cls):
        cls.prometheus.terminate()
        cls.prometheus.wait(timeout=60)
        cls.prometheus_log.close()
        Fixture.stop(cls)

    def query(self, expression):
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (self.prometheus_port,
                                                        urllib.parse.urlencode({"query": expression}))
        status, body = http("GET", url)
        if status != 200:
            return None
        return json.loads(body)["data"]["result"]

    def wait_for_scrape_after(self, moment):
        """Polls (60 s at most) until Prometheus holds a bnserve sample scraped after `moment`."""
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                result = self.query('timestamp(up{job="bnserve"})')
            except (urllib.error.URLError, ConnectionError):
                result = None
            if result and float(result[0]["value"][1]) > moment:
                self.assertEqual(self.value('up{job="bnserve"}'), 1)
                return
            time.sleep(0.2)
        with open(os.path.join(self.prometheus_dir, "log")) as f:
            self.fail("Prometheus never scraped bnserve after the calls; its log:\n" + f.read()[-3000:])

    def value(self, expression):
        result = self.query(expression)
        self.assertEqual(len(result), 1, (expression, result))
        return float(result[0]["value"][1])

    def test_scraped_counts_are_exact(self):
        expected = make_known_calls(self)
        self.wait_for_scrape_after(time.time())
        self.assertEqual(self.value('bnserve_requests_total{method="Predict",model="mlp",code="OK"}'), 7)
        self.assertEqual(self.value('bnserve_requests_total{method="Predict",model="",code="NOT_FOUND"}'), 2)
        self.assertEqual(self.value('bnserve_request_duration_seconds_count{method="Predict",model="mlp"}'), 8)
        self.assertEqual(self.value('bnserve_inference_samples_total{model="mlp"}'), expected["predict_samples"])
        self.assertEqual(self.value('bnserve_commits_total{model="mlp"}'), 1)
        self.assertEqual(self.value('bnserve_model_statistics_version{model="mlp"}'), 2)
        self.assertEqual(self.value('bnserve_model_state{model="mlp",state="available"}'), 1)
        self.assertGreater(self.value('process_resident_memory_bytes{job="bnserve"}'), 0)


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bnserve", required=True)
    parser.add_argument("--proto-dir", required=True)
    parser.add_argument("--fixtures", required=True, help="tests/fixtures/torch")
    parser.add_argument("--prometheus", default="", help="the prometheus binary: run PrometheusServerTest only")
    ARGS, rest = parser.parse_known_args()
    global EXAMPLES
    EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(ARGS.proto_dir)), "deploy", "examples")
    if ARGS.prometheus:
        rest = ["PrometheusServerTest"] + rest
    else:
        del globals()["PrometheusServerTest"]
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
