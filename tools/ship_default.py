"""Ship a trained model as the packaged default: ``colored/weights/default.keras`` and its checksum.

A maintainer tool, run when a new default is chosen::

    .venv/bin/python tools/ship_default.py --model runs/v3/spatial-encoder/best.keras \\
        --temperature 0.7 --confidence 0 --prior-correction 0   # default model v3, as shipped

It reads the model (float32, through the library's own loader, so its backbone and training prior
come with it), records the decoding chosen on validation (``benchmarks/experiment_confidence.py``;
written into the file's ``colored.json``, so ``colored colorize``, ``evaluate`` and the notebooks
use it), writes the float16 copy (half the size; :func:`colored.loading.save_half_precision`), loads
that back and checks it against the float32 model on scikit-image's ``chelsea()`` (largest logit
change, and the colorized photo's largest pixel change), then writes ``default.keras.sha256``.
Refuses, before writing anything, a model that is not a classification model, and a prior
correction for a model whose file records no training prior.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: Largest logit change float16 storage may cause on ``chelsea()`` (v2: 0.03 on logits up to 17).
LOGIT_TOLERANCE = 0.1


def _storage_change(model, shipped) -> tuple[float, int]:
    """Largest logit and colorized-pixel change between ``model`` and its float16 copy on ``chelsea()``."""
    import numpy as np
    from skimage import data

    from colored import color
    from colored.inference import colorize
    from colored.predict import predict_output

    photo = data.chelsea()
    size = model.inputs[0].shape[1]
    small = (
        np.asarray(photo[: size * 2 : 2, : size * 2 : 2], np.float32) / 255
    )  # chelsea is 300×451
    batch = color.normalize_l(color.lightness(small))[None, ..., None]
    logits = np.abs(predict_output(shipped, batch) - predict_output(model, batch)).max()
    pixels = np.abs(colorize(photo, shipped).astype(int) - colorize(photo, model).astype(int)).max()
    return float(logits), int(pixels)


def ship(
    model_path: Path,
    out: Path,
    temperature: float,
    confidence: float,
    prior_correction: float,
    flip: bool = False,
) -> dict:
    """Write ``out`` (and ``out.sha256``) from ``model_path`` with the given decoding; return the checks."""
    from colored.config import Decoding
    from colored.loading import load_model, save_half_precision
    from colored.modelfile import record_decoding, recorded_prior

    model = load_model(model_path)
    if model.outputs[0].shape[-1] == 2:
        raise SystemExit(
            f"{model_path}: a regression (MSE) model; the default is a classification model"
        )
    if prior_correction and recorded_prior(model) is None:
        raise SystemExit(
            f"{model_path}: records no training prior, so --prior-correction {prior_correction} cannot "
            "apply; retrain with this version (it records one) or use --prior-correction 0"
        )
    decoding = Decoding(
        temperature=temperature, confidence=confidence, flip=flip, prior_correction=prior_correction
    )
    record_decoding(model, decoding)
    out.parent.mkdir(parents=True, exist_ok=True)
    # written and checked beside ``out``, then moved over it: a failed check keeps the shipped file
    with tempfile.TemporaryDirectory(dir=out.parent) as folder:
        candidate = save_half_precision(model, Path(folder) / out.name)
        logit_change, pixel_change = _storage_change(model, load_model(candidate))
        if logit_change > LOGIT_TOLERANCE:
            raise SystemExit(
                f"{out}: float16 storage changed a logit by {logit_change:.3f} (> {LOGIT_TOLERANCE}); "
                "not shipped, the file there is unchanged"
            )
        os.replace(candidate, out)

    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    Path(f"{out}.sha256").write_text(f"{digest}  {out.name}\n")
    return {
        "file": str(out),
        "megabytes": round(out.stat().st_size / 2**20, 1),
        "sha256": digest,
        "decoding": decoding.to_dict(),
        "largest_logit_change": round(logit_change, 4),
        "largest_pixel_change": pixel_change,
        "parameters": int(model.count_params()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", type=Path, required=True, help="the trained .keras file (e.g. best.keras)"
    )
    parser.add_argument("--out", type=Path, default=REPO / "colored" / "weights" / "default.keras")
    parser.add_argument("--temperature", type=float, required=True)
    parser.add_argument("--confidence", type=float, default=0.0)
    parser.add_argument("--prior-correction", type=float, default=0.0)
    parser.add_argument("--flip", action="store_true")
    args = parser.parse_args(argv)
    result = ship(
        args.model, args.out, args.temperature, args.confidence, args.prior_correction, args.flip
    )
    for key, value in result.items():
        print(f"{key:>22}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
