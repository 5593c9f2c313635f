"""Colour conversions: RGB ↔ CIE Lab (D65), the L / ab split, and the network's normalisation.

The network sees ``L / 100`` in [0, 1] and predicts ``ab / 128`` in [-1, 1] (ColorED's choice:
a tanh output times 128 covers the whole Lab ab range). Conversions are ``skimage.color``'s, so
they agree with the rest of the scientific Python world.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

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


#: Hue names by Lab hue angle h = atan2(b, a) in degrees: each name up to its upper bound (pure sRGB
#: red is at 40°, orange 73°, yellow 103°, green 136°, cyan 196°, blue 306°, magenta 328°).
HUE_NAMES = (
    (25, "pink"),
    (55, "red"),
    (80, "orange"),
    (110, "yellow"),
    (180, "green"),
    (230, "cyan"),
    (315, "blue"),
    (345, "purple"),
    (360, "pink"),
)


def ab_colour_name(a: float, b: float) -> str:
    """A plain name for the colour (a, b) (Lab units): its hue's name, "grayish …" below chroma 20,
    "gray" below 5. Lightness is ignored (a dark orange is "orange", not "brown"), so a text can say
    what a swatch shows without a person naming it by eye."""
    chroma = float(np.hypot(a, b))
    if chroma < 5:
        return "gray"
    hue = float(np.degrees(np.arctan2(b, a))) % 360
    name = next(name for bound, name in HUE_NAMES if hue < bound)
    return name if chroma >= 20 else f"grayish {name}"


class AbStatistics:
    """Statistics of ab values (Lab units) accumulated image by image: pixel counts per cell, the
    pixel count, the mean ab and the share of nearly gray values (chroma below ``low_chroma``).
    Memory is the cells, not the pixels (5,000 photos' ab at 256² would take 2.6 GB as float32).

    The one ab histogram of the library: the metrics' 22×22 grid (``bins=22``: 10-unit cells), the
    figures' 44×44 (5-unit cells) and, with ``cells``, the classification head's 261 bins
    (``cells=colored.bins.nearest_bin``, ``shape=(261,)``). On the grid, values outside ``range`` are
    clipped into the edge cells, so every pixel is counted in a cell (a few sRGB colours reach
    |b| > 107). Grid cells are half-open [lo + k·w, lo + (k+1)·w), axis 0 = a, axis 1 = b."""

    def __init__(
        self,
        bins: int = 22,
        range: tuple[float, float] = (-110.0, 110.0),  # noqa: A002 - numpy's name
        low_chroma: float = 10.0,
        *,
        cells: Callable[[np.ndarray], np.ndarray] | None = None,
        shape: tuple[int, ...] | None = None,
    ) -> None:
        self.bins, self.range, self.low_chroma = bins, range, low_chroma
        self._cells = cells
        self.counts = np.zeros(shape if cells is not None else (bins, bins), np.int64)
        self.pixels = 0
        self._sum = np.zeros(2, np.float64)
        self._low = 0

    def cell_indices(self, ab: np.ndarray) -> np.ndarray:
        """Flat cell index of each value of ``ab`` (``(..., 2)``) → ``(N,)`` int64."""
        flat = np.asarray(ab).reshape(-1, 2)
        if self._cells is not None:
            return np.asarray(self._cells(flat)).reshape(-1).astype(np.int64)
        lo, hi = self.range
        index = np.floor((flat - lo) / ((hi - lo) / self.bins)).astype(np.int64)
        index = np.clip(index, 0, self.bins - 1)
        return index[:, 0] * self.bins + index[:, 1]

    def add(self, ab: np.ndarray) -> AbStatistics:
        """Count the values of ``ab`` (any shape ending in 2, e.g. one image's ``(H, W, 2)``)."""
        flat = np.asarray(ab).reshape(-1, 2)
        counted = np.bincount(self.cell_indices(flat), minlength=self.counts.size)
        self.counts += counted.reshape(self.counts.shape)
        self.pixels += len(flat)
        self._sum += flat.astype(np.float64).sum(axis=0)
        self._low += int(np.count_nonzero(np.hypot(flat[:, 0], flat[:, 1]) < self.low_chroma))
        return self

    @property
    def histogram(self) -> np.ndarray:
        """The counts normalised to sum 1 (float64)."""
        return self.counts / max(1, self.counts.sum())

    @property
    def mean(self) -> np.ndarray:
        """Mean ``(a, b)`` of every value added."""
        return self._sum / max(1, self.pixels)

    @property
    def low_chroma_share(self) -> float:
        """Share of the values with chroma √(a² + b²) below ``low_chroma`` (nearly gray)."""
        return self._low / max(1, self.pixels)


def rgb_to_gray(rgb: np.ndarray) -> np.ndarray:
    """RGB → 3-channel gray float32 in [0, 1]: the Lab L channel with a = b = 0.

    Using L (not luma) keeps "gray" identical to what the network is given, so the all-gray
    baseline and the colorized output share exactly the same lightness.
    """
    lab = rgb_to_lab(rgb)
    lab[..., 1:] = 0.0
    return lab_to_rgb(lab)


def rgb_to_model_input(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RGB → (L/100 ``(..., 1)``, ab/128 ``(..., 2)``): ColorED's steps 6–8 in one call."""
    lightness, ab = split_lab(rgb_to_lab(rgb))
    return normalize_l(lightness), normalize_ab(ab)


def model_output_to_rgb(l_norm: np.ndarray, ab_norm: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_model_input`: normalised L and ab → RGB float32 in [0, 1]."""
    return lab_to_rgb(join_lab(denormalize_l(l_norm), denormalize_ab(ab_norm)))


# --- The same conversion inside the compiled graph (keras.ops: TF, JAX or torch) -------------------
# Why by hand: no backend-agnostic library converts to Lab; moving it into the graph lets the
# accelerator do it and leaves the input pipeline only decoding and geometric augmentation.
# Constants are skimage.color's (sRGB, D65 white: _xyz_constants), so results match rgb_to_lab (tested).


def rgb_to_lab_tensor(rgb, scale: float | None = None):
    """RGB tensor ``(..., 3)`` → Lab, with ``keras.ops``. ``scale`` is the RGB white (255 for 8-bit
    values even when Keras has cast them to float); by default 255 for integer tensors, else 1."""
    from keras import ops

    if scale is None:
        scale = 255.0 if "int" in str(rgb.dtype) else 1.0
    xyz_from_rgb, _, white = _xyz_constants()
    rgb = ops.cast(rgb, "float32") / scale
    linear = ops.where(rgb > 0.04045, ops.power((rgb + 0.055) / 1.055, 2.4), rgb / 12.92)
    xyz = ops.matmul(linear, ops.convert_to_tensor(xyz_from_rgb.T)) / ops.convert_to_tensor(white)
    f = ops.where(
        xyz > 0.008856, ops.power(ops.maximum(xyz, 0.008856), 1.0 / 3.0), 7.787 * xyz + 16.0 / 116.0
    )
    fx, fy, fz = f[..., 0:1], f[..., 1:2], f[..., 2:3]
    return ops.concatenate([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def rgb_to_model_input_tensor(rgb, scale: float | None = None):
    """In-graph :func:`rgb_to_model_input`: RGB tensor → (L/100, ab/128)."""
    lab = rgb_to_lab_tensor(rgb, scale)
    return lab[..., :1] / L_SCALE, lab[..., 1:] / AB_SCALE


def ab_target_tensor(y_true):
    """Training targets as ab/128: already ab/128 (2 channels), or 8-bit RGB (3 channels; Keras may
    have cast it to float) converted in the graph."""
    from keras import ops

    if y_true.shape[-1] == 3:
        return rgb_to_model_input_tensor(y_true, scale=255.0)[1]
    return ops.cast(y_true, "float32")


# --- Fast full-resolution conversions for inference (colorize) -------------------------------------
BLOCK_PIXELS = 1 << 20


# Fast float32 paths for the two full-resolution conversions (skimage's float64 ones took ~2/3 of
# the non-model time at 768×512). Same formulas and the same constants as skimage.color (so as
# colored.color); tests check they agree with colored.color to ~1e-4 L and ±1 of 255.
_SRGB_TO_LINEAR_8 = None  # 256-entry table, built on first use
_SRGB_TO_LINEAR_16 = None  # 65536-entry table
_LINEAR_TO_SRGB_8 = None  # linear [0, 1] in 65536 steps → sRGB uint8


def _srgb_to_linear(values: np.ndarray) -> np.ndarray:
    values = values.astype(np.float64)
    return np.where(values > 0.04045, ((values + 0.055) / 1.055) ** 2.4, values / 12.92)


def _tables():
    global _SRGB_TO_LINEAR_8, _SRGB_TO_LINEAR_16, _LINEAR_TO_SRGB_8
    if _LINEAR_TO_SRGB_8 is None:
        _SRGB_TO_LINEAR_8 = _srgb_to_linear(np.arange(256) / 255.0).astype(np.float32)
        _SRGB_TO_LINEAR_16 = _srgb_to_linear(np.arange(65536) / 65535.0).astype(np.float32)
        linear = np.linspace(0.0, 1.0, 65536)
        srgb = np.where(linear > 0.0031308, 1.055 * linear ** (1 / 2.4) - 0.055, 12.92 * linear)
        _LINEAR_TO_SRGB_8 = np.clip(np.round(srgb * 255.0), 0, 255).astype(np.uint8)
    return _SRGB_TO_LINEAR_8, _SRGB_TO_LINEAR_16, _LINEAR_TO_SRGB_8


@functools.lru_cache(maxsize=1)
def _xyz_constants() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from skimage.color import colorconv, xyz_tristimulus_values

    white = np.asarray(xyz_tristimulus_values(illuminant="D65", observer="2"), np.float32)
    return (
        colorconv.xyz_from_rgb.astype(np.float32),
        colorconv.rgb_from_xyz.astype(np.float32),
        white,
    )


def lightness(rgb: np.ndarray) -> np.ndarray:
    """Full-resolution Lab ``L`` (0..100), ``(H, W)`` float32, from uint8 / uint16 / float RGB.

    Equals ``colored.color.rgb_to_lab(rgb)[..., 0]`` (D65) but computes only ``L``, in float32,
    block by block (bounded memory on huge photos), with lookup tables for 8- and 16-bit input.
    """
    to_linear_8, to_linear_16, _ = _tables()
    luminance = _xyz_constants()[0][1]  # the Y row: L depends on Y alone (Y_n = 1 for D65)
    height, width = rgb.shape[:2]
    out = np.empty((height, width), np.float32)
    rows = max(1, BLOCK_PIXELS // max(width, 1))
    for top in range(0, height, rows):
        block = rgb[top : top + rows]
        if block.dtype == np.uint8:
            linear = to_linear_8[block]
        elif block.dtype == np.uint16:
            linear = to_linear_16[block]
        else:
            linear = _srgb_to_linear(to_float_rgb(block)).astype(np.float32)
        y = linear @ luminance
        f = np.where(y > 0.008856, np.cbrt(y), 7.787 * y + np.float32(16 / 116))
        out[top : top + rows] = 116.0 * f - 16.0
    return out


def lab_to_rgb_uint8(l_full: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """Lab (``L (H, W)``, ``ab (H, W, 2)``) → sRGB uint8 ``(H, W, 3)``, out-of-gamut clipped.

    Equals ``to_uint8(colored.color.lab_to_rgb(...))`` within ±1 (and without skimage's
    negative-Z warnings), in float32 and block by block.
    """
    _, _, to_srgb = _tables()
    _, rgb_from_xyz, white = _xyz_constants()
    height, width = l_full.shape
    out = np.empty((height, width, 3), np.uint8)
    rows = max(1, BLOCK_PIXELS // max(width, 1))
    for top in range(0, height, rows):
        fy = (l_full[top : top + rows] + np.float32(16)) / np.float32(116)
        fx = fy + ab[top : top + rows, :, 0] / np.float32(500)
        fz = np.maximum(
            fy - ab[top : top + rows, :, 1] / np.float32(200), 0
        )  # skimage clips Z < 0 too
        f = np.stack([fx, fy, fz], axis=-1)
        xyz = np.where(
            f > np.float32(0.2068966), f * f * f, (f - np.float32(16 / 116)) / np.float32(7.787)
        )
        linear = (xyz * white) @ rgb_from_xyz.T
        out[top : top + rows] = to_srgb[
            (np.clip(linear, 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16)
        ]
    return out
