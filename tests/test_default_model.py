"""The packaged default model: present, intact (checksum), loadable, and used when no model is named."""

import hashlib
from pathlib import Path

import numpy as np

import colored
from colored.inference import colorize, load_model

WEIGHTS = Path(colored.__file__).parent / "weights"


def test_default_model_checksum():
    file = WEIGHTS / "default.keras"
    expected = (WEIGHTS / "default.keras.sha256").read_text().split()[0]
    assert file.stat().st_size <= 30 * 2**20, "default model exceeds the 30 MB budget"
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    assert digest == expected, f"{file} is corrupt or changed without updating default.keras.sha256"


def test_default_model_loads_and_colorizes_without_naming_a_model():
    model = load_model()
    assert model.inputs[0].shape[1:] == (128, 128, 1) and model.outputs[0].shape[-1] > 2, (
        "default model should be the 128² classification model"
    )
    gray = np.tile(np.linspace(0, 255, 90, dtype=np.uint8)[None, :, None], (60, 1, 3))
    out = colorize(gray, model)
    assert out.shape == (60, 90, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - out.mean(-1, keepdims=True)).max() > 1, (
        "default model produced no colour"
    )


def test_colour_uncertainty_maps_the_spread_that_confidence_decoding_reads():
    from skimage import data

    from colored.bins import ab_bins
    from colored.color import rgb_to_gray
    from colored.inference import colour_uncertainty

    model = load_model()
    photo = rgb_to_gray(data.chelsea())[::2, ::2]  # 226×150: not the network's square
    sigma = colour_uncertainty(photo, model)
    assert sigma.shape == photo.shape[:2] and sigma.dtype == np.float32, (
        "σ must come at the photo's own size"
    )
    largest = float(
        np.hypot(*(ab_bins() - ab_bins().mean(0)).T).max()
    )  # no distribution over the bins spreads more
    assert np.isfinite(sigma).all() and 0 < sigma.min() and sigma.max() < largest, (
        f"σ outside (0, {largest:.0f}) Lab units: {sigma.min():.1f}..{sigma.max():.1f}"
    )
    assert sigma.std() > 1, (
        "σ should vary over a real photo (sure in some places, unsure in others)"
    )


def test_colour_uncertainty_refuses_a_regression_model():
    import pytest

    from colored import Config
    from colored.inference import colour_uncertainty
    from colored.model import build_model

    mse = build_model(Config(image_size=32, architecture="simplified", backbone="none"))
    with pytest.raises(ValueError, match="regression"):
        colour_uncertainty(np.zeros((32, 32), np.uint8), mse)
