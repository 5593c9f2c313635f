"""Batches for training: a ``keras.utils.PyDataset`` doing ColorED's eight generator steps.

1. read the RGB image (resized to ``image_size``²; decoded images are kept in memory),
2. scale to [0, 1], 3. augment (geometric only, on uint8), 4. gray RGB of the augmented image,
5. the backbone embedding of that gray image, 6. RGB → Lab, 7. split L / ab, 8. ab / 128.

Differences from ColorED, on purpose:
- every batch has exactly ``batch_size`` images (ColorED yielded ``batch_size + 1``); in training
  the remainder that does not fill a batch is dropped (reshuffled each epoch, so nothing is lost
  for good), which also keeps tensor shapes fixed for compiled steps;
- L, ab and the embedding come from the *same* augmented image. To make that cacheable, each photo
  has ``augment_views`` fixed augmentations (view k uses seed ``(seed, image, k)``); every epoch
  draws one view per photo. Each view's embedding is computed once and cached on disk, instead of
  once per batch per epoch (ColorED), and never mismatched with its L/ab (also ColorED).
"""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
from PIL import Image

from colored import color
from colored.augment import augment, build_augmenter
from colored.config import Config
from colored.devices import resolve_speed
from colored.embed import Embedder
from colored.io.images import read_rgb


def load_resized(path: str | Path, size: int) -> np.ndarray:
    """Read an image and resize it to ``size``² uint8 RGB (ColorED resized to 256², ignoring aspect)."""
    rgb = read_rgb(path)
    if rgb.shape[:2] != (size, size):
        rgb = np.asarray(Image.fromarray(rgb).resize((size, size), Image.Resampling.BICUBIC))
    return rgb


class ColorizationDataset(keras.utils.PyDataset):
    """Yields ``(L/100, ab/128)`` or ``((L/100, embedding), ab/128)`` batches of photos.

    ``training=True`` shuffles, augments and drops the last partial batch; ``training=False`` keeps
    every image in order, unaugmented.
    """

    def __init__(
        self,
        paths: list[str | Path],
        config: Config,
        *,
        training: bool = True,
        embedder: Embedder | None = None,
        cache_images: bool = True,
        **pydataset_kwargs,
    ) -> None:
        config = resolve_speed(config, photos=len(paths))  # "auto" switches: GPU or CPU values
        pydataset_kwargs.setdefault("workers", config.workers)
        pydataset_kwargs.setdefault("max_queue_size", config.max_queue_size)
        super().__init__(**pydataset_kwargs)
        if not paths:
            raise ValueError("ColorizationDataset got no image paths: check the data folder.")
        self.paths = [Path(p) for p in paths]
        self.config = config
        self.training = training
        self.batch_size = min(config.batch_size, len(self.paths))
        self.augmented = training and config.augment
        self.views = max(1, config.augment_views) if self.augmented else 1
        if config.fusion and embedder is None:
            embedder = Embedder(
                config.backbone_weights, cache_dir=config.cache_dir, backbone=config.backbone
            )
        self.embedder = embedder if config.fusion else None
        self._images: dict[int, np.ndarray] | None = {} if cache_images else None
        self._views: dict[tuple[int, int], np.ndarray] | None = {} if config.cache_views else None
        self._embedding_keys: dict[
            tuple[int, int], str
        ] = {}  # hashing stats the photo: once per view
        self.epoch = 0
        self._order = self._epoch_order(0)

    def __len__(self) -> int:
        # Data-parallel steps need batches that split evenly over devices: no partial batch then.
        if self.training or self.config.distribute != "none":
            return len(self.paths) // self.batch_size
        return math.ceil(len(self.paths) / self.batch_size)

    def _epoch_order(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self.config.seed, epoch])
        order = np.arange(len(self.paths))
        if self.training and self.config.shuffle:
            rng.shuffle(order)
        return order

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._order = self._epoch_order(self.epoch)

    def image(self, index: int) -> np.ndarray:
        """Step 1: the decoded, resized photo (kept in memory after the first read)."""
        if self._images is not None and index in self._images:
            return self._images[index]
        rgb = load_resized(self.paths[index], self.config.image_size)
        if self._images is not None:
            self._images[index] = rgb
        return rgb

    def view_of(self, index: int) -> int:
        if self.views == 1:
            return 0
        return int(
            np.random.default_rng([self.config.seed, self.epoch, index]).integers(self.views)
        )

    def augmented_image(self, index: int, view: int) -> np.ndarray:
        """Steps 2–3: this photo's fixed augmentation number ``view`` (uint8, geometric only)."""
        if self._views is not None and (index, view) in self._views:
            return self._views[index, view]
        rgb = self.image(index)
        if self.augmented:
            view_seed = int(np.random.default_rng([self.config.seed, index, view]).integers(2**31))
            rgb = augment(build_augmenter(True, seed=view_seed), rgb)
        if self._views is not None:
            self._views[index, view] = rgb
        return rgb

    def embedding_key(self, index: int, view: int) -> str:
        """Embedding cache key of photo ``index``'s view: it names everything that shapes the view's
        pixels, so a changed size, seed or augmentation switch never reuses a stale embedding."""
        key = self._embedding_keys.get((index, view))
        if key is None:
            kind = f"aug{self.config.seed}-{view}" if self.augmented else "plain"
            key = self._embedding_keys[index, view] = Embedder.cache_key(
                self.paths[index], f"{self.config.image_size}:{kind}"
            )
        return key

    def precompute(self, batch_size: int = 32) -> None:
        """Decode every photo and embed every augmentation view now, in large batches, instead of
        during the first epochs (the embeddings land in the disk cache; views in memory if cached)."""
        pairs = [(i, v) for i in range(len(self.paths)) for v in range(self.views)]
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start : start + batch_size]
            rgb = [self.augmented_image(i, v) for i, v in chunk]
            if self.embedder is not None:
                keys = [self.embedding_key(i, v) for i, v in chunk]
                if not self.embedder.has_all(keys):
                    self.embedder.cached(keys, color.rgb_to_gray(np.stack(rgb)))

    def __getitem__(self, batch_index: int):
        if not 0 <= batch_index < len(self):
            raise IndexError(f"batch {batch_index} out of range (0..{len(self) - 1})")
        start = batch_index * self.batch_size
        indices = self._order[start : start + self.batch_size]
        views = [self.view_of(int(i)) for i in indices]
        rgb = np.stack([self.augmented_image(int(i), v) for i, v in zip(indices, views)])
        if self.config.lab_in_graph:
            # Steps 2 and 6–8 happen in the model (colored.color.rgb_to_model_input_tensor): the
            # batch is the uint8 RGB image, as input and as target.
            lightness = ab = rgb
        else:
            lightness, ab = color.rgb_to_model_input(rgb)  # steps 2, 6–8
        if self.embedder is None:
            return lightness, ab
        keys = [self.embedding_key(int(i), v) for i, v in zip(indices, views)]
        if self.embedder.has_all(keys):
            embedding = self.embedder.cached(keys, None)
        else:
            embedding = self.embedder.cached(keys, color.rgb_to_gray(rgb))  # steps 4–5
        return (lightness, embedding), ab
