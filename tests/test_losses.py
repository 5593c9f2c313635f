"""The ab bins (colored.bins: grid, soft encoding, annealed-mean decoding, priors) and the losses and
metric built on them (colored.losses)."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import keras
import numpy as np
import pytest

from colored import bins, color
from colored.config import DEFAULT_TEMPERATURE, Config
from colored.losses import AbAccuracy, AbMeanSquaredError, SoftEncodedCrossEntropy

COLORED = Path(__file__).resolve().parents[1] / "colored"


def _np(tensor) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def _brute_force_distances(ab: np.ndarray) -> np.ndarray:
    """Squared distances ``(N, Q)`` of ab pairs to every bin centre, float64."""
    return ((ab.astype(np.float64)[:, None, :] - bins.ab_bins()[None].astype(np.float64)) ** 2).sum(
        -1
    )


# ------------------------------------------------------------------------------------- module layout
def _imported_modules(module: str) -> set[str]:
    tree = ast.parse((COLORED / f"{module}.py").read_text())
    found = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    found |= {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    return found


@pytest.mark.parametrize(
    "module, forbidden",
    [
        ("losses", "colored.model"),
        ("model", "colored.losses"),
        ("bins", "colored.losses"),
        ("bins", "colored.model"),
    ],
)
def test_no_import_circle_between_bins_losses_and_model(module, forbidden):
    assert forbidden not in _imported_modules(module), (
        f"colored/{module}.py imports {forbidden}: the bins live in colored.bins, which both use"
    )


# --------------------------------------------------------------------------------------------- grid
def test_ab_bins_are_the_in_gamut_grid():
    centres = bins.ab_bins()
    assert len(centres) == bins.num_bins() == 261, (
        "the sRGB gamut occupies 261 cells of the 10-unit ab grid"
    )
    assert np.all(centres % 10 == 0), "bin centres must lie on the 10-unit grid"
    assert centres[:, 0].min() == -90 and centres[:, 1].min() == -110, (
        "unexpected extent of the gamut"
    )
    assert len(np.unique(centres, axis=0)) == len(centres), "duplicate bin centres"
    np.testing.assert_array_equal(
        centres,
        bins.scan_gamut_bins(),
        err_msg="the stored gamut table differs from a scan of the sRGB colours "
        "(same cells, same order: trained models' logits depend on it)",
    )


def test_nearest_bin_is_the_closest_centre():
    rng = np.random.default_rng(0)
    centres = bins.ab_bins()
    inside = centres[rng.integers(0, len(centres), 500)] + rng.uniform(
        -4.9, 4.9, (500, 2)
    )  # within a cell
    np.testing.assert_array_equal(
        bins.nearest_bin(centres),
        np.arange(len(centres)),
        err_msg="a bin centre must map to its own bin",
    )
    np.testing.assert_array_equal(
        bins.nearest_bin(inside),
        _brute_force_distances(inside).argmin(1),
        err_msg="ab inside a bin's cell must map to that bin",
    )
    outside = np.array(
        [[120.0, 120.0], [-120.0, -120.0], [100.0, -100.0]]
    )  # cells no sRGB colour reaches
    np.testing.assert_array_equal(
        bins.nearest_bin(outside),
        _brute_force_distances(outside).argmin(1),
        err_msg="out-of-gamut ab must map to the nearest in-gamut bin",
    )
    assert bins.nearest_bin(np.array([500.0, -500.0])) == bins.nearest_bin(
        np.array([120.0, -120.0])
    ), "ab beyond ±120 must be clipped to the edge cell"
    assert bins.nearest_bin(np.zeros((3, 4, 2))).shape == (3, 4), (
        "nearest_bin must keep the leading shape"
    )


# ------------------------------------------------------------------------------------ soft encoding
def test_soft_encoding_spreads_over_the_nearest_bins_with_gaussian_weights():
    rng = np.random.default_rng(1)
    centres = bins.ab_bins()
    ab = (centres[rng.integers(0, len(centres), 64)] + rng.uniform(-5, 5, (64, 2))).astype(
        np.float32
    )
    targets, nearest = (_np(t) for t in bins.soft_encode(ab))
    assert targets.shape == (64, bins.num_bins()) and nearest.shape == (64,), "soft_encode shapes"
    np.testing.assert_allclose(
        targets.sum(-1), 1.0, atol=1e-5, err_msg="soft targets must sum to 1 per pixel"
    )
    distances = _brute_force_distances(ab)
    order = np.argsort(distances, axis=1)
    for i in range(len(ab)):
        support = np.flatnonzero(targets[i] > 0)
        assert set(support) == set(order[i, : bins.SOFT_NEIGHBOURS]), (
            f"pixel {i}: mass must be on exactly the {bins.SOFT_NEIGHBOURS} nearest bins"
        )
        # Gaussian falloff: w_j / w_k = exp(-(d_j² - d_k²) / 2σ²); nearer bins weigh more.
        near, far = order[i, 0], order[i, bins.SOFT_NEIGHBOURS - 1]
        expected = np.exp(-(distances[i, far] - distances[i, near]) / (2 * bins.SOFT_SIGMA**2))
        assert targets[i, far] / targets[i, near] == pytest.approx(expected, rel=1e-3), (
            f"pixel {i}: weights must fall off as a Gaussian of the distance (σ = {bins.SOFT_SIGMA})"
        )
        assert targets[i, near] >= targets[i, far]
    np.testing.assert_array_equal(
        nearest, order[:, 0], err_msg="soft_encode's nearest bin is the closest centre"
    )


def test_soft_encoding_keeps_the_leading_shape():
    ab = np.zeros((2, 3, 4, 2), np.float32)
    targets, nearest = bins.soft_encode(ab)
    assert tuple(targets.shape) == (2, 3, 4, bins.num_bins()) and tuple(nearest.shape) == (
        2,
        3,
        4,
    ), f"soft_encode of (2, 3, 4, 2) gave {targets.shape} and {nearest.shape}"


# ------------------------------------------------------------------------------------------ decoding
def test_annealed_mean_decoding_limits():
    rng = np.random.default_rng(2)
    centres = bins.ab_bins().astype(np.float64)
    logits = rng.normal(0, 1, (2, 4, 4, len(centres))).astype(np.float32)
    modes = logits.argmax(-1)  # made a clear mode below: 2 above the rest
    np.put_along_axis(logits, modes[..., None], logits.max(-1, keepdims=True) + 2.0, axis=-1)
    cold = _np(bins.decode_logits(logits, 0.01, 0.0))
    assert cold.shape == (2, 4, 4, 2), f"decode_logits shape {cold.shape}"
    np.testing.assert_allclose(
        cold, centres[modes], atol=1e-3, err_msg="T → 0 must give the mode's bin centre"
    )
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    np.testing.assert_allclose(
        _np(bins.decode_logits(logits, 1.0, 0.0)),
        probabilities @ centres,
        atol=1e-3,
        err_msg="T = 1 must give the mean of the bin centres under softmax(logits)",
    )
    np.testing.assert_allclose(
        _np(bins.decode_logits(logits)),
        _np(bins.decode_logits(logits, DEFAULT_TEMPERATURE)),
        err_msg="decode_logits' default temperature must be config.DEFAULT_TEMPERATURE",
    )


def test_higher_temperature_is_less_vivid():
    centres = bins.ab_bins()
    logits = np.full((1, len(centres)), -10.0, np.float32)
    saturated = int(np.argmax(np.hypot(centres[:, 0], centres[:, 1])))
    logits[0, saturated] = 0.0
    logits[0, int(np.argmin(np.hypot(centres[:, 0], centres[:, 1])))] = -1.0
    cold, warm = (
        _np(bins.decode_logits(logits, 0.1, 0.0))[0],
        _np(bins.decode_logits(logits, 1.0, 0.0))[0],
    )
    np.testing.assert_allclose(
        cold, centres[saturated], atol=1.0, err_msg="T→0 should give the mode bin"
    )
    assert np.hypot(*warm) < np.hypot(*cold), (
        "higher temperature should pull towards the mean (less vivid)"
    )


def test_default_temperature_is_one_constant():
    assert DEFAULT_TEMPERATURE == 0.7, (
        "the setting chosen on the validation split (docs/vivid_colour.md)"
    )
    assert Config().temperature == DEFAULT_TEMPERATURE, (
        "Config.temperature must default to DEFAULT_TEMPERATURE"
    )
    assert AbAccuracy().temperature == DEFAULT_TEMPERATURE, (
        "AbAccuracy must default to DEFAULT_TEMPERATURE"
    )


# -------------------------------------------------------------------------------------------- priors
def _skewed_prior() -> tuple[np.ndarray, int, int]:
    """A prior from ab images that are mostly near-gray with a few saturated pixels."""
    rng = np.random.default_rng(3)
    common = rng.normal(0, 3, (1000, 2))
    rare = np.tile([[60.0, 60.0]], (10, 1))
    prior = bins.ab_prior([common.reshape(10, 100, 2), rare.reshape(1, 10, 2)])
    return prior, int(bins.nearest_bin(np.zeros(2))), int(bins.nearest_bin(np.array([60.0, 60.0])))


def test_ab_prior_is_the_pooled_bin_frequency():
    prior, gray, rare = _skewed_prior()
    assert prior.shape == (bins.num_bins(),) and prior.sum() == pytest.approx(1.0), (
        "ab_prior must be a distribution"
    )
    assert prior[rare] == pytest.approx(10 / 1010), "10 of 1010 pixels fall in the saturated bin"
    assert prior[gray] > 0.5, "most pixels are near gray"


def test_rebalancing_weights():
    prior, gray, rare = _skewed_prior()
    weights = bins.rebalancing_weights(prior)
    assert weights.shape == (bins.num_bins(),) and np.all(weights > 0)
    assert weights[rare] > weights[gray], "rare colours must weigh more than common ones"
    # Without smoothing (σ far below the 10-unit grid), the prior-weighted mean is exactly 1.
    unsmoothed = bins.rebalancing_weights(prior, smooth_sigma=1e-3)
    assert float((prior * unsmoothed).sum()) == pytest.approx(1.0, abs=1e-5), "E_prior[w] must be 1"
    assert unsmoothed[rare] > unsmoothed[gray]
    np.testing.assert_allclose(
        bins.rebalancing_weights(prior, lam=1.0),
        1.0,
        atol=1e-5,
        err_msg="λ = 1 ignores the prior: every bin weighs the same",
    )


def _photo_paths(photo_folder: Path) -> list[Path]:
    return sorted((photo_folder / "train").glob("*.png"))


def test_prior_cache_reads_the_file_and_keys_on_inputs(photo_folder, tmp_path, monkeypatch):
    paths, cache = _photo_paths(photo_folder), tmp_path / "cache"
    first = bins.cached_prior(paths, 32, cache)
    np.testing.assert_allclose(
        first, bins.image_prior(paths, 32), err_msg="cached_prior must be image_prior"
    )
    files = sorted(cache.glob("ab_prior_*.npy"))
    assert len(files) == 1, f"one cache file expected, found {files}"

    def must_not_compute(*args, **kwargs):
        raise AssertionError("the prior was recomputed although it is cached")

    monkeypatch.setattr(bins, "image_prior", must_not_compute)
    np.testing.assert_array_equal(
        bins.cached_prior(list(reversed(paths)), 32, cache),
        first,
        err_msg="a second call (same photos, any order) must read the cache file",
    )

    computed = []
    monkeypatch.setattr(
        bins, "image_prior", lambda p, size: computed.append(size) or np.full(bins.num_bins(), 1.0)
    )
    bins.cached_prior(paths, 64, cache)  # another image size
    bins.cached_prior(paths[:-1], 32, cache)  # other photos
    os.utime(paths[0], ns=(paths[0].stat().st_atime_ns, paths[0].stat().st_mtime_ns + 10**9))
    bins.cached_prior(paths, 32, cache)  # a photo changed
    assert computed == [64, 32, 32], (
        f"each change of inputs must compute a new prior, computed for {computed}"
    )
    assert len(list(cache.glob("ab_prior_*.npy"))) == 4, (
        "each change of inputs must write a new cache key"
    )
    assert not [p for p in cache.iterdir() if not p.name.startswith("ab_prior_")], (
        "temporary files left behind"
    )


# -------------------------------------------------------------------------------------------- losses
def test_soft_encoded_cross_entropy_is_minimal_at_the_soft_targets():
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    ab_norm = color.rgb_to_model_input(rgb)[1]
    pooled = _np(keras.ops.average_pool(ab_norm * color.AB_SCALE, 2, strides=2, padding="valid"))
    targets = _np(bins.soft_encode(pooled)[0])
    best = np.log(np.maximum(targets, 1e-12)).astype(np.float32)
    loss = SoftEncodedCrossEntropy()
    entropy = -(targets * np.log(np.maximum(targets, 1e-12))).sum(-1).mean()
    assert float(loss(ab_norm, best)) == pytest.approx(entropy, rel=1e-3), (
        "logits = log(targets) must give the targets' entropy (the minimum)"
    )
    assert float(loss(ab_norm, rng.normal(0, 1, best.shape).astype(np.float32))) > entropy + 0.1
    assert float(loss(rgb, best)) == pytest.approx(float(loss(ab_norm, best)), rel=1e-3), (
        "8-bit RGB targets (lab_in_graph) must give the loss of their ab/128"
    )
    doubled = SoftEncodedCrossEntropy(class_weights=np.full(bins.num_bins(), 2.0))
    assert float(doubled(ab_norm, best)) == pytest.approx(2 * entropy, rel=1e-3), (
        "class weights scale the loss"
    )
    restored = SoftEncodedCrossEntropy.from_config(doubled.get_config())
    assert restored.class_weights == doubled.class_weights, (
        "class weights must survive get_config/from_config"
    )


def test_ab_mse_is_the_seeds_loss():
    truth = np.zeros((1, 4, 4, 2), np.float32)
    prediction = np.full_like(truth, 0.5)
    assert float(AbMeanSquaredError()(truth, prediction)) == pytest.approx(0.25), "MSE on ab/128"


def test_classification_loss_decreases_when_training():
    from colored.model import build_model

    keras.utils.set_random_seed(0)
    config = Config(
        architecture="simplified", image_size=32, backbone="none", loss="classification"
    )
    model = build_model(config)
    rng = np.random.default_rng(5)
    rgb = np.repeat(
        np.repeat(rng.integers(0, 256, (2, 4, 4, 3), dtype=np.uint8), 8, 1), 8, 2
    )  # flat patches
    lightness, ab = color.rgb_to_model_input(rgb)
    prior = bins.ab_prior([ab * color.AB_SCALE])
    model.compile(
        keras.optimizers.Adam(3e-3),
        SoftEncodedCrossEntropy(class_weights=bins.rebalancing_weights(prior)),
        metrics=[AbAccuracy()],
    )
    losses = [float(model.train_on_batch(lightness, ab)[0]) for _ in range(40)]
    assert np.isfinite(losses).all(), f"non-finite classification loss: {losses}"
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3]), (
        f"classification loss did not decrease by 20%: {losses[0]:.3f} → {losses[-1]:.3f} in 40 steps"
    )


# ------------------------------------------------------------------------------------------- metric
def test_ab_accuracy_on_regression_output():
    metric = AbAccuracy(threshold=10)
    assert metric.name == "ab_acc_10"
    truth = np.zeros((1, 4, 4, 2), np.float32)
    prediction = truth.copy()
    prediction[0, :2, :, 0] = 20 / 128  # half the pixels off by 20 Lab units
    metric.update_state(truth, prediction)
    assert float(metric.result()) == pytest.approx(0.5), (
        "ab accuracy should count pixels within 10 units"
    )
    prediction[0, :2, :, 0] = 9.9 / 128
    assert float(AbAccuracy(threshold=10)(truth, prediction)) == pytest.approx(1.0), (
        "9.9 units is within 10"
    )


def test_ab_accuracy_on_classification_logits():
    """Logits at half the size, peaked on a bin: decoded by annealed mean and compared with the true
    ab average-pooled ×2."""
    centres = bins.ab_bins()
    target = int(bins.nearest_bin(np.array([40.0, 30.0])))
    far = int(bins.nearest_bin(np.array([-40.0, -30.0])))
    truth = np.broadcast_to(centres[target] / color.AB_SCALE, (1, 4, 4, 2)).astype(np.float32)
    logits = np.full((1, 2, 2, len(centres)), -20.0, np.float32)
    logits[..., target] = 20.0
    assert float(AbAccuracy()(truth, logits)) == pytest.approx(1.0), (
        "logits peaked on the true bin: all within 10"
    )
    logits[0, 0, :, target], logits[0, 0, :, far] = -20.0, 20.0
    assert float(AbAccuracy()(truth, logits)) == pytest.approx(0.5), (
        "half the pooled pixels peaked on a far bin"
    )
    restored = AbAccuracy.from_config(AbAccuracy(threshold=5, temperature=0.2).get_config())
    assert (restored.threshold, restored.temperature, restored.name) == (5.0, 0.2, "ab_acc_5")


# ------------------------------------------------------------------------------ confidence-aware decoding
def _logits_on(bin_indices, weights=None, q=None):
    """Logits ``(1, Q)`` putting (almost) all probability on ``bin_indices`` (split by ``weights``)."""
    q = q or bins.num_bins()
    weights = np.ones(len(bin_indices)) if weights is None else np.asarray(weights, float)
    logits = np.full((1, q), -30.0, np.float32)
    logits[0, bin_indices] = np.log(weights / weights.sum())
    return logits


def test_confidence_zero_is_plain_annealed_mean():
    logits = np.random.default_rng(3).normal(0, 2, (2, 3, 3, bins.num_bins())).astype(np.float32)
    p = np.exp(logits / 0.38 - (logits / 0.38).max(-1, keepdims=True))
    np.testing.assert_allclose(
        _np(bins.decode_logits(logits, 0.38, 0.0)),
        (p / p.sum(-1, keepdims=True)) @ bins.ab_bins(),
        atol=1e-3,
        err_msg="confidence 0 must be the plain annealed mean",
    )
    assert _np(bins.decode_logits(logits)).shape == (2, 3, 3, 2)


def test_confidence_keeps_a_sure_colour_and_mutes_a_split_one():
    centres = bins.ab_bins()
    green = int(np.argmin(np.sum((centres - [-40, 40]) ** 2, -1)))
    magenta = int(np.argmin(np.sum((centres - [40, -40]) ** 2, -1)))
    sure = _logits_on([green])
    split = _logits_on([green, magenta], [0.6, 0.4])  # "green or magenta?": σ ≈ 55 Lab units
    for c in (0.5, 2.0):
        np.testing.assert_allclose(
            _np(bins.decode_logits(sure, 0.38, c))[0],
            centres[green],
            atol=0.1,
            err_msg="a distribution on one bin (σ = 0) must keep its colour at any confidence",
        )
    plain = _np(bins.decode_logits(split, 0.38, 0.0))[0]
    pulled = [_np(bins.decode_logits(split, 0.38, c))[0] for c in (0.05, 0.5, 5.0)]
    mean = 0.6 * centres[green] + 0.4 * centres[magenta]
    distances = [np.linalg.norm(p - mean) for p in [plain] + pulled]
    assert all(a > b for a, b in zip(distances, distances[1:])), (
        f"more confidence must pull a split distribution closer to its mean: distances {distances}"
    )
    np.testing.assert_allclose(
        pulled[-1], mean, atol=0.1, err_msg="strong confidence → the distribution's mean"
    )
    assert np.hypot(*pulled[-1]) < 0.5 * np.hypot(*plain), "the mean of two opposite hues is muted"


def test_colour_spread_is_the_variance_of_the_predicted_colour():
    centres = bins.ab_bins()
    i, j = 100, 150
    mean, variance = (_np(x) for x in bins.colour_spread(_logits_on([i, j])))
    np.testing.assert_allclose(mean[0], (centres[i] + centres[j]) / 2, atol=1e-3)
    np.testing.assert_allclose(
        variance[0],
        np.sum((centres[i] - centres[j]) ** 2) / 4,
        rtol=1e-3,
        err_msg="two equal bins: variance = (distance / 2)²",
    )
    assert Config().confidence == bins.DEFAULT_CONFIDENCE, (
        "Config.confidence defaults to the package default"
    )


def test_prior_correction_lets_a_rare_plausible_colour_win_over_a_common_dull_one():
    """A calibrated model (no class rebalancing) says "gray 60 %, red 40 %" where red is rare: the
    annealed mean stays dull; dividing the prior out (logit adjustment) makes red win."""
    ab = bins.ab_bins()
    gray, red = (
        int(np.argmin(np.hypot(*ab.T))),
        int(np.argmin(np.hypot(ab[:, 0] - 60, ab[:, 1] - 40))),
    )
    logits = np.full((1, 1, 1, len(ab)), -30.0, np.float32)
    logits[..., gray], logits[..., red] = np.log(0.6), np.log(0.4)
    prior = np.full(len(ab), 1e-4)
    prior[gray] = 0.5  # the training set: mostly gray, red seen now and then
    prior[red] = 0.005
    prior /= prior.sum()

    def chroma(shift):
        return float(np.hypot(*_np(bins.decode_logits(logits, 0.38, 0.0, shift)).reshape(2)))

    plain = chroma(None)
    assert abs(plain - chroma(bins.prior_logit_shift(prior, 0.0))) < 1e-4, "τ = 0 changes nothing"
    corrected = [chroma(bins.prior_logit_shift(prior, tau)) for tau in (0.25, 0.5, 1.0)]
    assert plain < 25 and corrected[-1] > 60, (
        f"red should win once the prior is divided out: chroma {plain:.1f} -> {corrected}"
    )
    assert corrected == sorted(corrected), f"more correction, more of the rare colour: {corrected}"
