"""Tests for colored.metrics on constructed cases with known answers, plus a regression check of the
all-gray baseline on CBSD68 against the reference numbers in ../shared/reference/FACTS.md."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from colored import baselines, report
from colored import metrics as m
from colored.color import lab_to_rgb, rgb_to_lab

EVAL_DIR = Path(__file__).parents[1] / ".." / "shared" / "data" / "eval"


def colourful_image(size: int = 64) -> np.ndarray:
    """A smooth, saturated uint8 test image: red ramps left→right, green top→bottom, blue diagonal."""
    y, x = np.mgrid[0:size, 0:size] / (size - 1)
    rgb = np.stack([x, y, 1.0 - 0.5 * (x + y)], axis=-1)
    return np.rint(rgb * 255).astype(np.uint8)


def constant_lab_image(lightness: float, a: float, b: float, size: int = 8) -> np.ndarray:
    lab = np.empty((size, size, 3), np.float32)
    lab[...] = (lightness, a, b)
    return m.to_uint8(lab_to_rgb(lab))


# ----------------------------------------------------------------------------------------- identity
def test_identical_images_score_perfectly() -> None:
    img = colourful_image()
    row = m.image_metrics(img, img)
    assert row["psnr"] == math.inf, f"PSNR of identical images should be inf, got {row['psnr']}"
    assert row["ssim"] == pytest.approx(1.0), (
        f"SSIM of identical images should be 1, got {row['ssim']}"
    )
    assert row["js_divergence"] == pytest.approx(0.0, abs=1e-12), (
        f"JS of identical images should be 0: {row}"
    )
    assert row["auc"] == pytest.approx(1.0), (
        f"AuC of identical images should be 1, got {row['auc']}"
    )
    assert row["ab_rmse"] == pytest.approx(0.0, abs=1e-9), (
        f"ab RMSE of identical images should be 0: {row}"
    )
    summary = m.summarize([row, row])
    assert summary["psnr"] == m.PSNR_CAP, (
        f"summarize should cap inf PSNR at {m.PSNR_CAP}, got {summary['psnr']}"
    )
    assert summary["colorfulness_ratio"] == pytest.approx(1.0), (
        f"CF ratio of identical images: {summary}"
    )
    assert summary["chroma_ratio"] == pytest.approx(1.0), (
        f"chroma ratio of identical images: {summary}"
    )


def test_shape_mismatch_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="same shape"):
        m.image_metrics(colourful_image(64), colourful_image(32))


# -------------------------------------------------------------------------------------- gray / flat
def test_gray_prediction_of_colourful_image() -> None:
    true = colourful_image()
    gray = baselines.gray_prediction(true)
    assert gray.dtype == np.uint8 and gray.shape == true.shape, (
        "gray_prediction must return RGB uint8"
    )
    # uint8 rounding of the L-only colour can leave R, G, B a level apart: CF ≈ 0, not exactly 0.
    assert m.colorfulness(gray) < 1.0, (
        f"gray image should have ~0 colourfulness, got {m.colorfulness(gray)}"
    )
    assert m.colorfulness(true) > 30, (
        "test image is not colourful enough for this test to mean anything"
    )
    assert m.mean_chroma(gray) < 0.5, f"gray image should have ~0 chroma, got {m.mean_chroma(gray)}"
    js = m.ab_js_divergence(gray, true)
    assert js > 0.5, f"gray vs colourful ab histograms should diverge strongly (JS > 0.5), got {js}"
    lightness_error = np.abs(rgb_to_lab(gray)[..., 0] - rgb_to_lab(true)[..., 0]).max()
    assert lightness_error < 1.0, f"gray_prediction should keep Lab L, max |ΔL| = {lightness_error}"


def test_mean_ab_prediction_is_flat_with_the_true_mean() -> None:
    true = colourful_image()
    flat = baselines.mean_ab_prediction(true)
    ab_flat = rgb_to_lab(flat)[..., 1:].reshape(-1, 2)
    ab_true_mean = rgb_to_lab(true)[..., 1:].reshape(-1, 2).mean(axis=0)
    # ±2 ab units: uint8 rounding, plus clipping where dark/bright L with the mean ab leaves the gamut.
    assert np.median(np.abs(ab_flat - ab_true_mean), axis=0).max() < 2.0, (
        f"mean-ab baseline should carry the image's mean ab {ab_true_mean}, got median {np.median(ab_flat, 0)}"
    )


# ------------------------------------------------------------------------------------- known shifts
@pytest.mark.parametrize("d", [5, 20, 37])
def test_constant_ab_shift(d: int) -> None:
    # Mid-gray L=50 with a=10 vs a=10+d, b=0: all in the sRGB gamut. Stored as uint8 RGB, so the
    # measured ab distance d' differs from d by the uint8 rounding (≤ 0.5/255 per channel, i.e. a
    # few tenths of an ab unit here): check |d' − d| < 1. AuC counts thresholds t ∈ 0..150 with
    # d' ≤ t, i.e. (150 − ceil(d') + 1)/151 exactly; since |d' − d| < 1 that is (151 − d)/151 up to
    # one threshold step, 1/151.
    true = constant_lab_image(50, 10, 0)
    pred = constant_lab_image(50, 10 + d, 0)
    measured = m.ab_errors(pred, true)
    assert np.ptp(measured) < 1e-9, "a constant shift should give the same error at every pixel"
    rmse = m.ab_rmse(pred, true)
    assert abs(rmse - d) < 1.0, f"ab RMSE of a constant shift of {d} should be ≈ {d}, got {rmse}"
    value = m.auc(pred, true)
    exact = (150 - math.ceil(measured.flat[0]) + 1) / 151
    assert value == pytest.approx(exact), (
        f"AuC should be (150 − ceil(d') + 1)/151 = {exact}, got {value}"
    )
    assert abs(value - (151 - d) / 151) <= 1 / 151 + 1e-12, (
        f"AuC of a shift of {d} should be within one threshold step of {(151 - d) / 151}, got {value}"
    )


def test_constant_ab_shift_float_exact() -> None:
    # Float RGB skips the uint8 rounding; a non-integer d keeps it away from the threshold grid.
    lab = np.zeros((4, 4, 3), np.float32)
    lab[..., 0], lab[..., 1] = 50, 10
    shifted = lab.copy()
    shifted[..., 1] = 10 + 20.5
    true, pred = lab_to_rgb(lab), lab_to_rgb(shifted)
    assert m.ab_rmse(pred, true) == pytest.approx(20.5, abs=0.01), (
        "float-RGB shift of 20.5 not recovered"
    )
    assert m.auc(pred, true) == pytest.approx(130 / 151), (
        "errors of 20.5 pass thresholds 21..150 only"
    )


def test_weighted_auc_is_a_weighted_fraction() -> None:
    errors = np.array([0.0, 200.0])  # one perfect pixel, one beyond every threshold
    assert m.auc_from_errors(errors) == pytest.approx(0.5), (
        "unweighted: half the pixels are within t"
    )
    weighted = m.auc_from_errors(errors, weights=np.array([3.0, 1.0]))
    assert weighted == pytest.approx(0.75), f"weights 3:1 should give 0.75, got {weighted}"


# ----------------------------------------------------------------------------- hand computations
def test_psnr_matches_hand_computation() -> None:
    true = np.zeros((2, 2, 3), np.uint8)
    pred = true.copy()
    pred[0, 0, 0] = 10  # one of 12 values off by 10 → MSE = 100/12
    expected = 10 * math.log10(255**2 / (100 / 12))
    assert m.psnr(pred, true) == pytest.approx(expected), f"PSNR should be {expected}"
    assert m.psnr(pred.astype(np.float32) / 255, true) == pytest.approx(expected), (
        "float input changes PSNR"
    )


def test_colourfulness_matches_hand_computation() -> None:
    img = np.array([[[255, 0, 0], [0, 0, 0]]], np.uint8)  # one red pixel, one black
    # rg = |R−G| = [255, 0]: μ = 127.5, σ = 127.5; yb = |(R+G)/2 − B| = [127.5, 0]: μ = σ = 63.75.
    # CF = sqrt(127.5² + 63.75²) + 0.3·sqrt(127.5² + 63.75²) = 1.3 · 63.75 · √5
    expected = 1.3 * 63.75 * math.sqrt(5)
    assert m.colorfulness(img) == pytest.approx(expected), f"colourfulness should be {expected:.3f}"
    assert m.colorfulness(np.full((4, 4, 3), 128, np.uint8)) == 0.0, "a gray image has CF 0"


def test_mean_chroma_of_constant_colour() -> None:
    img = np.full((4, 4, 3), 0.5, np.float32)
    lab = rgb_to_lab(img)
    lab[..., 1:] = (30.0, -40.0)
    colour = lab_to_rgb(lab)
    assert m.mean_chroma(colour) == pytest.approx(50.0, abs=0.01), (
        "C*ab of (a, b) = (30, −40) is 50"
    )


# ------------------------------------------------------------------------------------- histograms
def test_js_divergence_properties() -> None:
    assert m.js_divergence(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0), (
        "disjoint → 1 bit"
    )
    rng = np.random.default_rng(0)
    p, q = rng.random((22, 22)), rng.random((22, 22))
    assert m.js_divergence(p, p) == pytest.approx(0.0, abs=1e-12), "identical → 0"
    assert m.js_divergence(p, q) == pytest.approx(m.js_divergence(q, p)), "JS must be symmetric"
    assert 0 < m.js_divergence(p, q) < 1, (
        "JS of overlapping histograms lies strictly between 0 and 1"
    )
    # unnormalised input is normalised first
    assert m.js_divergence(3 * p, q) == pytest.approx(m.js_divergence(p, q)), (
        "JS should normalise its inputs"
    )


def test_ab_histogram_clips_into_edge_cells_and_sums_to_one() -> None:
    ab = np.array(
        [
            [-200.0, 500.0],
            [110.0, 110.0],
            [-110.0, -110.0],
            [0.0, 0.0],
            [-0.5, 9.99],
            [109.9, -110.1],
        ]
    )
    hist = m.histogram_ab(ab)
    assert hist.shape == (22, 22), f"histogram should be 22×22, got {hist.shape}"
    assert hist.sum() == pytest.approx(1.0), "histogram should be normalised"
    expected_cells = [(0, 21), (21, 21), (0, 0), (11, 11), (10, 11), (21, 0)]
    for cell in expected_cells:
        assert hist[cell] > 0, (
            f"value expected in cell {cell} is missing: clipping / binning broken"
        )
    assert np.count_nonzero(hist) == len(expected_cells), "values landed in unexpected cells"
    image_hist = m.ab_histogram(colourful_image())
    assert image_hist.shape == (22, 22) and image_hist.sum() == pytest.approx(1.0), (
        "image histogram not normalised"
    )


def test_rebalanced_auc_uniform_prior_equals_raw() -> None:
    true = colourful_image()
    pred = baselines.mean_ab_prediction(true)
    uniform = np.full((22, 22), 1 / 484)
    raw = m.auc(pred, true)
    assert m.rebalanced_auc(pred, true, uniform) == pytest.approx(raw), (
        "uniform prior must give raw AuC"
    )
    prior = m.ab_cell_prior([true])
    assert prior.shape == (22, 22) and prior.min() > 0, (
        "ab_cell_prior must be 22×22 and strictly positive"
    )
    assert prior.sum() == pytest.approx(1.0), "ab_cell_prior must be a distribution"
    rebalanced = m.image_metrics(pred, true, prior)["auc_rebalanced"]
    assert rebalanced == pytest.approx(m.rebalanced_auc(pred, true, prior)), (
        "image_metrics disagrees"
    )
    assert rebalanced != pytest.approx(raw), (
        "a non-uniform prior should change the AuC on this image"
    )


# ------------------------------------------------------------------------------------------ prepare
def test_prepare_crops_and_resizes() -> None:
    img = np.zeros((200, 300, 3), np.uint8)  # 300 wide × 200 high
    img[:, :50] = (255, 0, 0)  # red side bands must be cropped away (centre 200 columns kept)
    img[:, 250:] = (255, 0, 0)
    img[:, 50:250] = (0, 200, 0)
    out = m.prepare(img)
    assert out.shape == (256, 256, 3) and out.dtype == np.uint8, (
        f"prepare gave {out.shape} {out.dtype}"
    )
    assert np.all(out == (0, 200, 0)), (
        "prepare should centre-crop to the middle square before resizing"
    )
    as16 = m.prepare(img.astype(np.uint16) * 257)
    asfloat = m.prepare(img.astype(np.float32) / 255)
    assert np.array_equal(as16, out), "uint16 input should give the same prepared image"
    assert np.array_equal(asfloat, out), "float [0, 1] input should give the same prepared image"
    assert m.prepare(colourful_image(256)).shape == (256, 256, 3), (
        "already-256² images pass through"
    )


# ------------------------------------------------------------------------------- summary / report
def test_summarize_ratios_are_ratios_of_means() -> None:
    rows = [
        {
            "psnr": 20.0,
            "colorfulness": 10.0,
            "colorfulness_true": 10.0,
            "chroma": 5.0,
            "chroma_true": 10.0,
        },
        {
            "psnr": math.inf,
            "colorfulness": 30.0,
            "colorfulness_true": 50.0,
            "chroma": 15.0,
            "chroma_true": 10.0,
        },
    ]
    s = m.summarize(rows)
    assert s["colorfulness_ratio"] == pytest.approx(20 / 30), (
        f"CF ratio should be mean/mean = 2/3, got {s}"
    )
    assert s["chroma_ratio"] == pytest.approx(1.0), f"chroma ratio should be 10/10, got {s}"
    assert s["psnr"] == pytest.approx((20 + m.PSNR_CAP) / 2), (
        "inf PSNR should be capped before the mean"
    )
    assert s["n_images"] == 2, "n_images should count the rows"


def test_markdown_table_rounding_and_format() -> None:
    from colored.report import markdown_table  # the report formatter: reporting, not a metric

    rows = {
        "gray": {
            "psnr": 22.4037,
            "ssim": 0.94712,
            "colorfulness": 0.0512,
            "colorfulness_ratio": 0.00149,
            "auc": 0.88377,
            "ab_rmse": 19.46,
            "js_divergence": 0.68469,
        },
        "model": {
            "psnr": 24.0,
            "ssim": 0.95,
            "colorfulness": 30.26,
            "colorfulness_ratio": 0.888,
            "auc": 0.9,
            "ab_rmse": 12.04,
            "js_divergence": 0.3,
        },
    }
    table = markdown_table(
        rows,
        columns=[
            "psnr",
            "ssim",
            "colorfulness",
            "colorfulness_ratio",
            "auc",
            "ab_rmse",
            "js_divergence",
            "chroma_ratio",
        ],
    )
    lines = table.strip().splitlines()
    assert len(lines) == 4, f"expected header, separator and 2 rows:\n{table}"
    assert lines[0].startswith("| method |") and "PSNR" in lines[0], f"bad header: {lines[0]}"
    assert "chroma" not in lines[0], "a column no row has should be left out"
    assert lines[1].startswith("|---|") and lines[1].count("---:") == 7, (
        f"bad separator: {lines[1]}"
    )
    assert lines[2] == "| gray | 22.40 | 0.947 | 0.1 | 0.00 | 0.884 | 19.5 | 0.685 |", (
        f"bad rounding: {lines[2]}"
    )
    assert lines[3] == "| model | 24.00 | 0.950 | 30.3 | 0.89 | 0.900 | 12.0 | 0.300 |", (
        f"bad rounding: {lines[3]}"
    )
    missing = markdown_table({"a": {"psnr": 1.0}, "b": {"ssim": 0.5}}, columns=["psnr", "ssim"])
    assert "| a | 1.00 | – |" in missing, f"missing metric should show as –:\n{missing}"


# ------------------------------------------------------------------------------ regression (FACTS)
def test_all_gray_on_cbsd68_matches_reference() -> None:
    folder = EVAL_DIR / "CBSD68"
    if not folder.is_dir():
        pytest.skip(
            f"evaluation set not present at {folder.resolve()} (../shared/data/eval/CBSD68)"
        )
    trues = m.load_prepared(folder)
    assert len(trues) == 68, f"CBSD68 should have 68 images, found {len(trues)}"
    psnrs, jss = [], []
    for true in trues:
        gray = baselines.gray_prediction(true)
        psnrs.append(m.psnr(gray, true))
        jss.append(m.ab_js_divergence(gray, true))
    # FACTS.md: all-gray CBSD68 PSNR 22.40 dB, JS 0.682 bits (256² protocol).
    assert np.mean(psnrs) == pytest.approx(22.40, abs=0.15), (
        f"all-gray PSNR {np.mean(psnrs):.3f} ≠ 22.40"
    )
    assert np.mean(jss) == pytest.approx(0.682, abs=0.02), f"all-gray JS {np.mean(jss):.4f} ≠ 0.682"


# ------------------------------------------------------------------------------- confidently wrong
def test_confidently_wrong_correct_colour_scores_zero_opposite_hue_one() -> None:
    red = constant_lab_image(55, 45, 30)
    cyan = constant_lab_image(55, -45, -30)  # the opposite hue, same chroma
    assert m.confidently_wrong(red, red) == 0.0, "a correct colour is never confidently wrong"
    assert m.confidently_wrong(cyan, red) == 1.0, (
        "the opposite hue of a strong colour is confidently wrong everywhere"
    )
    assert m.image_metrics(cyan, red)["confidently_wrong"] == 1.0, (
        "image_metrics must report the same share"
    )


def test_confidently_wrong_spares_gray_and_weak_colour() -> None:
    red = constant_lab_image(55, 45, 30)
    assert m.confidently_wrong(baselines.gray_prediction(red), red) == 0.0, (
        "gray commits to no colour: 0 by construction"
    )
    faint_green = constant_lab_image(
        55, -8, 6
    )  # C ≈ 10 < 15: a tinted gray, far from red but not 'a colour'
    assert m.confidently_wrong(faint_green, red) == 0.0, (
        "a colour under the chroma threshold is not confident"
    )
    near_red = constant_lab_image(55, 35, 45)  # same hue family, ab error ≈ 18 < 40
    assert m.confidently_wrong(near_red, red) == 0.0, "a near miss is not 'wrong'"
    on_gray = constant_lab_image(55, 0, 0)
    vivid = constant_lab_image(55, 40, 30)  # C 50 on a gray truth: a red blotch on a white wall
    assert m.confidently_wrong(vivid, on_gray) == 1.0, (
        "a vivid colour on a gray truth is confidently wrong"
    )


def test_confidently_wrong_is_a_pixel_share() -> None:
    true = constant_lab_image(55, 45, 30, size=10)
    pred = true.copy()
    pred[:, :3] = constant_lab_image(55, -45, -30, size=10)[:, :3]  # 3 of 10 columns wrong
    assert m.confidently_wrong(pred, true) == pytest.approx(0.3), (
        "the share of wrong pixels, not all-or-nothing"
    )
    share = m.wrong_colour_share(
        np.array([[0.0, 20.0], [0.0, 20.0]]), np.array([[0.0, -25.0], [0.0, 15.0]])
    )
    assert share == pytest.approx(0.5), (
        "raw-ab variant: one of two pixels is 45 units off with C 20"
    )
    assert "confidently_wrong" in report.DEFAULT_COLUMNS, (
        "the evaluate tables must show the new metric"
    )


def test_verdict_says_good_or_bad_and_why():
    def rgb(lab):
        return (np.clip(lab_to_rgb(lab), 0, 1) * 255).round().astype(np.uint8)

    lab = np.zeros((32, 32, 3))
    lab[..., 0] = 60 + np.random.default_rng(0).normal(0, 3, (32, 32))
    lab[:, :16, 1:] = (45, 40)  # a red half
    lab[:, 16:, 1:] = (-40, 35)  # a green half
    true = rgb(lab)
    good, why = baselines.verdict(true, true)
    assert good and why.startswith("closer than a flat colour"), why
    swapped = lab.copy()
    swapped[:, :16, 1:] = (-40, 35)  # the red half painted green
    good, why = baselines.verdict(rgb(swapped), true)
    assert not good and why.startswith("red painted green on 5"), why
    good, why = baselines.verdict(baselines.gray_prediction(true), true)
    assert not good and why.startswith("no closer than a flat colour"), why
    stronger = lab.copy()
    stronger[:, 16:, 1:] = (
        -85,
        75,
    )  # the green half, far more vivid: the same name, 50+ units away
    good, why = baselines.verdict(rgb(stronger), true)
    assert not good and why.startswith("green painted a much stronger green"), why
