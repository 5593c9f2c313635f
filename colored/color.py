"""Colour conversions: RGB ↔ CIE Lab (D65), the L / ab split, and the network's normalisation.

The network sees ``L / 100`` in [0, 1] and predicts ``ab / 128`` in [-1, 1] (the seed's choice:
a tanh output times 128 covers the whole Lab ab range). Conversions are ``skimage.color``'s, so
they agree with the rest of the scientific Python world.
"""
from __future__ import annotations

import numpy as np
from skimage import color as skcolor

L_SCALE = 100.0
AB_SCALE = 128.0


def to_float_rgb(rgb: np.ndarray) -> np.ndarray:
    """uint8 (0..255), uint16 (0..65535) or float (0..1) RGB → float32 in [0, 1]."""
    if rgb.dtype == np.uint8:
        return rgb.astype(np.float32) / 255.0
    if rgb.dtype == np.uint16:
        return rgb.astype(np.float32) / 65535.0
    return np.clip(rgb.astype(np.float32), 0.0, 1.0)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """RGB (any of :func:`to_float_rgb`'s dtypes, ``(..., 3)``) → Lab float32."""
    return skcolor.rgb2lab(to_float_rgb(rgb)).astype(np.float32)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """Lab → RGB float32 in [0, 1] (out-of-gamut colours are clipped)."""
    return np.clip(skcolor.lab2rgb(lab.astype(np.float64)), 0.0, 1.0).astype(np.float32)


def split_lab(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(..., 3)`` Lab → ``L (..., 1)`` and ``ab (..., 2)``."""
    return lab[..., :1], lab[..., 1:]


def join_lab(lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """Inverse of :func:`split_lab`."""
    return np.concatenate([lightness, ab], axis=-1)


def normalize_l(lightness: np.ndarray) -> np.ndarray:
    return (lightness / L_SCALE).astype(np.float32)


def denormalize_l(lightness: np.ndarray) -> np.ndarray:
    return (lightness * L_SCALE).astype(np.float32)


def normalize_ab(ab: np.ndarray) -> np.ndarray:
    return (ab / AB_SCALE).astype(np.float32)


def denormalize_ab(ab: np.ndarray) -> np.ndarray:
    return (ab * AB_SCALE).astype(np.float32)


def rgb_to_gray(rgb: np.ndarray) -> np.ndarray:
    """RGB → 3-channel gray float32 in [0, 1]: the Lab L channel with a = b = 0.

    Using L (not luma) keeps "gray" identical to what the network is given, so the all-gray
    baseline and the colorized output share exactly the same lightness.
    """
    lab = rgb_to_lab(rgb)
    lab[..., 1:] = 0.0
    return lab_to_rgb(lab)


def rgb_to_model_input(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RGB → (L/100 ``(..., 1)``, ab/128 ``(..., 2)``): the seed's steps 6–8 in one call."""
    lightness, ab = split_lab(rgb_to_lab(rgb))
    return normalize_l(lightness), normalize_ab(ab)


def model_output_to_rgb(l_norm: np.ndarray, ab_norm: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_model_input`: normalised L and ab → RGB float32 in [0, 1]."""
    return lab_to_rgb(join_lab(denormalize_l(l_norm), denormalize_ab(ab_norm)))
