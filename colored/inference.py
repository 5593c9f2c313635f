"""Using a trained model: load it, and the one preprocess → predict → recombine path.

Everything that colorizes goes through here: :func:`colored.colorize.colorize_paths` (files and
folders), :func:`colored.evaluate.score_set` (the evaluation protocol) and the training callback
:class:`colored.callbacks.ComparisonFigure`. How a photo is colorized (richzhang's demo does the same):

1. decode it (:func:`colored.io.images.read_image`: any size, EXIF orientation, 8/16-bit, gray,
   palette, alpha, CMYK, first frame of a GIF);
2. :func:`preprocess`: compute its full-resolution Lab lightness ``L`` and resize ``L`` (bicubic,
   antialiased) to :func:`network_size`: for a fully convolutional model (no fusion, e.g. the
   packaged default) the **shorter side becomes the training size S and the aspect ratio is kept**
   (the longer side rounded to a multiple of :func:`colored.config.size_multiple`, what the
   strides need), so objects keep their shape; a fusion model (its ImageNet embedding input is
   fixed-size, and the embedder sees a square) gets the square ``S×S``, the photo squashed, not
   cropped or padded: the network sees the whole scene, and its prediction is stretched back;
3. :func:`predict_ab`: the network predicts ``ab`` there (classification: decoded by annealed mean
   at ``temperature``, confidence-aware with ``confidence``, :func:`colored.bins.decode_logits`;
   ``flip``: averaged with the prediction for the mirrored photo), several photos per call, every
   call padded to one batch shape (one compile per shape) that splits evenly over data-parallel
   replicas;
4. :func:`recombine`: ``ab`` is upsampled bilinearly to the photo's full size (colour is smooth,
   bilinear does not overshoot) and joined with the photo's *own* full-resolution ``L`` → RGB.

So the output has exactly the input's size and all of its detail: only the colour comes from the
low-resolution prediction. :func:`colorize_stream` runs the three steps over any sequence, batch by
batch, one result (or error) per item; :func:`colorize_batch` and :func:`colorize` are it for
images in memory.

Python::

    from colored.inference import colorize, load_model
    model = load_model("runs/default/model.keras")     # or load_model() for the packaged default
    rgb = colorize("grandma.jpg", model)               # (H, W, 3) uint8 at the photo's size
"""

from __future__ import annotations

import functools
import os
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from colored import color
from colored.config import Decoding
from colored.io.images import DecodedImage, decode_array, decode_pil, read_image
from colored.modelfile import IncompatibleModelError, ModelNotFoundError, recorded_decoding  # noqa: F401 - callers import them from here

#: Where ``load_model()`` looks when no path is given (shipped with the package once trained).
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "weights" / "default.keras"
#: Environment variable naming a model to use when none is given.
MODEL_ENV_VAR = "COLORED_MODEL"


class PredictionError(RuntimeError):
    """The model failed on a batch (raised for, or reported with, each image of that batch)."""


def _how_to_get_a_model() -> str:
    return (
        "To get a model, either\n"
        "  - pass --model PATH (Python: load_model(PATH)) with a .keras file saved by training, e.g. "
        "runs/default/model.keras;\n"
        "  - train one: `colored train` (or notebook 05), which writes RUN_DIR/model.keras;\n"
        f"  - or put a .keras model at {DEFAULT_MODEL_PATH} (or set {MODEL_ENV_VAR}=PATH) to make it "
        "the default."
    )


# ---------------------------------------------------------------------------------------------
# the model


def resolve_model_path(path: str | Path | None = None) -> Path:
    """The model file to load: ``path``, else ``$COLORED_MODEL``, else the packaged default.

    Raises :class:`ModelNotFoundError` (with how to get a model) when it does not exist.
    """
    if path is None or str(path) == "":
        env = os.environ.get(MODEL_ENV_VAR)
        if env:
            path = Path(env)
        elif DEFAULT_MODEL_PATH.is_file():
            return DEFAULT_MODEL_PATH
        else:
            raise ModelNotFoundError(
                f"No model given and no default model at {DEFAULT_MODEL_PATH}.\n"
                + _how_to_get_a_model()
            )
    path = Path(path).expanduser()
    if path.is_dir():
        raise ModelNotFoundError(
            f"model path {path} is a directory, not a .keras file.\n" + _how_to_get_a_model()
        )
    if not path.is_file():
        raise ModelNotFoundError(f"model file {path} does not exist.\n" + _how_to_get_a_model())
    if path.suffix.lower() != ".keras":
        raise ModelNotFoundError(
            f"model file {path} is not a .keras file (weights-only .h5/.weights.h5 "
            "files do not describe the network).\n" + _how_to_get_a_model()
        )
    return path


def load_model(path: str | Path | None = None):
    """Load a colorization model from a ``.keras`` file (float32, not compiled).

    ``path=None`` means ``$COLORED_MODEL`` or ``colored/weights/default.keras``. The network is rebuilt
    by the library from the file's own definition (:mod:`colored.modelfile`), so a file loads on every
    Keras the package allows. A missing, damaged, unreadable or non-colorization file raises
    :class:`ModelNotFoundError` naming the file, what is wrong, and how to get a model.
    """
    from colored import modelfile

    path = resolve_model_path(path)
    model = modelfile.load(path)
    check_model(model, path)
    return as_float32(model)


def _clone_with_dtype(model, dtype: str):
    import keras

    def clone(layer):
        config = layer.get_config()
        config["dtype"] = dtype
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights([np.asarray(w).astype(dtype) for w in model.get_weights()])
    return copy


def as_float32(model):
    """``model`` itself, or, when its weights are in half precision (a ``.keras`` file without the
    library's definition, loaded by Keras as saved), the same network in float32: CPUs compute
    float16 convolutions slowly or not at all, and float32 is what every other model runs in."""
    if not any(str(getattr(w, "dtype", "float32")) == "float16" for w in model.weights):
        return model
    return _clone_with_dtype(model, "float32")


def save_half_precision(model, path: str | Path, config=None) -> Path:
    """Save ``model`` (the L-input network) with float16 weights: half the file size. Loading it
    with :func:`load_model` gives a float32 network again; the largest logit change measured on the
    default model is 0.03 on logits up to 17. ``config``: as :func:`colored.modelfile.save`."""
    from colored import modelfile
    from colored.model import inference_model

    core = inference_model(model)
    return modelfile.save(core, path, config, weights_of=_clone_with_dtype(core, "float16"))


def _shapes_text(tensors) -> str:
    texts = [
        "(" + ", ".join(str(None if d is None else int(d)) for d in t.shape) + ")" for t in tensors
    ]
    return texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]" if texts else "none"


def check_model(model, source: str | Path | None = None):
    """Refuse (:class:`IncompatibleModelError`, one line) a model colorize and evaluate cannot use.

    Expected: input ``(None, H, W, 1)`` (lightness L/100), optionally a second input
    ``(None, 1000)`` (the ImageNet embedding of fusion models); one output ``(None, h, w, 2)`` (ab
    regression) or ``(None, h, w, Q)`` with ``Q = num_bins()`` (ab-bin logits).
    A ``lab_in_graph`` training wrapper (RGB input) is checked through the L-input network inside.
    ``source`` (the file) names the model in the message. Returns ``model``.
    """
    from colored.bins import num_bins
    from colored.config import Config
    from colored.model import inference_model

    core = inference_model(model)
    name = (
        f"model file {source}"
        if source is not None
        else f"model {getattr(model, 'name', type(model).__name__)!r}"
    )
    inputs = list(getattr(core, "inputs", None) or [])
    outputs = list(getattr(core, "outputs", None) or [])
    embedding_dim = Config().embedding_dim
    problems = []
    if not inputs or len(inputs) > 2 or len(inputs[0].shape) != 4 or inputs[0].shape[-1] != 1:
        problems.append("input")
    elif len(inputs) == 2 and (len(inputs[1].shape) != 2 or inputs[1].shape[-1] != embedding_dim):
        problems.append("embedding input")
    channels = outputs[0].shape[-1] if len(outputs) == 1 and len(outputs[0].shape) == 4 else None
    if channels != 2 and channels != num_bins():  # num_bins() is computed once, only when needed
        problems.append("output")
    if problems:
        raise IncompatibleModelError(
            f"{name} is not a colorization model ({' and '.join(problems)} wrong): it takes "
            f"{_shapes_text(inputs)} and outputs {_shapes_text(outputs)}; expected input (None, H, W, 1) "
            f"(lightness), optionally plus (None, {embedding_dim}) (embedding), and output (None, H, W, 2) "
            f"(ab) or (None, H, W, {num_bins()}) (ab-bin logits): use a model saved by `colored train`"
        )
    return model


@functools.cache
def imagenet_embedder(backbone: str = "inception_resnet_v2"):
    """The one ImageNet embedder of ``backbone`` in this process, built on first use (fusion models only)."""
    from colored.embed import Embedder

    return Embedder("imagenet", backbone=backbone)


def embedder_for(model, embedder: Any = None) -> Any:
    """What computes ``model``'s embedding input: ``embedder``, else :func:`imagenet_embedder` of the
    backbone its model file names (ColorED's InceptionResNetV2 for a model without that record);
    None for a model without fusion (nothing is built)."""
    from colored import modelfile
    from colored.model import inference_model, needs_embedding

    core = inference_model(model)
    if not needs_embedding(core):
        return None
    if embedder is not None:
        return embedder
    architecture = modelfile.recorded_architecture(core) or {}
    return imagenet_embedder(architecture.get("backbone", "inception_resnet_v2"))


def replicas(model=None) -> int:
    """How many ways data parallelism splits each batch: the model's TF strategy replicas, or the
    active Keras (JAX) distribution's batch shards; 1 without either.

    Every batch given to such a model must split evenly over the replicas. A batch of 1 on two
    MirroredStrategy replicas leaves one replica an empty batch, which TensorFlow's oneDNN
    convolutions (on by default on x86 CPUs with AVX-512, off on others) reject with
    "input depth must be evenly divisible by filter depth: 1 vs 32". Here, not in
    :mod:`colored.model`: it is about running a network, not about what the network is.
    """
    import keras

    if keras.backend.backend() == "tensorflow":
        strategy = getattr(model, "distribute_strategy", None)
        if strategy is None:
            import tensorflow as tf

            strategy = tf.distribute.get_strategy()
        return int(strategy.num_replicas_in_sync)
    distribution = keras.distribution.distribution() if keras.backend.backend() == "jax" else None
    if distribution is None:
        return 1
    mesh = distribution.device_mesh
    return int(mesh.shape[list(mesh.axis_names).index(distribution.batch_dim_name)])


# ---------------------------------------------------------------------------------------------
# the steps


def _resize_plane(
    plane: np.ndarray, size: tuple[int, int], resample: Image.Resampling
) -> np.ndarray:
    """Resize a float32 ``(H, W)`` plane to ``size = (height, width)`` with Pillow's 'F' mode."""
    height, width = size
    if plane.shape == (height, width):
        return plane.astype(np.float32, copy=False)
    image = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32), mode="F")
    return np.asarray(image.resize((width, height), resample), dtype=np.float32)


def _architecture(model) -> str | None:
    """``"full"`` / ``"simplified"`` from the network's name (:func:`colored.model.build_model`)."""
    from colored.model import inference_model

    name = getattr(inference_model(model), "name", "")
    return (
        "full"
        if name.startswith("FullModel")
        else "simplified"
        if name.startswith("SimplifiedModel")
        else None
    )


def network_size(model, height: int, width: int) -> tuple[int, int]:
    """``(h, w)`` the network predicts a ``height × width`` photo at.

    Fusion models (fixed-size embedding input) and models of an unknown architecture: their square
    training size. Fully convolutional models: the shorter side at the training size S, the longer
    one ``S × long / short`` rounded to a multiple of :func:`colored.config.size_multiple` (16 for
    the FullModel), at least S. A square photo gets ``S×S`` either way.
    """
    from colored.config import size_multiple
    from colored.model import inference_model, input_size, needs_embedding

    size = input_size(model)
    architecture = _architecture(model)
    if needs_embedding(inference_model(model)) or architecture is None or size[0] != size[1]:
        return size
    side, multiple = size[0], size_multiple(architecture)
    if height == width:
        return side, side
    long_side = max(
        side, int(round(side * max(height, width) / min(height, width) / multiple)) * multiple
    )
    return (side, long_side) if height < width else (long_side, side)


def flexible_model(model):
    """The L-input network with a ``(None, None, None, 1)`` input (fully convolutional models), so
    it runs at any :func:`network_size`; built once per model (a clone sharing no state), then
    cached on it. Other models: the network itself."""
    import keras

    from colored.model import inference_model, needs_embedding

    core = inference_model(model)
    if needs_embedding(core) or tuple(core.inputs[0].shape[1:3]) == (None, None):
        return core
    cached = _FLEXIBLE.get(core)
    if (
        cached is None
    ):  # not an attribute of `core`: Keras would track it as a sub-layer (and save it)
        cached = keras.models.clone_model(
            core, input_tensors=keras.Input((None, None, 1), name="L")
        )
        cached.set_weights(core.get_weights())
        _FLEXIBLE[core] = cached
    return cached


_FLEXIBLE: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def preprocess(image: DecodedImage, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """→ (full-resolution ``L`` ``(H, W)``, network input ``L/100`` ``(h, w, 1)``) for ``size = (h, w)``."""
    full = color.lightness(image.rgb)
    small = np.clip(_resize_plane(full, size, Image.Resampling.BICUBIC), 0.0, color.L_SCALE)
    return full, color.normalize_l(small)[..., None]


def _padded(array: np.ndarray, count: int) -> np.ndarray:
    """``array`` with its last row repeated up to ``count`` rows."""
    if len(array) >= count:
        return array
    return np.concatenate([array, np.repeat(array[-1:], count - len(array), axis=0)])


def predict_output(
    model,
    l_norm: np.ndarray,
    embeddings: np.ndarray | None = None,
    *,
    embedder: Any = None,
    batch_size: int | None = None,
    flip: bool | None = None,
) -> np.ndarray:
    """Network ``L/100`` ``(N, h, w, 1)`` → its raw output: ``ab/128`` ``(N, h, w, 2)`` (regression)
    or logits ``(N, h/2, w/2, Q)`` (classification), float32.

    ``model``: the network or its ``lab_in_graph`` training wrapper; any ``h × w`` for a fully
    convolutional one (:func:`flexible_model`), its own size otherwise. For a fusion model the
    embedding is computed from the gray image (by ``embedder``, else :func:`imagenet_embedder`)
    unless ``embeddings`` are given. ``flip`` (default: :func:`decoding_for`'s): also predict the
    mirrored photos and average, un-mirrored: ab for regression, the *probabilities* for
    classification (returned as their logarithm, so that ``softmax(output / T)`` anneals the
    averaged distribution; where the two views disagree the average spreads, which confidence-aware
    decoding reads as doubt).

    The one place batches are padded (the last image repeated, its results dropped): the model is
    called on batches of ``batch_size`` images (default: all ``N`` in one), rounded up to a
    multiple of :func:`replicas`. Keras compiles (XLA) one function per batch shape — seconds each
    for the FullModel — so a smaller last batch costs more as a new compile than as a few padded
    images, and a data-parallel model needs batches that split evenly over its devices.
    """
    from colored.model import inference_model, is_classification, needs_embedding

    core = inference_model(model)
    network = (
        flexible_model(core)
        if tuple(l_norm.shape[1:3]) != tuple(core.inputs[0].shape[1:3])
        else core
    )
    count = len(l_norm)
    inputs = [np.asarray(l_norm, np.float32)]
    if needs_embedding(core):
        if embeddings is None:
            gray = color.lab_to_rgb(
                color.join_lab(
                    color.denormalize_l(inputs[0]),
                    np.zeros(inputs[0].shape[:-1] + (2,), np.float32),
                )
            )
            embeddings = embedder_for(core, embedder).compute(gray)
        inputs.append(np.asarray(embeddings, np.float32))
    shards = replicas(core)
    batch = max(1, int(batch_size or count))
    batch = -(-batch // shards) * shards
    total = -(-count // batch) * batch

    def run(x: list[np.ndarray]) -> np.ndarray:
        x = [_padded(v, total) for v in x]
        return network.predict(x if len(x) > 1 else x[0], batch_size=batch, verbose=0)[
            :count
        ].astype(np.float32)

    output = run(inputs)
    if not decoding_for(model, flip=flip).flip:
        return output
    mirrored = run([inputs[0][:, :, ::-1]] + inputs[1:])[:, :, ::-1]
    if not is_classification(core):
        return 0.5 * (output + mirrored)
    return np.log(0.5 * (_softmax(output) + _softmax(mirrored)) + 1e-12).astype(np.float32)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def decoding_for(
    model,
    decoding: Decoding | None = None,
    *,
    temperature: float | None = None,
    confidence: float | None = None,
    flip: bool | None = None,
) -> Decoding:
    """The :class:`~colored.config.Decoding` to decode ``model``'s output with (the one place that
    decides): ``decoding`` if given, else the one saved with the model's file
    (:func:`colored.modelfile.recorded_decoding`) over the library's defaults; then each field given
    as a keyword (not None) replaces that field."""
    if decoding is None:
        decoding = Decoding.from_dict(recorded_decoding(model))
    return decoding.but(temperature=temperature, confidence=confidence, flip=flip)


def decode_output(
    model,
    output: np.ndarray,
    size: tuple[int, int],
    decoding: Decoding | None = None,
    *,
    temperature: float | None = None,
    confidence: float | None = None,
) -> np.ndarray:
    """:func:`predict_output`'s raw output → ``ab`` in Lab units ``(N, h, w, 2)`` at ``size = (h, w)``
    (float32). Classification: :func:`colored.bins.decode_logits` at the temperature and confidence
    of :func:`decoding_for` (``decoding``, else the model file's, else the defaults; a keyword
    replaces one field), upsampled bilinearly to ``size``; regression models have nothing to decode."""
    import keras

    from colored.bins import decode_logits
    from colored.model import inference_model, is_classification

    if not is_classification(inference_model(model)):
        return color.denormalize_ab(output).astype(np.float32)
    chosen = decoding_for(model, decoding, temperature=temperature, confidence=confidence)
    ab = decode_logits(output, chosen.temperature, chosen.confidence)
    ab = keras.ops.image.resize(ab, tuple(size), interpolation="bilinear")
    return keras.ops.convert_to_numpy(ab).astype(np.float32)


def predict_ab(
    model,
    l_norm: np.ndarray,
    embeddings: np.ndarray | None = None,
    decoding: Decoding | None = None,
    *,
    temperature: float | None = None,
    confidence: float | None = None,
    flip: bool | None = None,
    embedder: Any = None,
    batch_size: int | None = None,
) -> np.ndarray:
    """Network ``L/100`` ``(N, h, w, 1)`` → ``ab`` in Lab units ``(N, h, w, 2)`` (float32):
    :func:`predict_output` then :func:`decode_output`, with :func:`decoding_for`'s decoding
    (``decoding``, the model file's or the defaults; ``temperature``, ``confidence``, ``flip`` replace
    one field each)."""
    chosen = decoding_for(
        model, decoding, temperature=temperature, confidence=confidence, flip=flip
    )
    output = predict_output(
        model, l_norm, embeddings, embedder=embedder, batch_size=batch_size, flip=chosen.flip
    )
    return decode_output(model, output, l_norm.shape[1:3], chosen)


def recombine(l_full: np.ndarray, ab_small: np.ndarray) -> np.ndarray:
    """Upsample ``ab`` (Lab units, ``(S, S, 2)``) bilinearly to ``L``'s size, join, → uint8 RGB."""
    height, width = l_full.shape
    ab = np.stack(
        [
            _resize_plane(ab_small[..., c], (height, width), Image.Resampling.BILINEAR)
            for c in range(2)
        ],
        axis=-1,
    )
    return color.lab_to_rgb_uint8(l_full, ab)


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
    return _resize_plane(sigma, (height, width), Image.Resampling.BILINEAR)


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
            model, decoding, temperature=temperature, confidence=confidence, flip=flip
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
    keep_alpha: bool = False,
) -> np.ndarray:
    """Colorize one photo at full resolution → ``(H, W, 3)`` uint8 RGB of the input's exact size.

    ``image_or_path``: a file path, a Pillow image, a :class:`~colored.io.images.DecodedImage`, or an
    array (``(H, W)`` gray, ``(H, W, 3)`` RGB, ``(H, W, 4)`` RGBA; uint8, uint16 or float in [0, 1]:
    an RGB input's own colours are ignored, only its lightness is used).
    ``model``: a Keras model, a path to a ``.keras`` file, or ``None`` for the default model.
    ``decoding``: a :class:`~colored.config.Decoding` (default: the model file's, else the library's);
    ``temperature``, ``confidence``, ``flip`` replace one of its fields each.
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
    )[0]
    if keep_alpha and decoded.alpha is not None:
        return np.dstack([rgb, decoded.alpha_uint8()])
    return rgb
