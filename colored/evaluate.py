"""Score colorizers on folders of colour photos: a Python API and the ``colored evaluate`` command.

Every readable photo under a folder is prepared and scored by :mod:`colored.metrics`'s protocol; a
file that cannot be decoded is reported by name and skipped, never fatal. Methods are the baselines
``"gray"`` and ``"mean-ab"`` (an oracle flat colour) or models, which colorize through
:mod:`colored.inference` like ``colored colorize``. The report is ``metrics.json``, ``metrics.md`` and
``gallery.png`` (docs/evaluation.md: the protocol, the rebalanced AuC's prior, examples).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from colored import baselines, metrics
from colored.config import Decoding
from colored.inference import colorize_stream
from colored.methods import Method, is_classification_method, method_label, resolve_method
from colored.predict import decoding_for
from colored.report import protocol, results_table

GALLERY_ROWS = 3  # images per set in the gallery


# ---------------------------------------------------------------------------------------------
# loading an evaluation set


@dataclass
class EvalSet:
    """The prepared ground truths of one folder, ready to score any number of methods against.

    ``names`` are paths relative to ``folder`` (POSIX style); ``skipped`` is ``(name, reason)`` for
    each file that could not be decoded; ``prior`` is the 22×22 ab prior of ``trues`` (used by the
    rebalanced AuC).
    """

    folder: Path
    names: list[str]
    trues: list[np.ndarray]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    size: int = metrics.EVAL_SIZE
    prior: np.ndarray | None = None

    @property
    def name(self) -> str:
        return self.folder.name or str(self.folder)

    def __len__(self) -> int:
        return len(self.trues)


def load_set(folder: str | Path, size: int = metrics.EVAL_SIZE, *, report: bool = True) -> EvalSet:
    """Find, decode and :func:`~colored.metrics.prepare` every image under ``folder``.

    Raises ``FileNotFoundError`` (missing folder), ``NotADirectoryError`` (a file) or ``ValueError``
    (no image files, or none of them readable), each naming the folder. Undecodable files are
    skipped; with ``report`` each is printed to stderr with its reason.
    """
    from colored.data import find_images
    from colored.io.images import ImageReadError, read_image

    folder = Path(folder)
    paths = find_images(folder, recursive=True)
    names: list[str] = []
    trues: list[np.ndarray] = []
    skipped: list[tuple[str, str]] = []
    for path in paths:
        name = path.relative_to(folder.expanduser()).as_posix()
        try:
            trues.append(metrics.prepare(read_image(path).rgb, size))
            names.append(name)
        except ImageReadError as error:
            skipped.append((name, error.reason + (f" ({error.hint})" if error.hint else "")))
        except Exception as error:  # noqa: BLE001 - e.g. MemoryError on a huge file: skip, report
            skipped.append((name, f"{type(error).__name__}: {error}"))
    if report:
        for name, reason in skipped:
            print(f"colored evaluate: skipped {folder / name} — {reason}", file=sys.stderr)
    if not trues:
        raise ValueError(
            f"no readable images in {str(folder)!r}: all {len(paths)} image files failed to decode"
        )
    return EvalSet(folder, names, trues, skipped, size, metrics.ab_cell_prior(trues))


def check_folders(folders: Sequence[str | Path]) -> None:
    """Cheap check before any work: every folder exists and holds image files (the errors of
    :func:`colored.data.find_images`, naming the folder)."""
    from colored.data import find_images

    for folder in folders:
        find_images(folder, recursive=True)


# ---------------------------------------------------------------------------------------------
# scoring


def _clean(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "name"}


def _predictions(eval_set: EvalSet, method: Any, decoding: Decoding | None, batch_size: int):
    """Prepared-size RGB predictions of a resolved method, one per ground truth, in order."""
    if isinstance(method, str):
        fn = baselines.BASELINES[method]
        for true in eval_set.trues:
            yield fn(true)
        return
    # Every model call gets exactly `batch_size` images (the last one padded): one compiled shape per
    # model, whatever the set sizes (Keras traces / XLA-compiles a function per batch shape: seconds each).
    for result in colorize_stream(
        eval_set.trues,
        method,
        batch_size=batch_size,
        decoding=decoding,
        even_batches=False,
    ):
        if result.error is not None:
            raise result.error
        yield result.rgb


def score_set(
    eval_set: EvalSet,
    method: Any,
    *,
    decoding: Decoding | None = None,
    temperature: float | None = None,
    confidence: float | None = None,
    flip: bool | None = None,
    batch_size: int = 8,
    progress: bool = True,
    keep: int = 0,
    desc: str | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any], list[np.ndarray]]:
    """Score one (resolved or not) method on a loaded :class:`EvalSet`, models with
    :func:`~colored.predict.decoding_for`'s decoding (``decoding``, the file's or the default;
    ``temperature``, ``confidence``, ``flip`` replace one field each).

    Returns ``(per_image, summary, kept)``: per-image metric dicts (each with its ``name``), the
    :func:`~colored.metrics.summarize` summary (plus ``n_skipped`` and ``skipped`` from loading,
    and ``temperature`` for classification models), and the predictions of the first ``keep``
    images (for a gallery).
    """
    from tqdm.auto import tqdm

    method = resolve_method(method)
    chosen = (
        None
        if isinstance(method, str)
        else decoding_for(
            method, decoding, temperature=temperature, confidence=confidence, flip=flip
        )
    )
    prior = eval_set.prior if eval_set.prior is not None else metrics.ab_cell_prior(eval_set.trues)
    per_image: list[dict[str, Any]] = []
    kept: list[np.ndarray] = []
    bar = tqdm(
        total=len(eval_set),
        desc=desc or f"{eval_set.name}: {method_label(method, temperature)}",
        unit="img",
        disable=not progress,
        file=sys.stderr,
        leave=False,
    )
    try:
        for i, (pred, true) in enumerate(
            zip(
                _predictions(eval_set, method, chosen, batch_size),
                eval_set.trues,
            )
        ):
            per_image.append(
                {"name": eval_set.names[i], **metrics.image_metrics(pred, true, prior)}
            )
            if i < keep:
                kept.append(pred)
            bar.update(1)
    finally:
        bar.close()
    summary: dict[str, Any] = metrics.summarize([_clean(r) for r in per_image])
    if chosen is not None and is_classification_method(method):
        summary["temperature"], summary["confidence"] = chosen.temperature, chosen.confidence
    if chosen is not None:
        summary["flip"] = float(chosen.flip)
    summary["n_skipped"] = float(len(eval_set.skipped))
    summary["skipped"] = [{"name": n, "reason": r} for n, r in eval_set.skipped]
    return per_image, summary, kept


def evaluate_folder(
    folder: str | Path,
    method: Any,
    *,
    temperature: float | None = None,
    confidence: float | None = None,
    flip: bool | None = None,
    size: int = metrics.EVAL_SIZE,
    batch_size: int = 8,
    progress: bool = True,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Score ``method`` on every photo under ``folder`` (recursively) → ``(per_image, summary)``.

    ``method``: a loaded Keras model, a path to a ``.keras`` file, ``"gray"`` or ``"mean-ab"``.
    ``temperature``: annealed-mean temperature (classification models only; default
    :data:`~colored.config.DEFAULT_TEMPERATURE`).
    ``per_image``: one dict per readable image, ``name`` (path relative to ``folder``) plus every
    metric of :func:`colored.metrics.image_metrics`. ``summary``: the means
    (:func:`colored.metrics.summarize`, with the colourfulness and chroma *ratios of means*),
    ``n_images``, ``n_skipped`` and ``skipped`` (``[{"name", "reason"}]``: files that could not be
    decoded, reported on stderr and left out). The rebalanced AuC uses the prior of this folder's
    own ground truths (see the module docstring).
    """
    method = resolve_method(method)  # fail on a missing model before decoding anything
    eval_set = load_set(folder, size)
    per_image, summary, _ = score_set(
        eval_set,
        method,
        temperature=temperature,
        confidence=confidence,
        flip=flip,
        batch_size=batch_size,
        progress=progress,
    )
    return per_image, summary


@dataclass
class SetScores:
    """Every method scored on one set (:func:`score_methods`): ``summaries`` and ``per_image`` by
    label (summaries without the ``skipped`` list), ``kept`` predictions (the first images) by label,
    and the ``gallery``: one row per kept image (``set/name``: ground truth, gray, each other
    method), whose column titles are ``titles``."""

    name: str
    eval_set: EvalSet
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    per_image: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    kept: dict[str, list[np.ndarray]] = field(default_factory=dict)
    gallery: dict[str, list[np.ndarray]] = field(default_factory=dict)
    titles: list[str] = field(default_factory=lambda: ["ground truth", "gray (input)"])


def score_methods(
    eval_set: EvalSet,
    methods: Sequence[Method],
    *,
    name: str | None = None,
    batch_size: int = 8,
    progress: bool = True,
    keep: int = GALLERY_ROWS,
) -> SetScores:
    """Score every :class:`Method` on one loaded set, keeping the first ``keep`` predictions of each
    for the gallery (:func:`colored.viz.gallery_figure` draws ``scores.gallery``)."""
    name = name or eval_set.name
    keep = min(max(keep, 0), len(eval_set))
    scores = SetScores(name, eval_set)
    scores.gallery = {
        f"{name}/{eval_set.names[i]}": [
            eval_set.trues[i],
            baselines.gray_prediction(eval_set.trues[i]),
        ]
        for i in range(keep)
    }
    for m in methods:
        per_image, summary, kept = score_set(
            eval_set,
            m.method,
            decoding=m.decoding,
            batch_size=batch_size,
            progress=progress,
            keep=keep,
            desc=f"{name}: {m.label}",
        )
        scores.summaries[m.label] = {k: v for k, v in summary.items() if k != "skipped"}
        scores.per_image[m.label] = per_image
        scores.kept[m.label] = kept
        if not m.is_gray:  # gray has its own column already
            scores.titles.append(m.title or m.label)
            for row, pred in zip(scores.gallery.values(), kept):
                row.append(pred)
    return scores


@dataclass
class Evaluation:
    """What :func:`evaluate_sets` found: ``report`` (the ``metrics.json`` content), ``tables``
    (``[set][label] = summary``), the ``gallery`` rows of every set and their column ``titles``."""

    report: dict[str, Any]
    tables: dict[str, dict[str, dict[str, Any]]]
    gallery: dict[str, list[np.ndarray]]
    titles: list[str]
    size: int = metrics.EVAL_SIZE

    def table(self) -> str:
        """One Markdown table, one row per method per set."""
        return results_table(self.tables)


def evaluate_sets(
    folders: Sequence[str | Path],
    methods: Sequence[Method],
    *,
    size: int = metrics.EVAL_SIZE,
    batch_size: int = 8,
    gallery: int = GALLERY_ROWS,
    progress: bool = True,
    log: Callable[[str], Any] | None = None,
) -> Evaluation:
    """Score every method on every folder (:func:`load_set`, :func:`score_methods`).

    Sets are named by their folder (the path where two folders share a name). ``log`` gets one line
    per set (images, skipped). Raises ``ValueError`` for a folder without a readable image.
    """
    start = time.perf_counter()
    report: dict[str, Any] = {"protocol": protocol(size), "sets": {}}
    tables: dict[str, dict[str, dict[str, Any]]] = {}
    rows: dict[str, list[np.ndarray]] = {}
    titles = ["ground truth", "gray (input)"] + [
        m.title or m.label for m in methods if not m.is_gray
    ]
    for folder, set_name in zip(folders, _unique_set_names(folders)):
        eval_set = load_set(folder, size)
        scores = score_methods(
            eval_set, methods, name=set_name, batch_size=batch_size, progress=progress, keep=gallery
        )
        report["sets"][set_name] = {
            "folder": str(folder),
            "n_images": len(eval_set),
            "skipped": [{"name": n, "reason": r} for n, r in eval_set.skipped],
            "methods": {
                m.label: {
                    **m.decoding_fields(),
                    "mean": scores.summaries[m.label],
                    "per_image": scores.per_image[m.label],
                }
                for m in methods
            },
        }
        tables[set_name] = scores.summaries
        rows.update(scores.gallery)
        if log is not None:
            log(
                f"{set_name}: {len(eval_set)} images"
                + (f", {len(eval_set.skipped)} skipped" if eval_set.skipped else "")
            )
    report["seconds"] = time.perf_counter() - start
    return Evaluation(report, tables, rows, titles, size)


def _unique_set_names(folders: Sequence[str | Path]) -> list[str]:
    names = [Path(f).resolve().name or str(f) for f in folders]
    return [n if names.count(n) == 1 else str(f) for n, f in zip(names, folders)]
