"""bnserve.plot: each plot renders to a PNG (headless, no pyplot)."""
import pytest

PNG = b"\x89PNG\r\n\x1a\n"


def render(fig, path):
    fig.savefig(path, dpi=60)
    data = path.read_bytes()
    assert data.startswith(PNG)
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 100 and height > 50
    return fig


def test_each_plot_renders(bnserve, client, data, tmp_path):
    from bnserve import plot
    stats = client.batch_stats("digits", data["calib"], sort_by_drift=True)
    fig = render(plot.drift(stats), tmp_path / "drift.png")
    kl_axes = fig.axes[0]
    assert [t.get_text() for t in kl_axes.get_yticklabels()] == [layer.name for layer in stats]
    assert [p.get_width() for p in kl_axes.patches] == pytest.approx([layer.mean_kl for layer in stats])
    fig = render(plot.channels(stats, "/bn1/BatchNormalization"), tmp_path / "channels.png")
    running = [p.get_height() for p in fig.axes[0].patches[:16]]
    assert running == pytest.approx(stats["/bn1/BatchNormalization"].running_mean)
    render(plot.channels(client.running_stats("digits"), 2), tmp_path / "running.png")
    client.recalibrate("digits", [data["calib"][:100], data["calib"][100:200]], mode="cumulative", reset=True)
    history = client.history("digits")
    fig = render(plot.history(history), tmp_path / "history.png")
    assert [int(t) for t in fig.axes[0].get_xticks()] == [v.version for v in history]
    with pytest.raises(TypeError, match="BatchStats"):
        plot.drift(history)
