"""The lab notebooks' parameters, read and checked before anything runs (``colored.notebook.chain``).

Each notebook declares its parameters in one cell tagged ``parameters`` (and an optional folded
"Advanced" cell); papermill reads them. Nothing runs before every value is checked: a value that does
not fit (the type of the default, or the annotation, in each ``parameters`` cell declaring it:
``-p epochs notanumber`` is refused before notebook 01 starts; and, for the parameters the notebooks
hand to ``colored.Config``, ``colored.config.validate_fields``) is one ``ValueError`` naming the
notebooks, the parameter, the value and what is allowed (exit code 2 on the command line). Also here:
the values the command line gives (``-p KEY VALUE``, ``--params-file``, the shipped ``--profile``s).

Kept apart from the chain itself so that this module needs neither papermill's run nor the output
folder: the chain imports it, never the other way round.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

# --------------------------------------------------------------------------------------------------
# notebooks and their parameters
# --------------------------------------------------------------------------------------------------


def notebook_parameters(path: str | Path) -> dict[str, Any]:
    """The parameters a notebook declares in its ``parameters`` cell: ``{name: default source text}``."""
    return {name: spec["default"] for name, spec in notebook_parameter_specs(path).items()}


#: The tag of a notebook's folded "Advanced" cell: more parameters, placed *before* the ``parameters``
#: cell so that papermill's injected cell (after ``parameters``) sets them too.
ADVANCED_TAG = "advanced-parameters"


def notebook_parameter_specs(path: str | Path) -> dict[str, dict[str, Any]]:
    """papermill's view of a notebook's parameters: ``{name: {"default": source text,
    "inferred_type_name": annotation or "None", "help": comment}}``, those of the ``parameters`` cell
    and of an :data:`ADVANCED_TAG` cell (read by papermill's own parser, one cell at a time)."""
    import tempfile

    import nbformat
    import papermill

    specs = dict(papermill.inspect_notebook(str(path)))
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        if ADVANCED_TAG in cell.metadata.get("tags", []):
            alone = nbformat.v4.new_notebook(metadata=nb.metadata)
            alone.cells = [
                nbformat.v4.new_code_cell(cell.source, metadata={"tags": ["parameters"]})
            ]
            with tempfile.TemporaryDirectory() as folder:
                nbformat.write(alone, str(Path(folder) / "advanced.ipynb"))
                specs.update(papermill.inspect_notebook(str(Path(folder) / "advanced.ipynb")))
    return specs


# --------------------------------------------------------------------------------------------------
# checking parameters before anything runs
# --------------------------------------------------------------------------------------------------

#: Notebook parameters checked as another ``colored.Config`` field than their own name: the notebooks
#: pass them to ``Config`` under that name (04: ``Config(learning_rate=memorization_lr)``).
CONFIG_FIELD_ALIASES: dict[str, str] = {"memorization_lr": "learning_rate"}
#: Notebook parameters named like a ``Config`` field that mean something else, so ``Config``'s rules
#: must not judge them. ``"*"``: in every notebook.
NOT_CONFIG_FIELDS: frozenset[tuple[str, str]] = frozenset(
    {
        ("04_memorization.ipynb", "steps_per_epoch")
    }  # steps on the one photo per memorization "epoch"
)
_TYPE_WORDS = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "a mapping",
}


def parameter_rule(spec: Mapping[str, Any]) -> tuple[tuple[type, ...] | None, bool]:
    """What a notebook parameter accepts, from its annotation or else its default's type:
    ``(types, accepts None)``; ``types`` is ``None`` when anything goes (a ``None`` default, an
    expression). An ``int`` default accepts integers; a ``float`` default integers and floats; a
    ``str`` default strings; ``bool`` only ``true``/``false``. ``Optional[...]`` also accepts ``None``."""
    names = {"bool": bool, "int": int, "float": float, "str": str, "list": list, "dict": dict}
    annotation = str(spec.get("inferred_type_name") or "None").replace(" ", "")
    if annotation not in ("None", ""):
        optional = (
            annotation.startswith("Optional[")
            or "None" in annotation.split(",")
            or str(spec.get("default", "")).strip() == "None"
        )
        inner = re.sub(r"^(Optional|Union)\[(.*)\]$", r"\2", annotation)
        kinds = [names.get(part) for part in inner.split(",") if part != "None"]
        if kinds and all(kinds):
            return _widen(tuple(kinds)), optional
        return None, True  # an annotation we do not read: do not guess
    try:
        default = ast.literal_eval(str(spec.get("default", "")))
    except (ValueError, SyntaxError):
        return None, True
    if default is None:
        return None, True
    kind = type(default)
    return (_widen((kind,)) if kind in names.values() else None), False


def _widen(kinds: tuple[type, ...]) -> tuple[type, ...]:
    return kinds + (int,) if float in kinds and int not in kinds else kinds


def _accepts(rule: tuple[tuple[type, ...] | None, bool], value: Any) -> bool:
    types, optional = rule
    if value is None:
        return optional or types is None
    if types is None:
        return True
    if isinstance(value, bool):  # bool is an int in Python, never in a parameters cell
        return bool in types
    return isinstance(value, types)


def describe_rule(rule: tuple[tuple[type, ...] | None, bool]) -> str:
    """What a :func:`parameter_rule` accepts, in words: ``"an integer"``, ``"a number or null"``."""
    types, optional = rule
    words = (
        [_TYPE_WORDS[t] for t in types if not (t is int and float in types)]
        if types
        else ["anything"]
    )
    return " or ".join(words + (["null"] if optional and types else []))


def _validate_fields() -> Callable[[Mapping[str, Any]], None] | None:
    """``colored.config.validate_fields`` where this version of the package has it."""
    try:
        import colored.config as config_module
    except ImportError:  # pragma: no cover - the package is broken; the notebooks would say so
        return None
    return getattr(config_module, "validate_fields", None)


def config_field(notebook: str, name: str) -> str | None:
    """The ``colored.Config`` field whose rules a notebook parameter must follow, or ``None``."""
    import dataclasses

    from colored.config import Config

    if ("*", name) in NOT_CONFIG_FIELDS or (notebook, name) in NOT_CONFIG_FIELDS:
        return None
    field = CONFIG_FIELD_ALIASES.get(name, name)
    return field if field in {f.name for f in dataclasses.fields(Config)} else None


def check_params(
    params: Mapping[str, Any], specs: Mapping[str, Mapping[str, Mapping[str, Any]]]
) -> None:
    """Raise one ``ValueError`` (one line) if a value does not fit the notebooks that would receive it.

    ``specs`` is ``{notebook: notebook_parameter_specs(notebook)}``. Each value must have the type of
    the default (or annotation) in every ``parameters`` cell declaring it, and, for parameters that
    notebooks pass to ``colored.Config``, satisfy ``colored.config.validate_fields`` (when the package
    has it). Nothing runs before this passes, so a typo never costs the notebooks before it."""
    problems: list[str] = []
    validate = _validate_fields()
    for name, value in params.items():
        declaring = [nb for nb, declared in specs.items() if name in declared]
        bad: dict[str, list[str]] = {}
        for notebook in declaring:
            rule = parameter_rule(specs[notebook][name])
            if not _accepts(rule, value):
                default = specs[notebook][name].get("default")
                bad.setdefault(
                    f"expected {describe_rule(rule)} (its default is {default})", []
                ).append(notebook)
        for allowed, notebooks in bad.items():
            problems.append(f"parameter {name} ({', '.join(notebooks)}): got {value!r}, {allowed}")
        if (
            bad or validate is None or value is None
        ):  # None, where a cell allows it, means "not set" (e.g. 07's
            continue  # temperature: the model's own decoding)
        by_field: dict[str, list[str]] = {}
        for notebook in declaring:
            field = config_field(notebook, name)
            if field:
                by_field.setdefault(field, []).append(notebook)
        for field, notebooks in by_field.items():
            try:
                validate({field: value})
            except ValueError as error:  # colored.config.ConfigError
                reason = " ".join(str(error).split())
                if repr(value) not in reason and str(value) not in reason:
                    reason = f"got {value!r}: {reason}"
                via = "" if field == name else f", passed as Config.{field}"
                problems.append(f"parameter {name} ({', '.join(notebooks)}{via}): {reason}")
    if problems:
        raise ValueError("; ".join(problems) + ". Nothing was run.")


# --------------------------------------------------------------------------------------------------
# parameters from the command line and YAML files
# --------------------------------------------------------------------------------------------------


def parse_value(text: str) -> Any:
    """A command-line value as YAML (``200`` → int, ``true`` → bool, ``null`` → None, ``1e-3`` → float);
    anything else stays a string (``none`` too: it is a valid ``backbone``)."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        try:
            return float(value) if any(c in value.lower() for c in ".e") else value
        except ValueError:
            return value
    return value


def load_params_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (or JSON) mapping of notebook parameters."""
    import yaml

    values = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(values, dict):
        raise ValueError(
            f"{path} must hold a mapping of parameter names to values, got {type(values).__name__}"
        )
    return {str(key): value for key, value in values.items()}


#: The named parameter sets shipped inside the package (``colored chain --profile NAME``):
#: ``reference`` (offline, what ``colored demo`` runs) and ``colab`` (ColorED's real run on a GPU).
PROFILES_DIR = Path(__file__).resolve().parent / "profiles"


def profile_names() -> list[str]:
    """The profiles shipped with the package: ``colored/notebook/profiles/<name>.yaml``."""
    return sorted(path.stem for path in PROFILES_DIR.glob("*.yaml"))


def load_profile(name: str) -> dict[str, Any]:
    """A shipped profile's parameters (``ValueError`` naming the profiles for an unknown name)."""
    if name not in profile_names():
        raise ValueError(f"no profile {name!r}; the profiles are: {', '.join(profile_names())}")
    return load_params_file(PROFILES_DIR / f"{name}.yaml")


def chain_params(
    params_file: str | Path | None = None,
    pairs: Iterable[Sequence[str]] = (),
    profile: str | None = None,
) -> dict[str, Any]:
    """Parameters of a shipped ``profile``, overridden by a YAML file's, overridden by ``-p KEY VALUE``
    pairs."""
    params = load_profile(profile) if profile else {}
    if params_file:
        params.update(load_params_file(params_file))
    for key, value in pairs:
        params[key] = parse_value(value)
    return params
