"""The label-free adaptation modes "prior" and "alpha" (docs/bn-semantics.md section 12) against a NumPy
reference of their formulas, to 1e-6, on the bundled digits model and the shifted calibration images.

The target statistics are computed here independently of bnserve: PyTorch runs the digits network (DigitsCnn,
its weights read from model.onnx) in train mode, as the server's default train forward does, batch by batch;
forward hooks keep each BN layer's inputs, and NumPy pools them over all batches in float64 (mean and unbiased
variance per channel). The formulas are then applied literally:
    prior: (N * served + n * target) / (N + n), n = images streamed
    alpha: alpha * served + (1 - alpha) * target
"""
import re

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from bn_models import DigitsCnn

BATCH = 32
TOLERANCE = dict(rtol=1e-6, atol=1e-6)


def batches(x):
    return [x[i:i + BATCH] for i in range(0, len(x), BATCH)]


@pytest.fixture(scope="module")
def target(server, data):
    """Per BN layer (model order), the float64 mean and unbiased variance of its inputs over every calibration
    image, each batch run in train mode."""
    model = DigitsCnn()
    weights = onnx.load(server.repository + "/digits/model.onnx")
    state = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in weights.graph.initializer}
    model.load_state_dict(state, strict=False)  # num_batches_tracked is not in the file
    model.train()
    bns = [model.bn1, model.bn2, model.bn3]
    seen = [[] for _ in bns]
    hooks = [bn.register_forward_pre_hook(lambda m, args, i=i: seen[i].append(args[0].detach().numpy().copy()))
             for i, bn in enumerate(bns)]
    with torch.no_grad():
        for batch in batches(data["calib"]):
            model(torch.from_numpy(batch))
    for h in hooks:
        h.remove()
    stats = []
    for inputs in seen:
        values = np.concatenate(inputs).astype(np.float64)  # [300, C, H, W]
        per_channel = values.transpose(1, 0, 2, 3).reshape(values.shape[1], -1)
        stats.append((per_channel.mean(axis=1), per_channel.var(axis=1, ddof=1)))
    return stats


@pytest.fixture()
def source(client):
    """Version 1's statistics (the ONNX file's) served again, so every recalibration starts from them."""
    version = client.rollback("digits", 1).version
    return version, client.running_stats("digits", version=version)


@pytest.mark.parametrize("mode,parameter", [("prior", 16.0), ("prior", 0.0), ("alpha", 0.9), ("alpha", 0.0)])
def test_stored_statistics_follow_the_formulas(client, data, target, source, mode, parameter):
    base, served = source
    option = {"prior_strength": parameter} if mode == "prior" else {"alpha": parameter}
    result = client.recalibrate("digits", batches(data["calib"]), mode=mode, **option)
    assert result.base_version == base
    assert result.new_version.mode == mode
    n = result.samples
    assert (n, result.batches) == (300, 10)
    stored = client.running_stats("digits", version=result.new_version.version)
    for layer, start, (mean_t, var_t) in zip(stored, served, target):
        if mode == "prior":
            mean = (parameter * start.mean + n * mean_t) / (parameter + n)
            var = (parameter * start.var + n * var_t) / (parameter + n)
        else:
            mean = parameter * start.mean + (1 - parameter) * mean_t
            var = parameter * start.var + (1 - parameter) * var_t
        np.testing.assert_allclose(layer.mean, mean, err_msg=layer.name, **TOLERANCE)
        np.testing.assert_allclose(layer.var, var, err_msg=layer.name, **TOLERANCE)
        assert layer.num_batches_tracked == start.num_batches_tracked + 10
        assert layer.sample_count == 0  # a mix is not a pooled state


def test_the_target_is_far_from_the_served_statistics(client, target):
    """Otherwise the test above could not tell the modes' weights apart."""
    served = client.running_stats("digits", version=1)
    assert max(np.max(np.abs(start.mean - mean_t)) for start, (mean_t, _) in zip(served, target)) > 0.1


def test_default_parameters_and_bnctl_give_the_same_statistics(client, server, data):
    """The client leaving the parameter unset and bnctl passing the documented default, each from version 1."""
    def stats(version):
        return [(layer.mean, layer.var) for layer in client.running_stats("digits", version=version)]

    for mode, option, default in [("prior", "--prior-strength", "16"), ("alpha", "--alpha", "0.9")]:
        client.rollback("digits", 1)
        by_default = client.recalibrate("digits", batches(data["calib"]), mode=mode)
        client.rollback("digits", 1)
        reply = server.bnctl("recalibrate", "digits", "--input", data["calib_path"], "--batch-size", str(BATCH),
                             "--mode", mode, option, default)
        assert reply["new_version"]["mode"] == mode
        assert reply["base_version"] == by_default.base_version + 2  # a copy of version 1 each time
        for (mean, var), (bnctl_mean, bnctl_var) in zip(stats(by_default.new_version.version),
                                                        stats(reply["new_version"]["version"])):
            np.testing.assert_allclose(mean, bnctl_mean, rtol=0, atol=1e-12)
            np.testing.assert_allclose(var, bnctl_var, rtol=0, atol=1e-12)


@pytest.mark.parametrize("options,field", [
    (dict(mode="prior", prior_strength=-1.0), "config.prior_strength: expected a finite value >= 0, got -1"),
    (dict(mode="alpha", alpha=1.5), "config.alpha: expected a value in [0, 1], got 1.5"),
    (dict(mode="prior", reset=True), "config.reset: expected false with mode prior"),
    (dict(mode="alpha", momentum=0.1), "config.momentum: expected unset with mode alpha"),
    (dict(mode="exact", alpha=0.5), "config.alpha: expected only with mode alpha, got it with mode exact"),
])
def test_bad_options_are_invalid_argument_naming_the_field(bnserve, client, data, options, field):
    before = client.history("digits").current_version
    with pytest.raises(bnserve.InvalidArgument, match=re.escape(field)):
        client.recalibrate("digits", batches(data["calib"]), **options)
    assert client.history("digits").current_version == before
