"""The colorization networks: encoder → fusion → decoder → head.

``FullModel`` and ``SimplifiedModel`` follow the seed exactly (FACTS.md): the FullModel has
6,541,202 parameters at 256² with the 1000-d fusion. Everything is Keras 3 layers and ``keras.ops``,
so the same code runs on the TensorFlow, JAX and torch backends.

Heads:
- ``mse`` (seed): Conv2D(2, tanh) → ab/128, upsampled ×2 to the input size;
- ``classification`` (Zhang et al. 2016): Conv2D(Q) logits over the in-gamut ab bins at half the
  input size (Zhang predicts at a quarter); :func:`predict_ab` decodes them by annealed mean.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import layers

from colored.config import ARCHITECTURES, Config, size_multiple

def _conv(x, filters: int, stride: int, batch_norm: bool, name: str, dtype=None):
    """3×3 'same' convolution with ReLU (and BatchNormalization before the ReLU when asked)."""
    if not batch_norm:
        return layers.Conv2D(filters, 3, strides=stride, padding="same", activation="relu", name=name,
                             dtype=dtype)(x)
    x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=name, dtype=dtype)(x)
    x = layers.BatchNormalization(name=f"{name}_bn", dtype=dtype)(x)
    return layers.ReLU(name=f"{name}_relu", dtype=dtype)(x)


def dtype_policy(config: Config) -> str | None:
    """``mixed_float16`` / ``mixed_bfloat16``: compute in half precision, keep float32 weights."""
    return None if config.mixed_precision == "none" else f"mixed_{config.mixed_precision}"


def num_bins() -> int:
    from colored.losses import ab_bins

    return len(ab_bins())


def build_model(config: Config) -> keras.Model:
    """Build the network described by ``config`` (architecture, fusion, head, image size)."""
    arch = ARCHITECTURES[config.model]
    size = config.image_size
    downsampling = size_multiple(config.model) // 2  # Config already checked the size
    policy = dtype_policy(config)
    lightness = keras.Input((size, size, 1), name="L")
    inputs = [lightness]
    x = lightness
    for i, (filters, stride) in enumerate(arch["encoder"]):
        x = _conv(x, filters, stride, config.batch_norm, f"encoder_{i}", policy)

    bottleneck = size // downsampling
    if config.fusion:
        embedding = keras.Input((config.embedding_dim,), name="embedding")
        inputs.append(embedding)
        tiled = layers.RepeatVector(bottleneck * bottleneck, name="fusion_repeat", dtype=policy)(embedding)
        tiled = layers.Reshape((bottleneck, bottleneck, config.embedding_dim), name="fusion_reshape",
                               dtype=policy)(tiled)
        x = layers.Concatenate(name="fusion_concat", dtype=policy)([x, tiled])
    x = layers.Conv2D(256, 1, activation="relu", name="fusion", dtype=policy)(x)

    up = 0
    for i, step in enumerate(arch["decoder"]):
        if step == "up":
            up += 1
            x = layers.UpSampling2D(2, name=f"decoder_up_{up}", dtype=policy)(x)
        else:
            x = _conv(x, step, 1, config.batch_norm, f"decoder_{i}", policy)

    if config.loss == "classification":
        # float32 output: logits must not be float16 under mixed precision (softmax overflows).
        outputs = layers.Conv2D(num_bins(), 1, name="ab_logits", dtype="float32")(x)
    else:
        x = layers.Conv2D(2, 3, padding="same", activation="tanh", name="ab_conv", dtype="float32")(x)
        outputs = layers.UpSampling2D(2, name="ab", dtype="float32")(x)
    name = {"full": "FullModel", "simplified": "SimplifiedModel"}[config.model]
    return keras.Model(inputs if len(inputs) > 1 else lightness, outputs,
                       name=name if config.fusion else f"{name}_nofusion")


@keras.saving.register_keras_serializable("colored")
class RgbToLightness(layers.Layer):
    """RGB batch → L/100 inside the graph (the ``lab_in_graph`` training switch)."""

    def call(self, rgb):
        from colored.color import rgb_to_model_input_tensor

        return rgb_to_model_input_tensor(rgb, scale=255.0)[0]


def training_model(core: keras.Model, config: Config) -> keras.Model:
    """The model ``fit`` sees. With ``lab_in_graph`` it takes uint8 RGB and converts in the graph;
    the L-input ``core`` stays the model that is saved and used for inference."""
    if not config.lab_in_graph:
        return core
    rgb = keras.Input((config.image_size, config.image_size, 3), dtype="uint8", name="rgb")
    lightness = RgbToLightness(name="rgb_to_l")(rgb)
    if needs_embedding(core):
        embedding = keras.Input((config.embedding_dim,), name="embedding")
        return keras.Model([rgb, embedding], core([lightness, embedding]), name=f"{core.name}_rgb")
    return keras.Model(rgb, core(lightness), name=f"{core.name}_rgb")


def inference_model(model: keras.Model) -> keras.Model:
    """The L-input network inside a :func:`training_model` wrapper (or the model itself)."""
    if model.inputs[0].shape[-1] == 3:
        return next(layer for layer in model.layers if isinstance(layer, keras.Model))
    return model


def needs_embedding(model: keras.Model) -> bool:
    return len(model.inputs) > 1


def input_size(model: keras.Model) -> int:
    return int(model.inputs[0].shape[1])


def is_classification(model: keras.Model) -> bool:
    return int(model.outputs[0].shape[-1]) != 2


def decode_logits(logits, temperature: float = 0.38):
    """Annealed mean (Zhang et al. 2016): ab = Σ softmax(logits / T) · bin centre, in Lab units.

    T → 0 is the mode (vivid, noisy); T = 1 the mean (the sepia of MSE). ``keras.ops`` so it can
    run in a compiled metric as well as at inference.
    """
    from colored.losses import ab_bins

    bins = keras.ops.convert_to_tensor(ab_bins(), dtype="float32")
    probabilities = keras.ops.softmax(keras.ops.cast(logits, "float32") / temperature, axis=-1)
    return keras.ops.einsum("...q,qc->...c", probabilities, bins)


def replicas(model: keras.Model | None = None) -> int:
    """How many ways data parallelism splits each batch: the model's TF strategy replicas, or the
    active Keras (JAX) distribution's batch shards; 1 without either.

    Every batch given to such a model must split evenly over the replicas. A batch of 1 on two
    MirroredStrategy replicas leaves one replica an empty batch, which TensorFlow's oneDNN
    convolutions (on by default on x86 CPUs with AVX-512, off on others) reject with
    "input depth must be evenly divisible by filter depth: 1 vs 32".
    """
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


def predict_ab(model: keras.Model, l_norm: np.ndarray, embeddings: np.ndarray | None = None,
               temperature: float | None = None, embedder=None, batch_size: int = 8) -> np.ndarray:
    """Predict ab in Lab units, ``(N, S, S, 2)``, for L/100 images ``(N, S, S, 1)`` at the model's size.

    For a fusion model the embedding is computed from the gray image unless given.
    ``temperature`` only matters for classification models (default 0.38).
    """
    from colored import color

    model = inference_model(model)
    inputs = l_norm.astype(np.float32)
    if needs_embedding(model):
        if embeddings is None:
            from colored.embed import Embedder

            gray = color.lab_to_rgb(np.concatenate([color.denormalize_l(inputs),
                                                    np.zeros(inputs.shape[:-1] + (2,), np.float32)], -1))
            embeddings = (embedder or Embedder("imagenet")).compute(gray)
        inputs = [inputs, embeddings.astype(np.float32)]
    count = len(l_norm)
    shards = replicas(model)
    if count % shards:  # a data-parallel model needs batches that split evenly over its devices
        pad = shards - count % shards
        inputs = [np.concatenate([x, np.repeat(x[-1:], pad, 0)]) for x in np.atleast_1d(inputs)] \
            if isinstance(inputs, list) else np.concatenate([inputs, np.repeat(inputs[-1:], pad, 0)])
    output = model.predict(inputs, batch_size=max(batch_size - batch_size % shards, shards), verbose=0)[:count]
    if not is_classification(model):
        return color.denormalize_ab(output)
    ab = decode_logits(output, 0.38 if temperature is None else temperature)
    size = l_norm.shape[1:3]
    return keras.ops.convert_to_numpy(keras.ops.image.resize(ab, size, interpolation="bilinear")).astype(np.float32)
