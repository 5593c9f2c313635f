"""Figures' data: the ab histogram accumulated photo by photo equals the one of all pixels at once."""
from __future__ import annotations

import numpy as np

from colored import viz


def test_ab_histogram_accumulated_image_by_image_equals_all_pixels_at_once():
    rng = np.random.default_rng(0)
    images = [rng.normal(5, 30, (16, 20, 2)).astype(np.float32) for _ in range(7)]
    images[0][0, 0] = (500.0, -500.0)  # outside the grid: not counted in a cell, still a pixel
    histogram = viz.AbHistogram(low_chroma=10)
    for ab in images:
        histogram.add(ab)
    every = np.concatenate([ab.reshape(-1, 2) for ab in images])  # what notebook 02 held in memory before
    assert histogram.pixels == len(every)
    np.testing.assert_allclose(histogram.mean, every.astype(np.float64).mean(axis=0), rtol=1e-12)
    assert histogram.low_chroma_share == np.mean(np.hypot(*every.T) < 10)
    expected, _, _ = np.histogram2d(every[:, 0], every[:, 1], bins=44, range=[[-110, 110], [-110, 110]])
    np.testing.assert_array_equal(histogram.counts, expected)
    assert histogram.counts.sum() == expected.sum() < len(every)


def test_ab_histogram_figure_takes_arrays_or_accumulations():
    ab = np.random.default_rng(1).normal(0, 20, (8, 8, 2))
    fig = viz.ab_histogram_figure({"array": ab, "accumulated": viz.AbHistogram().add(ab)})
    assert len(fig.axes) == 2
    viz.show_or_close(fig)
