"""The colorization networks: encoder → fusion → decoder → head.

``FullModel`` and ``SimplifiedModel`` follow ColorED exactly (FACTS.md): the FullModel has
6,541,202 parameters at 256² with the 1000-d fusion. Everything is Keras 3 layers and ``keras.ops``,
so the same code runs on the TensorFlow, JAX and torch backends.

Heads:
- ``mse`` (seed): Conv2D(2, tanh) → ab/128, upsampled ×2 to the input size;
- ``classification`` (Zhang et al. 2016): Conv2D(Q) logits over the in-gamut ab bins at half the
  input size (Zhang predicts at a quarter) over :mod:`colored.bins`' grid;
  :func:`colored.predict.predict_ab` decodes them by annealed mean (:func:`colored.bins.decode_logits`).

Networks only: loading a saved model and predicting with it is :mod:`colored.inference`.
"""

from __future__ import annotations

import keras
from keras import layers

from colored.bins import num_bins
from colored.config import ARCHITECTURES, Config
from colored.devices import resolve_speed


def _conv(x, filters: int, stride: int, batch_norm: bool, name: str, dtype=None):
    """3×3 'same' convolution with ReLU (and BatchNormalization before the ReLU when asked)."""
    if not batch_norm:
        return layers.Conv2D(
            filters, 3, strides=stride, padding="same", activation="relu", name=name, dtype=dtype
        )(x)
    x = layers.Conv2D(
        filters, 3, strides=stride, padding="same", use_bias=False, name=name, dtype=dtype
    )(x)
    x = layers.BatchNormalization(name=f"{name}_bn", dtype=dtype)(x)
    return layers.ReLU(name=f"{name}_relu", dtype=dtype)(x)


def dtype_policy(config: Config) -> str | None:
    """``mixed_float16`` / ``mixed_bfloat16``: compute in half precision, keep float32 weights."""
    precision = resolve_speed(config).mixed_precision  # "auto": this machine's choice
    return None if precision == "none" else f"mixed_{precision}"


def build_model(config: Config) -> keras.Model:
    """Build the network described by ``config`` (architecture, fusion, head, image size)."""
    arch = ARCHITECTURES[config.architecture]
    size = config.image_size
    policy = dtype_policy(config)
    lightness = keras.Input((size, size, 1), name="L")
    inputs = [lightness]
    x = lightness
    for i, (filters, stride) in enumerate(arch["encoder"]):
        x = _conv(x, filters, stride, config.batch_norm, f"encoder_{i}", policy)

    if config.fusion:
        embedding = keras.Input(config.embedding_shape, name="embedding")
        inputs.append(embedding)
        fused = embedding
        # a learning-rate multiplier for a warm-started fusion path (Config.fusion_gain)
        if config.fusion_gain != 1:
            gain = layers.Rescaling(config.fusion_gain, name="fusion_gain", dtype=policy)
            fused = gain(embedding)
        tiled = OntoGrid(name="fusion_grid", dtype=policy)([fused, x])
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
        x = layers.Conv2D(2, 3, padding="same", activation="tanh", name="ab_conv", dtype="float32")(
            x
        )
        outputs = layers.UpSampling2D(2, name="ab", dtype="float32")(x)
    name = {"full": "FullModel", "simplified": "SimplifiedModel"}[config.architecture]
    return keras.Model(
        inputs if len(inputs) > 1 else lightness,
        outputs,
        name=name if config.fusion else f"{name}_nofusion",
    )


@keras.saving.register_keras_serializable("colored")
class OntoGrid(layers.Layer):
    """The fusion input laid onto the bottleneck's grid, whatever its size, so that a fusion model
    runs at any aspect ratio: a vector (ColorED's class probabilities) is repeated at every cell, a
    feature map resized (bilinear) onto it. ``[embedding, grid]`` → ``(N, h, w, channels)``."""

    def call(self, inputs):
        embedding, grid = inputs
        shape = keras.ops.shape(grid)
        if len(embedding.shape) == 2:
            return keras.ops.broadcast_to(
                embedding[:, None, None, :], (shape[0], shape[1], shape[2], embedding.shape[-1])
            )
        return keras.ops.image.resize(embedding, (shape[1], shape[2]), interpolation="bilinear")

    def compute_output_shape(self, input_shape):
        embedding, grid = input_shape
        return (grid[0], grid[1], grid[2], embedding[-1])


@keras.saving.register_keras_serializable("colored")
class RgbToLightness(layers.Layer):
    """RGB batch → L/100 inside the graph (the ``lab_in_graph`` training switch)."""

    def call(self, rgb):
        from colored.color import rgb_to_model_input_tensor

        return rgb_to_model_input_tensor(rgb, scale=255.0)[0]


def training_model(core: keras.Model, config: Config) -> keras.Model:
    """The model ``fit`` sees. With ``lab_in_graph`` it takes uint8 RGB and converts in the graph;
    the L-input ``core`` stays the model that is saved and used for inference."""
    if not resolve_speed(config).lab_in_graph:
        return core
    rgb = keras.Input((config.image_size, config.image_size, 3), dtype="uint8", name="rgb")
    lightness = RgbToLightness(name="rgb_to_l")(rgb)
    if needs_embedding(core):
        embedding = keras.Input(config.embedding_shape, name="embedding")
        return keras.Model([rgb, embedding], core([lightness, embedding]), name=f"{core.name}_rgb")
    return keras.Model(rgb, core(lightness), name=f"{core.name}_rgb")


def inference_model(model: keras.Model) -> keras.Model:
    """The L-input network inside a :func:`training_model` wrapper (RGB input, one inner model), or
    the model itself (also any model that is neither: :func:`colored.loading.check_model` judges)."""
    inputs = list(getattr(model, "inputs", None) or [])
    if inputs and len(inputs[0].shape) == 4 and inputs[0].shape[-1] == 3:
        inner = [layer for layer in getattr(model, "layers", []) if isinstance(layer, keras.Model)]
        if len(inner) == 1:
            return inner[0]
    return model


def needs_embedding(model: keras.Model) -> bool:
    return len(model.inputs) > 1


def input_size(model: keras.Model) -> tuple[int, int]:
    """``(height, width)`` the network runs at (its training size); the Config default for a fully
    convolutional model built without a size."""
    height, width = tuple(model.inputs[0].shape[1:3])
    if height is None or width is None:
        return Config().image_size, Config().image_size
    return int(height), int(width)


def is_classification(model: keras.Model) -> bool:
    return int(model.outputs[0].shape[-1]) != 2
