"""bnserve as operators and Open Inference Protocol clients see it, from Python against a live server.

Starts the bnserve binary with --metrics-listen 127.0.0.1:0 on a temporary copy of the torch MLP fixture
(ports read from the JSON log lines), makes a known number of calls over gRPC (bnserve.v1 stubs generated
from proto/ at test time), and checks the /metrics exposition with an independent parser
(python3-prometheus-client): exact request counts by method, model and code, latency histogram counts,
samples, served version and commit time, commits, process metrics, and that names which are not models
share the model="" series.

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
    def start(test_class):
        test_class.tmp = tempfile.mkdtemp(prefix="bnserve_obs_")
        generate_stubs(ARGS.proto_dir, os.path.join(test_class.tmp, "stubs"))
        import grpc
        from bnserve.v1 import (bnserve_service_pb2_grpc, inference_pb2, recalibration_pb2, statistics_pb2,
                                tensor_pb2)
        test_class.grpc = grpc
        test_class.pb = {"tensor": tensor_pb2, "inference": inference_pb2, "recalibration": recalibration_pb2,
                         "statistics": statistics_pb2}
        repository = os.path.join(test_class.tmp, "repository")
        os.makedirs(os.path.join(repository, "mlp"))
        shutil.copy(os.path.join(ARGS.fixtures, "mlp_bn1d.onnx"), os.path.join(repository, "mlp", "model.onnx"))
        with open(os.path.join(ARGS.fixtures, "mlp_bn1d.json")) as f:
            test_class.fixture = json.load(f)
        test_class.server = BnServe(ARGS.bnserve, repository)
        test_class.channel = grpc.insecure_channel("127.0.0.1:%d" % test_class.server.port)
        test_class.stub = bnserve_service_pb2_grpc.BnServeStub(test_class.channel)

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
        got = scrape(self.server.http_port)
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
        self.assertEqual(series(got, "bnserve_inference_samples_total", model="mlp"), expected["predict_samples"])
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
        self.assertGreater(series(got, "process_cpu_seconds_total"), 0)
        fds = len(os.listdir("/proc/%d/fd" % self.server.process.pid))
        self.assertAlmostEqual(series(got, "process_open_fds"), fds, delta=3)
        self.assertAlmostEqual(series(got, "process_start_time_seconds"), time.time(), delta=600)

    def test_unknown_path_and_method(self):
        status, body = http("GET", "http://127.0.0.1:%d/nope" % self.server.http_port)
        self.assertEqual(status, 404)
        self.assertIn("/nope", json.loads(body)["error"])
        status, body = http("POST", "http://127.0.0.1:%d/metrics" % self.server.http_port, body=b"x")
        self.assertEqual(status, 405)


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
    if ARGS.prometheus:
        rest = ["PrometheusServerTest"] + rest
    else:
        del globals()["PrometheusServerTest"]
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
