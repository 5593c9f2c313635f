"""What :mod:`colored.evaluate` scores: methods, by name or file or object, resolved once.

A method is a baseline (``"gray"``, ``"mean-ab"``: :mod:`colored.baselines`) or a colorization model
(a ``.keras`` file or a loaded model) with its :class:`~colored.config.Decoding`. Each gets a short,
unique label for the tables.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from colored import baselines
from colored.config import Decoding
from colored.loading import IncompatibleModelError, ModelNotFoundError, check_model, load_model
from colored.modelfile import DECODING_FIELDS
from colored.predict import decoding_for

#: Baseline methods, by the name ``--model`` / ``method`` accepts.
BASELINE_NAMES = tuple(baselines.BASELINES)  # ("gray", "mean-ab")


def resolve_method(method: Any):
    """``"gray"`` / ``"mean-ab"`` → that name; a ``.keras`` path → the loaded model; a model → itself.

    A path that does not exist raises :class:`colored.loading.ModelNotFoundError` naming it (and
    the baseline names, in case one was mistyped); a model (file or object) whose inputs or outputs
    are not a colorization model's raises :class:`colored.loading.IncompatibleModelError` (one
    line: the file, the shapes found, the shapes expected) before any image is scored.
    """
    if isinstance(method, str) and method in baselines.BASELINES:
        return method
    if isinstance(method, (str, os.PathLike)):
        try:
            return load_model(method)
        except IncompatibleModelError:
            raise
        except ModelNotFoundError as error:
            raise ModelNotFoundError(
                f"{error}\n(or use a baseline: {', '.join(BASELINE_NAMES)})"
            ) from None
    if hasattr(method, "predict") and getattr(method, "inputs", None):
        return check_model(method)
    raise TypeError(
        f"method must be a Keras model, a .keras path or one of {BASELINE_NAMES}, got {method!r}"
    )


def is_classification_method(method: Any) -> bool:
    """Whether a resolved method is a classification model, i.e. one that ``temperature`` affects."""
    if isinstance(method, str):
        return False
    from colored.model import is_classification  # keras: only when a model is asked about

    return is_classification(method)


def method_label(method: Any, temperature: float | None = None) -> str:
    """A short name for tables: the baseline name, the run folder of ``…/model.keras`` (else the
    file's stem) or the model's name; ``T=…`` appended for classification models."""
    if isinstance(method, str) and method in baselines.BASELINES:
        return method
    if isinstance(method, (str, os.PathLike)):
        path = Path(method)
        label = path.parent.name if path.stem == "model" and path.parent.name else path.stem
        return label if temperature is None else f"{label} T={temperature:g}"
    label = getattr(method, "name", type(method).__name__)
    if temperature is not None or is_classification_method(method):
        label += f" T={decoding_for(method, temperature=temperature).temperature:g}"
    return label


@dataclass
class Method:
    """A resolved method to score: its table ``label``, the ``method`` (a baseline name or a loaded
    model), its ``decoding`` (models; None: :func:`~colored.predict.decoding_for`'s) and,
    optionally, the ``title`` of its gallery column (default: the label)."""

    label: str
    method: Any
    decoding: Decoding | None = None
    title: str | None = None

    def decoding_fields(self) -> dict[str, Any]:
        """What the report records of the decoding: all three fields for a classification model,
        ``flip`` for a regression model, None for a baseline."""
        fields: dict[str, Any] = dict.fromkeys(DECODING_FIELDS)
        if isinstance(self.method, str):
            return fields
        chosen = decoding_for(self.method, self.decoding)
        if is_classification_method(self.method):
            return chosen.to_dict()
        return {**fields, "flip": chosen.flip}

    @property
    def is_gray(self) -> bool:
        """The all-gray baseline: the gallery's input column already shows it."""
        return isinstance(self.method, str) and self.method == "gray"


def unique_labels(labels: Sequence[str]) -> list[str]:
    """``labels`` with every repeated one numbered (``a #1``, ``a #2``): e.g. two
    ``runs/*/model.keras`` from folders of the same name."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(f"{label} #{seen[label]}" if labels.count(label) > 1 else label)
    return out


def resolve_methods(
    specs: Sequence[Any],
    temperatures: Sequence[float] | None = None,
    confidences: Sequence[float] | None = None,
    flip: bool | None = None,
    prior_correction: float | None = None,
) -> list[Method]:
    """Specs (``.keras`` paths, models, baseline names) → :class:`Method` list, in order: each
    classification model once per temperature (default: the one saved with the model, else
    :data:`~colored.config.DEFAULT_TEMPERATURE`)
    and confidence (likewise; ``c=…`` added to the
    label when several are given or it is not the default), every model with ``flip``, every
    classification model with ``prior_correction`` (``τ=…`` in the label when given); labels by
    :func:`method_label`, made unique. Raises :class:`~colored.loading.ModelNotFoundError`
    (and :class:`~colored.loading.IncompatibleModelError`) as :func:`resolve_method` does."""
    methods = []
    for spec in specs:
        method = resolve_method(spec)
        if is_classification_method(method):
            # the decoding saved with the model, else the default (checked: a prior_correction
            # needs a model that records its prior)
            saved = decoding_for(method, prior_correction=prior_correction)
            cs = list(confidences or [saved.confidence])
            show_c = len(cs) > 1 or cs != [saved.confidence]
            tau = "" if prior_correction is None else f" τ={prior_correction:g}"
            methods += [
                Method(
                    method_label(spec, t) + (f" c={c:g}" if show_c else "") + tau,
                    method,
                    saved.but(temperature=t, confidence=c, flip=flip),
                )
                for t in temperatures or [saved.temperature]
                for c in cs
            ]
        elif isinstance(method, str):
            methods.append(Method(method_label(spec), method))
        else:
            methods.append(Method(method_label(spec), method, decoding_for(method, flip=flip)))
    for method, label in zip(methods, unique_labels([m.label for m in methods])):
        method.label = label
    return methods
