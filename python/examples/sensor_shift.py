"""The README's first session, from Python: a sensor shift diagnosed and repaired with bnserve.

Run it from the repository root against `bash deploy/serve.sh` (or any bnserve serving the example models):

    python3 python/examples/sensor_shift.py [--server localhost:50051] [--data deploy/examples/data]

It checks the accuracy on clean and shifted images, finds the drifting BN layer, recalibrates the digits
model from unlabeled shifted images (32 per batch, cumulative, from reset: what update_bn does), shows the
history, checks the accuracy again and rolls back. With --plots DIR it also saves the drift, channel and
history figures there (needs matplotlib).
"""
import argparse
import os

import numpy as np

import bnserve

HERE = os.path.dirname(os.path.abspath(__file__))


def evaluate(client, x, labels, version=None, batch_size=64):
    """Top-1 accuracy and mean cross-entropy (softmax on the client), as `bnctl evaluate` prints them."""
    served = None
    logits = []
    for begin in range(0, len(x), batch_size):
        prediction = client.predict("digits", x[begin:begin + batch_size], version=version)
        served = prediction.statistics_version
        logits.append(prediction.output.astype(np.float64))
    logits = np.concatenate(logits)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    correct = int(np.sum(np.argmax(logits, axis=1) == labels))
    cross_entropy = float(-np.mean(log_probabilities[np.arange(len(labels)), labels]))
    print("digits statistics version %d: accuracy %.4f (%d/%d), mean cross-entropy %.4f" % (
        served, correct / len(labels), correct, len(labels), cross_entropy))
    return correct / len(labels)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.environ.get("BNSERVE_ADDR", "localhost:50051"))
    parser.add_argument("--data", default=os.path.join(HERE, os.pardir, os.pardir, "deploy", "examples", "data"))
    parser.add_argument("--plots", help="save the figures (PNG) in this folder")
    args = parser.parse_args()
    load = lambda name: np.load(os.path.join(args.data, name))  # noqa: E731
    test, test_labels = load("digits_test.npy"), load("digits_test_labels.npy")
    shifted, shifted_labels = load("digits_shifted_test.npy"), load("digits_shifted_test_labels.npy")
    calib = load("digits_shifted_calib.npy")

    with bnserve.Client(args.server) as client:
        print(client.models().to_pandas() if _has_pandas() else client.models())
        info = client.describe("digits")
        print("digits: input %s, BN layers %s" % (info.inputs[0].shape, [layer.name for layer in info]))

        # Frozen statistics that fit the old sensor: the new one's accuracy collapses.
        base = client.history("digits").current_version
        evaluate(client, test, test_labels)
        before = evaluate(client, shifted, shifted_labels)

        # Which layers see the shift? Most drifted first.
        drift = client.batch_stats("digits", calib, sort_by_drift=True)
        for layer in drift:
            print("%-24s mean |z| %.4g  mean KL %.4g  worst channel %d" % (
                layer.name, layer.mean_abs_shift, layer.mean_kl, layer.worst_channel))

        # Re-estimate the statistics from unlabeled shifted images: update_bn over batches of 32.
        batches = (calib[i:i + 32] for i in range(0, len(calib), 32))
        result = client.recalibrate("digits", batches, mode="cumulative", reset=True,
                                    note="examples/sensor_shift.py")
        print("committed version %d: %d batches, %d samples" % (
            result.new_version.version, result.batches, result.samples))
        for version in client.history("digits"):
            print("  version %d (%s%s) parent %d: %s" % (version.version, version.origin,
                                                         ", " + version.mode if version.mode else "",
                                                         version.parent, version.note))
        after = evaluate(client, shifted, shifted_labels)

        if args.plots:
            from bnserve import plot
            os.makedirs(args.plots, exist_ok=True)
            plot.drift(drift).savefig(os.path.join(args.plots, "drift.png"))
            plot.channels(drift, drift[0].name).savefig(os.path.join(args.plots, "channels.png"))
            plot.history(client.history("digits")).savefig(os.path.join(args.plots, "history.png"))

        # And back: a rollback commits a copy of the version we started from.
        rolled = client.rollback("digits", base)
        print("now serving version %d (a copy of version %d)" % (rolled.version, base))
        evaluate(client, shifted, shifted_labels)
    if not after > before:
        raise SystemExit("recalibration did not improve the shifted accuracy (%.4f -> %.4f)" % (before, after))


def _has_pandas():
    try:
        import pandas  # noqa: F401
        return True
    except ImportError:
        return False


if __name__ == "__main__":
    main()
