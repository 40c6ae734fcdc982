"""Client.recalibrate: a list, a generator and a torch DataLoader give the statistics bnctl commits for the
same batches (and PyTorch's update_bn, from digits_expected.json); a stream whose reply is lost is retried
with the same request_id and committed once; a bad batch commits nothing."""
import json
import os

import numpy as np
import pytest
import torch

from cut_proxy import CutProxy

BATCH = 32  # the README's --batch-size


def batches(x):
    return [x[i:i + BATCH] for i in range(0, len(x), BATCH)]


def committed_stats(client, version):
    return [(layer.mean, layer.var, layer.num_batches_tracked) for layer in client.running_stats(
        "digits", version=version)]


def assert_same_stats(got, want):
    for (mean, var, tracked), (want_mean, want_var, want_tracked) in zip(got, want):
        np.testing.assert_array_equal(mean, want_mean)
        np.testing.assert_array_equal(var, want_var)
        assert tracked == want_tracked


@pytest.fixture(scope="module")
def bnctl_reference(server, data):
    """bnctl recalibrate digits --input calib --batch-size 32 --mode cumulative --reset (the README's step):
    its version entry and committed statistics."""
    reply = server.bnctl("recalibrate", "digits", "--input", data["calib_path"], "--batch-size", str(BATCH),
                         "--mode", "cumulative", "--reset")
    version = reply["new_version"]["version"]
    return reply, version


def sources(data):
    x, y = data["calib"], np.zeros(len(data["calib"]), np.int64)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                                         batch_size=BATCH, shuffle=False)
    tensors_only = torch.utils.data.DataLoader(torch.from_numpy(x), batch_size=BATCH, shuffle=False)
    return {"list": batches(x), "generator": (b for b in batches(x)), "dataloader (x, y)": loader,
            "dataloader of tensors": tensors_only}


@pytest.mark.parametrize("kind", ["list", "generator", "dataloader (x, y)", "dataloader of tensors"])
def test_same_statistics_as_bnctl(client, server, data, bnctl_reference, kind):
    reply, bnctl_version = bnctl_reference
    before = client.rollback("digits", 1).version  # start from the ONNX statistics, so the changes are real
    result = client.recalibrate("digits", sources(data)[kind], mode="cumulative", reset=True, note=kind)
    assert not result.deduplicated and result.attempts == 1
    assert result.new_version.version == before + 1
    assert (result.batches, result.samples) == (reply["batches"], reply["samples"]) == (10, 300)
    assert result.new_version.mode == "cumulative" and result.new_version.note == kind
    assert len(result.new_version.request_id) == 36  # a random UUID, as bnctl's
    assert_same_stats(committed_stats(client, result.new_version.version), committed_stats(client, bnctl_version))
    # The reply's per-layer change, from the base version's statistics with numpy.
    old = client.running_stats("digits", version=result.base_version)
    new = client.running_stats("digits", version=result.new_version.version)
    for change, o, n in zip(result, old, new):
        assert change.name == o.name == n.name and change.updated and change.mean_shift_rms > 0.001
        z = (n.mean - o.mean) / np.sqrt(o.var + o.epsilon)
        assert change.mean_shift_rms == pytest.approx(np.sqrt(np.mean(z ** 2)), rel=1e-9, abs=1e-12)
        log_ratio = np.log((n.var + o.epsilon) / (o.var + o.epsilon))
        assert change.log_var_ratio_rms == pytest.approx(np.sqrt(np.mean(log_ratio ** 2)), rel=1e-9, abs=1e-12)


def test_bnctl_statistics_are_pytorch_update_bn(client, data, bnctl_reference):
    expected = json.load(open(os.path.join(data["folder"], "digits_expected.json")))["update_bn"]
    stats = client.running_stats("digits", version=bnctl_reference[1])
    for layer, want in zip(stats, expected):
        np.testing.assert_allclose(layer.mean, want["running_mean"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(layer.var, want["running_var"], rtol=1e-5, atol=1e-6)


def test_dry_run_and_options(client, data):
    before = client.history("digits").current_version
    dry = client.recalibrate("digits", batches(data["calib"][:96]), mode="ema", momentum=0.5,
                             layers=["/bn1/BatchNormalization"], forward="eval", dry_run=True)
    assert dry.dry_run and dry.new_version is None and dry.base_version == before
    assert [layer.updated for layer in dry] == [True, False, False]
    assert client.history("digits").current_version == before
    assert list(dry.to_pandas()["updated"]) == [True, False, False]


def test_retry_after_a_cut_stream_commits_once(bnserve, server, data, bnctl_reference):
    with bnserve.Client(server.address) as client:
        before = client.history("digits").current_version
    # A fresh client's first call (stream 1) is recalibrate's DescribeModel; stream 3 is the Recalibrate.
    proxy = CutProxy(server.process.port, cut_stream=3)
    try:
        with bnserve.Client("127.0.0.1:%d" % proxy.port, timeout=60) as client:
            result = client.recalibrate("digits", (b for b in batches(data["calib"])), mode="cumulative",
                                        reset=True, request_id="cut-stream-test")
    finally:
        proxy.close()
    assert proxy.cut.is_set(), "the proxy never cut the first attempt"
    assert proxy.connections == 2 and result.attempts == 2
    assert result.deduplicated  # the first attempt had committed; the retry was answered with its version
    assert result.new_version.version == before + 1 and result.new_version.request_id == "cut-stream-test"
    with bnserve.Client(server.address) as client:
        history = client.history("digits")
        assert history.current_version == before + 1
        assert [v.request_id for v in history].count("cut-stream-test") == 1
        assert_same_stats(committed_stats(client, before + 1), committed_stats(client, bnctl_reference[1]))


def test_bad_batch_commits_nothing(bnserve, client, data):
    before = client.history("digits").current_version

    def failing():
        yield data["calib"][:32]
        yield "not an array"

    with pytest.raises(TypeError, match="batch 1"):
        client.recalibrate("digits", failing())
    with pytest.raises(bnserve.InvalidArgument):  # the server refuses a wrong shape: nothing committed
        client.recalibrate("digits", [data["calib"][:32], np.zeros((4, 1, 8, 9), np.float32)])
    nan_batch = data["calib"][:32].copy()
    nan_batch[0, 0, 0, 0] = np.nan
    with pytest.raises(bnserve.InvalidArgument):
        client.recalibrate("digits", [nan_batch])
    assert client.history("digits").current_version == before


def test_progress_bar_counts_batches(client, data, capsys):
    client.recalibrate("digits", batches(data["calib"]), mode="cumulative", reset=True, dry_run=True, progress=True)
    err = capsys.readouterr().err
    assert "recalibrate digits" in err and "10/10" in err, err
    client.recalibrate("digits", batches(data["calib"]), dry_run=True, progress=False)
    assert capsys.readouterr().err == ""
