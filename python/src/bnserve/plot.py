"""Plots of bnserve results with matplotlib (optional: Debian python3-matplotlib). Each function returns a
matplotlib Figure built without pyplot, so it works headless; save it with fig.savefig("x.png") or let a
notebook display it."""
import numpy as np

from bnserve import results


def _figure(width, height):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("bnserve.plot needs matplotlib (Debian: python3-matplotlib)") from None
    return Figure(figsize=(width, height), layout="constrained")


def drift(batch_stats):
    """Per-layer drift of a batch (Client.batch_stats): mean KL(batch || running) and mean |z| per BN layer,
    in the order of the result."""
    if not isinstance(batch_stats, results.BatchStats):
        raise TypeError("drift: expected bnserve.BatchStats, got %s" % type(batch_stats).__name__)
    names = [layer.name for layer in batch_stats.layers]
    fig = _figure(8, 1.2 + 0.45 * max(len(names), 1))
    kl_axes, z_axes = fig.subplots(1, 2, sharey=True)
    positions = np.arange(len(names))
    kl_axes.barh(positions, [layer.mean_kl for layer in batch_stats.layers], color="tab:red")
    kl_axes.set_yticks(positions, names)
    kl_axes.invert_yaxis()
    kl_axes.set_xlabel("mean KL(batch || running)")
    z_axes.barh(positions, [layer.mean_abs_shift for layer in batch_stats.layers], color="tab:blue")
    z_axes.set_xlabel("mean |z| (standardized mean shift)")
    fig.suptitle("%s: %d samples (%s forward) vs statistics version %d" % (
        batch_stats.model, batch_stats.samples, batch_stats.forward, batch_stats.statistics_version))
    return fig


def channels(stats, layer):
    """Per-channel statistics of one BN layer: running mean and variance next to a batch's (when `stats` is
    a BatchStats; a RunningStats shows the running ones). `layer` is a name or an index."""
    if isinstance(stats, results.BatchStats):
        entry = stats[layer]
        running_mean, running_var = entry.running_mean, entry.running_var
        batch_mean, batch_var = entry.mean, entry.var_unbiased
        title = "%s %s: batch of %d vs statistics version %d" % (stats.model, entry.name, stats.samples,
                                                                 stats.statistics_version)
    elif isinstance(stats, results.RunningStats):
        entry = stats[layer]
        running_mean, running_var = entry.mean, entry.var
        batch_mean = batch_var = None
        title = "%s %s: statistics version %d" % (stats.model, entry.name, stats.version.version)
    else:
        raise TypeError("channels: expected bnserve.BatchStats or bnserve.RunningStats, got %s" %
                        type(stats).__name__)
    fig = _figure(9, 5)
    mean_axes, var_axes = fig.subplots(2, 1, sharex=True)
    c = np.arange(len(running_mean))
    width = 0.4 if batch_mean is not None else 0.8
    offset = width / 2 if batch_mean is not None else 0.0
    mean_axes.bar(c - offset, running_mean, width, label="running", color="tab:gray")
    var_axes.bar(c - offset, running_var, width, label="running", color="tab:gray")
    if batch_mean is not None:
        mean_axes.bar(c + offset, batch_mean, width, label="batch", color="tab:orange")
        var_axes.bar(c + offset, batch_var, width, label="batch (unbiased)", color="tab:orange")
    mean_axes.set_ylabel("mean")
    var_axes.set_ylabel("variance")
    var_axes.set_xlabel("channel")
    mean_axes.legend(loc="upper right")
    fig.suptitle(title)
    return fig


def history(history_result):
    """The version history of a model (Client.history): each version as a point joined to its parent, with
    origin, mode and samples."""
    if not isinstance(history_result, results.History):
        raise TypeError("history: expected bnserve.History, got %s" % type(history_result).__name__)
    colours = {"onnx": "tab:gray", "recalibrate": "tab:green", "rollback": "tab:purple"}
    versions = history_result.versions
    fig = _figure(max(5, 1.3 * len(versions)), 3)
    axes = fig.subplots()
    for v in versions:
        if v.parent:
            axes.annotate("", xy=(v.version, 0), xytext=(v.parent, 0),
                          arrowprops=dict(arrowstyle="->", connectionstyle="arc3,rad=-0.4", color="tab:gray"))
        axes.scatter([v.version], [0], s=300 if v.version == history_result.current_version else 120,
                     color=colours.get(v.origin, "tab:blue"), zorder=3)
        label = v.origin + ("\n" + v.mode if v.mode else "") + ("\n%d samples" % v.samples if v.samples else "")
        axes.annotate(label, (v.version, 0), xytext=(0, -18), textcoords="offset points", ha="center", va="top",
                      fontsize=8)
    axes.set_xticks([v.version for v in versions])
    axes.set_yticks([])
    axes.set_ylim(-1, 1)
    axes.set_xlim(0.5, max([v.version for v in versions] + [1]) + 0.5)
    axes.set_xlabel("statistics version (arrows from the parent; large = served)")
    axes.set_title("%s: serving version %d" % (history_result.model, history_result.current_version))
    return fig
