"""One configuration object that flows through data → pipeline → model → train."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Backbone = Literal["inception_resnet_v2", "none"]


@dataclass
class Config:
    """Every knob of a colorization run. Defaults reproduce the seed (ColorED) design.

    ``backbone_weights`` is ``"imagenet"`` (downloaded by Keras once, then cached), a path to an
    ``.h5`` weights file, or ``None`` (random init: only useful for tests). ``backbone="none"``
    builds the no-fusion variant that needs no embedding at all.
    """

    # data
    data_dir: str = "data/sample"
    image_size: int = 256
    batch_size: int = 16
    augment: bool = True
    augment_views: int = 8  # fixed augmentations per photo (so embeddings can be cached)
    shuffle: bool = True
    limit: int | None = None  # use only the first N training images (memorization test: 1)
    # model
    model: Literal["full", "simplified"] = "full"
    backbone: Backbone = "inception_resnet_v2"
    backbone_weights: str | None = "imagenet"
    embedding_dim: int = 1000
    batch_norm: bool = False  # the seed has none; helps the classification head train on CPU
    loss: Literal["mse", "classification"] = "mse"
    temperature: float = 0.38  # annealed-mean decoding for the classification head
    # training
    epochs: int = 200
    learning_rate: float = 1e-3
    steps_per_epoch: int | None = None
    lr_patience: int = 5  # ReduceLROnPlateau patience in epochs (the seed's 5)
    max_minutes: float | None = None  # stop after the epoch that crosses this wall-clock budget
    figure_every: int = 10  # epochs between comparison figures (the seed's callback)
    ab_accuracy_threshold: float = 10.0  # Lab units; what "accurate" means for a pixel's ab
    seed: int = 42
    run_dir: str = "runs/default"
    cache_dir: str = "data/cache"
    # speed switches (issue: training throughput). Off by default (the seed's behaviour), except
    # workers; the fast CPU set is cache_views + lab_in_graph (README, "Training throughput").
    # PyDataset worker threads preparing batches while the model trains. Keep ≥ 2 on TensorFlow:
    # with 0 or 1 Keras feeds fit through tf.data's autotuned prefetch, and tearing that iterator
    # down at every epoch end blocks on its autotune thread (measured: up to 20 s per epoch here).
    workers: int = 2
    max_queue_size: int = 10
    cache_views: bool = False  # keep every augmented view in memory after its first use
    lab_in_graph: bool = False  # batches carry RGB; Lab conversion + normalisation run in the model graph
    jit_compile: bool | Literal["auto"] = "auto"
    steps_per_execution: int = 1
    mixed_precision: Literal["none", "float16", "bfloat16"] = "none"  # layers compute in it, outputs float32
    distribute: Literal["none", "mirrored", "multi_worker", "data_parallel"] = "none"  # TF strategies / JAX DataParallel
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fusion(self) -> bool:
        return self.backbone != "none"

    def replace(self, **changes: Any) -> "Config":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Config":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; valid keys: {sorted(known)}")
        return cls(**values)

    @classmethod
    def load(cls, path: str | Path) -> "Config":
        """Read a JSON or YAML config file."""
        text = Path(path).read_text()
        if str(path).endswith((".yaml", ".yml")):
            import yaml

            values = yaml.safe_load(text) or {}
        else:
            values = json.loads(text)
        return cls.from_dict(values)
