"""Run the lab's seven notebooks headless, in order, with papermill: ``colored demo`` / ``colored chain``.

Each notebook has one cell tagged ``parameters`` whose values are the *reference parameters*: small
enough that the whole chain runs offline on a 2-core CPU in a few minutes. The chain passes every
notebook only the parameters its ``parameters`` cell declares (papermill would inject any name it is
given), plus ``run_dir`` pointing at the chain's output folder, so that notebook 05 saves its model
there and notebook 06 reads it back (notebook 07 writes its photos and figures there too).

Nothing runs before every parameter is checked: a name no selected notebook declares, or a value that
does not fit (the type of the default, or the annotation, in each ``parameters`` cell declaring it:
``-p epochs notanumber`` is refused before notebook 01 starts; and, for the parameters the notebooks
hand to ``colored.Config``, ``colored.config.validate_fields``) is one ``ValueError`` naming the
notebooks, the parameter, the value and what is allowed (exit code 2 on the command line).

The output folder must be new or empty. ``--overwrite`` (``overwrite=True``) lets it name the folder
of an earlier run: everything in it is deleted first, so that no old figure, executed notebook, model
or ``chain.json`` mixes with the new run's. It only does so for a folder holding an earlier run's
``chain.json``; any other non-empty folder is refused and left untouched.

Python::

    from colored.notebook.chain import run_chain
    run_chain({"data_source": "kaggle", "epochs": 200, "image_size": 256,
               "backbone": "inception_resnet_v2"}, out_dir="runs/colab")

Command line::

    colored demo                                  # = colored chain --profile reference → runs/<timestamp>/
    colored chain --profile colab --out runs/colab  # ColorED's real run on a GPU (colored/notebook/profiles/)
    colored chain -p epochs 200 -p data_source kaggle --out runs/long
    colored chain -p epochs 300 --out runs/long --overwrite   # replace that earlier run
    colored chain --params-file colab.yaml --only 05,06
    colored chain --list                          # every notebook's parameters and defaults
    colored chain --save-outputs                  # maintainers: refresh the committed outputs
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

#: The lab, in the order the notebooks must run (05 writes the model that 06 analyses).
NOTEBOOKS: tuple[str, ...] = (
    "01_data_download.ipynb",
    "02_preprocessing.ipynb",
    "03_model.ipynb",
    "04_memorization.ipynb",
    "05_training.ipynb",
    "06_analysis.ipynb",
    "07_colorize_your_photos.ipynb",
)
#: Where the notebooks live in a checkout of the repository (they are not part of the wheel).
NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
#: The Python packages the chain needs beyond the library's: ``pip install "colored-lab[lab]"``.
CHAIN_PACKAGES = ("papermill", "nbformat", "jupyter_client", "ipykernel")
#: Parent folder of the timestamped run folders ``colored demo`` creates.
RUNS_DIR = Path("runs")
KERNEL_NAME = "colored"


def missing_prerequisites(notebook_dir: str | Path | None = None) -> str | None:
    """What a plain ``pip install`` lacks for ``colored demo``/``chain``, as one line (None: nothing).
    The wheel has the library and the command line, not papermill and Jupyter (the ``lab`` extra) nor
    the notebooks (they live in the repository: the chain runs those of an editable install)."""
    import importlib.util

    missing = [name for name in CHAIN_PACKAGES if importlib.util.find_spec(name) is None]
    folder = Path(notebook_dir) if notebook_dir is not None else NOTEBOOK_DIR
    no_notebooks = not all((folder / name).is_file() for name in NOTEBOOKS)
    if not missing and not no_notebooks:
        return None
    try:
        from colored.notebook.publish import published

        clone = f"git clone https://github.com/{published().owner}/{published().name}"
    except ImportError:  # pragma: no cover - a package without the publishing setting
        clone = "git clone the lab's repository"
    needs = " and ".join(
        ([f"papermill and Jupyter ({', '.join(missing)} not installed)"] if missing else [])
        + (
            [f"the lab's notebooks (not part of the package; looked in {folder})"]
            if no_notebooks
            else []
        )
    )
    return (
        f'the notebook chain needs {needs}: {clone}, then in that folder `pip install -e ".[lab]"` '
        "(or `make setup`) and run it there; the library commands (colored train, colorize, evaluate) "
        "work without them"
    )


class ChainError(RuntimeError):
    """A notebook of the chain failed; names the notebook, the cell and the error."""

    def __init__(
        self,
        notebook: str,
        cell_index: int | None,
        ename: str,
        evalue: str,
        output: Path,
        source: str = "",
    ) -> None:
        self.notebook = notebook
        self.cell_index = cell_index
        self.ename = ename
        self.evalue = evalue
        self.output = output
        first_line = next((line for line in source.splitlines() if line.strip()), "")
        where = f"cell {cell_index}" if cell_index is not None else "an unknown cell"
        super().__init__(
            f"notebook {notebook} failed in {where}"
            + (f" (starting `{first_line.strip()[:80]}`)" if first_line else "")
            + f": {ename}: {evalue}\n"
            f"The chain stopped there; the executed notebook, with the traceback, is {output}"
        )


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


def select_notebooks(
    only: str | Iterable[str] | None = None, notebooks: Sequence[str] = NOTEBOOKS
) -> list[str]:
    """Notebook file names for ``only``: ``None`` (all), ``"04,05"``, ``"4,5"`` or names, in chain order."""
    if only is None:
        return list(notebooks)
    items = [part.strip() for part in (only.split(",") if isinstance(only, str) else only)]
    chosen = set()
    for item in filter(None, items):
        matches = [
            name
            for name in notebooks
            if name == item
            or name.split("_", 1)[0].lstrip("0") == item.lstrip("0")
            or Path(name).stem == item
        ]
        if not matches:
            raise ValueError(
                f"no notebook {item!r} in the chain; choose from: {', '.join(notebooks)} "
                "(or their numbers, e.g. --only 04,05)"
            )
        chosen.update(matches)
    return [name for name in notebooks if name in chosen]


def timestamped_run_dir(root: str | Path = RUNS_DIR) -> Path:
    """A new, not yet existing ``root/YYYYmmdd-HHMMSS`` folder (``-2``, ``-3``… on a clash)."""
    base = Path(root) / datetime.now().strftime("%Y%m%d-%H%M%S")
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def ensure_kernel(kernel_name: str) -> None:
    """Install the ``colored`` kernel when missing (e.g. a fresh Colab); other names must exist."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(kernel_name)
    except NoSuchKernel:
        if kernel_name != KERNEL_NAME:
            raise ValueError(
                f"no Jupyter kernel named {kernel_name!r}; list them with `jupyter kernelspec list`"
            ) from None
        from colored.notebook import kernel

        print(
            f"installing the '{KERNEL_NAME}' Jupyter kernel in {kernel.install()}", file=sys.stderr
        )


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


def _describe(rule: tuple[tuple[type, ...] | None, bool]) -> str:
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
                bad.setdefault(f"expected {_describe(rule)} (its default is {default})", []).append(
                    notebook
                )
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
# the output folder
# --------------------------------------------------------------------------------------------------


def looks_like_chain_run(folder: str | Path) -> bool:
    """Whether ``folder`` holds the ``chain.json`` record a chain run writes first thing."""
    try:
        record = json.loads((Path(folder) / "chain.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and {"params", "notebooks"} <= set(record)


def prepare_out_dir(out_dir: str | Path, overwrite: bool = False, owned: bool = False) -> Path:
    """Make sure ``out_dir`` can take a new run without mixing with an earlier one.

    A missing or empty folder is fine. A non-empty one is refused, unless ``overwrite``: then it must
    look like an earlier chain run (it has the run's ``chain.json``), and everything in it is deleted
    (old figures, executed notebooks, models, ``chain.json``...), so nothing stale survives next to the
    new outputs. A folder that does not look like a run folder is never deleted. ``owned``: a folder the
    chain owns whatever it holds (``runs/reference`` for ``--save-outputs``), emptied without asking.
    Raises ``ValueError`` (one line) when refusing; deletes nothing then."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir} is a file, not a folder")
    entries = sorted(out_dir.iterdir()) if out_dir.is_dir() else []
    if not entries:
        return out_dir
    if not (overwrite or owned):
        count = f"{len(entries)} {'entry' if len(entries) == 1 else 'entries'}"
        raise ValueError(
            f"--out {out_dir} is not empty ({count}, e.g. {entries[0].name}): "
            "choose a new folder, or add --overwrite to delete the earlier run in it first"
        )
    resolved = out_dir.resolve()
    protected = {Path.home().resolve(), Path.cwd().resolve(), Path(resolved.anchor)}
    if (
        any(resolved == p or resolved in p.parents for p in protected | {NOTEBOOK_DIR.resolve()})
        or (out_dir / ".git").exists()
    ):
        raise ValueError(
            f"refusing to empty {out_dir}: it is (or holds) the current, home, repository or "
            "notebooks folder; nothing was deleted. Choose a new --out folder"
        )
    if not owned and not looks_like_chain_run(out_dir):
        raise ValueError(
            f"refusing to --overwrite {out_dir}: it has no chain.json, so it does not look like "
            "the output of an earlier `colored chain`/`colored demo` run; nothing was deleted. "
            "Choose a new or empty --out folder"
        )
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    return out_dir


# --------------------------------------------------------------------------------------------------
# the chain
# --------------------------------------------------------------------------------------------------


def run_chain(
    params: Mapping[str, Any] | None = None,
    out_dir: str | Path | None = None,
    notebooks: Sequence[str] | None = None,
    kernel_name: str = KERNEL_NAME,
    notebook_dir: str | Path | None = None,
    log: Callable[[str], None] | None = print,
    quiet: bool = True,
    overwrite: bool = False,
    _owned_out_dir: bool = False,
) -> list[Path]:
    """Execute ``notebooks`` (default: all seven, in order) with papermill into ``out_dir``.

    ``params`` override the notebooks' reference values; each notebook receives only those its
    ``parameters`` cell declares. ``run_dir`` defaults to ``out_dir`` (default: a new
    ``runs/<timestamp>/``), so every notebook writes its figures, model, metrics and colorized
    photos there.

    Before anything runs, the parameters are checked (:func:`check_params`): a parameter that none of
    the selected notebooks declares (a typo would otherwise be silently ignored), or a value that
    does not fit a notebook's ``parameters`` cell or ``colored.Config``, is a ``ValueError``. So is a
    non-empty ``out_dir``, unless ``overwrite``, which empties it first, and only if it holds an
    earlier run's ``chain.json`` (:func:`prepare_out_dir`). Stops at the first failing notebook with
    :class:`ChainError`.

    Returns the executed notebooks' paths. ``out_dir/chain.json`` records the parameters and each
    notebook's run time. With ``quiet`` the kernels' own stderr (TensorFlow's C++ start-up lines,
    Jupyter's warnings: never part of the notebooks) goes to ``out_dir/kernels.log``, not the terminal.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    notebook_dir = Path(notebook_dir) if notebook_dir is not None else NOTEBOOK_DIR
    names = list(notebooks) if notebooks is not None else list(NOTEBOOKS)
    sources = [notebook_dir / name for name in names]
    missing = [str(p) for p in sources if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"notebooks not found: {', '.join(missing)}. The chain runs the notebooks of "
            "a checkout of the repository (git clone it, then run from there)."
        )
    out_dir = Path(out_dir) if out_dir is not None else timestamped_run_dir()
    params = dict(params or {})
    declared = {name: notebook_parameter_specs(src) for name, src in zip(names, sources)}
    unknown = sorted(set(params) - {"run_dir"} - {p for d in declared.values() for p in d})
    if unknown:
        known = sorted({p for d in declared.values() for p in d})
        raise ValueError(
            f"parameter(s) {', '.join(unknown)} not declared by any of the notebooks "
            f"{', '.join(names)}; their parameters are: {', '.join(known)}"
        )
    check_params(params, declared)
    # Absolute: the notebooks run from the repository root (their setup cell moves there), not from here.
    params.setdefault("run_dir", str(out_dir.resolve()))

    prepare_out_dir(out_dir, overwrite=overwrite, owned=_owned_out_dir)
    ensure_kernel(kernel_name)
    out_dir.mkdir(parents=True, exist_ok=True)
    if log:  # only now: a refused parameter or folder must not read as if the chain had started
        given = {k: v for k, v in params.items() if k != "run_dir"}
        log(
            f"running {len(names)} notebook(s) into {out_dir}/"
            + (
                f" with {json.dumps(given, default=str)}"
                if given
                else " with the reference parameters"
            )
        )
    record: dict[str, Any] = {"params": params, "kernel": kernel_name, "notebooks": {}}
    executed: list[Path] = []
    for name, src in zip(names, sources):
        given = {key: value for key, value in params.items() if key in declared[name]}
        output = out_dir / name
        start = time.perf_counter()
        try:
            with _stderr_to(out_dir / "kernels.log" if quiet else None):
                papermill.execute_notebook(
                    str(src),
                    str(output),
                    parameters=given,
                    kernel_name=kernel_name,
                    progress_bar=False,
                    cwd=str(src.parent),
                )
        except PapermillExecutionError as error:
            record["notebooks"][name] = {
                "seconds": round(time.perf_counter() - start, 1),
                "failed": True,
            }
            _write_record(out_dir, record)
            raise ChainError(
                name,
                _source_cell_index(output, error.cell_index),
                error.ename,
                error.evalue,
                output,
                error.source or "",
            ) from None
        except Exception as error:  # the kernel died, failed to start, timed out...
            record["notebooks"][name] = {
                "seconds": round(time.perf_counter() - start, 1),
                "failed": True,
            }
            _write_record(out_dir, record)
            raise ChainError(
                name, None, type(error).__name__, f"{error} (see {out_dir / 'kernels.log'})", output
            ) from error
        seconds = time.perf_counter() - start
        record["notebooks"][name] = {"seconds": round(seconds, 1), "parameters": given}
        _write_record(out_dir, record)
        executed.append(output)
        if log:
            log(f"{name:<28} {seconds:6.1f} s")
    return executed


@contextlib.contextmanager
def _stderr_to(path: Path | None):
    """Point file descriptor 2 at ``path`` (appending) while the block runs: kernels inherit it."""
    if path is None:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(path, "ab") as log_file:
            os.dup2(log_file.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _source_cell_index(executed: Path, cell_index: int) -> int:
    """Index of the failing cell in the *source* notebook. papermill's index counts its injected
    parameters cell; the saved notebook also holds error banners it added afterwards."""
    try:
        import nbformat

        cells = [
            c
            for c in nbformat.read(str(executed), as_version=4).cells
            if "papermill-error-cell-tag" not in c.metadata.get("tags", [])
        ]
        injected = [
            i for i, c in enumerate(cells) if "injected-parameters" in c.metadata.get("tags", [])
        ]
        return cell_index - 1 if injected and injected[0] < cell_index else cell_index
    except Exception:  # noqa: BLE001 - best effort: the raw index is still useful
        return cell_index


def _write_record(out_dir: Path, record: dict[str, Any]) -> None:
    (out_dir / "chain.json").write_text(json.dumps(record, indent=1, default=str))


# --------------------------------------------------------------------------------------------------
# the committed reference outputs (what `make test` compares against with nbval)
# --------------------------------------------------------------------------------------------------

#: The run folder the notebooks' own defaults point at; nbval runs them standalone, writing there.
REFERENCE_RUN_DIR = "runs/reference"


def clean_executed(executed, source):
    """An executed notebook made fit to commit: ``source``'s cells and metadata with ``executed``'s
    outputs. Drops papermill's injected-parameters cell and its metadata (timings, parameters) and
    numbers the executions 1, 2, … so that re-running changes nothing but real results."""
    import copy

    import nbformat

    cells = [c for c in executed.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    if [c.source for c in cells] != [c.source for c in source.cells]:
        raise ValueError(
            "the executed notebook's cells differ from the source notebook's: was the source "
            "edited during the run? Run the chain again."
        )
    clean = copy.deepcopy(source)
    count = 0
    for cell, ran in zip(clean.cells, cells):
        if cell.cell_type != "code":
            continue
        count += 1
        cell.execution_count = count
        cell.outputs = _coalesce_streams(
            [nbformat.from_dict(dict(output)) for output in ran.outputs]
        )
        for output in cell.outputs:
            if "execution_count" in output:
                output.execution_count = count
    return clean


def _coalesce_streams(outputs: list) -> list:
    """Merge consecutive stdout (or stderr) pieces: how the kernel happened to split them is noise."""
    merged: list = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (
            output.output_type == "stream"
            and previous is not None
            and previous.output_type == "stream"
            and previous.name == output.name
        ):
            previous.text += output.text
        else:
            merged.append(output)
    return merged


def save_reference_outputs(
    executed: Sequence[Path], notebook_dir: str | Path | None = None
) -> list[Path]:
    """Copy the outputs of executed notebooks back into the lab's notebooks (see :func:`clean_executed`)."""
    import nbformat

    notebook_dir = Path(notebook_dir) if notebook_dir is not None else NOTEBOOK_DIR
    written = []
    for path in executed:
        target = notebook_dir / Path(path).name
        clean = clean_executed(
            nbformat.read(str(path), as_version=4), nbformat.read(str(target), as_version=4)
        )
        nbformat.write(clean, str(target))
        written.append(target)
    return written


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


# --------------------------------------------------------------------------------------------------
# what the command line (colored.cli: demo, chain) calls
# --------------------------------------------------------------------------------------------------


def parameters_listing(notebooks: Sequence[str] | None = None) -> str:
    """Every selected notebook's parameters, defaults and what each accepts (``colored chain --list``)."""
    lines = []
    for name in notebooks if notebooks is not None else NOTEBOOKS:
        lines.append(name)
        for key, spec in notebook_parameter_specs(NOTEBOOK_DIR / name).items():
            lines.append(f"    {key} = {spec['default']}  ({_describe(parameter_rule(spec))})")
    return "\n".join(lines)


def refresh_reference_outputs(
    notebooks: Sequence[str] | None = None, kernel_name: str = KERNEL_NAME
) -> list[Path]:
    """Maintainers: run the reference parameters into ``runs/reference`` (emptied first: the chain
    owns it) and store the outputs in ``notebooks/*.ipynb`` (what ``make test`` compares against)."""
    out_dir = NOTEBOOK_DIR.parent / REFERENCE_RUN_DIR
    executed = run_chain(
        {"run_dir": REFERENCE_RUN_DIR},
        out_dir,
        list(notebooks or NOTEBOOKS),
        kernel_name=kernel_name,
        _owned_out_dir=True,
    )
    return save_reference_outputs(executed)
