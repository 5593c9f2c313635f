"""Run the lab's seven notebooks headless, in order, with papermill: ``colored demo`` / ``colored chain``.

Each notebook has one cell tagged ``parameters`` whose values are the *reference parameters*: small
enough that the whole chain runs offline on a 2-core CPU in a few minutes. The chain passes every
notebook only the parameters its ``parameters`` cell declares (papermill would inject any name it is
given), plus ``run_dir`` pointing at the chain's output folder, so that notebook 05 saves its model
there and notebook 06 reads it back (notebook 07 writes its photos and figures there too).

Nothing runs before every parameter is checked (``colored.notebook.params``): a name no selected
notebook declares, or a value that does not fit a notebook's ``parameters`` cell or ``colored.Config``,
is one ``ValueError`` (exit code 2 on the command line).

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

The committed reference outputs (``--save-outputs``) are ``colored.notebook.reference``'s.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from colored.notebook.params import (
    check_params,
    describe_rule,
    notebook_parameter_specs,
    parameter_rule,
)

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
# the notebooks to run, where, and in which kernel
# --------------------------------------------------------------------------------------------------


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
# what the command line (colored.cli: demo, chain) calls
# --------------------------------------------------------------------------------------------------


def parameters_listing(notebooks: Sequence[str] | None = None) -> str:
    """Every selected notebook's parameters, defaults and what each accepts (``colored chain --list``)."""
    lines = []
    for name in notebooks if notebooks is not None else NOTEBOOKS:
        lines.append(name)
        for key, spec in notebook_parameter_specs(NOTEBOOK_DIR / name).items():
            lines.append(f"    {key} = {spec['default']}  ({describe_rule(parameter_rule(spec))})")
    return "\n".join(lines)
