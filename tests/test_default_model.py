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
    assert model.inputs[0].shape[1:] == (128, 128, 1) and model.outputs[0].shape[-1] > 2, \
        "default model should be the 128² classification model"
    gray = np.tile(np.linspace(0, 255, 90, dtype=np.uint8)[None, :, None], (60, 1, 3))
    out = colorize(gray, model)
    assert out.shape == (60, 90, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - out.mean(-1, keepdims=True)).max() > 1, "default model produced no colour"
