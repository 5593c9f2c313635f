"""The rules of a settings dataclass's fields, read from their annotations: the type, the
``Literal`` choices and the annotated_types limits (``Ge``, ``Gt``, ``Le``, ``MinLen``). One checker for
:class:`colored.config.Config` and :class:`colored.config.Decoding`, which the command line and the
notebook chain reach through them; every refusal is one :class:`ConfigError` line naming the field,
the value and what is allowed.

Hand-written rather than pydantic: the command line, the notebook chain and model files need
one-line messages in the notebook's words ("epochs = 0 is not allowed: it must be at least 1"),
"none" as both a choice and a missing value, and no silent coercion of "3" to 3.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import typing
from collections.abc import Mapping
from types import UnionType
from typing import Annotated, Any, Literal

from annotated_types import Ge, Gt, Le, MinLen


class ConfigError(ValueError):
    """A Config value that is not allowed (one line: field, value, what is allowed)."""


@functools.cache
def hints_of(cls: type) -> Mapping[str, Any]:
    """The annotations of dataclass ``cls``, limits included (computed once per class)."""
    return typing.get_type_hints(cls, include_extras=True)


def limits(name: str, hints: Mapping[str, Any]) -> list[Any]:
    """The annotated_types limits (Ge, Gt, Le, MinLen) declared on field ``name``."""
    found: list[Any] = []
    hint = hints[name]
    for arg in (hint, *typing.get_args(hint)):
        if typing.get_origin(arg) is Annotated:
            found += list(arg.__metadata__)
    return found


def strip_limits(hint: Any) -> Any:
    """``hint`` without its Annotated wrappers (``Annotated[int, Ge(1)] | None`` → ``int | None``)."""
    if typing.get_origin(hint) is Annotated:
        return typing.get_args(hint)[0]
    if typing.get_origin(hint) in (typing.Union, UnionType):
        return typing.Union[tuple(strip_limits(arg) for arg in typing.get_args(hint))]  # noqa: UP007
    return hint


def allowed(hint: Any) -> tuple[set[type], tuple[Any, ...], bool]:
    """(python types, literal choices, None allowed) of a field's type hint."""
    kinds: set[type] = set()
    choices: list[Any] = []
    optional = False
    hint = strip_limits(hint)
    for arg in (
        typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, UnionType) else (hint,)
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


def check_field(name: str, value: Any, hints: Mapping[str, Any]) -> Any:
    """The value to store for field ``name`` (ints widened to float, paths to str), or ConfigError.
    ``hints``: the annotations of the dataclass the field belongs to (:func:`hints_of`)."""
    hint = hints[name]
    kinds, choices, optional = allowed(hint)
    # "none" (any case) and None mean the same for fields with a "none" choice (backbone, distribute…)
    if value is None and "none" in choices:
        return "none"
    if value is None:
        if optional:
            return None
        raise ConfigError(
            f"{name} = None is not allowed: {describe(kinds, choices, optional, name, hints)}"
        )
    if isinstance(value, str) and value in choices:
        return value
    if isinstance(value, str) and value.lower() in choices:
        return value.lower()
    if bool in kinds and isinstance(value, bool):
        return value
    if int in kinds and isinstance(value, int) and not isinstance(value, bool):
        return check_range(name, value, hints)
    if float in kinds and isinstance(value, (int, float)) and not isinstance(value, bool):
        return check_range(name, float(value), hints)
    if str in kinds and isinstance(value, (str, os.PathLike)):
        text = os.fspath(value)
        if any(isinstance(limit, MinLen) for limit in limits(name, hints)) and not text.strip():
            raise ConfigError(f"{name} = '' is not allowed: it must name a folder")
        return text
    raise ConfigError(
        f"{name} = {value!r} is not allowed: {describe(kinds, choices, optional, name, hints)}"
    )


def check_range(name: str, value: float, hints: Mapping[str, Any]) -> float:
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name} = {value} is not allowed: it must be a finite number")
    for limit in limits(name, hints):
        if isinstance(limit, Ge) and not value >= limit.ge:
            raise ConfigError(f"{name} = {value} is not allowed: it must be at least {limit.ge}")
        if isinstance(limit, Le) and not value <= limit.le:
            raise ConfigError(f"{name} = {value} is not allowed: it must be at most {limit.le}")
        if isinstance(limit, Gt) and not value > limit.gt:
            raise ConfigError(
                f"{name} = {value} is not allowed: it must be greater than {limit.gt}"
            )
    return value


def describe(
    kinds: set[type],
    choices: tuple[Any, ...],
    optional: bool,
    name: str,
    hints: Mapping[str, Any],
) -> str:
    parts = [" or ".join(repr(c) for c in choices)] if choices else []
    words = {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
    }
    if float in kinds:
        kinds = kinds - {int}
    parts += [words[k] for k in (bool, int, float, str) if k in kinds]
    bounds = [
        f"{symbol} {next(iter(dataclasses.asdict(limit).values()))}"
        for limit in limits(name, hints)
        if (symbol := {Ge: "≥", Le: "≤", Gt: ">"}.get(type(limit)))
    ]
    if bounds:
        parts[-1] += " " + " and ".join(bounds)
    if optional:
        parts.append("null/none")
    return "expected " + ", or ".join(parts)


def parse_text(name: str, text: str, hints: Mapping[str, Any]) -> Any:
    """A command-line string → the Python value for field ``name``, by the field's type hint
    (``none`` is a choice where the field has one, else None where the field is optional). Only the
    type is read here; ranges and choices are checked when the dataclass is made. Raises :class:`ConfigError`
    (what is allowed) for text that fits none of the field's types."""
    kinds, choices, optional = allowed(hints[name])
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
    raise ConfigError(f"{text!r} is not allowed: {describe(kinds, choices, optional, name, hints)}")
