"""The model file: a ``.keras`` file that every Keras the package allows can load.

Keras writes each layer's full constructor config into ``config.json``, and a newer Keras adds
arguments an older one rejects (3.15 writes ``GlorotUniform(input_axes=…)``; 3.13, Colab's, fails on
it). Colab students resume runs saved to Drive on whatever Keras Google ships next, so the network is
not rebuilt from Keras' config here: :func:`save` adds ``colored.json`` to the ``.keras`` zip (the
few :class:`~colored.config.Config` fields that define the network), and :func:`load` rebuilds the
network with :func:`colored.model.build_model` and reads only the weights (``model.weights.h5``,
keyed by layer order and type, the same in every Keras 3). The file stays a normal ``.keras`` file:
``keras.saving.load_model`` reads it too, where its Keras can. A ``.keras`` file without
``colored.json`` (from before, or built by hand) is loaded by Keras itself.

Every failure is one :class:`ModelNotFoundError` whose message names the file and says what it
really is: a Keras 2 HDF5 file, a truncated or damaged zip, a file from another Keras version that
this one cannot read (both versions named, from the zip's ``metadata.json``), or not a colorization
network (:class:`IncompatibleModelError`, raised by :func:`colored.loading.check_model`).
"""

from __future__ import annotations

import dataclasses
import json
import weakref
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from colored.config import RENAMED_FIELDS, Config, ConfigError, Decoding

#: The member of the ``.keras`` zip that holds the network's definition in the library's terms.
ARCHITECTURE_MEMBER = "colored.json"
#: The Config fields that define the network (everything :func:`colored.model.build_model` reads).
ARCHITECTURE_FIELDS = (
    "architecture",
    "image_size",
    "backbone",
    "embedding_dim",
    "fusion_gain",
    "batch_norm",
    "loss",
)
#: The fields of the :class:`~colored.config.Decoding` a model was chosen with (colored.json
#: "decoding"): colorize, evaluate and the notebooks use it unless told otherwise
#: (colored.predict.decoding_for). A file may hold some of them; the rest are the defaults.
DECODING_FIELDS = tuple(f.name for f in dataclasses.fields(Decoding))
_FORMAT = 1
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# network → the colored.json fields it was loaded from (not an attribute: Keras would track and save it)
_LOADED: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
_DECODING: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
# network → the ab prior of its training set (colored.json "ab_prior"), for prior-corrected decoding
_PRIOR: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


class ModelNotFoundError(FileNotFoundError):
    """No usable model: none given and no default, a missing file, or a file that cannot be loaded."""


class IncompatibleModelError(ModelNotFoundError):
    """A Keras model that loads but is not a colorization model (wrong inputs or outputs)."""


@dataclass(frozen=True)
class ModelFileInfo:
    """What a model file says about itself without loading it."""

    keras_version: str | None  # the Keras that wrote it (metadata.json)
    # the Config fields of colored.json; None: Keras' config only
    architecture: dict[str, Any] | None
    # the DECODING_FIELDS saved with it (checked); None: the library's defaults
    decoding: dict[str, Any] | None = None
    # the ab prior (one probability per bin) of its training set; None: not recorded
    prior: tuple[float, ...] | None = None


def installed_keras_version() -> str:
    import keras

    return keras.__version__


def architecture_of(model, config: Config | None = None) -> dict[str, Any] | None:
    """The Config fields that rebuild ``model`` with :func:`colored.model.build_model`: those of
    ``config``, the config it was built from; else read off the network (the fusion backbone is then
    ColorED's) and checked by building it once: None when the rebuilt network's weights would not
    match (a network built by other code), and the file then stays Keras-only."""
    if (
        config is not None
    ):  # no test build: building draws from Keras' seed and would shift training
        return {name: getattr(config, name) for name in ARCHITECTURE_FIELDS}
    from colored.model import build_model

    kind = {"FullModel": "full", "SimplifiedModel": "simplified"}.get(
        model.name.removesuffix("_nofusion")
    )
    size = model.inputs[0].shape[1]
    if kind is None or size is None or len(model.inputs) > 2:
        return None
    layer_names = {layer.name for layer in model.layers}
    fusion = len(model.inputs) == 2
    spatial = fusion and len(model.inputs[1].shape) == 4  # a feature map: the 14×14 backbone
    architecture = {
        "architecture": kind,
        "image_size": int(size),
        "backbone": "mobilenet_v2_14x14"
        if spatial
        else "inception_resnet_v2"
        if fusion
        else "none",
        "embedding_dim": int(model.inputs[1].shape[-1])
        if fusion and not spatial
        else Config().embedding_dim,
        "fusion_gain": float(model.get_layer("fusion_gain").scale)
        if "fusion_gain" in layer_names
        else 1.0,
        "batch_norm": any(name.endswith("_bn") for name in layer_names),
        "loss": "classification" if "ab_logits" in layer_names else "mse",
    }
    try:
        rebuilt = build_model(Config(**architecture, mixed_precision="none"))
    except ValueError:  # ConfigError: not a network build_model makes
        return None
    shapes = [tuple(w.shape) for w in rebuilt.weights]
    return architecture if shapes == [tuple(w.shape) for w in model.weights] else None


def save(model, path: str | Path, config: Config | None = None, *, weights_of=None) -> Path:
    """Write ``model`` (an L-input network) to ``path`` atomically, as a ``.keras`` file plus
    ``colored.json`` (from ``config``, else read off the network: :func:`architecture_of`).
    ``weights_of``: a copy of ``model`` to write instead (e.g. its float16 twin), same layers."""
    from colored.io.files import atomic_save_to

    architecture = architecture_of(model, config)
    content: dict[str, Any] = {"format": _FORMAT, "config": architecture}
    # a decoding recorded on the network (chosen on validation, or read from its file) wins over
    # the run's config, which only knows the temperature and confidence its figures used
    decoding = {
        **{name: getattr(config, name) for name in DECODING_FIELDS if hasattr(config, name)},
        **recorded_decoding(model),
    }
    if decoding:
        content["decoding"] = decoding
    prior = recorded_prior(model)
    if prior is not None:
        content["ab_prior"] = [float(f"{p:.6g}") for p in prior]
    record = json.dumps(content, indent=1)

    def write(temporary: Path) -> None:
        (weights_of or model).save(str(temporary))
        if architecture is not None:
            with zipfile.ZipFile(temporary, "a") as archive:
                archive.writestr(ARCHITECTURE_MEMBER, record)

    return atomic_save_to(Path(path), write)


def read_info(path: str | Path) -> ModelFileInfo:
    """The writer's Keras version and the network's definition, read from the zip. Raises
    :class:`ModelNotFoundError` for a file that is not a readable ``.keras`` zip, saying which kind."""
    path = Path(path)
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head == _HDF5_SIGNATURE:
        raise ModelNotFoundError(
            f"model file {path} is an HDF5 file (Keras 2's .h5 format, or weights only), not a Keras 3 "
            ".keras file: load it in the Keras that wrote it and save it again with model.save('NAME.keras'), "
            "or train a model with `colored train`"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            damaged = archive.testzip()
            metadata = json.loads(archive.read("metadata.json")) if "metadata.json" in names else {}
            record = (
                json.loads(archive.read(ARCHITECTURE_MEMBER))
                if ARCHITECTURE_MEMBER in names
                else None
            )
    except (zipfile.BadZipFile, EOFError, ValueError, KeyError, OSError) as error:
        raise ModelNotFoundError(
            f"model file {path} is damaged ({type(error).__name__}: {error}): it is not a complete .keras "
            f"file (an interrupted download or copy?); copy or download it again, or retrain it with `colored train`"
        ) from None
    if damaged is not None or not {"config.json", "model.weights.h5"} <= names:
        problem = (
            f"member {damaged} fails its checksum"
            if damaged
            else "config.json or model.weights.h5 is missing"
        )
        raise ModelNotFoundError(
            f"model file {path} is damaged ({problem}): copy or download it again, "
            "or retrain it with `colored train`"
        )
    architecture = record.get("config") if isinstance(record, dict) else None
    if isinstance(architecture, dict):  # files written before a field was renamed (e.g. model)
        architecture = {RENAMED_FIELDS.get(k, k): v for k, v in architecture.items()}
    decoding = record.get("decoding") if isinstance(record, dict) else None
    if decoding is not None:  # checked by Decoding's own rules, naming the file
        checked = Decoding.from_dict(decoding, source=f"{path}:{ARCHITECTURE_MEMBER} decoding")
        decoding = {k: getattr(checked, k) for k in DECODING_FIELDS if k in decoding}
    prior = record.get("ab_prior") if isinstance(record, dict) else None
    if prior is not None and not _valid_prior(prior):
        raise ModelNotFoundError(
            f"model file {path} is damaged ({ARCHITECTURE_MEMBER}'s ab_prior is not a list of "
            "non-negative numbers): copy or download it again, or retrain it with `colored train`"
        )
    return ModelFileInfo(
        metadata.get("keras_version"),
        architecture,
        decoding or None,
        tuple(float(p) for p in prior) if prior is not None else None,
    )


def _valid_prior(prior: Any) -> bool:
    return (
        isinstance(prior, list)
        and len(prior) > 0
        and all(isinstance(p, (int, float)) and p >= 0 for p in prior)
        and sum(prior) > 0
    )


def load(path: str | Path):
    """The network in ``path`` (float32, not compiled). See the module docstring for how, and
    :class:`ModelNotFoundError` for every failure."""
    import keras

    import colored.model  # noqa: F401 - registers the custom layers before Keras deserializes

    path = Path(path)
    info = read_info(path)
    try:
        if info.architecture is None:
            return keras.saving.load_model(path, safe_mode=True, compile=False)
        config = Config.from_dict(
            {**info.architecture, "mixed_precision": "none"}, source=f"{path}:{ARCHITECTURE_MEMBER}"
        )
        model = colored.model.build_model(config)
        model.load_weights(str(path))
        _LOADED[model] = dict(info.architecture)
        if info.decoding:
            _DECODING[model] = dict(info.decoding)
        if info.prior is not None:
            _PRIOR[model] = info.prior
        return model
    except Exception as error:  # noqa: BLE001 - Keras, h5py and Config raise many types for one cause
        raise ModelNotFoundError(load_error_message(path, info, error)) from error


def recorded_decoding(model) -> dict[str, Any]:
    """The decoding saved with ``model``'s file (:data:`DECODING_FIELDS`), or {} (the defaults)."""
    return dict(_DECODING.get(model, {}))


def record_decoding(model, decoding: Decoding | None = None, **fields: Any) -> None:
    """Attach a decoding to ``model`` (e.g. one chosen on validation) for :func:`save` to write:
    a whole :class:`~colored.config.Decoding`, or some of its fields (the rest stay as recorded)."""
    given = decoding.to_dict() if decoding is not None else {}
    given.update({k: v for k, v in fields.items() if k in DECODING_FIELDS})
    merged = {**_DECODING.get(model, {}), **given}
    checked = Decoding.from_dict(merged)
    _DECODING[model] = {k: getattr(checked, k) for k in merged}


def recorded_prior(model):
    """The ab prior of ``model``'s training set (``numpy (Q,)``), as its file or training recorded
    it (:func:`record_prior`), or None."""
    import numpy as np

    prior = _PRIOR.get(model)
    return None if prior is None else np.asarray(prior, np.float64)


def record_prior(model, prior) -> None:
    """Attach the ab prior of the training set (:func:`colored.bins.cached_prior`) for :func:`save`
    to write: what prior-corrected decoding divides out (``Decoding.prior_correction``)."""
    _PRIOR[model] = tuple(float(p) for p in prior)


def recorded_architecture(model) -> dict[str, Any] | None:
    """The ``colored.json`` fields ``model`` was loaded from by :func:`load` (e.g. which backbone
    computes a fusion model's embedding), or None."""
    return _LOADED.get(model)


def load_error_message(path: Path, info: ModelFileInfo, error: BaseException) -> str:
    """One honest sentence: the file, which Keras wrote it and which is installed, and what to do."""
    while (
        error.__cause__ is not None or error.__context__ is not None
    ):  # Keras wraps the real cause
        error = error.__cause__ or error.__context__
    text = " ".join(str(error).split())
    cause = f"{type(error).__name__}: {text[:160] + '…' if len(text) > 160 else text}"
    installed = installed_keras_version()
    if info.keras_version and info.keras_version != installed:
        newer = _version_key(info.keras_version) > _version_key(installed)
        advice = (
            f"upgrade Keras (pip install -U 'keras>={info.keras_version}')"
            if newer
            else "save it again with this Keras, or install the Keras that wrote it"
        )
        return (
            f"could not load the model {path}: it was written by Keras {info.keras_version} and this is "
            f"Keras {installed}, which cannot read it ({cause}); {advice}, or retrain it with `colored train`"
        )
    return (
        f"could not load the model {path} (written by Keras {info.keras_version or 'unknown'}, "
        f"installed {installed}): {cause}; it is a .keras zip whose network this version of colored cannot "
        "build: retrain it with `colored train`"
    )


def _version_key(version: str) -> tuple:
    parts = []
    for part in version.split("."):
        digits = "".join(c for c in part if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def load_initial_weights(core, path: str | Path) -> None:
    """Start from a trained model's weights (``Config.init_weights``: fine-tuning, e.g. the shipped
    ``colored/weights/default.keras``), layer by layer, by name.

    The file's network must have the same layers and shapes, with one exception that lets a model
    gain fusion: a layer whose kernel only has more inputs here (the ``fusion`` 1×1 convolution,
    once an embedding is concatenated to its input) gets the trained kernel for the old inputs and
    zeros for the new ones. So the new network starts out computing exactly what the old one did,
    and training teaches it to use the embedding (Net2Net-style widening, Chen et al. 2016).
    """
    import numpy as np

    from colored.model import inference_model

    source = inference_model(load(path))
    mismatch = ConfigError(
        f"init_weights = {path}: its network does not match this config's: layers "
        f"{sorted(layer.name for layer in source.layers if layer.weights)} vs "
        f"{sorted(layer.name for layer in core.layers if layer.weights)}"
    )
    trained = {layer.name: layer for layer in source.layers if layer.weights}
    if set(trained) != {layer.name for layer in core.layers if layer.weights}:
        raise mismatch
    for layer in core.layers:
        if not layer.weights:
            continue
        old, new = trained[layer.name].get_weights(), layer.get_weights()
        if len(old) != len(new):
            raise mismatch
        for index, (a, b) in enumerate(zip(old, new)):
            if a.shape == b.shape:
                continue
            # only a kernel whose input axis (the one before the last) grew may differ
            if (
                index != 0
                or a.ndim < 2
                or a.shape[:-2] != b.shape[:-2]
                or a.shape[-1] != b.shape[-1]
                or a.shape[-2] > b.shape[-2]
            ):
                raise ConfigError(
                    f"init_weights = {path}: layer {layer.name} has weights of shape {a.shape} "
                    f"there and {b.shape} here"
                ) from None
            widened = np.zeros(b.shape, dtype=a.dtype)
            widened[..., : a.shape[-2], :] = a
            old[index] = widened
        layer.set_weights(old)
