"""The ab bins of the classification head (Zhang et al. 2016), in one place.

- **The grid**: ab quantised into cells of :data:`GRID` = 10 Lab units; the head predicts logits
  over the ``Q`` = :func:`num_bins` cells that some sRGB colour falls in (:func:`ab_bins`, 261
  centres). :func:`nearest_bin` maps ab values to their bin with a table look-up.
- **Soft encoding** (training targets): each true ab becomes a distribution over its
  :data:`SOFT_NEIGHBOURS` = 5 nearest bins, Gaussian in the distance (σ = :data:`SOFT_SIGMA` = 5).
- **Annealed-mean decoding** (predictions): ab = Σ softmax(logits / T) · bin centre, T default
  :data:`colored.config.DEFAULT_TEMPERATURE`; T → 0 is the mode, T = 1 the mean; optionally
  confidence-aware (``confidence`` > 0: pulled toward the mean where the distribution spreads).
- **The priors** (class rebalancing): :func:`ab_prior` over the training photos,
  :func:`rebalancing_weights` ((1 − λ)·prior + λ/Q)⁻¹ with λ = ½, normalised so E_prior[w] = 1, and
  :func:`cached_prior`, the training set's prior computed once and cached on disk.

The grid and priors are numpy; :func:`soft_encode` and :func:`decode_logits` are ``keras.ops`` (TF,
JAX and torch backends), so they run inside compiled losses and metrics as well as at inference.
Keras is imported only by those two, so the numpy half needs no backend.
"""

from __future__ import annotations

import functools
import hashlib
import io
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from colored import color
from colored.config import DEFAULT_CONFIDENCE, DEFAULT_TEMPERATURE

GRID = 10.0  # Lab units per cell
SOFT_NEIGHBOURS = 5
SOFT_SIGMA = 5.0  # Lab units, for soft encoding and for smoothing the prior
REBALANCE_LAMBDA = 0.5
_CELL_RANGE = 12  # cells -12..12 per axis: [-120, 120] Lab units covers every ab value


# --------------------------------------------------------------------------------------------------
# the grid
# --------------------------------------------------------------------------------------------------
#: For each a cell (a / 10), the first and last b cell that some sRGB colour falls in: the 261 bins,
#: contiguous in b. Stored, not computed at import: the scan below takes ~5 s, paid by every process
#: that decodes a colour (notebooks, `colored colorize`). tests/test_losses.py checks it against the scan.
_GAMUT_ROWS: dict[int, tuple[int, int]] = {
    -9: (8, 8),
    -8: (4, 8),
    -7: (2, 9),
    -6: (0, 9),
    -5: (-2, 9),
    -4: (-3, 9),
    -3: (-4, 9),
    -2: (-4, 9),
    -1: (-5, 9),
    0: (-6, 9),
    1: (-7, 8),
    2: (-7, 8),
    3: (-8, 8),
    4: (-9, 8),
    5: (-9, 7),
    6: (-10, 7),
    7: (-11, 7),
    8: (-11, 7),
    9: (-9, 0),
    10: (-7, -5),
}


@functools.lru_cache(maxsize=1)
def ab_bins() -> np.ndarray:
    """Centres ``(Q, 2)`` of the 10-unit ab cells that some sRGB colour falls in (Lab units), sorted
    by a then b (:data:`_GAMUT_ROWS`; :func:`scan_gamut_bins` finds them).

    Zhang's published 313 come from a wider hull; FACTS.md documents that any in-gamut 10-unit
    quantisation is equivalent for the method.
    """
    cells = [
        (a, b) for a, (first, last) in sorted(_GAMUT_ROWS.items()) for b in range(first, last + 1)
    ]
    return (np.asarray(cells, np.int32) * GRID).astype(np.float32)


def scan_gamut_bins() -> np.ndarray:
    """The bins found by converting a 128³ lattice of sRGB to Lab (every second 8-bit level; the
    full 256³ scan finds the same 261 cells): how :data:`_GAMUT_ROWS` was made."""
    levels = np.arange(0, 256, 2, dtype=np.float32) / 255.0
    r, g, b = np.meshgrid(levels, levels, levels, indexing="ij")
    lab = color.rgb_to_lab(np.stack([r, g, b], -1).reshape(-1, 1, 3)).reshape(-1, 3)
    cells = np.unique(np.round(lab[:, 1:] / GRID).astype(np.int32), axis=0)
    return (cells * GRID).astype(np.float32)


def num_bins() -> int:
    """``Q``: how many logits the classification head predicts per pixel."""
    return len(ab_bins())


@functools.lru_cache(maxsize=1)
def _cell_to_bin() -> np.ndarray:
    """For each 10-unit cell of [-120, 120]², the index of the nearest in-gamut bin centre."""
    centres = np.arange(-_CELL_RANGE, _CELL_RANGE + 1, dtype=np.float32) * GRID
    grid = np.stack(np.meshgrid(centres, centres, indexing="ij"), -1).reshape(-1, 1, 2)
    return np.argmin(((grid - ab_bins()[None]) ** 2).sum(-1), axis=1).reshape(
        len(centres), len(centres)
    )


def nearest_bin(ab: np.ndarray) -> np.ndarray:
    """Index of the bin of each ab pair ``(..., 2)``: the in-gamut bin of its 10-unit cell, or the
    nearest in-gamut bin for the rare out-of-gamut cell. A table look-up: fast on whole datasets."""
    cells = np.round(np.asarray(ab, np.float32) / GRID).astype(np.int64)
    cells = np.clip(cells + _CELL_RANGE, 0, 2 * _CELL_RANGE)
    return _cell_to_bin()[cells[..., 0], cells[..., 1]]


# --------------------------------------------------------------------------------------------------
# soft encoding and annealed-mean decoding (keras.ops)
# --------------------------------------------------------------------------------------------------
def soft_encode(ab, bins=None):
    """Soft one-hot targets over the bins, and each pixel's nearest bin, for ab ``(..., 2)`` in Lab
    units: ``(targets (..., Q), nearest (...))``. The :data:`SOFT_NEIGHBOURS` nearest bins get
    weights ∝ exp(−d² / 2σ²) (σ = :data:`SOFT_SIGMA`) that sum to 1; the others 0. ``bins``: the
    centres, default :func:`ab_bins`. ``keras.ops``."""
    from keras import ops

    bins = ops.convert_to_tensor(ab_bins() if bins is None else bins, dtype="float32")
    d2 = ops.sum(ops.square(ops.expand_dims(ops.cast(ab, "float32"), -2) - bins), axis=-1)
    neg_d2, index = ops.top_k(-d2, SOFT_NEIGHBOURS)
    weights = ops.softmax(neg_d2 / (2 * SOFT_SIGMA**2), axis=-1)  # = normalised exp(-d²/2σ²)
    one_hot = ops.one_hot(index, bins.shape[0])
    return ops.sum(one_hot * ops.expand_dims(weights, -1), axis=-2), index[..., 0]


def decode_logits(
    logits,
    temperature: float = DEFAULT_TEMPERATURE,
    confidence: float = DEFAULT_CONFIDENCE,
    prior_shift: np.ndarray | None = None,
):
    """Annealed mean (Zhang et al. 2016): ab = Σ softmax(logits / T) · bin centre, in Lab units,
    ``(..., Q)`` → ``(..., 2)``. T → 0 is the mode (vivid, noisy); T = 1 the mean (MSE's sepia).

    ``confidence`` c > 0 pulls each pixel toward the mean of its distribution as the distribution
    spreads: ab = mean + w · (annealed − mean), w = exp(−c · σ² / 10²), σ² the variance of the
    predicted colour (:func:`colour_spread`; 10 = one bin). One colour (σ ≈ 5–10) stays vivid; a
    split between hues (σ ≥ 20) is muted. Variance, not entropy: over 261 bins, five neighbouring
    greens would count as five answers. ``prior_shift`` ``(Q,)`` (:func:`prior_logit_shift`) is taken from
    the logits first. ``keras.ops``: it runs in a compiled metric too.
    """
    from keras import ops

    bins = ops.convert_to_tensor(ab_bins(), dtype="float32")
    logits = ops.cast(logits, "float32")
    if prior_shift is not None:
        logits = logits - ops.convert_to_tensor(prior_shift, dtype="float32")
    probabilities = ops.softmax(logits / temperature, axis=-1)
    annealed = ops.einsum("...q,qc->...c", probabilities, bins)
    if not confidence:
        return annealed
    mean, variance = colour_spread(logits)
    return mean + confidence_weight(variance, confidence)[..., None] * (annealed - mean)


def confidence_weight(variance, confidence: float = DEFAULT_CONFIDENCE):
    """How much of its annealed colour a pixel keeps under confidence-aware decoding:
    exp(−confidence · σ² / 10²), σ² the variance of its predicted colour (Lab units², as
    :func:`colour_spread` gives; 10 = one bin). 1: sure, vivid; → 0: unsure, the mean. ``keras.ops``."""
    from keras import ops

    return ops.exp(-float(confidence) * ops.cast(variance, "float32") / GRID**2)


def colour_spread(logits):
    """``(mean ab (..., 2), variance (...))`` of the model's predicted colour distribution
    p = softmax(logits) (T = 1) over the bin centres, Lab units (variance in units²). ``keras.ops``."""
    from keras import ops

    bins = ops.convert_to_tensor(ab_bins(), dtype="float32")
    p = ops.softmax(ops.cast(logits, "float32"), axis=-1)
    mean = ops.einsum("...q,qc->...c", p, bins)
    second = ops.einsum("...q,q->...", p, ops.sum(ops.square(bins), axis=-1))
    return mean, ops.maximum(second - ops.sum(ops.square(mean), axis=-1), 0.0)


# --------------------------------------------------------------------------------------------------
# priors and class rebalancing
# --------------------------------------------------------------------------------------------------
def ab_prior(ab_images: Iterable[np.ndarray]) -> np.ndarray:
    """Empirical probability ``(Q,)`` of each bin, pooled over the pixels of an iterable of ab
    arrays (Lab units). Not :func:`colored.metrics.ab_cell_prior` (22×22 cells, for evaluation)."""
    statistics = color.AbStatistics(cells=nearest_bin, shape=(num_bins(),))
    for ab in ab_images:
        statistics.add(ab)
    return statistics.histogram


def rebalancing_weights(
    prior: np.ndarray, lam: float = REBALANCE_LAMBDA, smooth_sigma: float = SOFT_SIGMA
) -> np.ndarray:
    """Zhang's class-rebalancing weights ``(Q,)`` from a prior over the bins:
    ((1 − λ)·smoothed prior + λ/Q)⁻¹, normalised so that Σ prior·w = 1 (over the smoothed prior).

    The prior is first smoothed with a Gaussian over ab (σ = 5, as Zhang does) so empty neighbours
    of common colours don't get extreme weights. λ = 1 gives uniform weights.
    """
    smoothed = smoothed_prior(prior, smooth_sigma)
    weights = 1.0 / ((1 - lam) * smoothed + lam / len(smoothed))
    weights /= (smoothed * weights).sum()
    return weights.astype(np.float32)


def smoothed_prior(prior: np.ndarray, smooth_sigma: float = SOFT_SIGMA) -> np.ndarray:
    """``prior`` blurred with a Gaussian over ab (σ = 5, as Zhang does), summing to 1: an empty
    neighbour of a common colour is not an impossible colour."""
    smoothed = _smoothing_kernel(smooth_sigma) @ np.asarray(prior, np.float64)
    return smoothed / smoothed.sum()


@functools.cache
def _smoothing_kernel(smooth_sigma: float) -> np.ndarray:
    """The ``(Q, Q)`` Gaussian weights between bin centres: built once, not at every decoded batch."""
    bins = ab_bins()
    d2 = ((bins[:, None, :] - bins[None]) ** 2).sum(-1)
    return np.exp(-d2 / (2 * smooth_sigma**2))


#: Floor of the smoothed prior in :func:`prior_logit_shift`: a bin the training set never showed is
#: pushed up by τ·log(1/PRIOR_FLOOR) at most, not without bound.
PRIOR_FLOOR = 1e-6


def prior_logit_shift(prior: np.ndarray, strength: float) -> np.ndarray:
    """``strength · log(smoothed prior)`` ``(Q,)``: what prior correction takes from the logits
    (logit adjustment, Menon et al. 2021). It turns p(colour | photo) toward p(photo | colour), so
    a colour is chosen for what the photo shows, not for being common."""
    return (strength * np.log(smoothed_prior(prior) + PRIOR_FLOOR)).astype(np.float32)


def image_prior(paths: Iterable[str | Path], image_size: int) -> np.ndarray:
    """:func:`ab_prior` of the photos at ``paths``, resized to ``image_size``² as training sees them."""
    from colored.pipeline import load_resized

    return ab_prior(color.rgb_to_lab(load_resized(p, image_size))[..., 1:] for p in paths)


def prior_cache_key(paths: Iterable[str | Path], image_size: int) -> str:
    """What :func:`cached_prior` files are named by: the photos (resolved path and modification
    time, order ignored), the image size and the number of bins."""
    ident = "|".join(
        f"{Path(p).resolve()}:{Path(p).stat().st_mtime_ns}" for p in sorted(map(str, paths))
    )
    return hashlib.sha1(f"{ident}|{image_size}|{num_bins()}".encode()).hexdigest()[:16]


def cached_prior(paths: list[str | Path], image_size: int, cache_dir: str | Path) -> np.ndarray:
    """The training set's :func:`image_prior`, computed once and cached (atomically) as
    ``cache_dir/ab_prior_<key>.npy`` (:func:`prior_cache_key`)."""
    from colored.io.files import atomic_write_bytes

    file = Path(cache_dir) / f"ab_prior_{prior_cache_key(paths, image_size)}.npy"
    if file.exists():
        return np.load(file)
    prior = image_prior(paths, image_size)
    buffer = io.BytesIO()
    np.save(buffer, prior)
    atomic_write_bytes(file, buffer.getvalue())
    return prior
