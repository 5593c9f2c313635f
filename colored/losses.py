"""Losses and training metrics, in ``keras.ops`` (TF, JAX and torch backends).

- ``mse`` on ab/128 — the seed's loss; it regresses to the mean colour, hence sepia.
- :class:`SoftEncodedCrossEntropy` — Zhang et al. 2016: ab quantised into in-gamut bins of 10 Lab
  units, targets soft-encoded over the 5 nearest bins (σ = 5), cross-entropy weighted per pixel by
  class rebalancing ((1 − λ)·prior + λ/Q)⁻¹ with λ = ½, normalised so E_prior[w] = 1.
- :class:`AbAccuracy` — the fraction of pixels whose ab error is within a threshold in Lab units
  (replaces the seed's "accuracy", which tests float equality and means nothing for regression).
"""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import keras
import numpy as np
from keras import ops

from colored import color

GRID = 10.0
SOFT_NEIGHBOURS = 5
SOFT_SIGMA = 5.0
REBALANCE_LAMBDA = 0.5


@functools.lru_cache(maxsize=1)
def ab_bins() -> np.ndarray:
    """Centres ``(Q, 2)`` of the 10-unit ab cells that some sRGB colour falls in.

    Found by converting a 128³ lattice of sRGB to Lab (every second 8-bit level; the full 256³ scan
    finds the same 261 cells). Zhang's published 313 come from a wider hull; FACTS.md documents that
    any in-gamut 10-unit quantisation is equivalent for the method.
    """
    levels = np.arange(0, 256, 2, dtype=np.float32) / 255.0
    r, g, b = np.meshgrid(levels, levels, levels, indexing="ij")
    lab = color.rgb_to_lab(np.stack([r, g, b], -1).reshape(-1, 1, 3)).reshape(-1, 3)
    cells = np.unique(np.round(lab[:, 1:] / GRID).astype(np.int32), axis=0)
    return (cells * GRID).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _cell_to_bin() -> np.ndarray:
    """For each 10-unit cell of [-120, 120]², the index of the nearest in-gamut bin centre."""
    centres = np.arange(-120, 121, GRID, dtype=np.float32)
    grid = np.stack(np.meshgrid(centres, centres, indexing="ij"), -1).reshape(-1, 1, 2)
    return np.argmin(((grid - ab_bins()[None]) ** 2).sum(-1), axis=1).reshape(len(centres), len(centres))


def nearest_bin(ab: np.ndarray) -> np.ndarray:
    """Index of the bin of each ab pair ``(..., 2)``: the in-gamut bin of its 10-unit cell, or the
    nearest in-gamut bin for the rare out-of-gamut cell. A table look-up: fast on whole datasets."""
    cells = np.clip(np.round(np.asarray(ab, np.float32) / GRID).astype(np.int64) + 12, 0, 24)
    return _cell_to_bin()[cells[..., 0], cells[..., 1]]


def ab_prior(ab_images) -> np.ndarray:
    """Empirical probability of each bin over an iterable of ab arrays (Lab units)."""
    counts = np.zeros(len(ab_bins()), np.float64)
    for ab in ab_images:
        counts += np.bincount(nearest_bin(np.asarray(ab)).ravel(), minlength=len(counts))
    return counts / max(counts.sum(), 1.0)


def rebalancing_weights(prior: np.ndarray, lam: float = REBALANCE_LAMBDA, smooth_sigma: float = 5.0) -> np.ndarray:
    """Zhang's class-rebalancing weights from a prior over the bins.

    The prior is first smoothed with a Gaussian over ab (σ = 5, as Zhang does) so empty neighbours
    of common colours don't get extreme weights.
    """
    bins = ab_bins()
    d2 = ((bins[:, None, :] - bins[None]) ** 2).sum(-1)
    kernel = np.exp(-d2 / (2 * smooth_sigma**2))
    smoothed = kernel @ prior
    smoothed /= smoothed.sum()
    weights = 1.0 / ((1 - lam) * smoothed + lam / len(bins))
    weights /= (smoothed * weights).sum()
    return weights.astype(np.float32)


def cached_prior(paths: list[Path], image_size: int, cache_dir: str | Path) -> np.ndarray:
    """The training set's ab prior, computed once and cached under ``cache_dir``."""
    from colored.pipeline import load_resized

    ident = "|".join(f"{Path(p).resolve()}:{Path(p).stat().st_mtime_ns}" for p in sorted(map(str, paths)))
    key = hashlib.sha1(f"{ident}|{image_size}|{len(ab_bins())}".encode()).hexdigest()[:16]
    file = Path(cache_dir) / f"ab_prior_{key}.npy"
    if file.exists():
        return np.load(file)
    prior = ab_prior(color.rgb_to_lab(load_resized(p, image_size))[..., 1:] for p in paths)
    file.parent.mkdir(parents=True, exist_ok=True)
    np.save(file, prior)
    return prior


def soft_encode(ab, bins):
    """Soft one-hot targets ``(..., Q)`` over the 5 nearest bins (Gaussian, σ = 5), keras.ops."""
    d2 = ops.sum(ops.square(ops.expand_dims(ab, -2) - bins), axis=-1)
    neg_d2, index = ops.top_k(-d2, SOFT_NEIGHBOURS)
    weights = ops.softmax(neg_d2 / (2 * SOFT_SIGMA**2), axis=-1)  # = normalised exp(-d²/2σ²)
    one_hot = ops.one_hot(index, bins.shape[0])
    return ops.sum(one_hot * ops.expand_dims(weights, -1), axis=-2), index[..., 0]


@keras.saving.register_keras_serializable("colored")
class AbMeanSquaredError(keras.losses.Loss):
    """The seed's MSE on ab/128; targets may also be RGB (converted in the graph)."""

    def __init__(self, name: str = "ab_mse", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        error = ops.square(ops.cast(y_pred, "float32") - color.ab_target_tensor(y_true))
        return ops.mean(error, axis=(1, 2, 3))


@keras.saving.register_keras_serializable("colored")
class SoftEncodedCrossEntropy(keras.losses.Loss):
    """Zhang et al.'s multinomial loss. ``y_true`` is ab/128 at the input size; ``y_pred`` are
    logits at half size, so the targets are average-pooled ×2 first."""

    def __init__(self, class_weights=None, name: str = "soft_encoded_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.class_weights = None if class_weights is None else [float(w) for w in np.asarray(class_weights)]

    def call(self, y_true, y_pred):
        bins = ops.convert_to_tensor(ab_bins())
        ab = color.ab_target_tensor(y_true) * color.AB_SCALE
        if ab.shape[1] != y_pred.shape[1]:
            factor = ab.shape[1] // y_pred.shape[1]
            ab = ops.average_pool(ab, factor, strides=factor, padding="valid")
        target, nearest = soft_encode(ab, bins)
        log_probabilities = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        loss = -ops.sum(target * log_probabilities, axis=-1)
        if self.class_weights is not None:
            loss = loss * ops.take(ops.convert_to_tensor(np.asarray(self.class_weights, np.float32)), nearest)
        return ops.mean(loss, axis=(1, 2))

    def get_config(self):
        return {**super().get_config(), "class_weights": self.class_weights}


@keras.saving.register_keras_serializable("colored")
class AbAccuracy(keras.metrics.MeanMetricWrapper):
    """Fraction of pixels whose predicted ab is within ``threshold`` Lab units of the truth.

    Works for both heads: classification logits are decoded by annealed mean first.
    """

    def __init__(self, threshold: float = 10.0, temperature: float = 0.38, name: str | None = None, **kwargs):
        self.threshold = float(threshold)
        self.temperature = float(temperature)
        super().__init__(fn=self._accuracy, name=name or f"ab_acc_{threshold:g}", **kwargs)

    def _accuracy(self, y_true, y_pred):
        from colored.model import decode_logits

        ab_true = color.ab_target_tensor(y_true) * color.AB_SCALE
        if y_pred.shape[-1] == 2:
            ab_pred = ops.cast(y_pred, "float32") * color.AB_SCALE
        else:
            ab_pred = decode_logits(y_pred, self.temperature)
            factor = ab_true.shape[1] // ab_pred.shape[1]
            ab_true = ops.average_pool(ab_true, factor, strides=factor, padding="valid")
        error = ops.sqrt(ops.sum(ops.square(ab_pred - ab_true), axis=-1))
        return ops.mean(ops.cast(error <= self.threshold, "float32"), axis=(1, 2))

    def get_config(self):
        return {"threshold": self.threshold, "temperature": self.temperature, "name": self.name, "dtype": self.dtype}
