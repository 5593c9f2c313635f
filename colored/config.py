"""One configuration object that flows through data → pipeline → model → train.

Every field is checked when a ``Config`` is made (Python, the command line, YAML/JSON files and the
notebooks' papermill parameters all go through here): a bad value raises :class:`ConfigError`, one
line naming the field, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Backbone = Literal["inception_resnet_v2", "mobilenet_v2", "none"]

# (filters, stride) of each encoder convolution, and filters of each decoder convolution with
# ``"up"`` marking an UpSampling2D(2): the seed's two networks. Data, not layers, so that Config can
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


def size_multiple(model: str) -> int:
    """Image sizes ``model`` accepts are multiples of this: the encoder's strides, and ×2 for the
    heads, which predict at half the input size."""
    return math.prod(stride for _, stride in ARCHITECTURES[model]["encoder"]) * 2


class ConfigError(ValueError):
    """A Config value that is not allowed (one line: field, value, what is allowed)."""


#: The default decoding of a classification model (the one place it is written; a model file saves the
#: decoding it was chosen with, colored.modelfile.DECODING_FIELDS, and that wins over these).
#: Annealed-mean temperature (Zhang et al. 2016): lower is more vivid, 1.0 the plain mean.
DEFAULT_TEMPERATURE = 0.7
#: Strength of confidence-aware decoding (colored.bins.decode_logits): 0 is the plain annealed mean.
#: Off by default: the default model's colour spread σ is ≥ 11 Lab units on nearly every pixel, so any
#: confidence ≥ 1 pulls every pixel to the plain mean and the temperature stops mattering; on the
#: validation split T = 0.7 with c = 0 and with c = 5 are nearly tied (PSNR 22.64 vs 22.66 dB, conf. wrong
#: 0.035 vs 0.033, CF ratio 0.70 vs 0.69: docs/vivid_colour.md, "Default model v2"; the course v3 issue).
DEFAULT_CONFIDENCE = 0.0


@dataclass
class Config:
    """Every knob of a colorization run. Defaults reproduce the seed (ColorED) design.

    ``backbone_weights`` is ``"imagenet"`` (InceptionResNetV2: downloaded by Keras once, then cached;
    ``backbone="mobilenet_v2"``: the ImageNet weights shipped in the package, offline), a path to a
    weights file (``.h5``; MobileNetV2: ``.npz``), or ``None`` (random init: only useful for tests). ``backbone="none"``
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
    temperature: float = DEFAULT_TEMPERATURE  # annealed-mean decoding for the classification head
    # confidence-aware decoding (colored.bins.decode_logits): per pixel, pull the colour toward the
    # distribution's mean as the predicted distribution spreads; 0 = off
    confidence: float = DEFAULT_CONFIDENCE
    # class rebalancing of the classification loss (Zhang et al.'s λ): weights ∝ ((1 − λ)·prior + λ/Q)⁻¹;
    # 1 = no rebalancing (duller, safer colour), lower = rare saturated colours weigh more
    rebalance: float = 0.5
    init_weights: str | None = (
        None  # a .keras model (same architecture) whose weights start training
    )
    exclude_validation: bool = (
        False  # train without colored.data.is_validation photos; validate on them
    )
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
    # speed switches (issue: training throughput). "auto" (the default) is resolved when training
    # starts, by resolve_speed() alone: the fast settings on a GPU, the seed's (off) on a CPU, so CPU
    # runs are what they always were; the fast CPU set is cache_views + lab_in_graph (README,
    # "Training throughput").
    # PyDataset worker threads preparing batches while the model trains. Keep ≥ 2 on TensorFlow:
    # with 0 or 1 Keras feeds fit through tf.data's autotuned prefetch, and tearing that iterator
    # down at every epoch end blocks on its autotune thread (measured: up to 20 s per epoch here).
    workers: int = 2
    max_queue_size: int = 10
    # keep every augmented view in memory after its first use (auto: on a GPU, when they fit)
    cache_views: bool | Literal["auto"] = "auto"
    # batches carry RGB; Lab conversion + normalisation run in the model graph (auto: on a GPU)
    lab_in_graph: bool | Literal["auto"] = "auto"
    jit_compile: bool | Literal["auto"] = "auto"  # Keras' own "auto"
    steps_per_execution: int = 1
    # layers compute in it, outputs float32 (auto: bfloat16 on compute capability ≥ 8, else float16
    # on a GPU; none on a CPU)
    mixed_precision: Literal["none", "float16", "bfloat16", "auto"] = "auto"
    distribute: Literal["none", "mirrored", "multi_worker", "data_parallel"] = (
        "none"  # TF strategies / JAX DataParallel
    )
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, _check_field(f.name, getattr(self, f.name)))
        multiple = size_multiple(self.model)
        if self.image_size % multiple:
            lower = max(multiple, self.image_size // multiple * multiple)
            raise ConfigError(
                f"image_size = {self.image_size} is not allowed for model '{self.model}': it must "
                f"be a multiple of {multiple} (the network's strides), e.g. {lower} or {lower + multiple}"
            )

    @property
    def fusion(self) -> bool:
        return self.backbone != "none"

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        """Write the config as JSON, atomically (a kill never leaves half a file)."""
        from colored.imageio import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=2))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str | None = None) -> Config:
        """A Config from a mapping; ``source`` (e.g. the file it came from) prefixes error messages."""
        if not isinstance(values, Mapping):
            raise ConfigError(
                f"{source or 'a config'} must be a mapping of Config fields to values, got {type(values).__name__}"
            )
        known = {f.name for f in dataclasses.fields(cls)}
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


# --------------------------------------------------------------------------------------------------
# the rules, one per field
# --------------------------------------------------------------------------------------------------

#: Lower bounds of the numeric fields (inclusive; ``_POSITIVE`` ones must be > 0).
_AT_LEAST = {
    "confidence": 0,
    "rebalance": 0,
    "image_size": 16,
    "batch_size": 1,
    "augment_views": 1,
    "limit": 1,
    "embedding_dim": 1,
    "epochs": 1,
    "steps_per_epoch": 1,
    "lr_patience": 0,
    "figure_every": 1,
    "seed": 0,
    "workers": 0,
    "max_queue_size": 1,
    "steps_per_execution": 1,
}
_AT_MOST = {"rebalance": 1}  # upper bounds (inclusive)
_POSITIVE = {"temperature", "learning_rate", "max_minutes", "ab_accuracy_threshold"}
_STRINGS = {"data_dir", "run_dir", "cache_dir"}


def _allowed(hint: Any) -> tuple[set[type], tuple[Any, ...], bool]:
    """(python types, literal choices, None allowed) of a field's type hint."""
    kinds: set[type] = set()
    choices: list[Any] = []
    optional = False
    for arg in (
        typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, _UnionType) else (hint,)
    ):
        if arg is type(None):
            optional = True
        elif typing.get_origin(arg) is Literal:
            choices.extend(typing.get_args(arg))
        elif typing.get_origin(arg) is not None:
            kinds.add(typing.get_origin(arg))
        else:
            kinds.add(arg)
    return kinds, tuple(choices), optional


try:
    from types import UnionType as _UnionType
except ImportError:  # Python < 3.10 has no X | Y at run time
    _UnionType = typing.Union  # type: ignore[misc,assignment]


def _check_field(name: str, value: Any) -> Any:
    """The value to store for field ``name`` (ints widened to float, paths to str), or ConfigError."""
    hint = _HINTS[name]
    kinds, choices, optional = _allowed(hint)
    # "none" (any case) and None mean the same for fields with a "none" choice (backbone, distribute…)
    if value is None and "none" in choices:
        return "none"
    if value is None:
        if optional:
            return None
        raise ConfigError(
            f"{name} = None is not allowed: {_describe(kinds, choices, optional, name)}"
        )
    if isinstance(value, str) and value in choices:
        return value
    if isinstance(value, str) and value.lower() in choices:
        return value.lower()
    if bool in kinds and isinstance(value, bool):
        return value
    if int in kinds and isinstance(value, int) and not isinstance(value, bool):
        return _check_range(name, value)
    if float in kinds and isinstance(value, (int, float)) and not isinstance(value, bool):
        return _check_range(name, float(value))
    if str in kinds and isinstance(value, (str, os.PathLike)):
        text = os.fspath(value)
        if name in _STRINGS and not text.strip():
            raise ConfigError(f"{name} = '' is not allowed: it must name a folder")
        return text
    if dict in kinds and isinstance(value, Mapping):
        return dict(value)
    raise ConfigError(
        f"{name} = {value!r} is not allowed: {_describe(kinds, choices, optional, name)}"
    )


def _check_range(name: str, value: float) -> float:
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name} = {value} is not allowed: it must be a finite number")
    low = _AT_LEAST.get(name)
    if low is not None and value < low:
        raise ConfigError(f"{name} = {value} is not allowed: it must be at least {low}")
    high = _AT_MOST.get(name)
    if high is not None and value > high:
        raise ConfigError(f"{name} = {value} is not allowed: it must be at most {high}")
    if name in _POSITIVE and not value > 0:
        raise ConfigError(f"{name} = {value} is not allowed: it must be greater than 0")
    return value


def _describe(kinds: set[type], choices: tuple[Any, ...], optional: bool, name: str) -> str:
    parts = [" or ".join(repr(c) for c in choices)] if choices else []
    words = {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        dict: "a mapping",
    }
    if float in kinds:
        kinds = kinds - {int}
    parts += [words[k] for k in (bool, int, float, str, dict) if k in kinds]
    if name in _AT_LEAST:
        parts[-1] += f" ≥ {_AT_LEAST[name]}"
    if name in _AT_MOST:
        parts[-1] += f" ≤ {_AT_MOST[name]}"
    if name in _POSITIVE:
        parts[-1] += " > 0"
    if optional:
        parts.append("null/none")
    return "expected " + ", or ".join(parts)


_HINTS = typing.get_type_hints(Config)


def parse_field_text(name: str, text: str) -> Any:
    """A command-line string → the Python value for Config field ``name``, by the field's type hint
    (``none`` is a choice where the field has one, else None where the field is optional). Only the
    type is read here; ranges and choices are checked by Config itself. Raises :class:`ConfigError`
    (what is allowed) for text that fits none of the field's types."""
    kinds, choices, optional = _allowed(_HINTS[name])
    word = text.strip().lower()
    if choices and (
        text in choices or word in choices
    ):  # "none" is a backbone, not a missing value
        return text
    if optional and word in ("none", "null"):
        return None
    if bool in kinds:
        if word in ("true", "yes", "1", "on"):
            return True
        if word in ("false", "no", "0", "off"):
            return False
    if int in kinds and float not in kinds:
        try:
            return int(text)
        except ValueError:
            pass
    if float in kinds:
        try:
            return float(text)
        except ValueError:
            pass
    if str in kinds:
        return text
    raise ConfigError(f"{text!r} is not allowed: {_describe(kinds, choices, optional, name)}")


# --------------------------------------------------------------------------------------------------
# the speed switches' "auto": resolved here, and only here
# --------------------------------------------------------------------------------------------------

#: The fields whose "auto" :func:`resolve_speed` turns into a value (``jit_compile``'s "auto" is
#: Keras' own and stays as it is).
AUTO_SPEED_FIELDS = ("mixed_precision", "lab_in_graph", "cache_views")
#: ``cache_views="auto"`` caches on a GPU only when every augmented view fits in this share of the
#: machine's memory (on a 12.7 GB Colab, 5,000 photos × 8 views at 256² = 7.9 GB do not).
CACHE_VIEWS_MEMORY_SHARE = 0.4


@dataclass(frozen=True)
class Gpu:
    """One accelerator as :func:`local_gpus` sees it; ``compute_capability`` e.g. ``(8, 0)`` (None
    when the backend does not say)."""

    name: str
    compute_capability: tuple[int, int] | None = None

    def __str__(self) -> str:
        cc = self.compute_capability
        return self.name + (f" (compute capability {cc[0]}.{cc[1]})" if cc else "")


_GPUS: tuple[Gpu, ...] | None = None


def local_gpus() -> tuple[Gpu, ...]:
    """The GPUs the Keras backend sees (asked once per process; imports the backend)."""
    global _GPUS
    if _GPUS is None:
        _GPUS = _detect_gpus()
    return _GPUS


def _detect_gpus() -> tuple[Gpu, ...]:
    import keras

    backend = keras.backend.backend()
    found: list[Gpu] = []
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            for device in tf.config.list_physical_devices("GPU"):
                details = tf.config.experimental.get_device_details(device)
                cc = details.get("compute_capability")
                found.append(
                    Gpu(details.get("device_name", device.name), tuple(cc) if cc else None)
                )
        elif backend == "jax":
            import jax

            for device in jax.devices():
                if device.platform != "gpu":
                    continue
                cc = getattr(device, "compute_capability", None)
                major_minor = tuple(int(part) for part in str(cc).split(".")[:2]) if cc else None
                found.append(Gpu(device.device_kind, major_minor))
        elif backend == "torch":
            import torch

            for index in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
                found.append(
                    Gpu(
                        torch.cuda.get_device_name(index),
                        tuple(torch.cuda.get_device_capability(index)),
                    )
                )
        else:
            found = [Gpu(str(d)) for d in keras.distribution.list_devices("gpu")]
    except RuntimeError:  # e.g. jax.devices() on a machine without the GPU plugin's driver
        return ()
    return tuple(found)


def memory_bytes() -> int | None:
    """This machine's physical memory (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def views_cache_bytes(config: Config, photos: int) -> int:
    """What ``cache_views`` holds once every view of ``photos`` photos was drawn (uint8 RGB)."""
    views = config.augment_views if config.augment else 1
    return photos * views * config.image_size**2 * 3


def speed_choices(
    config: Config,
    gpus: typing.Sequence[Gpu] | None = None,
    photos: int | None = None,
    memory: int | None = None,
) -> dict[str, tuple[Any, str]]:
    """``{field: (value, why)}`` for each field of :data:`AUTO_SPEED_FIELDS` that is ``"auto"``.
    ``gpus``: default :func:`local_gpus`; ``photos`` (training photos) and ``memory`` (bytes, default
    :func:`memory_bytes`) decide whether ``cache_views`` fits."""
    autos = [name for name in AUTO_SPEED_FIELDS if getattr(config, name) == "auto"]
    if not autos:
        return {}
    gpus = tuple(local_gpus() if gpus is None else gpus)
    choices: dict[str, tuple[Any, str]] = {}
    if "mixed_precision" in autos:
        if not gpus:
            choices["mixed_precision"] = ("none", "CPU")
        elif all(g.compute_capability and g.compute_capability >= (8, 0) for g in gpus):
            choices["mixed_precision"] = ("bfloat16", "compute capability ≥ 8")
        else:
            choices["mixed_precision"] = ("float16", "compute capability < 8: no fast bfloat16")
    if "lab_in_graph" in autos:
        choices["lab_in_graph"] = (bool(gpus), "GPU" if gpus else "CPU")
    if "cache_views" in autos:
        if not gpus:
            choices["cache_views"] = (False, "CPU")
        elif photos is None:
            choices["cache_views"] = (True, "GPU")
        else:
            memory = memory_bytes() if memory is None else memory
            need = views_cache_bytes(config, photos)
            fits = memory is None or need <= CACHE_VIEWS_MEMORY_SHARE * memory
            share = (
                f"{CACHE_VIEWS_MEMORY_SHARE:.0%} of {memory / 2**30:.1f} GiB"
                if memory
                else "the memory"
            )
            choices["cache_views"] = (
                fits,
                f"the views of {photos:,} photos take {need / 2**30:.1f} GiB, "
                f"{'within' if fits else 'more than'} {share}",
            )
    return choices


def resolve_speed(
    config: Config,
    gpus: typing.Sequence[Gpu] | None = None,
    photos: int | None = None,
    memory: int | None = None,
) -> Config:
    """``config`` with every "auto" speed switch replaced by its value on this machine (the one place
    that decides it; see :func:`speed_choices`): on a GPU ``mixed_precision`` bfloat16 (compute
    capability ≥ 8: A100, L4, H100…) or float16 (T4, V100), ``lab_in_graph`` True, ``cache_views``
    True when the views fit in memory; on a CPU the seed's settings (none, False, False). A config
    without "auto" comes back as it is (so calling it again is free)."""
    choices = speed_choices(config, gpus, photos, memory)
    return (
        config.replace(**{name: value for name, (value, _) in choices.items()})
        if choices
        else config
    )


def speed_summary(
    config: Config | None = None,
    gpus: typing.Sequence[Gpu] | None = None,
    photos: int | None = None,
    memory: int | None = None,
) -> str:
    """One line: what "auto" means here (the notebooks' setup cell and ``colored train`` print it)."""
    config = Config() if config is None else config
    gpus = tuple(local_gpus() if gpus is None else gpus)
    choices = speed_choices(config, gpus, photos, memory)
    if not choices:
        return "speed settings: none is auto"
    settings = ", ".join(f"{name} {value}" for name, (value, _) in choices.items())
    if not gpus:
        return f"speed settings: auto → {settings} (CPU: today's settings)"
    notes = "".join(
        f"; {name}: {why}" for name, (_, why) in choices.items() if name == "cache_views" and photos
    )
    return f"speed settings: auto → {settings} (GPU found: {', '.join(map(str, gpus))}{notes})"
