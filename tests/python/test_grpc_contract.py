"""Contract test from a second language: Python stubs generated from proto/ alone drive a live bnserve.

Generates the bnserve.v1 stubs with grpc_tools.protoc into a temporary directory, starts the bnserve binary
on a temporary copy of a model repository (port 0; the chosen port is read from the JSON "server_started"
log line), then checks ListModels, DescribeModel, Predict (packed values and raw little-endian bytes,
against PyTorch's output in the fixture JSON), Recalibrate (a client stream reproducing
torch.optim.swa_utils.update_bn), ListVersions, and a clean SIGTERM shutdown.

Run by ctest (tests/server/CMakeLists.txt); needs python3-grpcio and python3-grpc-tools.
Usage: test_grpc_contract.py --bnserve BIN --proto-dir DIR --fixtures DIR
"""
import argparse
import glob
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import unittest

ARGS = None


def generate_stubs(proto_dir, out_dir):
    """python -m grpc_tools.protoc on every proto/bnserve/v1 file; the stubs land in out_dir/bnserve/v1."""
    os.makedirs(out_dir)
    protos = sorted(os.path.relpath(p, proto_dir)
                    for p in glob.glob(os.path.join(proto_dir, "bnserve", "v1", "*.proto")))
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I" + proto_dir, "--python_out=" + out_dir,
                    "--grpc_python_out=" + out_dir] + protos, check=True)
    sys.path.insert(0, out_dir)


class BnServeProcess:
    """bnserve on 127.0.0.1:<free port> over `repository` (plus `extra_args` flags), logs parsed as JSON
    lines."""

    def __init__(self, binary, repository, extra_args=()):
        self.process = subprocess.Popen(
            [binary, "--listen", "127.0.0.1:0", "--model-repository", repository, "--log-format", "json",
             "--worker-threads", "2", "--drain-seconds", "5"] + list(extra_args),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self.port = None
        for line in self.process.stdout:
            self.lines.append(line)
            event = json.loads(line)  # every line must be one JSON object
            if "event=server_started" in event["msg"]:
                self.port = int(event["msg"].split(" port=")[1].split()[0])
                break
        if self.port is None:
            raise RuntimeError("bnserve did not start:\n" + "".join(self.lines))
        # Keep draining stdout so the server never blocks on a full pipe.
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self):
        for line in self.process.stdout:
            self.lines.append(line)

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=60)
        self.reader.join(timeout=10)
        return code


def tensor(bnserve_pb, shape, values, raw):
    t = bnserve_pb.Tensor(shape=shape)
    if raw:
        t.raw_float32_le = struct.pack("<%df" % len(values), *values)
    else:
        t.values.extend(values)
    return t


def tensor_values(t):
    if t.raw_float32_le:
        return list(struct.unpack("<%df" % (len(t.raw_float32_le) // 4), t.raw_float32_le))
    return list(t.values)


class GrpcContractTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="bnserve_py_")
        generate_stubs(ARGS.proto_dir, os.path.join(cls.tmp, "stubs"))
        import grpc
        from bnserve.v1 import (bnserve_service_pb2_grpc, inference_pb2, model_pb2, recalibration_pb2,
                                statistics_pb2, tensor_pb2, versions_pb2)
        cls.grpc = grpc
        cls.pb = {"tensor": tensor_pb2, "model": model_pb2, "inference": inference_pb2,
                  "recalibration": recalibration_pb2, "statistics": statistics_pb2, "versions": versions_pb2}
        repository = os.path.join(cls.tmp, "repository")
        os.makedirs(os.path.join(repository, "mlp"))
        shutil.copy(os.path.join(ARGS.fixtures, "mlp_bn1d.onnx"), os.path.join(repository, "mlp", "model.onnx"))
        with open(os.path.join(ARGS.fixtures, "mlp_bn1d.json")) as f:
            cls.fixture = json.load(f)
        cls.server = BnServeProcess(ARGS.bnserve, repository)
        cls.channel = grpc.insecure_channel("127.0.0.1:%d" % cls.server.port)
        cls.stub = bnserve_service_pb2_grpc.BnServeStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        if cls.server.process.poll() is None:
            cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def assertAllClose(self, got, want, tolerance):
        self.assertEqual(len(got), len(want))
        for i, (g, w) in enumerate(zip(got, want)):
            self.assertLessEqual(abs(g - w), tolerance * (1 + abs(w)), "element %d: %r vs %r" % (i, g, w))

    def predict(self, input_json, raw, version=0):
        inference = self.pb["inference"]
        request = inference.PredictRequest(model="mlp", statistics_version=version)
        request.inputs.append(tensor(self.pb["tensor"], input_json["shape"], input_json["data"], raw))
        return self.stub.Predict(request, timeout=60)

    def test_1_list_and_describe(self):
        models = self.stub.ListModels(self.pb["model"].ListModelsRequest(), timeout=60)
        self.assertEqual([m.name for m in models.models], ["mlp"])
        self.assertEqual(models.models[0].state, self.pb["model"].MODEL_STATE_AVAILABLE)
        self.assertGreater(models.max_message_bytes, 0)
        described = self.stub.DescribeModel(self.pb["model"].DescribeModelRequest(model="mlp"), timeout=60)
        self.assertEqual(described.inputs[0].name, "input")
        self.assertEqual(list(described.inputs[0].shape), [-1, 20])
        self.assertEqual([layer.name for layer in described.bn_layers],
                         [layer["node"] for layer in self.fixture["bn_layers"]])
        self.assertEqual(described.current_version.version, 1)

    def test_2_predict_values_and_raw(self):
        for raw in (False, True):
            response = self.predict(self.fixture["eval"]["input"], raw)
            self.assertEqual(response.statistics_version, 1)
            self.assertEqual(list(response.outputs[0].shape), self.fixture["eval"]["output"]["shape"])
            self.assertEqual(bool(response.outputs[0].raw_float32_le), raw)
            self.assertAllClose(tensor_values(response.outputs[0]), self.fixture["eval"]["output"]["data"], 1e-5)

    def test_3_errors_carry_codes_and_fields(self):
        with self.assertRaises(self.grpc.RpcError) as caught:
            self.predict({"shape": [2, 19], "data": [0.0] * 38}, raw=False)
        self.assertEqual(caught.exception.code(), self.grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("inputs[0].shape: expected [batch,20] or [20], got [2,19]", caught.exception.details())
        with self.assertRaises(self.grpc.RpcError) as caught:
            self.stub.DescribeModel(self.pb["model"].DescribeModelRequest(model="nope"), timeout=60)
        self.assertEqual(caught.exception.code(), self.grpc.StatusCode.NOT_FOUND)

    def test_4_recalibrate_like_update_bn_then_history(self):
        recalibration = self.pb["recalibration"]
        statistics = self.pb["statistics"]

        def messages():
            yield recalibration.RecalibrateRequest(config=recalibration.RecalibrationConfig(
                model="mlp", mode=recalibration.RECALIBRATION_MODE_CUMULATIVE, reset=True,
                forward_mode=statistics.FORWARD_MODE_TRAIN, expected_version=1, note="from python"))
            for batch in self.fixture["train"]["batches"]:
                yield recalibration.RecalibrateRequest(batch=recalibration.RecalibrationBatch(
                    inputs=[tensor(self.pb["tensor"], batch["shape"], batch["data"], raw=True)]))

        summary = self.stub.Recalibrate(messages(), timeout=120)
        self.assertEqual(summary.batches, 3)
        self.assertEqual(summary.new_version.version, 2)
        self.assertEqual(summary.new_version.mode, "cumulative")

        stats = self.stub.GetRunningStats(statistics.GetRunningStatsRequest(model="mlp"), timeout=60)
        for got, want in zip(stats.layers, self.fixture["update_bn"]["bn"]):
            self.assertAllClose(list(got.mean), want["running_mean"], 2e-6)
            self.assertAllClose(list(got.var), want["running_var"], 2e-6)
        response = self.predict(self.fixture["eval"]["input"], raw=False)
        self.assertEqual(response.statistics_version, 2)
        self.assertAllClose(tensor_values(response.outputs[0]), self.fixture["update_bn"]["eval_output"]["data"],
                            1e-5)

        history = self.stub.ListVersions(self.pb["versions"].ListVersionsRequest(model="mlp"), timeout=60)
        self.assertEqual(history.current_version, 2)
        self.assertEqual([v.version for v in history.versions], [1, 2])
        self.assertEqual(history.versions[1].origin, "recalibrate")
        self.assertEqual(history.versions[1].note, "from python")
        self.assertEqual(history.versions[1].parent, 1)

    def test_5_sigterm_drains_and_exits_cleanly(self):
        self.channel.close()
        self.assertEqual(self.server.stop(), 0)
        messages = [json.loads(line)["msg"] for line in self.server.lines]
        self.assertTrue(any("event=shutdown_requested signal=SIGTERM" in m for m in messages), messages[-5:])
        self.assertTrue(any("event=server_stopped" in m for m in messages), messages[-5:])


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bnserve", required=True)
    parser.add_argument("--proto-dir", required=True)
    parser.add_argument("--fixtures", required=True, help="tests/fixtures/torch")
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
