"""The lab notebooks' committed outputs, what ``make test`` compares a re-run against with nbval.

``colored chain --save-outputs`` (maintainers) runs the reference parameters into ``runs/reference``
and copies the executed notebooks' outputs back into ``notebooks/*.ipynb``, cleaned so that a re-run
changes nothing but real results. Apart from the chain because only maintainers need it; it reads the
chain's settings as ``chain.X`` at call time, so a test that patches them there is seen here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from colored.notebook import chain

if TYPE_CHECKING:  # nbformat is the lab extra's: imported where used, not at import time
    from nbformat import NotebookNode

#: The run folder the notebooks' own defaults point at; nbval runs them standalone, writing there.
REFERENCE_RUN_DIR = "runs/reference"


def clean_executed(executed: NotebookNode, source: NotebookNode) -> NotebookNode:
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

    notebook_dir = Path(notebook_dir) if notebook_dir is not None else chain.NOTEBOOK_DIR
    written = []
    for path in executed:
        target = notebook_dir / Path(path).name
        clean = clean_executed(
            nbformat.read(str(path), as_version=4), nbformat.read(str(target), as_version=4)
        )
        nbformat.write(clean, str(target))
        written.append(target)
    return written


def refresh_reference_outputs(
    notebooks: Sequence[str] | None = None, kernel_name: str = chain.KERNEL_NAME
) -> list[Path]:
    """Maintainers: run the reference parameters into ``runs/reference`` (emptied first: the chain
    owns it) and store the outputs in ``notebooks/*.ipynb`` (what ``make test`` compares against)."""
    out_dir = chain.NOTEBOOK_DIR.parent / REFERENCE_RUN_DIR
    executed = chain.run_chain(
        {"run_dir": REFERENCE_RUN_DIR},
        out_dir,
        list(notebooks or chain.NOTEBOOKS),
        kernel_name=kernel_name,
        _owned_out_dir=True,
    )
    return save_reference_outputs(executed)
