"""Run the lab's seven notebooks headless, in order, with papermill: ``colored demo`` / ``colored chain``.

Each notebook has one cell tagged ``parameters`` whose values are the *reference parameters*: small
enough that the whole chain runs offline on a 2-core CPU in a few minutes. The chain passes every
notebook only the parameters its ``parameters`` cell declares (papermill would inject any name it is
given), plus ``run_dir`` pointing at the chain's output folder, so that notebook 05 saves its model
there and notebook 06 reads it back.

Python::

    from colored.chain import run_chain
    run_chain({"data_source": "kaggle", "epochs": 200, "image_size": 256,
               "backbone": "inception_resnet_v2"}, out_dir="runs/colab")

Command line::

    colored demo                                  # reference parameters → runs/<timestamp>/
    colored chain -p epochs 200 -p data_source kaggle --out runs/long
    colored chain --params-file colab.yaml --only 05,06
    colored chain --list                          # every notebook's parameters and defaults
    colored chain --save-outputs                  # maintainers: refresh the committed outputs
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
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
NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
#: Parent folder of the timestamped run folders ``colored demo`` creates.
RUNS_DIR = Path("runs")
KERNEL_NAME = "colored"


class ChainError(RuntimeError):
    """A notebook of the chain failed; names the notebook, the cell and the error."""

    def __init__(self, notebook: str, cell_index: int | None, ename: str, evalue: str,
                 output: Path, source: str = "") -> None:
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
    import papermill

    info = papermill.inspect_notebook(str(path))
    return {name: spec["default"] for name, spec in info.items()}


def select_notebooks(only: str | Iterable[str] | None = None,
                     notebooks: Sequence[str] = NOTEBOOKS) -> list[str]:
    """Notebook file names for ``only``: ``None`` (all), ``"04,05"``, ``"4,5"`` or names, in chain order."""
    if only is None:
        return list(notebooks)
    items = [part.strip() for part in (only.split(",") if isinstance(only, str) else only)]
    chosen = set()
    for item in filter(None, items):
        matches = [name for name in notebooks
                   if name == item or name.split("_", 1)[0].lstrip("0") == item.lstrip("0")
                   or Path(name).stem == item]
        if not matches:
            raise ValueError(f"no notebook {item!r} in the chain; choose from: {', '.join(notebooks)} "
                             "(or their numbers, e.g. --only 04,05)")
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
            raise ValueError(f"no Jupyter kernel named {kernel_name!r}; list them with "
                             "`jupyter kernelspec list`") from None
        from colored import kernel

        print(f"installing the '{KERNEL_NAME}' Jupyter kernel in {kernel.install()}", file=sys.stderr)


# --------------------------------------------------------------------------------------------------
# the chain
# --------------------------------------------------------------------------------------------------


def run_chain(params: Mapping[str, Any] | None = None, out_dir: str | Path | None = None,
              notebooks: Sequence[str] | None = None, kernel_name: str = KERNEL_NAME,
              notebook_dir: str | Path | None = None,
              log: Callable[[str], None] | None = print, quiet: bool = True) -> list[Path]:
    """Execute ``notebooks`` (default: all six, in order) with papermill into ``out_dir``.

    ``params`` override the notebooks' reference values; each notebook receives only those its
    ``parameters`` cell declares. ``run_dir`` defaults to ``out_dir`` (default: a new
    ``runs/<timestamp>/``), so every notebook writes its figures, model and metrics there.
    A parameter that none of the selected notebooks declares is an error (a typo would otherwise be
    silently ignored). Stops at the first failing notebook with :class:`ChainError`.

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
        raise FileNotFoundError(f"notebooks not found: {', '.join(missing)}. The chain runs the notebooks of "
                                "a checkout of the repository (git clone it, then run from there).")
    out_dir = Path(out_dir) if out_dir is not None else timestamped_run_dir()
    params = dict(params or {})
    # Absolute: the notebooks run from the repository root (their setup cell moves there), not from here.
    params.setdefault("run_dir", str(out_dir.resolve()))

    declared = {name: notebook_parameters(src) for name, src in zip(names, sources)}
    unknown = sorted(set(params) - {"run_dir"} - {p for d in declared.values() for p in d})
    if unknown:
        known = sorted({p for d in declared.values() for p in d})
        raise ValueError(f"parameter(s) {', '.join(unknown)} not declared by any of the notebooks "
                         f"{', '.join(names)}; their parameters are: {', '.join(known)}")

    ensure_kernel(kernel_name)
    out_dir.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {"params": params, "kernel": kernel_name, "notebooks": {}}
    executed: list[Path] = []
    for name, src in zip(names, sources):
        given = {key: value for key, value in params.items() if key in declared[name]}
        output = out_dir / name
        start = time.perf_counter()
        try:
            with _stderr_to(out_dir / "kernels.log" if quiet else None):
                papermill.execute_notebook(str(src), str(output), parameters=given, kernel_name=kernel_name,
                                           progress_bar=False, cwd=str(src.parent))
        except PapermillExecutionError as error:
            record["notebooks"][name] = {"seconds": round(time.perf_counter() - start, 1), "failed": True}
            _write_record(out_dir, record)
            raise ChainError(name, _source_cell_index(output, error.cell_index), error.ename,
                             error.evalue, output, error.source or "") from None
        except Exception as error:  # the kernel died, failed to start, timed out...
            record["notebooks"][name] = {"seconds": round(time.perf_counter() - start, 1), "failed": True}
            _write_record(out_dir, record)
            raise ChainError(name, None, type(error).__name__, f"{error} (see {out_dir / 'kernels.log'})",
                             output) from error
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

        cells = [c for c in nbformat.read(str(executed), as_version=4).cells
                 if "papermill-error-cell-tag" not in c.metadata.get("tags", [])]
        injected = [i for i, c in enumerate(cells) if "injected-parameters" in c.metadata.get("tags", [])]
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
        raise ValueError("the executed notebook's cells differ from the source notebook's: was the source "
                         "edited during the run? Run the chain again.")
    clean = copy.deepcopy(source)
    count = 0
    for cell, ran in zip(clean.cells, cells):
        if cell.cell_type != "code":
            continue
        count += 1
        cell.execution_count = count
        cell.outputs = _coalesce_streams([nbformat.from_dict(dict(output)) for output in ran.outputs])
        for output in cell.outputs:
            if "execution_count" in output:
                output.execution_count = count
    return clean


def _coalesce_streams(outputs: list) -> list:
    """Merge consecutive stdout (or stderr) pieces: how the kernel happened to split them is noise."""
    merged: list = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (output.output_type == "stream" and previous is not None and previous.output_type == "stream"
                and previous.name == output.name):
            previous.text += output.text
        else:
            merged.append(output)
    return merged


def save_reference_outputs(executed: Sequence[Path], notebook_dir: str | Path | None = None) -> list[Path]:
    """Copy the outputs of executed notebooks back into the lab's notebooks (see :func:`clean_executed`)."""
    import nbformat

    notebook_dir = Path(notebook_dir) if notebook_dir is not None else NOTEBOOK_DIR
    written = []
    for path in executed:
        target = notebook_dir / Path(path).name
        clean = clean_executed(nbformat.read(str(path), as_version=4), nbformat.read(str(target), as_version=4))
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
        raise ValueError(f"{path} must hold a mapping of parameter names to values, got {type(values).__name__}")
    return {str(key): value for key, value in values.items()}


def chain_params(params_file: str | Path | None = None,
                 pairs: Iterable[Sequence[str]] = ()) -> dict[str, Any]:
    """Parameters from a YAML file, overridden by ``-p KEY VALUE`` pairs."""
    params = load_params_file(params_file) if params_file else {}
    for key, value in pairs:
        params[key] = parse_value(value)
    return params


# --------------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------------


def _run(params: dict[str, Any], out: Path | None, notebooks: list[str], kernel: str) -> int:
    out_dir = out or timestamped_run_dir()
    print(f"running {len(notebooks)} notebook(s) into {out_dir}/"
          + (f" with {json.dumps(params, default=str)}" if params else " with the reference parameters"))
    start = time.perf_counter()
    run_chain(params, out_dir, notebooks, kernel_name=kernel)
    print(f"{'total':<28} {time.perf_counter() - start:6.1f} s\nresults (executed notebooks, figures, "
          f"model, metrics): {out_dir}/")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    return _run({}, args.out, list(NOTEBOOKS), args.kernel)


def cmd_chain(args: argparse.Namespace) -> int:
    notebooks = select_notebooks(args.only)
    if args.save_outputs:
        if args.param or args.params_file or args.out:
            raise ValueError("--save-outputs runs the reference parameters into runs/reference only: "
                             "drop -p, --params-file and --out")
        out_dir = NOTEBOOK_DIR.parent / REFERENCE_RUN_DIR
        executed = run_chain({"run_dir": REFERENCE_RUN_DIR}, out_dir, notebooks, kernel_name=args.kernel)
        for path in save_reference_outputs(executed):
            print(f"outputs saved in {path} ({path.stat().st_size / 1024:.0f} kB)")
        return 0
    if args.list:
        for name in notebooks:
            print(name)
            for key, default in notebook_parameters(NOTEBOOK_DIR / name).items():
                print(f"    {key} = {default}")
        return 0
    return _run(chain_params(args.params_file, args.param or ()), args.out, notebooks, args.kernel)


def add_cli(subparsers) -> None:
    demo = subparsers.add_parser(
        "demo", help="run the seven notebooks with the reference parameters into runs/<timestamp>/",
        description="Run notebooks 01-07 headless (papermill), in order, with their reference parameters; "
                    "stops at the first failing notebook.")
    demo.add_argument("--out", type=Path, default=None, help="output folder (default: runs/<timestamp>)")
    demo.add_argument("--kernel", default=KERNEL_NAME, help=f"Jupyter kernel (default: {KERNEL_NAME})")
    demo.set_defaults(func=cmd_demo)

    chain = subparsers.add_parser(
        "chain", help="run the notebooks with other parameters (-p KEY VALUE, --params-file FILE.yaml)",
        description="Run the notebooks headless (papermill), in order. Each notebook receives the "
                    "parameters its `parameters` cell declares; run_dir defaults to the output folder.")
    chain.add_argument("--params-file", type=Path, help="YAML file of parameters")
    chain.add_argument("-p", "--param", nargs=2, action="append", metavar=("KEY", "VALUE"),
                       help="a parameter (value parsed as YAML); repeatable, overrides --params-file")
    chain.add_argument("--out", type=Path, default=None, help="output folder (default: runs/<timestamp>)")
    chain.add_argument("--only", default=None, help="comma-separated notebooks to run, e.g. 04,05")
    chain.add_argument("--kernel", default=KERNEL_NAME, help=f"Jupyter kernel (default: {KERNEL_NAME})")
    chain.add_argument("--list", action="store_true", help="list the notebooks' parameters and exit")
    chain.add_argument("--save-outputs", action="store_true",
                       help="maintainers: run with the reference parameters and store the outputs in "
                            "notebooks/*.ipynb (the reference `make test` compares against)")
    chain.set_defaults(func=cmd_chain)
