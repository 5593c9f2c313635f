"""Which model, loaded and checked: a ``.keras`` file, ``$COLORED_MODEL``, or the packaged default.

:func:`load_model` reads a model file (:mod:`colored.modelfile`: the library rebuilds the network and
reads only the weights, so a file loads on every Keras the package allows) as float32 and checks that
it is a colorization model (:func:`check_model`: one line naming the file and the shapes found).
A fusion model also needs its ImageNet embedder (:func:`embedder_for`).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import numpy as np

from colored.modelfile import IncompatibleModelError, ModelNotFoundError

#: Where ``load_model()`` looks when no path is given (shipped with the package once trained).
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "weights" / "default.keras"
#: Environment variable naming a model to use when none is given.
MODEL_ENV_VAR = "COLORED_MODEL"


def _how_to_get_a_model() -> str:
    return (
        "To get a model, either\n"
        "  - pass --model PATH (Python: load_model(PATH)) with a .keras file saved by training, e.g. "
        "runs/default/model.keras;\n"
        "  - train one: `colored train` (or notebook 05), which writes RUN_DIR/model.keras;\n"
        f"  - or put a .keras model at {DEFAULT_MODEL_PATH} (or set {MODEL_ENV_VAR}=PATH) to make it "
        "the default."
    )


# ---------------------------------------------------------------------------------------------
# the model


def resolve_model_path(path: str | Path | None = None) -> Path:
    """The model file to load: ``path``, else ``$COLORED_MODEL``, else the packaged default.

    Raises :class:`ModelNotFoundError` (with how to get a model) when it does not exist.
    """
    if path is None or str(path) == "":
        env = os.environ.get(MODEL_ENV_VAR)
        if env:
            path = Path(env)
        elif DEFAULT_MODEL_PATH.is_file():
            return DEFAULT_MODEL_PATH
        else:
            raise ModelNotFoundError(
                f"No model given and no default model at {DEFAULT_MODEL_PATH}.\n"
                + _how_to_get_a_model()
            )
    path = Path(path).expanduser()
    if path.is_dir():
        raise ModelNotFoundError(
            f"model path {path} is a directory, not a .keras file.\n" + _how_to_get_a_model()
        )
    if not path.is_file():
        raise ModelNotFoundError(f"model file {path} does not exist.\n" + _how_to_get_a_model())
    if path.suffix.lower() != ".keras":
        raise ModelNotFoundError(
            f"model file {path} is not a .keras file (weights-only .h5/.weights.h5 "
            "files do not describe the network).\n" + _how_to_get_a_model()
        )
    return path


def load_model(path: str | Path | None = None):
    """Load a colorization model from a ``.keras`` file (float32, not compiled).

    ``path=None`` means ``$COLORED_MODEL`` or ``colored/weights/default.keras``. The network is rebuilt
    by the library from the file's own definition (:mod:`colored.modelfile`), so a file loads on every
    Keras the package allows. A missing, damaged, unreadable or non-colorization file raises
    :class:`ModelNotFoundError` naming the file, what is wrong, and how to get a model.
    """
    from colored import modelfile

    path = resolve_model_path(path)
    model = modelfile.load(path)
    check_model(model, path)
    return as_float32(model)


def _clone_with_dtype(model, dtype: str):
    import keras

    def clone(layer):
        config = layer.get_config()
        config["dtype"] = dtype
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights([np.asarray(w).astype(dtype) for w in model.get_weights()])
    return copy


def as_float32(model):
    """``model`` itself, or, when its weights are in half precision (a ``.keras`` file without the
    library's definition, loaded by Keras as saved), the same network in float32: CPUs compute
    float16 convolutions slowly or not at all, and float32 is what every other model runs in."""
    if not any(str(getattr(w, "dtype", "float32")) == "float16" for w in model.weights):
        return model
    return _clone_with_dtype(model, "float32")


def save_half_precision(model, path: str | Path, config=None) -> Path:
    """Save ``model`` (the L-input network) with float16 weights: half the file size. Loading it
    with :func:`load_model` gives a float32 network again; the largest logit change measured on the
    default model is 0.03 on logits up to 17. ``config``: as :func:`colored.modelfile.save`."""
    from colored import modelfile
    from colored.model import inference_model

    core = inference_model(model)
    return modelfile.save(core, path, config, weights_of=_clone_with_dtype(core, "float16"))


def _shapes_text(tensors) -> str:
    texts = [
        "(" + ", ".join(str(None if d is None else int(d)) for d in t.shape) + ")" for t in tensors
    ]
    return texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]" if texts else "none"


def check_model(model, source: str | Path | None = None):
    """Refuse (:class:`IncompatibleModelError`, one line) a model colorize and evaluate cannot use.

    Expected: input ``(None, H, W, 1)`` (lightness L/100), optionally a second input
    ``(None, 1000)`` or a feature map (the ImageNet embedding of fusion models,
    :data:`colored.config.SPATIAL_EMBEDDINGS`); one output ``(None, h, w, 2)`` (ab
    regression) or ``(None, h, w, Q)`` with ``Q = num_bins()`` (ab-bin logits).
    A ``lab_in_graph`` training wrapper (RGB input) is checked through the L-input network inside.
    ``source`` (the file) names the model in the message. Returns ``model``.
    """
    from colored.bins import num_bins
    from colored.config import SPATIAL_EMBEDDINGS, Config
    from colored.model import inference_model

    core = inference_model(model)
    name = (
        f"model file {source}"
        if source is not None
        else f"model {getattr(model, 'name', type(model).__name__)!r}"
    )
    inputs = list(getattr(core, "inputs", None) or [])
    outputs = list(getattr(core, "outputs", None) or [])
    embedding_dim = Config().embedding_dim
    problems = []
    if not inputs or len(inputs) > 2 or len(inputs[0].shape) != 4 or inputs[0].shape[-1] != 1:
        problems.append("input")
    elif len(inputs) == 2 and tuple(inputs[1].shape[1:]) not in {
        (embedding_dim,),
        *SPATIAL_EMBEDDINGS.values(),
    }:
        problems.append("embedding input")
    channels = outputs[0].shape[-1] if len(outputs) == 1 and len(outputs[0].shape) == 4 else None
    if channels != 2 and channels != num_bins():  # num_bins() is computed once, only when needed
        problems.append("output")
    if problems:
        raise IncompatibleModelError(
            f"{name} is not a colorization model ({' and '.join(problems)} wrong): it takes "
            f"{_shapes_text(inputs)} and outputs {_shapes_text(outputs)}; expected input (None, H, W, 1) "
            f"(lightness), optionally plus (None, {embedding_dim}) (embedding), and output (None, H, W, 2) "
            f"(ab) or (None, H, W, {num_bins()}) (ab-bin logits): use a model saved by `colored train`"
        )
    return model


@functools.cache
def imagenet_embedder(backbone: str = "inception_resnet_v2"):
    """The one ImageNet embedder of ``backbone`` in this process, built on first use (fusion models only)."""
    from colored.embed import Embedder

    return Embedder("imagenet", backbone=backbone)


def embedder_for(model, embedder: Any = None) -> Any:
    """What computes ``model``'s embedding input: ``embedder``, else :func:`imagenet_embedder` of the
    backbone its model file names (ColorED's InceptionResNetV2 for a model without that record);
    None for a model without fusion (nothing is built)."""
    from colored import modelfile
    from colored.model import inference_model, needs_embedding

    core = inference_model(model)
    if not needs_embedding(core):
        return None
    if embedder is not None:
        return embedder
    architecture = modelfile.recorded_architecture(core) or {}
    return imagenet_embedder(architecture.get("backbone", "inception_resnet_v2"))
