"""bnserve.Client against a live bnserve: every RPC, both tensor encodings, batch and single-instance
inputs, pinned versions, and the error classes. References come from the ONNX file evaluated with NumPy
(bnserve._onnx_numpy, independent of the C++ engine), from numpy, and from the PyTorch accuracies recorded
in deploy/examples/data/digits_expected.json."""
import json
import os

import grpc
import numpy as np
import onnx
import onnx.numpy_helper
import pytest

BN1 = "/bn1/BatchNormalization"


def onnx_reference(bnserve, server, model, x, outputs=None):
    from bnserve import _onnx_numpy
    proto = onnx.load(os.path.join(server.repository, model, "model.onnx"))
    return _onnx_numpy.run(proto, {proto.graph.input[0].name: x}, outputs)


def test_models_describe_health(client, bnserve):
    models = client.models()
    assert models.names == ["digits", "mlp"]
    assert all(m.state == "available" and m.statistics_version >= 1 for m in models)
    assert models.max_message_bytes > 0
    assert list(models.to_pandas()["name"]) == ["digits", "mlp"]
    info = client.describe("digits")
    assert isinstance(info, bnserve.ModelInfo)
    assert info.inputs[0].shape == (-1, 1, 8, 8) and info.inputs[0].dim_names[0] == "batch"
    assert info.outputs[0].shape == (-1, 10)
    assert [layer.name for layer in info] == [BN1, "/bn2/BatchNormalization", "/bn3/BatchNormalization"]
    assert [layer.channels for layer in info.layers] == [16, 32, 32]
    assert info[BN1].momentum == pytest.approx(0.1) and info[BN1].has_affine
    assert info.opset == 13 and info.producer.startswith("pytorch")
    assert len(info.to_pandas()) == 3
    assert client.health() == "SERVING"
    assert client.health("digits") == "SERVING"


@pytest.mark.parametrize("encoding", ["raw", "values"])
def test_predict_batch_and_instance_in_both_encodings(bnserve, server, data, encoding):
    x = data["test"][:16]
    want = onnx_reference(bnserve, server, "digits", x)[0]
    with bnserve.Client(server.address, encoding=encoding) as client:
        batch = client.predict("digits", x)
        assert batch.statistics_version == client.describe("digits").status.statistics_version
        assert list(batch.outputs) == ["output"]
        assert batch.output.dtype == np.float32 and batch.output.shape == (16, 10)
        np.testing.assert_allclose(batch.output, want, rtol=1e-4, atol=1e-4)
        one = client.predict("digits", x[3])  # one instance: no batch dim in or out
        assert one.output.shape == (10,)
        np.testing.assert_allclose(one.output, want[3], rtol=1e-4, atol=1e-4)
        named = client.predict("digits", {"input": x[:2].tolist()})  # dict of nested lists
        np.testing.assert_allclose(named.output, want[:2], rtol=1e-4, atol=1e-4)


def test_predict_accuracy_matches_pytorch(client, data):
    expected = json.load(open(os.path.join(data["folder"], "digits_expected.json")))["accuracy"]
    logits = client.predict("digits", data["test"], version=1).output
    assert np.mean(np.argmax(logits, 1) == data["test_labels"]) == pytest.approx(expected["clean_test_frozen"])


def test_predict_stream(client, data):
    x = data["test"][:30]
    streamed = list(client.predict_stream("digits", (x[i:i + 10] for i in range(0, 30, 10))))
    assert len(streamed) == 3
    # Batch sizes change the GEMM blocking, hence float32 rounding: close, not bitwise.
    np.testing.assert_allclose(np.concatenate([p.output for p in streamed]), client.predict("digits", x).output,
                               rtol=1e-5, atol=1e-5)


def test_running_stats_match_the_onnx_file(client, server):
    stats = client.running_stats("digits", version=1, include_affine=True)
    assert stats.version.version == 1 and stats.version.origin == "onnx"
    inits = {i.name: onnx.numpy_helper.to_array(i)
             for i in onnx.load(os.path.join(server.repository, "digits", "model.onnx")).graph.initializer}
    np.testing.assert_array_equal(stats["/bn1/BatchNormalization"].mean.astype(np.float32), inits["bn1.running_mean"])
    np.testing.assert_array_equal(stats[0].var.astype(np.float32), inits["bn1.running_var"])
    np.testing.assert_array_equal(stats[0].gamma.astype(np.float32), inits["bn1.weight"])
    only = client.running_stats("digits", version=1, layers=["/bn2/BatchNormalization"])
    assert [layer.name for layer in only] == ["/bn2/BatchNormalization"] and only[0].gamma is None
    table = stats.to_pandas()
    assert len(table) == 16 + 32 + 32 and {"gamma", "beta"} <= set(table.columns)


@pytest.mark.parametrize("encoding", ["raw", "values"])
def test_batch_stats_match_numpy(bnserve, server, data, encoding):
    x = data["calib"][:64]
    with bnserve.Client(server.address, encoding=encoding) as client:
        info = client.describe("digits")
        stats = client.batch_stats("digits", x, version=1)
        assert stats.samples == 64 and stats.forward == "train" and stats.statistics_version == 1
        # BN1's input does not depend on any BN: numpy over (N, H, W) of the ONNX graph's conv1 output.
        (bn1_input,) = onnx_reference(bnserve, server, "digits", x, [info[BN1].input])
        layer = stats[BN1]
        assert layer.count == bn1_input.size // bn1_input.shape[1]
        np.testing.assert_allclose(layer.mean, bn1_input.mean(axis=(0, 2, 3)), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(layer.var_biased, bn1_input.var(axis=(0, 2, 3)), rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(layer.var_unbiased, bn1_input.var(axis=(0, 2, 3), ddof=1), rtol=1e-4, atol=1e-7)
        running = client.running_stats("digits", version=1)[BN1]
        np.testing.assert_array_equal(layer.running_mean, running.mean)
        z = (layer.mean - running.mean) / np.sqrt(running.var + info[BN1].epsilon)
        np.testing.assert_allclose(layer.mean_shift, z, rtol=1e-6, atol=1e-9)
        assert layer.mean_abs_shift == pytest.approx(np.mean(np.abs(z)))
        assert layer.worst_channel == int(np.argmax(layer.kl))
        # Streamed in chunks: the statistics of the whole batch.
        chunked = client.batch_stats("digits", x, version=1, chunk_rows=10)
        for a, b in zip(chunked, stats):
            np.testing.assert_allclose(a.mean, b.mean, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(a.m2, b.m2, rtol=1e-9)
        eval_stats = client.batch_stats("digits", x, version=1, forward="eval", sort_by_drift=True)
        assert eval_stats.forward == "eval"
        assert [l.mean_kl for l in eval_stats] == sorted((l.mean_kl for l in eval_stats), reverse=True)
        assert list(stats.to_pandas()["layer"]) == [l.name for l in stats]


def test_moments_match_numpy(client):
    x = np.random.default_rng(3).normal(size=(4, 3, 5, 2)).astype(np.float32)
    m = client.moments(x, (0, 2, 3))
    assert m.mean.shape == (3,)
    np.testing.assert_allclose(m.mean, x.astype(np.float64).mean(axis=(0, 2, 3)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(m.variance, x.astype(np.float64).var(axis=(0, 2, 3)), rtol=1e-12, atol=1e-12)
    kept = client.moments(x, -1, keep_dims=True)
    assert kept.mean.shape == (4, 3, 5, 1)
    np.testing.assert_allclose(kept.variance[..., 0], x.astype(np.float64).var(axis=-1), rtol=1e-10, atol=1e-12)


def test_versions_pinned_history_rollback_export(client, data, tmp_path):
    before = client.predict("digits", data["shifted_test"][:20], version=1).output
    base = client.history("digits").current_version
    result = client.recalibrate("digits", [data["calib"][i:i + 50] for i in range(0, 300, 50)], mode="exact",
                                reset=True, note="pinned test")
    new = result.new_version.version
    assert new == base + 1 and result.batches == 6 and result.samples == 300
    assert client.predict("digits", data["shifted_test"][:20]).statistics_version == new
    pinned = client.predict("digits", data["shifted_test"][:20], version=1)
    assert pinned.statistics_version == 1
    np.testing.assert_array_equal(pinned.output, before)
    assert client.batch_stats("digits", data["calib"][:32], version=1).statistics_version == 1

    path = tmp_path / "exported.onnx"
    exported = client.export("digits", path, version=new)
    assert exported.statistics_version == new and exported.path == str(path)
    assert path.read_bytes() == exported.data
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
    stats = client.running_stats("digits", version=new)
    np.testing.assert_array_equal(inits["bn1.running_mean"], stats[BN1].mean.astype(np.float32))
    np.testing.assert_array_equal(inits["bn1.running_var"], stats[BN1].var.astype(np.float32))

    rolled = client.rollback("digits", 1, expected_version=new)
    assert rolled.origin == "rollback" and rolled.parent == new
    history = client.history("digits")
    assert history.current_version == rolled.version
    assert [v.version for v in history][-2:] == [new, rolled.version]
    assert history.versions[-2].note == "pinned test" and history.versions[-2].mode == "exact"
    assert history.to_pandas()["version"].tolist() == [v.version for v in history]
    np.testing.assert_array_equal(client.running_stats("digits").layers[0].mean, client.running_stats(
        "digits", version=1).layers[0].mean)


def test_load_unload_reload(bnserve, client):
    x = np.linspace(-1, 1, 8, dtype=np.float32)
    want = client.predict("mlp", x).output
    assert client.unload("mlp").state == "unloaded"
    assert client.models().models[1].state == "unloaded"
    with pytest.raises(bnserve.FailedPrecondition):
        client.predict("mlp", x)
    assert client.load("mlp").state == "available"
    assert client.reload("mlp").state == "available"
    np.testing.assert_array_equal(client.predict("mlp", x).output, want)


def test_each_error_class(bnserve, client, server, data):
    with pytest.raises(bnserve.NotFound) as caught:
        client.describe("nope")
    assert caught.value.code == grpc.StatusCode.NOT_FOUND and "nope" in caught.value.message
    with pytest.raises(bnserve.NotFound):
        client.predict("digits", data["test"][:2], version=999)
    with pytest.raises(bnserve.InvalidArgument) as caught:
        client.predict("digits", np.zeros((2, 1, 8, 7), np.float32))
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "inputs[0].shape" in caught.value.message and "[2,1,8,7]" in caught.value.message
    assert isinstance(caught.value, ValueError)  # callers may catch the Python category too
    with pytest.raises(bnserve.FailedPrecondition):  # train forward: one value per channel at the MLP's BN
        client.batch_stats("mlp", np.zeros((1, 8), np.float32))
    current = client.history("digits").current_version
    with pytest.raises(bnserve.Aborted) as caught:
        client.recalibrate("digits", [data["calib"][:32]], expected_version=current + 5)
    assert str(current) in caught.value.message
    with pytest.raises(bnserve.AlreadyExists):
        client.load("digits")
    first = client.recalibrate("digits", [data["calib"][:32]], request_id="errors-test-1")
    with pytest.raises(bnserve.AlreadyExists) as caught:  # same key, different batches
        client.recalibrate("digits", [data["calib"][32:64]], request_id="errors-test-1")
    assert str(first.new_version.version) in caught.value.message
    with pytest.raises(bnserve.InvalidArgument):
        client.moments(np.zeros((2, 3), np.float32), [5])
    with bnserve.Client("127.0.0.1:1", timeout=5) as unreachable:
        with pytest.raises(bnserve.Unavailable):
            unreachable.models()
    assert issubclass(bnserve.NotFound, bnserve.BnServeError)


def test_error_mapping_covers_every_status_code(bnserve):
    from bnserve import errors

    class FakeRpcError(grpc.RpcError):
        def __init__(self, code):
            self._code = code

        def code(self):
            return self._code

        def details(self):
            return "message of %s" % self._code.name

    for code in grpc.StatusCode:
        if code == grpc.StatusCode.OK:
            continue
        error = errors.from_rpc_error(FakeRpcError(code))
        assert error.code == code and type(error).code == code, code
        assert error.message == "message of %s" % code.name


def test_client_argument_errors(bnserve, client):
    with pytest.raises(ValueError, match="encoding"):
        bnserve.Client("x:1", encoding="json")
    with pytest.raises(ValueError, match="mode"):
        client.recalibrate("digits", [], mode="fast")
    with pytest.raises(ValueError, match="forward"):
        client.batch_stats("digits", np.zeros((2, 1, 8, 8)), forward="test")
    with pytest.raises(TypeError, match="x"):
        client.predict("digits", "not numbers")
