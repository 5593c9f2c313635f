"""Colour-quality metrics for colorization, under one evaluation protocol (docs/evaluation.md).

:func:`prepare` makes the ground truth (centre square, 256² bicubic, RGB uint8); :func:`image_metrics`
scores a prediction against it: PSNR, SSIM, colourfulness, chroma, Zhang's AuC (raw and rebalanced by
the ab prior), ab RMSE, the JS divergence of the ab histograms and the confidently wrong share;
:func:`summarize` averages them, colourfulness and chroma as ratios of means. Several metrics because
PSNR, SSIM and AuC reward the flat sepia guess and colourfulness alone rewards garish colour.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from colored.color import AbStatistics, rgb_to_lab, to_float_rgb
from colored.io.files import IMAGE_EXTENSIONS, to_uint8  # the package's one 8-bit rounding
from colored.io.images import read_rgb  # the package's one decode

EVAL_SIZE = 256
RESAMPLE = Image.Resampling.BICUBIC  # see the module docstring for why bicubic
PSNR_CAP = 100.0  # dB; what summarize() uses for identical images (PSNR = inf)
AUC_THRESHOLDS = np.arange(151)  # Zhang et al. 2016: t = 0..150 ab units
AB_BINS = 22
AB_RANGE = (-110.0, 110.0)  # 22 cells of 10 ab units
PRIOR_EPS = 1e-6
CONFIDENT_CHROMA = 15.0  # C*ab from which a predicted colour reads as "a colour", not a tinted gray
WRONG_AB_ERROR = 40.0  # ab distance from which it is another colour (e.g. C 30 at 80° off in hue)


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------
def check_rgb(rgb: np.ndarray, name: str = "image") -> None:
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"{name} must be an (H, W, 3) RGB array, got shape {rgb.shape}")


def check_pair(pred: np.ndarray, true: np.ndarray) -> None:
    check_rgb(pred, "pred")
    check_rgb(true, "true")
    if pred.shape != true.shape:
        raise ValueError(
            f"pred and true must have the same shape (prepare() both under the same protocol): "
            f"pred {pred.shape} vs true {true.shape}"
        )


def _to_255(rgb: np.ndarray) -> np.ndarray:
    """RGB → float64 on the 0..255 scale used by the colourfulness formula."""
    if rgb.dtype == np.uint8:
        return rgb.astype(np.float64)
    return to_float_rgb(rgb).astype(np.float64) * 255.0


def ab_of(rgb: np.ndarray) -> np.ndarray:
    """RGB → ``(H, W, 2)`` float64 ab (float64 so error sums don't lose precision)."""
    return rgb_to_lab(rgb)[..., 1:].astype(np.float64)


def _ab_statistics(bins: int = AB_BINS, range: tuple[float, float] = AB_RANGE) -> AbStatistics:  # noqa: A002
    """The evaluation's grid: ``bins``×``bins`` cells over ``range``², clipped into the edge cells."""
    return AbStatistics(bins, range)


# --------------------------------------------------------------------------------------------------
# protocol
# --------------------------------------------------------------------------------------------------
def prepare(rgb: np.ndarray, size: int = EVAL_SIZE) -> np.ndarray:
    """The evaluation protocol: centre-crop to a square, resize to ``size``² (PIL bicubic), RGB uint8.

    Accepts uint8, uint16 or float [0, 1] RGB. Non-uint8 input is quantised to uint8 *before* the
    resize: PIL resamples 3-channel images only as 8-bit, and the protocol's output is uint8 anyway
    (the extra rounding step costs at most 1 level).
    """
    check_rgb(rgb)
    rgb = to_uint8(rgb)
    h, w = rgb.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = np.ascontiguousarray(rgb[top : top + side, left : left + side])
    if side == size:
        return square
    return np.asarray(Image.fromarray(square).resize((size, size), RESAMPLE))


def load_prepared(folder: str | Path, size: int = EVAL_SIZE) -> list[np.ndarray]:
    """Every image file in ``folder`` (sorted by name), read as RGB and :func:`prepare`\\ d."""
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    return [prepare(read_rgb(p), size) for p in paths]


# --------------------------------------------------------------------------------------------------
# fidelity
# --------------------------------------------------------------------------------------------------
def psnr(pred: np.ndarray, true: np.ndarray) -> float:
    """PSNR in dB on RGB uint8, data_range 255; ``inf`` for identical images (see :data:`PSNR_CAP`)."""
    check_pair(pred, true)
    p, t = to_uint8(pred), to_uint8(true)
    if np.array_equal(p, t):  # skimage would divide by zero (and warn) here
        return float("inf")
    return float(peak_signal_noise_ratio(t, p, data_range=255))


def ssim(pred: np.ndarray, true: np.ndarray) -> float:
    """SSIM on RGB uint8 (skimage defaults: 7×7 window, mean over the three channels)."""
    check_pair(pred, true)
    return float(
        structural_similarity(to_uint8(true), to_uint8(pred), data_range=255, channel_axis=-1)
    )


# --------------------------------------------------------------------------------------------------
# colour vividness
# --------------------------------------------------------------------------------------------------
def colorfulness(rgb: np.ndarray) -> float:
    """Hasler & Süsstrunk colourfulness, absolute-value variant, on 0..255 floats.

    rg = |R − G|, yb = |½(R + G) − B|; CF = sqrt(σ_rg² + σ_yb²) + 0.3·sqrt(μ_rg² + μ_yb²), with
    population standard deviations (np.std), as in the CT2 / ColorFormer / DDColor evaluation code.
    """
    check_rgb(rgb)
    x = _to_255(rgb)
    rg = np.abs(x[..., 0] - x[..., 1])
    yb = np.abs(0.5 * (x[..., 0] + x[..., 1]) - x[..., 2])
    return float(
        np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    )


def _mean_chroma_ab(ab: np.ndarray) -> float:
    return float(np.mean(np.hypot(ab[..., 0], ab[..., 1])))


def mean_chroma(rgb: np.ndarray) -> float:
    """Mean C*ab = sqrt(a² + b²) over pixels, in Lab units (0 for a gray image)."""
    check_rgb(rgb)
    return _mean_chroma_ab(ab_of(rgb))


# --------------------------------------------------------------------------------------------------
# ab accuracy (Zhang et al. 2016)
# --------------------------------------------------------------------------------------------------
def ab_errors(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Per-pixel Euclidean distance between predicted and true ab, ``(H, W)`` float64, Lab units."""
    check_pair(pred, true)
    return np.linalg.norm(ab_of(pred) - ab_of(true), axis=-1)


def auc_from_errors(
    errors: np.ndarray, thresholds: np.ndarray = AUC_THRESHOLDS, weights: np.ndarray | None = None
) -> float:
    """AuC from per-pixel ab errors (Lab units), optionally weighted per pixel: what :func:`auc`,
    :func:`rebalanced_auc` and :func:`image_metrics` compute once the errors are known."""
    d = errors.ravel().astype(np.float64)
    w = np.ones_like(d) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if w.shape != d.shape:
        raise ValueError(f"weights must have one value per pixel: {w.shape} vs {d.shape}")
    total = w.sum()
    if not total > 0:
        raise ValueError("weights must have a positive sum")
    # Sort once; acc(t) = weight of errors ≤ t over all weight (searchsorted 'right' gives ≤).
    order = np.argsort(d, kind="stable")
    cum = np.concatenate([[0.0], np.cumsum(w[order])])
    counts = np.searchsorted(d[order], np.asarray(thresholds, dtype=np.float64), side="right")
    return float(np.mean(cum[counts] / total))


def auc(
    pred: np.ndarray,
    true: np.ndarray,
    thresholds: np.ndarray = AUC_THRESHOLDS,
    weights: np.ndarray | None = None,
) -> float:
    """Raw AuC: mean over ``thresholds`` of the (optionally ``weights``-weighted) fraction of pixels
    whose ab error is ≤ t. 1.0 for a perfect prediction; with the default t = 0..150, a constant
    error d (integer) gives (150 − d + 1) / 151."""
    return auc_from_errors(ab_errors(pred, true), thresholds, weights)


def _prior_weights(true_ab: np.ndarray, prior: np.ndarray) -> np.ndarray:
    prior = np.asarray(prior, dtype=np.float64)
    if prior.shape != (AB_BINS, AB_BINS):
        raise ValueError(f"prior must be {AB_BINS}×{AB_BINS}, got {prior.shape}")
    if np.any(prior <= 0):
        raise ValueError("prior must be strictly positive (ab_cell_prior adds an epsilon for this)")
    return 1.0 / prior.reshape(-1)[_ab_statistics().cell_indices(true_ab)]


def rebalanced_auc(pred: np.ndarray, true: np.ndarray, prior: np.ndarray) -> float:
    """AuC with each pixel weighted by 1 / prior of its *ground-truth* ab cell (22×22, 10-unit grid
    over [−110, 110)², clipped into the edge cells), so rare saturated colours count as much as the
    common desaturated ones. A uniform prior gives exactly :func:`auc`."""
    check_pair(pred, true)
    true_ab = ab_of(true)
    errors = np.linalg.norm(ab_of(pred) - true_ab, axis=-1)
    return auc_from_errors(errors, AUC_THRESHOLDS, _prior_weights(true_ab, prior))


def ab_histogram(
    rgb: np.ndarray, bins: int = AB_BINS, range: tuple[float, float] = AB_RANGE
) -> np.ndarray:  # noqa: A002 (numpy's name)
    """Normalised ``bins``×``bins`` histogram of the image's ab values (axis 0 = a, axis 1 = b).

    Cells are half-open [lo + k·w, lo + (k+1)·w); values outside ``range`` are clipped into the edge
    cells. Note: 0 is a cell edge, and skimage maps exact neutrals (R = G = B) to a ≈ −1e−6,
    b ≈ +1e−6, so gray pixels land deterministically in the a ∈ [−10, 0), b ∈ [0, 10) cell.
    """
    check_rgb(rgb)
    return histogram_ab(ab_of(rgb), bins, range)


def histogram_ab(
    ab: np.ndarray, bins: int = AB_BINS, range: tuple[float, float] = AB_RANGE
) -> np.ndarray:  # noqa: A002
    """:func:`ab_histogram` on raw ``(..., 2)`` ab values (lets callers and tests bin arbitrary ab)."""
    return _ab_statistics(bins, range).add(ab).histogram


def ab_cell_prior(images: Iterable[np.ndarray], eps: float = PRIOR_EPS) -> np.ndarray:
    """Empirical prior over the 22×22 ab cells of :func:`ab_histogram` (for ``auc_rebalanced``):
    pooled pixel frequencies of the RGB ``images`` + ``eps``, renormalised.

    Pooled over pixels (not averaged per image) like Zhang et al.'s empirical distribution; ``eps``
    keeps empty cells finite so 1/prior never divides by zero. Not the training prior over the
    classification head's bins (:func:`colored.bins.ab_prior`).
    """
    statistics = _ab_statistics()
    for rgb in images:
        check_rgb(rgb)
        statistics.add(ab_of(rgb))
    if statistics.pixels == 0:
        raise ValueError("ab_cell_prior needs at least one image")
    prior = statistics.histogram + eps
    return prior / prior.sum()


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon divergence in bits between two (unnormalised is fine) histograms.

    0 for identical distributions, 1 for disjoint supports, symmetric; 0·log 0 is taken as 0.
    """
    p = np.asarray(p, dtype=np.float64).ravel()
    q = np.asarray(q, dtype=np.float64).ravel()
    if p.shape != q.shape:
        raise ValueError(f"histograms must have the same shape: {p.shape} vs {q.shape}")
    if np.any(p < 0) or np.any(q < 0) or p.sum() <= 0 or q.sum() <= 0:
        raise ValueError("histograms must be non-negative with a positive sum")
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(x: np.ndarray) -> float:
        nz = x > 0  # where x > 0, m > 0 too
        return float(np.sum(x[nz] * np.log2(x[nz] / m[nz])))

    return float(np.clip(0.5 * kl(p) + 0.5 * kl(q), 0.0, 1.0))


def ab_js_divergence(pred: np.ndarray, true: np.ndarray) -> float:
    """JS divergence (bits) between the 22×22 ab histograms of prediction and ground truth."""
    check_pair(pred, true)
    return js_divergence(ab_histogram(pred), ab_histogram(true))


def ab_rmse(pred: np.ndarray, true: np.ndarray) -> float:
    """sqrt(mean over pixels of the squared ab error), Lab units."""
    return float(np.sqrt(np.mean(ab_errors(pred, true) ** 2)))


def wrong_colour_share(
    pred_ab: np.ndarray,
    true_ab: np.ndarray,
    chroma: float = CONFIDENT_CHROMA,
    error: float = WRONG_AB_ERROR,
) -> float:
    """:func:`confidently_wrong` on raw ab arrays ``(..., 2)`` (Lab units)."""
    return float(np.mean(confidently_wrong_mask(pred_ab, true_ab, chroma, error)))


def confidently_wrong_mask(
    pred_ab: np.ndarray,
    true_ab: np.ndarray,
    chroma: float = CONFIDENT_CHROMA,
    error: float = WRONG_AB_ERROR,
) -> np.ndarray:
    """Per pixel: predicted colour strong (C*ab ≥ ``chroma``) and far from the truth (ab error ≥
    ``error``); ab arrays ``(..., 2)`` in Lab units → bool ``(...)``."""
    pred_ab, true_ab = np.asarray(pred_ab, np.float64), np.asarray(true_ab, np.float64)
    strong = np.hypot(pred_ab[..., 0], pred_ab[..., 1]) >= chroma
    return strong & (np.linalg.norm(pred_ab - true_ab, axis=-1) >= error)


def confidently_wrong(
    pred: np.ndarray,
    true: np.ndarray,
    chroma: float = CONFIDENT_CHROMA,
    error: float = WRONG_AB_ERROR,
) -> float:
    """Share of pixels (0..1) whose predicted colour is strong (C*ab ≥ ``chroma``) and far from the
    truth (ab error ≥ ``error``): colour a viewer sees as a colour, and as the wrong one.

    Why these two thresholds rather than a hue angle: hue is undefined near gray, and a vivid colour
    on a truly gray object (a red patch on a white wall) is as wrong as a hue swap; an ab distance
    covers both. 40 units is twice a clearly visible difference: C 30 at 83° off in hue, or a C 40
    colour on a gray truth. A correct colour scores 0, the opposite hue of a colour of C ≥ 20
    scores 1, all-gray scores 0."""
    check_pair(pred, true)
    return wrong_colour_share(ab_of(pred), ab_of(true), chroma, error)


# --------------------------------------------------------------------------------------------------
# per image, per set
# --------------------------------------------------------------------------------------------------
def image_metrics(
    pred: np.ndarray, true: np.ndarray, prior: np.ndarray | None = None
) -> dict[str, float]:
    """All metrics for one already-:func:`prepare`\\ d pair (Lab computed once per image)."""
    check_pair(pred, true)
    pred_ab, true_ab = ab_of(pred), ab_of(true)
    errors = np.linalg.norm(pred_ab - true_ab, axis=-1)
    out = {
        "psnr": psnr(pred, true),
        "ssim": ssim(pred, true),
        "colorfulness": colorfulness(pred),
        "colorfulness_true": colorfulness(true),
        "chroma": _mean_chroma_ab(pred_ab),
        "chroma_true": _mean_chroma_ab(true_ab),
        "auc": auc_from_errors(errors),
    }
    if prior is not None:
        out["auc_rebalanced"] = auc_from_errors(
            errors, AUC_THRESHOLDS, _prior_weights(true_ab, prior)
        )
    out["ab_rmse"] = float(np.sqrt(np.mean(errors**2)))
    out["js_divergence"] = js_divergence(histogram_ab(pred_ab), histogram_ab(true_ab))
    out["confidently_wrong"] = wrong_colour_share(pred_ab, true_ab)
    return out


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else float("nan")  # undefined for an all-gray ground truth


def summarize(per_image: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Mean of every metric over images, plus ``colorfulness_ratio`` and ``chroma_ratio``.

    - PSNR values are capped at :data:`PSNR_CAP` before averaging (identical images give ``inf``).
    - A metric missing from some images (e.g. ``auc_rebalanced``) is averaged over those that have it.
    - Ratios are ratios of means (mean pred / mean true), not means of per-image ratios: a nearly
      gray ground truth would make its per-image ratio explode. ``nan`` if the true mean is 0.
    - ``n_images`` is the number of images summarised.
    """
    if not per_image:
        raise ValueError("summarize needs at least one per-image dict")
    keys: list[str] = []
    for row in per_image:
        keys.extend(k for k in row if k not in keys)
    out: dict[str, float] = {}
    for key in keys:
        values = np.array([row[key] for row in per_image if key in row], dtype=np.float64)
        if key == "psnr":
            values = np.minimum(values, PSNR_CAP)
        out[key] = float(values.mean())
    if "colorfulness" in out and "colorfulness_true" in out:
        out["colorfulness_ratio"] = _ratio(out["colorfulness"], out["colorfulness_true"])
    if "chroma" in out and "chroma_true" in out:
        out["chroma_ratio"] = _ratio(out["chroma"], out["chroma_true"])
    out["n_images"] = float(len(per_image))
    return out


def evaluate(
    preds: Sequence[np.ndarray], trues: Sequence[np.ndarray], prior: np.ndarray | None = None
) -> tuple[list[dict[str, float]], dict[str, float]]:
    """Score prepared predictions against prepared ground truths: (per-image dicts, summary).

    With ``prior=None`` the rebalancing prior is computed over ``trues``, i.e. the evaluation set
    being scored (Zhang et al. use the training-set prior; on small eval sets the own-set prior is
    the documented, reproducible choice here). Pass ``prior=ab_cell_prior(train_images)`` otherwise.
    """
    if len(preds) != len(trues):
        raise ValueError(f"{len(preds)} predictions for {len(trues)} ground truths")
    if prior is None:
        prior = ab_cell_prior(trues)
    per_image = [image_metrics(p, t, prior) for p, t in zip(preds, trues)]
    return per_image, summarize(per_image)
