"""Using a trained model: the public API that colorizes photos, and the one path every caller takes.

Everything that colorizes goes through :func:`colorize_stream`: :func:`colored.colorize.colorize_paths`
(files and folders), :func:`colored.evaluate.score_set` (the evaluation protocol), the training
callback :class:`colored.callbacks.ComparisonFigure`, and :func:`colorize_batch` / :func:`colorize`
for images in memory. It decodes each item (:func:`colored.io.images.read_image`: any size, EXIF
orientation, 8/16-bit, gray, palette, alpha, CMYK), runs the steps of :mod:`colored.predict` batch by
batch, and gives one result (or error) per item. Loading a model is :mod:`colored.loading`; both are
re-exported here, so that a notebook needs one import.

Python::

    from colored.inference import colorize, load_model
    model = load_model("runs/default/model.keras")     # or load_model() for the packaged default
    rgb = colorize("grandma.jpg", model)               # (H, W, 3) uint8 at the photo's size
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from colored.config import Decoding
from colored.io.images import DecodedImage, decode_array, decode_pil, read_image
from colored.loading import (  # noqa: F401 - the public API: one import for notebooks and users
    DEFAULT_MODEL_PATH,
    MODEL_ENV_VAR,
    IncompatibleModelError,
    ModelNotFoundError,
    check_model,
    embedder_for,
    load_model,
)
from colored.predict import (
    decoding_for,  # noqa: F401 - the public API, as above
    network_size,
    predict_ab,
    predict_output,
    preprocess,
    recombine,
    resize_plane,
)


class PredictionError(RuntimeError):
    """The model failed on a batch (raised for, or reported with, each image of that batch)."""


# ---------------------------------------------------------------------------------------------
# the path, over many images


class stage_timer:
    """Add the elapsed seconds to ``timings[stage]`` (no-op when ``timings`` is None)."""

    def __init__(self, timings: dict[str, float] | None, stage: str) -> None:
        self.timings, self.stage = timings, stage

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc) -> None:
        if self.timings is not None:
            self.timings[self.stage] = (
                self.timings.get(self.stage, 0.0) + time.perf_counter() - self.start
            )


def even_batch_size(count: int, batch_size: int) -> int:
    """The batch size that splits ``count`` images into as few, equal-sized calls as ``batch_size``
    allows (13 images, batch 8 → 7 + 6, not 8 + 5): with :func:`predict_ab`'s padding, one shape."""
    batch_size = max(1, int(batch_size))
    if count <= 0:
        return batch_size
    calls = -(-count // batch_size)
    return -(-count // calls)


def as_decoded(image_or_path: Any) -> DecodedImage:
    """A path, a :class:`DecodedImage`, a Pillow image or an array → :class:`DecodedImage`."""
    if isinstance(image_or_path, DecodedImage):
        return image_or_path
    if isinstance(image_or_path, (str, os.PathLike)):
        return read_image(image_or_path)
    if isinstance(image_or_path, Image.Image):
        return decode_pil(image_or_path)
    return decode_array(np.asarray(image_or_path))


@dataclass
class Colorized:
    """One item's result from :func:`colorize_stream`: ``rgb`` (uint8, the input's size) and its
    ``alpha`` (uint8 or None), or the ``error`` that stopped it (``stage`` says where)."""

    item: Any
    rgb: np.ndarray | None = None
    alpha: np.ndarray | None = None
    error: BaseException | None = None
    stage: str | None = None


def colorize_stream(
    items: Sequence[Any],
    model,
    *,
    batch_size: int = 8,
    decoding: Decoding | None = None,
    keep_aspect: bool = True,
    embedder: Any = None,
    embeddings: np.ndarray | None = None,
    decode: Callable[[Any], DecodedImage] = as_decoded,
    even_batches: bool = True,
    timings: dict[str, float] | None = None,
) -> Iterator[Colorized]:
    """Colorize ``items`` batch by batch → one :class:`Colorized` per item, in order.

    ``decode`` turns an item into a :class:`DecodedImage` (default :func:`as_decoded`: paths,
    arrays, Pillow images). An item that fails to decode or preprocess, or to recombine, comes back
    with its ``error`` (stage ``decode``, ``model`` or ``recombine``) and the others go on; a batch
    whose model call fails gives each of its items a :class:`PredictionError`. Only ``L`` and alpha
    are kept from a decoded photo while its batch is predicted (memory, big photos).

    ``batch_size`` images per model call: with ``even_batches`` split evenly
    (:func:`even_batch_size`), else exactly ``batch_size`` every call, whatever ``len(items)`` (one
    compiled shape across several sequences). ``embeddings``: precomputed, one per item (fusion
    models). ``timings`` accumulates seconds per stage (``decode``, ``preprocess``, ``model``,
    ``recombine``). ``decoding``: :func:`decoding_for`'s, once for every item (default: the model's).
    ``keep_aspect`` (default): each photo at its :func:`network_size` (photos of one batch that
    differ in shape are predicted shape by shape); False: every photo squashed to the training square.
    """
    from colored.model import input_size

    square = input_size(model)
    decoding = decoding_for(model, decoding)
    embedder = embedder_for(model, embedder) if embeddings is None else None
    batch = even_batch_size(len(items), batch_size) if even_batches else max(1, int(batch_size))
    for start in range(0, len(items), batch):
        ready: list[tuple[int, Colorized, np.ndarray, np.ndarray]] = []  # index, result, L, L/100
        results: list[Colorized] = []
        for index, item in enumerate(items[start : start + batch], start):
            result = Colorized(item)
            results.append(result)
            try:
                with stage_timer(timings, "decode"):
                    image = decode(item)
                with stage_timer(timings, "preprocess"):
                    size = network_size(model, *image.rgb.shape[:2]) if keep_aspect else square
                    full, small = preprocess(image, size)
                result.alpha = image.alpha_uint8()
                del image  # only L and alpha are needed from here on
                ready.append((index, result, full, small))
            except Exception as error:  # noqa: BLE001 - e.g. ImageReadError, MemoryError on a huge photo
                result.error, result.stage = error, "decode"
        if ready:
            try:
                with stage_timer(timings, "model"):
                    ab: list[np.ndarray | None] = [None] * len(ready)
                    for shape in dict.fromkeys(
                        small.shape for *_, small in ready
                    ):  # in order of appearance
                        group = [k for k, (*_, small) in enumerate(ready) if small.shape == shape]
                        predicted = predict_ab(
                            model,
                            np.stack([ready[k][3] for k in group]),
                            None
                            if embeddings is None
                            else embeddings[[ready[k][0] for k in group]],
                            decoding,
                            embedder=embedder,
                            batch_size=batch,
                        )
                        for k, one in zip(group, predicted):
                            ab[k] = one
            except Exception as error:  # noqa: BLE001
                failure = PredictionError(f"model failed: {type(error).__name__}: {error}")
                failure.__cause__ = error
                for _, result, *_ in ready:
                    result.error, result.stage = failure, "model"
                ready = []
            for k, (_, result, full, _) in enumerate(ready):
                try:
                    with stage_timer(timings, "recombine"):
                        result.rgb = recombine(full, ab[k])
                except Exception as error:  # noqa: BLE001
                    result.error, result.stage = error, "recombine"
        yield from results


def colorize_batch(
    images: Sequence[Any],
    model,
    batch_size: int = 8,
    decoding: Decoding | None = None,
    *,
    temperature: float | None = None,
    confidence: float | None = None,
    flip: bool | None = None,
    prior_correction: float | None = None,
    keep_aspect: bool = True,
    embedder: Any = None,
    embeddings: np.ndarray | None = None,
    even_batches: bool = True,
    timings: dict[str, float] | None = None,
) -> list[np.ndarray]:
    """Colorize images in memory (or paths), ``batch_size`` per model call → uint8 RGB arrays at each
    one's size; the first failure is raised. See :func:`colorize_stream`."""
    out = []
    for result in colorize_stream(
        images,
        model,
        batch_size=batch_size,
        decoding=decoding_for(
            model,
            decoding,
            temperature=temperature,
            confidence=confidence,
            flip=flip,
            prior_correction=prior_correction,
        ),
        keep_aspect=keep_aspect,
        embedder=embedder,
        embeddings=embeddings,
        even_batches=even_batches,
        timings=timings,
    ):
        if result.error is not None:
            raise result.error
        out.append(result.rgb)
    return out


def colorize(
    image_or_path: Any,
    model: Any = None,
    *,
    decoding: Decoding | None = None,
    temperature: float | None = None,
    confidence: float | None = None,
    flip: bool | None = None,
    prior_correction: float | None = None,
    keep_alpha: bool = False,
) -> np.ndarray:
    """Colorize one photo at full resolution → ``(H, W, 3)`` uint8 RGB of the input's exact size.

    ``image_or_path``: a file path, a Pillow image, a :class:`~colored.io.images.DecodedImage`, or an
    array (``(H, W)`` gray, ``(H, W, 3)`` RGB, ``(H, W, 4)`` RGBA; uint8, uint16 or float in [0, 1]:
    an RGB input's own colours are ignored, only its lightness is used).
    ``model``: a Keras model, a path to a ``.keras`` file, or ``None`` for the default model.
    ``decoding``: a :class:`~colored.config.Decoding` (default: the model file's, else the library's);
    ``temperature``, ``confidence``, ``flip``, ``prior_correction`` replace one of its fields each.
    ``keep_alpha``: return ``(H, W, 4)`` RGBA when the input has transparency (alpha as uint8).
    """
    if model is None or isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    decoded = as_decoded(image_or_path)
    rgb = colorize_batch(
        [decoded],
        model,
        decoding=decoding,
        temperature=temperature,
        confidence=confidence,
        flip=flip,
        prior_correction=prior_correction,
    )[0]
    if keep_alpha and decoded.alpha is not None:
        return np.dstack([rgb, decoded.alpha_uint8()])
    return rgb


def colour_uncertainty(
    image_or_path: Any, model: Any = None, *, flip: bool | None = None
) -> np.ndarray:
    """How unsure a classification model is of each pixel's colour → ``(H, W)`` float32 at the
    photo's size: the standard deviation σ (Lab units) of the predicted colour distribution
    (:func:`colored.bins.colour_spread`), the quantity confidence-aware decoding reads (σ ≈ 5–10:
    one colour; σ ≥ 20: competing colours). Same preprocessing as :func:`colorize`; a regression
    model predicts one colour, not a distribution, so it is refused (ValueError)."""
    import keras

    from colored.bins import colour_spread
    from colored.model import inference_model, is_classification

    if model is None or isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    if not is_classification(inference_model(model)):
        raise ValueError(
            f"{getattr(model, 'name', 'this model')} is a regression (MSE) model: it predicts one "
            "colour per pixel, not a distribution, so it has no colour uncertainty"
        )
    decoded = as_decoded(image_or_path)
    height, width = decoded.rgb.shape[:2]
    _, l_norm = preprocess(decoded, network_size(model, height, width))
    _, variance = colour_spread(predict_output(model, l_norm[None], flip=flip))
    sigma = np.sqrt(keras.ops.convert_to_numpy(variance)[0]).astype(np.float32)
    return resize_plane(sigma, (height, width), Image.Resampling.BILINEAR)
