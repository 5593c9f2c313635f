"""The steps that colorize one batch of photos: preprocess → predict → decode → recombine.

1. :func:`preprocess`: the photo's full-resolution Lab lightness ``L``, and ``L`` resized (bicubic,
   antialiased) to :func:`network_size`: the **shorter side becomes the training size S and the
   aspect ratio is kept** (the longer side rounded to a multiple of
   :func:`colored.config.size_multiple`); a fusion model's embedding is computed from that photo
   (the backbone sees it squashed to its own square) and laid onto the bottleneck's grid;
2. :func:`predict_output`: the network's raw output, several photos per call, every call padded to
   one batch shape (one compile per shape) that splits evenly over data-parallel :func:`replicas`;
   ``flip`` averages it with the prediction for the mirrored photo;
3. :func:`decode_output`: classification logits → ab by annealed mean (:func:`colored.bins.decode_logits`,
   with the :class:`~colored.config.Decoding` of :func:`decoding_for`); regression output → ab;
4. :func:`recombine`: ``ab`` upsampled bilinearly to the photo's full size (colour is smooth, bilinear
   does not overshoot) and joined with the photo's *own* full-resolution ``L`` → RGB.

So the output has exactly the input's size and all of its detail: only the colour comes from the
low-resolution prediction (richzhang's demo does the same).
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
from PIL import Image

from colored import color
from colored.config import Decoding
from colored.io.images import DecodedImage
from colored.loading import embedder_for
from colored.modelfile import recorded_decoding, recorded_prior


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


def resize_plane(
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

    Models that run at any size (:func:`any_size`): the shorter side at the training size S, the
    longer one ``S × long / short`` rounded to a multiple of :func:`colored.config.size_multiple` (16
    for the FullModel), at least S. Others (an unknown architecture, a fusion layout saved by an older
    version): their square training size. A square photo gets ``S×S`` either way.
    """
    from colored.config import size_multiple
    from colored.model import input_size

    size = input_size(model)
    architecture = _architecture(model)
    if not any_size(model) or architecture is None or size[0] != size[1]:
        return size
    side, multiple = size[0], size_multiple(architecture)
    if height == width:
        return side, side
    long_side = max(
        side, int(round(side * max(height, width) / min(height, width) / multiple)) * multiple
    )
    return (side, long_side) if height < width else (long_side, side)


def any_size(model) -> bool:
    """Whether the network runs at any input size: no fusion, or fusion through
    :class:`colored.model.OntoGrid` (a fusion model saved with a fixed-size tiling does not)."""
    from colored.model import inference_model, needs_embedding

    core = inference_model(model)
    return not needs_embedding(core) or any(
        layer.name == "fusion_grid" for layer in getattr(core, "layers", ())
    )


def flexible_model(model):
    """The L-input network with a ``(None, None, None, 1)`` input (:func:`any_size` models; a fusion
    model's embedding input stays as it is), so it runs at any :func:`network_size`; built once per
    model (a clone sharing no state), then cached on it. Other models: the network itself."""
    import keras

    from colored.model import inference_model, needs_embedding

    core = inference_model(model)
    if not any_size(core) or tuple(core.inputs[0].shape[1:3]) == (None, None):
        return core
    cached = _FLEXIBLE.get(core)
    if (
        cached is None
    ):  # not an attribute of `core`: Keras would track it as a sub-layer (and save it)
        inputs = [keras.Input((None, None, 1), name="L")]
        if needs_embedding(core):
            inputs.append(keras.Input(tuple(core.inputs[1].shape[1:]), name="embedding"))
        cached = keras.models.clone_model(
            core, input_tensors=inputs if len(inputs) > 1 else inputs[0]
        )
        cached.set_weights(core.get_weights())
        _FLEXIBLE[core] = cached
    return cached


_FLEXIBLE: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def preprocess(image: DecodedImage, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """→ (full-resolution ``L`` ``(H, W)``, network input ``L/100`` ``(h, w, 1)``) for ``size = (h, w)``."""
    full = color.lightness(image.rgb)
    small = np.clip(resize_plane(full, size, Image.Resampling.BICUBIC), 0.0, color.L_SCALE)
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
    prior_correction: float | None = None,
) -> Decoding:
    """The :class:`~colored.config.Decoding` to decode ``model``'s output with (the one place that
    decides): ``decoding`` if given, else the one saved with the model's file
    (:func:`colored.modelfile.recorded_decoding`) over the library's defaults; then each field given
    as a keyword (not None) replaces that field. A ``prior_correction`` for a classification model
    that records no training prior is a ValueError (one line), before any work."""
    if decoding is None:
        decoding = Decoding.from_dict(recorded_decoding(model))
    chosen = decoding.but(
        temperature=temperature, confidence=confidence, flip=flip, prior_correction=prior_correction
    )
    if chosen.prior_correction:
        from colored.model import inference_model, is_classification

        core = inference_model(model)
        if is_classification(core) and recorded_prior(core) is None:
            raise ValueError(
                f"prior_correction {chosen.prior_correction:g} needs the colour prior of the model's "
                "training set, which this model does not record (a file written before it was "
                "saved with the model): decode with prior_correction 0, or retrain the model"
            )
    return chosen


def decode_output(
    model,
    output: np.ndarray,
    size: tuple[int, int],
    decoding: Decoding | None = None,
    *,
    temperature: float | None = None,
    confidence: float | None = None,
    prior_correction: float | None = None,
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
    chosen = decoding_for(
        model,
        decoding,
        temperature=temperature,
        confidence=confidence,
        prior_correction=prior_correction,
    )
    shift = None
    if chosen.prior_correction:  # decoding_for checked that the model records its prior
        from colored.bins import prior_logit_shift

        prior = recorded_prior(inference_model(model))
        shift = prior_logit_shift(prior, chosen.prior_correction)
    ab = decode_logits(output, chosen.temperature, chosen.confidence, shift)
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
            resize_plane(ab_small[..., c], (height, width), Image.Resampling.BILINEAR)
            for c in range(2)
        ],
        axis=-1,
    )
    return color.lab_to_rgb_uint8(l_full, ab)
