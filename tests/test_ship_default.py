"""tools/ship_default.py: a trained model becomes the packaged default with its decoding and checksum."""

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

from ship_default import ship  # noqa: E402

from colored import Config  # noqa: E402
from colored.bins import num_bins  # noqa: E402
from colored.model import build_model  # noqa: E402
from colored.modelfile import record_prior, save  # noqa: E402


def _trained(tmp_path, prior: bool) -> Path:
    config = Config(
        image_size=32,
        architecture="simplified",
        backbone="none",
        loss="classification",
        batch_norm=True,
    )
    model = build_model(config)
    if prior:
        record_prior(model, np.random.default_rng(0).dirichlet(np.ones(num_bins())))
    return save(model, tmp_path / "best.keras", config)


def test_ship_writes_half_precision_with_the_chosen_decoding_and_its_checksum(tmp_path):
    from colored.loading import load_model
    from colored.modelfile import recorded_prior
    from colored.predict import decoding_for

    source = _trained(tmp_path, prior=True)
    out = tmp_path / "weights" / "default.keras"
    result = ship(source, out, temperature=0.5, confidence=0.0, prior_correction=0.2)
    shipped = load_model(out)
    decoding = decoding_for(shipped)
    assert (decoding.temperature, decoding.prior_correction) == (0.5, 0.2), (
        f"the shipped file must carry the decoding chosen on validation, got {decoding}"
    )
    assert recorded_prior(shipped) is not None, (
        "the training prior must ship with the model (τ needs it)"
    )
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert Path(f"{out}.sha256").read_text().split()[0] == digest == result["sha256"], (
        "checksum file wrong"
    )
    assert out.stat().st_size < 0.75 * source.stat().st_size, (
        "the shipped weights should be float16"
    )
    assert result["largest_logit_change"] < 0.1, result


def test_ship_refuses_a_prior_correction_without_a_recorded_prior_and_writes_nothing(tmp_path):
    source = _trained(tmp_path, prior=False)
    out = tmp_path / "default.keras"
    with pytest.raises(SystemExit, match="records no training prior"):
        ship(source, out, temperature=0.5, confidence=0.0, prior_correction=0.2)
    assert not out.exists(), "nothing may be written when the model cannot ship"


def test_a_failed_check_keeps_the_file_already_shipped(tmp_path, monkeypatch):
    import ship_default

    source = _trained(tmp_path, prior=True)
    out = tmp_path / "default.keras"
    out.write_bytes(b"the model shipped before")
    monkeypatch.setattr(ship_default, "LOGIT_TOLERANCE", -1.0)  # every check fails
    with pytest.raises(SystemExit, match="not shipped"):
        ship(source, out, temperature=0.7, confidence=0.0, prior_correction=0.0)
    assert out.read_bytes() == b"the model shipped before", (
        "a failed check must not touch the shipped file"
    )
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == [], (
        "no temporary folder may be left"
    )
