"""The semantic embedding fused at the bottleneck: the ImageNet class probabilities of the grayscale
image, computed once per (image, augmentation view) and cached on disk. Two backbones give them:
``"inception_resnet_v2"`` (ColorED's, 299², Keras downloads its weights) and ``"mobilenet_v2"``
(``colored.encoder``: torchvision's MobileNetV2 at 224², weights shipped in the package, so it works
offline). Both give 1000 probabilities, so the fusion network is the same. ``"mobilenet_v2_14x14"``
gives MobileNetV2's 14×14×96 feature map instead (spatial fusion; cached in float16, 37 kB a view).

ColorED recomputed it for every batch of every epoch (91 % of its data time). The cache key is the
image file's path, size and modification time, the augmentation view, and the weights' identity, so
a changed photo or other weights never reuse a stale vector.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from colored import encoder
from colored.config import SPATIAL_EMBEDDINGS
from colored.io.files import atomic_write

BACKBONE_INPUT_SIZE = 299  # InceptionResNetV2's; MobileNetV2's is encoder.INPUT_SIZE (224)
BACKBONES = ("inception_resnet_v2", "mobilenet_v2", "mobilenet_v2_14x14")
MOBILENETS = ("mobilenet_v2", "mobilenet_v2_14x14")  # the packaged encoder, offline
IMAGENET_WEIGHTS_FILE = "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5"
IMAGENET_WEIGHTS_MD5 = "e693bd0210a403b3192acc6073ad2e96"


class BackboneWeightsError(RuntimeError):
    """The ImageNet weights are neither cached nor downloadable (offline)."""


def keras_weights_cache_path() -> Path:
    """Where Keras looks for (and stores) the downloaded ImageNet weights."""
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    return keras_home / "models" / IMAGENET_WEIGHTS_FILE


def offline_weights_message(cause: BaseException | None = None) -> str:
    return (
        "Could not load InceptionResNetV2 ImageNet weights"
        + (f" ({type(cause).__name__}: {cause})" if cause else "")
        + ".\nKeras downloads them once and then reads them from its cache:\n"
        f"  {keras_weights_cache_path()}\n  (md5 {IMAGENET_WEIGHTS_MD5}; a file with another hash is deleted)\n"
        "Alternatives: copy that file there from a machine with internet; or pass a weights file with "
        "Config(backbone_weights='/path/to/weights.h5') / --backbone-weights PATH; or train without "
        "fusion: Config(backbone='none') / --backbone none."
    )


def build_backbone(weights: str | None = "imagenet", backbone: str = "inception_resnet_v2"):
    """The backbone with its ImageNet classifier on top (1000 softmax outputs). ``weights``:
    ``"imagenet"`` (InceptionResNetV2: Keras' download; MobileNetV2: the packaged npz), a file, or None
    (random)."""
    import keras

    if backbone in MOBILENETS:
        try:
            network = encoder.build_mobilenet_v2(
                encoder.WEIGHTS_FILE if weights == "imagenet" else weights
            )
        except encoder.EncoderWeightsError as error:
            raise BackboneWeightsError(str(error)) from None
        if backbone == "mobilenet_v2":
            return network
        features = network.get_layer(encoder.FEATURES["14x14"]).output
        return keras.Model(network.input, features, name=backbone)
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}: expected one of {BACKBONES}")
    if weights not in (None, "imagenet") and not Path(weights).is_file():
        raise BackboneWeightsError(
            f"backbone weights file not found: {weights}\n" + offline_weights_message()
        )
    try:
        return keras.applications.InceptionResNetV2(weights=weights, include_top=True)
    except Exception as error:  # Keras raises a bare Exception("URL fetch failure ...") offline
        if weights == "imagenet":
            raise BackboneWeightsError(offline_weights_message(error)) from error
        raise


def preprocess_gray(gray_rgb: np.ndarray, backbone: str = "inception_resnet_v2") -> np.ndarray:
    """Gray 3-channel images in [0, 1], ``(N, H, W, 3)`` → the backbone's input (InceptionResNetV2:
    299², [-1, 1]; MobileNetV2: 224², ImageNet's mean and std)."""
    import keras

    if backbone in MOBILENETS:
        return encoder.preprocess(gray_rgb)
    resized = keras.ops.image.resize(gray_rgb.astype(np.float32), (BACKBONE_INPUT_SIZE,) * 2)
    # inception_resnet_v2.preprocess_input maps [0, 255] to [-1, 1].
    return keras.ops.convert_to_numpy(resized) * 2.0 - 1.0


class Embedder:
    """Computes backbone embeddings for gray images, with an optional on-disk cache."""

    def __init__(
        self,
        weights: str | None = "imagenet",
        cache_dir: str | Path | None = None,
        batch_size: int = 32,
        backbone: str = "inception_resnet_v2",
    ) -> None:
        if backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {backbone!r}: expected one of {BACKBONES}")
        self.backbone_name = backbone
        self.weights = weights
        self.batch_size = batch_size
        self._backbone = None
        self.cache_dir = None
        if cache_dir is not None:
            self.cache_dir = Path(cache_dir) / "embeddings" / self.weights_id
            self.cache_dir.mkdir(parents=True, exist_ok=True)

    @property
    def weights_id(self) -> str:
        """Names the backbone and its weights (the cache folder): caches never mix them."""
        if self.backbone_name in MOBILENETS:
            weights = encoder.WEIGHTS_FILE if self.weights == "imagenet" else self.weights
            if weights is not None and not Path(weights).is_file():
                raise BackboneWeightsError(
                    f"MobileNetV2 weights file not found: {weights} (backbone_weights='imagenet' "
                    f"uses the packaged {encoder.WEIGHTS_FILE.name}, written by `{encoder.PORT_TOOL}`)"
                )
            return f"{self.backbone_name}-" + (
                "random" if weights is None else encoder.weights_identity(weights)
            )
        if self.weights is None:
            return "random"  # only deterministic with a fixed seed; fine for tests
        if self.weights == "imagenet":
            return "imagenet"
        stat = Path(self.weights).stat()
        return (
            "file-"
            + hashlib.sha1(
                f"{Path(self.weights).resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()
            ).hexdigest()[:12]
        )

    @property
    def spatial(self) -> bool:
        return self.backbone_name in SPATIAL_EMBEDDINGS

    @property
    def shape(self) -> tuple[int, ...]:
        """One photo's embedding: a feature map, or the 1000 class probabilities."""
        return SPATIAL_EMBEDDINGS.get(self.backbone_name, (1000,))

    @property
    def backbone(self):
        if self._backbone is None:
            self._backbone = build_backbone(self.weights, self.backbone_name)
        return self._backbone

    def compute(self, gray_rgb: np.ndarray) -> np.ndarray:
        """Embeddings ``(N, *shape)`` for gray images ``(N, H, W, 3)`` in [0, 1], no cache."""
        batch = preprocess_gray(gray_rgb, self.backbone_name)
        if len(batch) <= 2:
            # One or two images (a notebook, one photo to colorize): a direct call skips predict()'s
            # graph tracing of InceptionResNetV2's ~780 layers, about 10 s on a CPU, for no gain.
            import keras

            return np.asarray(
                keras.ops.convert_to_numpy(self.backbone(batch, training=False)), np.float32
            )
        # Keras traces its predict function once per input shape, and the pipeline asks for however
        # many views are not cached yet: padded to a multiple of 8 and run in chunks of at most
        # batch_size, the shapes stay few (8, 16, 24, 32), so there is no retracing on every call.
        count = len(batch)
        padded = -(-count // 8) * 8
        batch = (
            np.concatenate([batch, np.repeat(batch[-1:], padded - count, axis=0)])
            if padded > count
            else batch
        )
        chunks = [
            self.backbone.predict_on_batch(batch[i : i + self.batch_size])
            for i in range(0, padded, self.batch_size)
        ]
        return np.concatenate([np.asarray(c, np.float32) for c in chunks])[:count]

    @staticmethod
    def cache_key(path: str | Path, view: int | str) -> str:
        """Cache key of one photo's ``view``: anything that names the exact image embedded (the
        pipeline passes size, augmentation switch, seed and view number)."""
        stat = Path(path).stat()
        ident = f"{Path(path).resolve()}:{stat.st_size}:{stat.st_mtime_ns}:{view}"
        return hashlib.sha1(ident.encode()).hexdigest()

    def has_all(self, keys: list[str]) -> bool:
        return self.cache_dir is not None and all(
            (self.cache_dir / f"{key}.npy").exists() for key in keys
        )

    def cached(self, keys: list[str], gray_rgb: np.ndarray | None) -> np.ndarray:
        """Embeddings for ``gray_rgb``, read from the cache where present, computed otherwise.

        ``gray_rgb`` may be None when every key is cached (the gray conversion is then skipped)."""
        if self.cache_dir is None:
            return self.compute(gray_rgb)
        files = [self.cache_dir / f"{key}.npy" for key in keys]
        missing = [i for i, file in enumerate(files) if not file.exists()]
        out = np.empty((len(keys), *self.shape), np.float32)
        if missing:
            fresh = self.compute(gray_rgb[missing])
            for i, vector in zip(missing, fresh):
                out[i] = vector
                # Atomic: a crashed worker never leaves a truncated .npy that would load later; the
                # temporary name is unique, so concurrent workers (threads or processes) never collide.
                # No fsync: a cache, written thousands of times per dataset.
                # a feature map is 18,816 numbers: float16 halves the disk, well within its precision
                stored = vector.astype(np.float16) if self.spatial else vector
                atomic_write(
                    files[i], lambda handle, stored=stored: np.save(handle, stored), sync=False
                )
        for i, file in enumerate(files):
            if i not in missing:
                out[i] = np.load(file)
        return out
