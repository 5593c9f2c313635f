"""The reference colorizations every result is measured against, and the verdict that uses them.

``"gray"`` (L kept, no colour) is what a colorizer must beat; ``"mean-ab"`` (the photo's own mean
colour, everywhere) is an oracle flat colour: the sepia that per-pixel MSE collapses to, but knowing
the true average. :func:`verdict` calls a colorization good when it is closer than that oracle.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from colored import metrics
from colored.color import lab_to_rgb, rgb_to_gray, rgb_to_lab
from colored.io.files import to_uint8


def gray_prediction(rgb: np.ndarray) -> np.ndarray:
    """All-gray baseline: Lab L kept, a = b = 0, back to RGB uint8 (rounded).

    Uses L, not luma, so the baseline has exactly the lightness the network is given.
    """
    metrics.check_rgb(rgb)
    return to_uint8(rgb_to_gray(rgb))


def mean_ab_prediction(rgb: np.ndarray) -> np.ndarray:
    """Flat-colour baseline: Lab L kept, ab replaced everywhere by the image's own mean ab.

    It is the constant that per-pixel MSE collapses to (the sepia look). Oracle-ish: it uses the
    *true* image's mean ab, which a colorizer does not know, so it is an optimistic flat guess.
    Out-of-gamut results are clipped by :func:`colored.color.lab_to_rgb`.
    """
    metrics.check_rgb(rgb)
    lab = rgb_to_lab(rgb)
    lab[..., 1:] = lab[..., 1:].reshape(-1, 2).mean(axis=0)
    # very dark/bright L + mean ab can leave the gamut: clipped, as documented
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*negative Z values.*")
        return to_uint8(lab_to_rgb(lab))


BASELINES = {"gray": gray_prediction, "mean-ab": mean_ab_prediction}

#: A colorized photo is "good" when its ab error is at most the mean-ab oracle's and at most this share
#: of its pixels is confidently wrong (:func:`verdict`).
GOOD_WRONG_SHARE = 0.05


def verdict(pred: np.ndarray, true: np.ndarray) -> tuple[bool, str]:
    """Is ``pred`` a good colorization of ``true`` (same shape, RGB uint8), and why, in a few words.

    Good: ab RMSE no worse than the per-image mean-ab oracle's (a flat colour that knows the true
    average) and at most :data:`GOOD_WRONG_SHARE` of the pixels confidently wrong. Otherwise the reason
    names the commonest confidently wrong swap by colour name (``colored.color.ab_colour_name``), e.g.
    "orange painted green on 12 % of the pixels" ("blue painted a much stronger blue" where only the
    strength is wrong), or says it is no closer than a flat colour."""
    from colored.color import ab_colour_name

    metrics.check_pair(pred, true)
    pred_ab, true_ab = metrics.ab_of(pred), metrics.ab_of(true)
    error, oracle = metrics.ab_rmse(pred, true), metrics.ab_rmse(mean_ab_prediction(true), true)
    wrong = metrics.confidently_wrong_mask(pred_ab, true_ab)
    share = float(wrong.mean())
    if error <= oracle and share <= GOOD_WRONG_SHARE:
        return True, f"closer than a flat colour (ab error {error:.1f} vs {oracle:.1f})"
    if share > GOOD_WRONG_SHARE:
        swaps: dict[tuple[str, str], int] = {}
        for t, q in zip(true_ab[wrong], pred_ab[wrong]):
            was, became = ab_colour_name(*t), ab_colour_name(*q)
            if became == was:  # the right hue, far too strong or too weak: say which
                became = f"a much {'stronger' if np.hypot(*q) > np.hypot(*t) else 'weaker'} {was}"
            key = (was, became)
            swaps[key] = swaps.get(key, 0) + 1
        (was, became), count = max(swaps.items(), key=lambda item: item[1])
        return (
            False,
            f"{was} painted {became} on {count / wrong.size:.0%} of the pixels ({share:.0%} confidently wrong)",
        )
    return False, f"no closer than a flat colour (ab error {error:.1f} vs {oracle:.1f})"


def evaluate_baselines(
    trues: Sequence[np.ndarray], prior: np.ndarray | None = None
) -> dict[str, dict[str, float]]:
    """Summaries of every :data:`BASELINES` entry on prepared ground truths: ``{name: summary}``."""
    if prior is None:
        prior = metrics.ab_cell_prior(trues)
    return {
        name: metrics.evaluate([fn(t) for t in trues], trues, prior)[1]
        for name, fn in BASELINES.items()
    }
