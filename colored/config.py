"""One configuration object that flows through data → pipeline → model → train.

Every field is checked when a ``Config`` is made (Python, the command line, YAML/JSON files and the
notebooks' papermill parameters all go through here) by the rules declared on it
(:mod:`colored.fields`): a bad value raises :class:`ConfigError`, one line naming the field, the value
and what is allowed.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from annotated_types import Ge, Gt, Le, MinLen

from colored.fields import ConfigError, check_field, hints_of, parse_text

Backbone = Literal["inception_resnet_v2", "mobilenet_v2", "mobilenet_v2_14x14", "none"]
#: Backbones whose embedding is a feature map (shape), fused at every bottleneck cell (hypercolumn-
#: style, resized to the bottleneck grid) instead of one vector tiled over it: where things are,
#: not only what the photo shows. The others give ``embedding_dim`` class probabilities.
SPATIAL_EMBEDDINGS: dict[str, tuple[int, int, int]] = {"mobilenet_v2_14x14": (14, 14, 96)}
#: A folder's path: a string that is not blank.
Folder = Annotated[str, MinLen(1)]
#: Fields earlier versions had and wrote into run folders' config.json; read back, they are dropped.
RETIRED_FIELDS = ("extra",)
#: Fields earlier versions wrote under another name (config.json files, model files' colored.json,
#: recipes): read back under the new one.
RENAMED_FIELDS = {"model": "architecture", "data_dir": "dataset_dir"}

# (filters, stride) of each encoder convolution, and filters of each decoder convolution with
# ``"up"`` marking an UpSampling2D(2): ColorED's two networks. Data, not layers, so that Config can
# check image sizes against the strides without importing Keras.
ARCHITECTURES: dict[str, dict[str, list]] = {
    "full": {
        "encoder": [(64, 2), (128, 1), (128, 2), (256, 1), (256, 2), (512, 1), (512, 1), (256, 1)],
        "decoder": [128, "up", 64, "up", 32, 16],
    },
    "simplified": {
        "encoder": [(32, 2), (64, 2), (128, 2)],
        "decoder": [128, "up", 64, "up", 32],
    },
}


def size_multiple(architecture: str) -> int:
    """Image sizes ``architecture`` accepts are multiples of this: the encoder's strides, and ×2 for the
    heads, which predict at half the input size."""
    return math.prod(stride for _, stride in ARCHITECTURES[architecture]["encoder"]) * 2


#: The default decoding of a classification model (the one place it is written; a model file saves the
#: decoding it was chosen with, colored.modelfile.DECODING_FIELDS, and that wins over these).
#: Annealed-mean temperature (Zhang et al. 2016): lower is more vivid, 1.0 the plain mean.
DEFAULT_TEMPERATURE = 0.7
#: Strength of confidence-aware decoding (colored.bins.decode_logits): 0 is the plain annealed mean.
#: Off by default: the default model is rarely sure (σ ≥ 11 Lab units), so any c ≥ 1 mutes every pixel
#: (measured: colored/weights/MODEL_CARD.md, "Decoding").
DEFAULT_CONFIDENCE = 0.0
#: Test-time horizontal-flip averaging: off by default (measured in docs/vivid_colour.md).
DEFAULT_FLIP = False
#: Strength τ of the prior correction (logit adjustment, Menon et al. 2021): the log of the training
#: set's colour prior, times τ, is taken from the logits, so rare saturated colours the model finds
#: plausible win over the common dull ones. 0 = the model's own distribution. A model trained without
#: class rebalancing is calibrated but dull: it decodes vivid with τ > 0, chosen on validation.
DEFAULT_PRIOR_CORRECTION = 0.0
Temperature = Annotated[float, Gt(0)]
Confidence = Annotated[float, Ge(0)]


@dataclass(frozen=True)
class Decoding:
    """How a classification model's predicted colour distribution becomes one ab per pixel: the
    annealed mean at ``temperature`` (Zhang et al. 2016; lower is more vivid, 1 the plain mean),
    pulled toward the plain mean where the distribution is wide (``confidence``; 0 = off), after
    averaging with the mirrored photo's prediction (``flip``), with the training set's colour prior
    divided out to the power ``prior_correction`` (0 = off). A model file saves the decoding it
    was chosen with (colored.modelfile); :func:`colored.predict.decoding_for` says which one a call
    uses. Regression (MSE) models have no distribution: only ``flip`` applies to them."""

    temperature: Temperature = DEFAULT_TEMPERATURE
    confidence: Confidence = DEFAULT_CONFIDENCE
    flip: bool = DEFAULT_FLIP
    prior_correction: Confidence = DEFAULT_PRIOR_CORRECTION

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            checked = check_field(f.name, getattr(self, f.name), hints_of(Decoding))
            object.__setattr__(self, f.name, checked)

    def but(self, **changes: Any) -> Decoding:
        """This decoding with the given fields changed; a change of None keeps the field."""
        changes = {name: value for name, value in changes.items() if value is not None}
        return dataclasses.replace(self, **changes) if changes else self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str | None = None) -> Decoding:
        """A Decoding from the mapping's decoding fields (others ignored); ``source`` prefixes errors."""
        names = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: v for k, v in values.items() if k in names})
        except ConfigError as error:
            raise ConfigError(f"{source}: {error}" if source else str(error)) from None


@dataclass
class Config:
    """Every knob of a colorization run. Defaults reproduce ColorED design.

    ``backbone_weights`` is ``"imagenet"`` (InceptionResNetV2: downloaded by Keras once, then cached;
    ``backbone="mobilenet_v2"``: the ImageNet weights shipped in the package, offline), a path to a
    weights file (``.h5``; MobileNetV2: ``.npz``), or ``None`` (random init: only useful for tests). ``backbone="none"``
    builds the no-fusion variant that needs no embedding at all; ``"mobilenet_v2_14x14"`` fuses
    MobileNetV2's 14×14 feature map instead of its class probabilities (:data:`SPATIAL_EMBEDDINGS`).
    """

    # data
    dataset_dir: Folder = "data/sample"  # one dataset: train/ (and test/), or a folder of photos
    image_size: Annotated[int, Ge(16)] = 256
    batch_size: Annotated[int, Ge(1)] = 16
    augment: bool = True
    augment_views: Annotated[int, Ge(1)] = 8  # fixed augmentations per photo (embeddings cached)
    shuffle: bool = True
    limit: Annotated[int, Ge(1)] | None = None  # the first N training images (memorization: 1)
    # model
    architecture: Literal["full", "simplified"] = "full"  # ColorED's two networks
    backbone: Backbone = "inception_resnet_v2"
    backbone_weights: str | None = "imagenet"
    embedding_dim: Annotated[int, Ge(1)] = 1000
    # the embedding is scaled by it before the fusion conv. With Adam every weight moves ~lr per step,
    # so a gain k lets a warm-started (zero-initialised) fusion path learn k times faster than the rest
    fusion_gain: Annotated[float, Gt(0)] = 1.0
    batch_norm: bool = False  # ColorED has none; helps the classification head train on CPU
    loss: Literal["mse", "classification"] = "mse"
    # annealed-mean decoding for the classification head (lower: more vivid; 1: the plain mean)
    temperature: Temperature = DEFAULT_TEMPERATURE
    # confidence-aware decoding (colored.bins.decode_logits): per pixel, pull the colour toward the
    # distribution's mean as the predicted distribution spreads; 0 = off
    confidence: Confidence = DEFAULT_CONFIDENCE
    # class rebalancing of the classification loss (Zhang et al.'s λ): weights ∝ ((1 − λ)·prior + λ/Q)⁻¹;
    # 1 = no rebalancing (duller, safer colour), lower = rare saturated colours weigh more
    rebalance: Annotated[float, Ge(0), Le(1)] = 0.5
    init_weights: str | None = None  # a .keras model (same architecture) to start training from
    exclude_validation: bool = (
        False  # train without colored.data.is_validation photos; validate on them
    )
    # training
    epochs: Annotated[int, Ge(1)] = 200
    learning_rate: Annotated[float, Gt(0)] = 1e-3
    steps_per_epoch: Annotated[int, Ge(1)] | None = None
    lr_patience: Annotated[int, Ge(0)] = 5  # ReduceLROnPlateau patience in epochs (ColorED's 5)
    max_minutes: Annotated[float, Gt(0)] | None = None  # stop after the epoch that crosses it
    figure_every: Annotated[int, Ge(1)] = 10  # epochs between comparison figures (ColorED's)
    ab_accuracy_threshold: Annotated[float, Gt(0)] = 10.0  # Lab units: what "accurate" means
    seed: Annotated[int, Ge(0)] = 42
    run_dir: Folder = "runs/default"
    cache_dir: Folder = "data/cache"
    # speed switches: "auto" (the default) is resolved when training starts, by
    # colored.devices.resolve_speed alone: the fast settings on a GPU, ColorED's (off) on a CPU.
    # PyDataset worker threads preparing batches while the model trains. Keep ≥ 2 on TensorFlow:
    # with 0 or 1 Keras feeds fit through tf.data's autotuned prefetch, and tearing that iterator
    # down at every epoch end blocks on its autotune thread (measured: up to 20 s per epoch here).
    workers: Annotated[int, Ge(0)] = 2
    max_queue_size: Annotated[int, Ge(1)] = 10
    # keep every augmented view in memory after its first use (auto: on a GPU, when they fit)
    cache_views: bool | Literal["auto"] = "auto"
    # batches carry RGB; Lab conversion + normalisation run in the model graph (auto: on a GPU)
    lab_in_graph: bool | Literal["auto"] = "auto"
    jit_compile: bool | Literal["auto"] = "auto"  # Keras' own "auto"
    steps_per_execution: Annotated[int, Ge(1)] = 1
    # layers compute in it, outputs float32 (auto: bfloat16 on compute capability ≥ 8, else float16
    # on a GPU; none on a CPU)
    mixed_precision: Literal["none", "float16", "bfloat16", "auto"] = "auto"
    # TF strategies / JAX DataParallel
    distribute: Literal["none", "mirrored", "multi_worker", "data_parallel"] = "none"

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, check_field(f.name, getattr(self, f.name), hints_of(Config)))
        multiple = size_multiple(self.architecture)
        if self.image_size % multiple:
            lower = max(multiple, self.image_size // multiple * multiple)
            raise ConfigError(
                f"image_size = {self.image_size} is not allowed for architecture '{self.architecture}': it must "
                f"be a multiple of {multiple} (the network's strides), e.g. {lower} or {lower + multiple}"
            )

    @property
    def fusion(self) -> bool:
        return self.backbone != "none"

    @property
    def embedding_shape(self) -> tuple[int, ...]:
        """The fusion input's shape per photo: the backbone's feature map, or ``(embedding_dim,)``."""
        return SPATIAL_EMBEDDINGS.get(self.backbone, (self.embedding_dim,))

    @property
    def decoding(self) -> Decoding:
        """The run's decoding (its figures; the model file it saves records it)."""
        return Decoding(temperature=self.temperature, confidence=self.confidence)

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        """Write the config as JSON, atomically (a kill never leaves half a file)."""
        from colored.io.files import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=2))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str | None = None) -> Config:
        """A Config from a mapping; ``source`` (e.g. the file it came from) prefixes error messages."""
        if not isinstance(values, Mapping):
            raise ConfigError(
                f"{source or 'a config'} must be a mapping of Config fields to values, got {type(values).__name__}"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        values = {
            RENAMED_FIELDS.get(key, key): value
            for key, value in values.items()
            if key not in RETIRED_FIELDS
        }
        unknown = sorted(set(values) - known)
        if unknown:
            where = f" in {source}" if source else ""
            raise ConfigError(f"unknown config keys {unknown}{where}; valid keys: {sorted(known)}")
        try:
            return cls(**values)
        except ConfigError as error:
            raise ConfigError(f"{source}: {error}" if source else str(error)) from None

    @classmethod
    def load(cls, path: str | Path) -> Config:
        """Read a JSON or YAML config file (one-line errors for unreadable or malformed files)."""
        try:
            text = Path(path).read_text()
        except FileNotFoundError:
            raise FileNotFoundError(f"config file {path} not found") from None
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"cannot read config file {path}: {error}") from None
        if str(path).endswith((".yaml", ".yml")):
            import yaml

            try:
                values = yaml.safe_load(text) or {}
            except yaml.YAMLError as error:
                mark = getattr(error, "problem_mark", None)
                where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
                problem = getattr(error, "problem", None) or type(error).__name__
                raise ConfigError(f"{path} is not valid YAML{where}: {problem}") from None
        else:
            try:
                values = json.loads(text)
            except json.JSONDecodeError as error:
                raise ConfigError(
                    f"{path} is not valid JSON (line {error.lineno}, column {error.colno}): "
                    f"{error.msg}"
                ) from None
        return cls.from_dict(values, source=str(path))


def validate_fields(values: Mapping[str, Any]) -> None:
    """Check a partial mapping of Config fields (other names are ignored), e.g. notebook parameters,
    against the same rules as ``Config(**values)``; raises :class:`ConfigError`."""
    names = {f.name for f in dataclasses.fields(Config)}
    Config(**{key: value for key, value in values.items() if key in names})


def parse_field_text(name: str, text: str) -> Any:
    """A command-line string → the Python value for Config field ``name`` (:func:`colored.fields.parse_text`)."""
    return parse_text(name, text, hints_of(Config))
