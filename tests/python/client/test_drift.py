"""Client.drift, watch_drift, promote, discard, recalibrate(stage=True) and predict(candidate=...) against a live
bnserve whose digits model is monitored (config.json: every served sample, windows of 16 images), with the
example's clean and shifted images (deploy/examples/data). The drift report is compared with bnctl's --json
view of the same server; a staged candidate's accuracy with the README's recalibrated one (296/300)."""
import threading

import numpy as np
import pytest

from conftest import Server

WINDOW = 16
REFERENCE_WINDOWS = 8  # the server's default
LAYERS = ["/bn%d/BatchNormalization" % i for i in (1, 2, 3)]


@pytest.fixture()
def monitored(tmp_path):
    """A fresh server per test: promotions and candidates change what the next test would see."""
    running = Server(str(tmp_path), model_configs={
        "digits": '{"drift": {"sample_rate": 1.0, "window_samples": %d}}' % WINDOW})
    yield running
    running.stop()


@pytest.fixture()
def drift_client(bnserve, monitored):
    with bnserve.Client(monitored.address, timeout=60) as c:
        yield c


def send(client, images, count, first=0):
    """`count` images as Predicts of 8 on the served version (only those are monitored)."""
    for begin in range(first, first + count, 8):
        start = begin % (len(images) - 8)
        client.predict("digits", images[start:start + min(8, first + count - begin)])


def drained(client):
    """The report once the monitor has processed every sample it took."""
    while True:
        drift = client.drift("digits", windows=256)
        if drift.samples_processed + drift.samples_dropped >= drift.samples_sampled:
            return drift


def accuracy(prediction, labels):
    return float(np.mean(prediction.output.argmax(axis=1) == labels))


def test_drift_report_windows_layers_and_calibration(bnserve, drift_client, monitored, data):
    send(drift_client, data["test"], 20 * WINDOW)
    drift = drained(drift_client)
    assert isinstance(drift, bnserve.Drift)
    assert drift.model == "digits" and drift.statistics_version == 1
    assert drift.config.enabled and drift.config.sample_rate == 1.0 and drift.config.window_samples == WINDOW
    assert not drift.config.auto_adapt and drift.policy_state == "monitoring"
    assert (drift.samples_offered, drift.samples_sampled, drift.samples_processed, drift.samples_dropped) == (
        20 * WINDOW, 20 * WINDOW, 20 * WINDOW, 0)
    assert drift.calibration.calibrated and drift.threshold > 0
    assert drift.calibration.reference_windows == drift.calibration.reference_windows_needed == REFERENCE_WINDOWS
    assert not drift.alarm and drift.alarm_reason
    assert [w.index for w in drift.windows] == list(range(1, 21))
    assert [w.reference for w in drift.windows] == [True] * REFERENCE_WINDOWS + [False] * 12
    assert all(w.samples == WINDOW and w.closed is not None for w in drift.windows)
    latest = drift.latest
    assert [layer.name for layer in latest] == LAYERS
    assert latest.score == max(layer.score for layer in latest) > 0
    assert latest[LAYERS[0]].mean_kl >= 0 and latest[LAYERS[0]].mean_abs_shift >= 0
    assert [e.kind for e in drift.events] == ["reference"]
    assert drift.candidates == []

    # The same report as bnctl shows it.
    view = monitored.bnctl("drift", "digits", "--windows", "256")
    assert view["calibration"]["threshold"] == drift.threshold
    assert [w["score"] for w in view["windows"]] == [w.score for w in drift.windows]
    assert [[l["score"] for l in w["layers"]] for w in view["windows"]] == [
        [l.score for l in w] for w in drift.windows]

    # scores(): per layer over the windows, NaN where a window calibrated the threshold.
    scores = drift.scores()
    assert list(scores) == [None] + LAYERS
    assert np.isnan(scores[LAYERS[1]][:REFERENCE_WINDOWS]).all()
    np.testing.assert_array_equal(scores[LAYERS[1]][REFERENCE_WINDOWS:],
                                  [w[LAYERS[1]].score for w in drift.windows[REFERENCE_WINDOWS:]])
    np.testing.assert_array_equal(scores[None][REFERENCE_WINDOWS:], [w.score for w in drift.windows[8:]])
    assert len(drift_client.drift("digits", windows=3).windows) == 3
    pandas = pytest.importorskip("pandas")
    table = drift.to_pandas()
    assert isinstance(table, pandas.DataFrame) and len(table) == 20 * 3
    assert table[table.layer == LAYERS[2]]["score"].tolist() == [w[LAYERS[2]].score for w in drift.windows]

    # The new sensor raises the alarm.
    send(drift_client, data["shifted_test"], 6 * WINDOW)
    drift = drained(drift_client)
    assert drift.alarm, drift.alarm_reason
    assert drift.latest.above_threshold and drift.latest.score > drift.threshold
    assert [e.kind for e in drift.events] == ["reference", "alarm"]
    assert drift.events[-1].time is not None and "threshold" in drift.events[-1].reason


def test_watch_drift_yields_each_window_until_closed(drift_client, data):
    updates = drift_client.watch_drift("digits", windows=4)
    first = next(updates)  # the state at once
    assert first.model == "digits" and first.windows == []
    stop = threading.Event()

    def traffic():
        sent = 0
        while not stop.is_set():
            send(drift_client, data["test"], WINDOW, sent)
            sent += WINDOW

    sender = threading.Thread(target=traffic)
    sender.start()
    try:
        seen = [next(updates) for _ in range(3)]
    finally:
        stop.set()
        sender.join()
    processed = [first.samples_processed] + [u.samples_processed for u in seen]
    assert processed == sorted(processed) and processed[-1] > 0
    assert all(len(u.windows) <= 4 for u in seen)
    updates.close()  # cancels the call; the client stays usable
    assert drift_client.drift("digits").model == "digits"


def test_a_model_without_monitoring_says_how_to_switch_it_on(bnserve, drift_client):
    with pytest.raises(bnserve.FailedPrecondition, match="--drift-sample-rate"):
        drift_client.drift("mlp")
    with pytest.raises(bnserve.FailedPrecondition, match="drift monitoring is off"):
        next(drift_client.watch_drift("mlp"))
    with pytest.raises(bnserve.NotFound):
        drift_client.drift("no-such-model")
    with pytest.raises(ValueError, match="windows"):
        drift_client.drift("digits", windows=0)


def test_staged_candidate_ab_promote_and_discard(bnserve, drift_client, monitored, data):
    batches = [data["calib"][i:i + 32] for i in range(0, len(data["calib"]), 32)]
    staged = drift_client.recalibrate("digits", batches, mode="cumulative", reset=True, stage=True)
    assert staged.candidate_id == 1 and staged.new_version is None and not staged.dry_run
    assert (staged.batches, staged.samples, staged.attempts) == (10, 300, 1)
    assert drift_client.history("digits").current_version == 1  # staged, not served

    # The A/B: the candidate repairs the new sensor, the served version does not.
    shifted, labels = data["shifted_test"], data["shifted_labels"]
    with_candidate = drift_client.predict("digits", shifted, candidate=staged.candidate_id)
    assert with_candidate.candidate_id == 1 and with_candidate.statistics_version == 1
    assert accuracy(with_candidate, labels) == pytest.approx(296 / 300, abs=0.01)
    served = drift_client.predict("digits", shifted)
    assert served.candidate_id is None and accuracy(served, labels) < 0.5
    with pytest.raises(bnserve.InvalidArgument, match="candidate_id"):
        drift_client.predict("digits", shifted[:1], candidate=1, version=1)
    with pytest.raises(bnserve.NotFound):
        drift_client.predict("digits", shifted[:1], candidate=9)
    with pytest.raises(ValueError, match="candidate"):
        drift_client.predict("digits", shifted[:1], candidate=0)

    drift = drained(drift_client)  # the served prediction above was shadowed
    (candidate,) = drift.candidates
    assert isinstance(candidate, bnserve.Candidate)
    assert (candidate.candidate_id, candidate.source, candidate.mode, candidate.samples, candidate.base_version) == (
        1, "client", "cumulative", 300, 1)
    assert candidate.shadow.samples == 300
    assert candidate.shadow.candidate_entropy < candidate.shadow.served_entropy
    # A Candidate works wherever an id does.
    again = drift_client.predict("digits", shifted[:8], candidate=candidate)
    np.testing.assert_array_equal(again.output, with_candidate.output[:8])

    version = drift_client.promote("digits", candidate, note="A/B: 0.987")
    assert version == 2
    history = drift_client.history("digits")
    assert history.current_version == 2
    assert (history.versions[-1].origin, history.versions[-1].mode, history.versions[-1].note) == (
        "adapt", "cumulative", "A/B: 0.987")
    assert accuracy(drift_client.predict("digits", shifted), labels) == accuracy(with_candidate, labels)
    assert monitored.bnctl("history", "digits")["versions"][-1]["origin"] == "adapt"

    second = drift_client.recalibrate("digits", batches, mode="cumulative", reset=True, stage=True).candidate_id
    assert [c.candidate_id for c in drift_client.drift("digits").candidates] == [second]
    assert drift_client.discard("digits", second) is None
    assert drift_client.drift("digits").candidates == []
    with pytest.raises(bnserve.NotFound, match=str(second)):
        drift_client.discard("digits", second)
    with pytest.raises(ValueError, match="stage"):
        drift_client.recalibrate("digits", batches, stage=True, dry_run=True)
