"""Figures' data: the ab histogram accumulated photo by photo equals the one of all pixels at once."""

from __future__ import annotations

import numpy as np
import pytest

from colored import color, viz


def test_ab_statistics_accumulated_image_by_image_equal_all_pixels_at_once():
    rng = np.random.default_rng(0)
    images = [rng.normal(5, 30, (16, 20, 2)).astype(np.float32) for _ in range(7)]
    images[0][0, 0] = (500.0, -500.0)  # outside the grid: counted in the edge cell
    statistics = color.AbStatistics(bins=44, low_chroma=10)
    for ab in images:
        statistics.add(ab)
    every = np.concatenate([ab.reshape(-1, 2) for ab in images])  # what 02 once held in memory
    assert statistics.pixels == len(every)
    np.testing.assert_allclose(statistics.mean, every.astype(np.float64).mean(axis=0), rtol=1e-12)
    assert statistics.low_chroma_share == np.mean(np.hypot(*every.T) < 10)
    clipped = np.clip(every, -110, 110 - 1e-3)
    expected, _, _ = np.histogram2d(
        clipped[:, 0], clipped[:, 1], bins=44, range=[[-110, 110], [-110, 110]]
    )
    np.testing.assert_array_equal(statistics.counts, expected)
    assert statistics.counts.sum() == len(every), "every pixel is in a cell"
    assert statistics.counts[-1, 0] >= 1, "(500, -500) lands in the corner cell a high, b low"


def test_one_accumulator_for_metrics_figures_and_the_head_bins():
    from colored import bins, metrics

    ab = np.random.default_rng(2).normal(0, 25, (12, 12, 2))
    np.testing.assert_array_equal(
        metrics.histogram_ab(ab), color.AbStatistics(bins=22).add(ab).histogram
    )
    prior = bins.ab_prior([ab])
    assert prior.shape == (bins.num_bins(),) and prior.sum() == pytest.approx(1.0)
    np.testing.assert_array_equal(
        prior,
        np.bincount(bins.nearest_bin(ab).ravel(), minlength=bins.num_bins()) / ab[..., 0].size,
    )


def test_ab_histogram_figure_takes_arrays_or_accumulations():
    ab = np.random.default_rng(1).normal(0, 20, (8, 8, 2))
    fig = viz.ab_histogram_figure({"array": ab, "accumulated": color.AbStatistics(bins=44).add(ab)})
    assert len(fig.axes) == 3, "two panels and their one colour bar"
    viz.show_or_close(fig)


# --------------------------------------------------------------------------------------------------
# figures a student can read without the code (issue 14)
# --------------------------------------------------------------------------------------------------

HISTORY = {
    "epoch": [0, 1, 2, 3, 4, 5],
    "loss": [0.02, 0.015, 0.013, 0.014, 0.012, 0.011],
    "val_loss": [0.021, 0.017, 0.016, 0.016, 0.015, 0.015],
    "ab_acc_10": [0.3, 0.35, 0.4, 0.38, 0.42, 0.44],
    "val_ab_acc_10": [0.3, 0.33, 0.37, 0.36, 0.4, 0.41],
    "learning_rate": [1e-3] * 6,
    "resumed_after": [2],
}


def _resume_lines(ax):
    return [line for line in ax.get_lines() if line.get_label().startswith("resumed after epoch")]


def test_history_figure_counts_epochs_from_1_and_says_what_it_measures():
    fig = viz.history_figure(HISTORY, loss="mse")
    fig.canvas.draw()
    assert len(fig.axes) == 2, (
        "one panel per metric: loss and ab accuracy (not the resume record, not the lr)"
    )
    for ax in fig.axes:
        ticks = [t.get_text() for t in ax.get_xticklabels()]
        assert ticks == ["1", "2", "3", "4", "5", "6"], f"x ticks: {ticks}"
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel() and ax.get_title()
        assert ax.get_lines()[0].get_xdata()[0] == 1, "history.json's epoch 0 is the first epoch"
        for text in [ax.title, ax.xaxis.label, ax.yaxis.label] + ax.get_xticklabels():
            assert text.get_fontsize() >= 8, f"{text.get_text()!r} at {text.get_fontsize()} pt"
    loss, accuracy = fig.axes
    assert "MSE" in loss.get_ylabel() or "squared" in loss.get_title()
    assert accuracy.get_title() == "pixels within 10 Lab units of the true colour"
    assert accuracy.get_ylabel() == "share of pixels"
    assert 8 <= fig.get_figwidth() <= 10, "two panels should fit a notebook's output width"
    viz.show_or_close(fig)


def test_history_figure_marks_the_recorded_resume_and_only_then():
    fig = viz.history_figure(HISTORY)
    for ax in fig.axes:
        (line,) = _resume_lines(ax)
        assert line.get_label() == "resumed after epoch 2" and line.get_linestyle() == "--"
        assert list(line.get_xdata()) == [2.5, 2.5], "between epochs 2 and 3"
        assert "resumed after epoch 2" in [t.get_text() for t in ax.get_legend().get_texts()]
    viz.show_or_close(fig)
    straight = viz.history_figure({k: v for k, v in HISTORY.items() if k != "resumed_after"})
    assert not any(_resume_lines(ax) for ax in straight.axes)
    viz.show_or_close(straight)


def test_history_figure_loss_title_follows_the_loss_in_use():
    assert "cross-entropy" in viz.metric_labels("loss", "classification")[0]
    assert "squared" in viz.metric_labels("val_loss", "mse")[0]
    long = {"epoch": list(range(200)), "loss": list(np.linspace(3, 1, 200))}
    fig = viz.history_figure(long, loss="classification")
    ticks = [int(t) for t in fig.axes[0].get_xticks()]
    assert ticks[0] == 1 and ticks[-1] <= 200 and len(ticks) <= 10, ticks
    viz.show_or_close(fig)


def test_ab_histogram_figure_has_one_shared_colour_bar():
    rng = np.random.default_rng(2)
    wide, narrow = rng.normal(0, 40, (4, 32, 32, 2)), rng.normal(0, 5, (4, 32, 32, 2))
    fig = viz.ab_histogram_figure({"true": wide, "predicted": narrow})
    panels = [ax for ax in fig.axes if ax.get_title()]
    bars = [ax for ax in fig.axes if ax not in panels]
    assert [ax.get_title() for ax in panels] == ["true", "predicted"]
    assert len(bars) == 1 and bars[0].get_ylabel() == "pixels per bin (log scale)"
    for ax in panels:
        assert ax.get_xlabel().startswith("b (") and ax.get_ylabel().startswith("a (")
    meshes = [ax.collections[0] for ax in panels]
    assert meshes[0].norm is meshes[1].norm, "panels must share one normalisation"
    assert meshes[0].norm.vmax >= color.AbStatistics(bins=44).add(narrow).counts.max(), (
        "the fullest bin of any panel"
    )
    viz.show_or_close(fig)


def test_image_grid_of_eight_views_is_readable():
    views = [np.zeros((64, 64, 3), np.uint8)] * 8
    fig = viz.image_grid(views, [f"view {v}" for v in range(8)], columns=4, cell=2.0)
    fig.canvas.draw()
    shown = [ax for ax in fig.axes if ax.get_images()]
    assert len(shown) == 8
    width = shown[0].get_window_extent().width / fig.dpi
    assert width >= 1.7, f"each view is {width:.2f} in wide"
    assert fig.get_figwidth() <= 10
    viz.show_or_close(fig)
    # the old call (8 columns of 1.1 in) is widened to readable cells, wrapped 4 + 4
    old = viz.image_grid(views, [f"view {v}" for v in range(8)], columns=8, cell=1.1)
    assert old.axes[0].get_gridspec().ncols == 4 and old.get_figwidth() <= 10
    assert old.axes[0].get_window_extent().width / old.dpi >= 1.3
    viz.show_or_close(old)
