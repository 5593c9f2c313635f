"""Colorize photo files and folders: expand the inputs, plan the outputs, write them, report.

The colorizing itself (preprocess → predict → recombine, at full resolution) is
:mod:`colored.inference`'s; this module is about files: which inputs (:func:`expand_inputs`), which
outputs (:func:`plan_outputs`: never an input, never another output, existing ones kept unless
``overwrite``), atomic writes (:func:`colored.io.files.write_image`) and what happened
(:class:`ColorizeReport`). A bad file is reported, never fatal.

Python::

    from colored.colorize import colorize_paths
    report = colorize_paths(["old_photos/"], "colorized/", "runs/default/model.keras", recursive=True)
    print(report.summary())

Command line (:mod:`colored.cli`)::

    colored colorize old_photos/ scan.tif -o colorized/ --model runs/default/model.keras -r
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from colored.config import Decoding
from colored.inference import PredictionError, colorize_stream, stage_timer
from colored.io.files import IMAGE_EXTENSIONS, WRITE_FORMATS, OutputExistsError, write_image
from colored.io.images import ImageReadError, read_image
from colored.loading import check_model, load_model
from colored.predict import decoding_for

#: Stages of :attr:`ColorizeReport.timings`, in order.
STAGES = ("decode", "preprocess", "model", "recombine", "encode")


@dataclass
class ColorizeReport:
    """What :func:`colorize_paths` did: ``done`` (input, output), ``failed`` and ``skipped``
    (path, reason), ``kept`` (input, output) whose output already existed and was left alone
    (``overwrite=False``), and ``timings``: seconds per stage summed over all images."""

    done: list[tuple[Path, Path]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    kept: list[tuple[Path, Path]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    @property
    def ok(self) -> bool:
        """No file failed (kept and skipped files are not failures)."""
        return not self.failed

    def summary(self, max_skipped: int = 10) -> str:
        """``N colorized, M failed[, K kept (...)][, S skipped]``, then every failure (path — reason),
        the first kept outputs and the first skipped files."""
        lines = [
            f"{len(self.done)} colorized, {len(self.failed)} failed"
            + (
                f", {len(self.kept)} kept (output already exists; --overwrite replaces it)"
                if self.kept
                else ""
            )
            + (f", {len(self.skipped)} skipped" if self.skipped else "")
        ]
        for path, reason in self.failed:
            lines.append(f"  FAILED {path} — {reason}")
        for source, target in self.kept[:max_skipped]:
            lines.append(f"  kept {target} — already exists (from {source})")
        if len(self.kept) > max_skipped:
            lines.append(f"  ... and {len(self.kept) - max_skipped} more kept")
        for path, reason in self.skipped[:max_skipped]:
            lines.append(f"  skipped {path} — {reason}")
        if len(self.skipped) > max_skipped:
            lines.append(f"  ... and {len(self.skipped) - max_skipped} more skipped")
        return "\n".join(lines)


@dataclass
class Job:
    """One photo to colorize: its ``source`` file and the ``target`` it is written to."""

    source: Path
    target: Path


@dataclass
class OutputPlan:
    """What :func:`plan_outputs` decided for ``outdir``: ``jobs`` to colorize, ``skipped`` (path,
    reason) inputs and ``kept`` (input, existing output) pairs left alone (``overwrite=False``)."""

    outdir: Path
    jobs: list[Job] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    kept: list[tuple[Path, Path]] = field(default_factory=list)

    @property
    def single_file(self) -> bool:
        """One job whose target is ``outdir`` itself (``-o named.png``), not a file inside it."""
        return len(self.jobs) == 1 and self.jobs[0].target == self.outdir

    @property
    def target_folder(self) -> Path:
        """The folder the outputs are written into (``outdir``, or its parent for a single file)."""
        return self.outdir.parent if self.single_file else self.outdir


def _is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def _inside(path: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    try:
        path.resolve().relative_to(folder)
        return True
    except ValueError:
        return False


def expand_inputs(
    inputs: Iterable[str | Path], *, recursive: bool = False, exclude: Path | None = None
) -> tuple[list[tuple[Path, Path]], list[tuple[Path, str]]]:
    """Files to colorize as ``(path, relative output path)``, and ``(path, reason)`` skipped.

    A file argument is always taken (whatever its extension; a missing one fails later, by name).
    A folder contributes its files with an image extension (:data:`IMAGE_EXTENSIONS`, any case),
    relative to the folder; with ``recursive`` its sub-folders too (symbolic links to folders are
    not followed). Hidden files and folders (``.name``: e.g. macOS ``._x.jpg`` files, which are not
    images) are skipped, so is the folder ``exclude`` (the output folder, if it is inside an input).
    A sub-folder named like an image (``x.jpg/``) is kept when not recursing, so that it is reported.
    """
    exclude = exclude.resolve() if exclude is not None else None
    files: list[tuple[Path, Path]] = []
    skipped: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for item in inputs:
        root = Path(item).expanduser()
        if not root.is_dir():
            files.append((root, Path(root.name)))
            continue
        # the output folder is left out when it lies *inside* this input (not when it is the input)
        inner = (
            exclude
            if exclude is not None
            and exclude != root.resolve()
            and _inside(exclude, root.resolve())
            else None
        )
        if recursive:
            for folder, dirs, names in os.walk(root):
                here = Path(folder)
                keep = []
                for name in sorted(dirs):
                    sub = here / name
                    if name.startswith("."):
                        continue  # hidden folders (.git, .ipynb_checkpoints...): silently
                    if _inside(sub, inner):
                        skipped.append((sub, "the output folder"))
                    elif sub.is_symlink():
                        skipped.append((sub, "symbolic link to a folder (not followed)"))
                    else:
                        keep.append(name)
                dirs[:] = keep
                for name in sorted(names):
                    _add_entry(here / name, root, files, skipped)
        else:
            for entry in sorted(root.iterdir()):
                if entry.is_dir() and not _is_image_name(entry):
                    if not entry.name.startswith(".") and not _inside(entry, inner):
                        skipped.append(
                            (entry, "a folder (pass --recursive to colorize the images in it)")
                        )
                    continue
                _add_entry(entry, root, files, skipped)
    unique = []
    for source, relative in files:  # the same file named twice (or via two folders): once
        key = source.resolve() if source.exists() else source.absolute()
        if key not in seen:
            seen.add(key)
            unique.append((source, relative))
    return unique, skipped


def _add_entry(entry: Path, root: Path, files: list, skipped: list) -> None:
    if entry.name.startswith("."):
        if _is_image_name(entry):
            skipped.append((entry, "hidden file"))
    elif _is_image_name(entry):
        files.append((entry, entry.relative_to(root)))
    else:
        skipped.append((entry, f"not an image extension ({entry.suffix or 'none'})"))


def _output_suffix(source: Path, fmt: str | None) -> str:
    if fmt:
        return "." + fmt.lower().lstrip(".")
    suffix = source.suffix
    if suffix.lower() == ".gif" or suffix.lower() not in WRITE_FORMATS:
        return ".png"  # GIF's 256 colours would ruin a colorization; unknown formats → PNG
    return suffix


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_dev, info.st_ino


def plan_outputs(
    inputs: Iterable[str | Path],
    outdir: str | Path,
    *,
    recursive: bool = False,
    format: str | None = None,
    overwrite: bool = False,
) -> OutputPlan:  # noqa: A002 - the CLI's word
    """Decide every output path (see :func:`colorize_paths` for the rules); without ``overwrite``
    an output that already exists goes to ``plan.kept`` instead of ``plan.jobs``."""
    if format is not None and "." + format.lower().lstrip(".") not in WRITE_FORMATS:
        raise ValueError(
            f"unknown output format {format!r}; choose one of "
            + ", ".join(s[1:] for s in WRITE_FORMATS)
        )
    outdir = Path(outdir).expanduser()
    inputs = [Path(p) for p in inputs]
    files, skipped = expand_inputs(
        inputs, recursive=recursive, exclude=outdir if outdir.is_dir() else None
    )
    single_file = (
        len(files) == 1
        and len(inputs) == 1
        and not inputs[0].is_dir()
        and outdir.suffix.lower() in WRITE_FORMATS
        and not outdir.is_dir()
    )
    input_ids = {ident for ident in (_identity(source) for source, _ in files) if ident is not None}
    input_paths = {source.resolve() for source, _ in files}
    taken: set[Path] = set()
    plan = OutputPlan(outdir, skipped=skipped)
    for source, relative in files:
        if single_file:
            target = outdir
        else:
            suffix = _output_suffix(source, format)
            target = (
                outdir / relative.with_suffix(suffix)
                if relative.suffix
                else outdir / (relative.name + suffix)
            )
        base, number = target, 1
        while (
            target.resolve() in taken
            or target.resolve() in input_paths
            or (_identity(target) is not None and _identity(target) in input_ids)
        ):
            # never overwrite an input (same path, symlink or hard link), nor another output
            number += 1
            tag = "_colorized" if number == 2 else f"_colorized{number - 1}"
            target = base.with_name(base.stem + tag + base.suffix)
        taken.add(target.resolve())
        if not overwrite and os.path.lexists(target):
            plan.kept.append((source, target))
        else:
            plan.jobs.append(Job(source, target))
    return plan


def colorize_paths(
    inputs: Sequence[str | Path],
    outdir: str | Path,
    model: Any = None,
    *,
    recursive: bool = False,
    format: str | None = None,
    batch_size: int = 8,  # noqa: A002
    decoding: Decoding | None = None,
    temperature: float | None = None,
    confidence: float | None = None,
    flip: bool | None = None,
    prior_correction: float | None = None,
    progress: bool = True,
    embedder: Any = None,
    overwrite: bool = False,
) -> ColorizeReport:
    """Colorize files and folders into ``outdir``; bad files are reported, never fatal.

    - Folders are expanded with :func:`expand_inputs` (``recursive`` for sub-folders); the relative
      folder structure is recreated under ``outdir``. A file argument lands at ``outdir/name``.
      If there is one input file and ``outdir`` itself ends in an image suffix, it is the output file.
    - Output format: ``format`` (``png``, ``jpg``, ``tif``, ``webp``, ``bmp``, ...) or else the
      input's own suffix; GIF and unknown suffixes become PNG.
    - An input is never overwritten: if an output path is an input (same path, symlink or hard
      link), or two inputs map to the same output (``a.jpg`` and ``a.png`` with ``format="png"``),
      ``_colorized`` (then ``_colorized2``...) is appended to the name.
    - Other existing files at an output path (e.g. a previous run's outputs) are kept, not
      colorized again, and listed in ``report.kept``; with ``overwrite=True`` they are replaced,
      atomically. (A file that appears there during the run is kept too.)
    - Files that cannot be decoded, colorized or written are listed in ``report.failed`` with the
      reason; every other file is still colorized. Several images go through the model per call
      (:func:`colored.inference.colorize_stream`, which also says what ``decoding``,
      ``temperature``, ``confidence``, ``flip`` and ``prior_correction`` do; None: the model
      file's, else the defaults).
    """
    if model is None or isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    else:
        check_model(model)
    decoding = decoding_for(  # before any work: a decoding the model cannot do is one line
        model,
        decoding,
        temperature=temperature,
        confidence=confidence,
        flip=flip,
        prior_correction=prior_correction,
    )
    plan = plan_outputs(inputs, outdir, recursive=recursive, format=format, overwrite=overwrite)
    report = ColorizeReport(skipped=list(plan.skipped), kept=list(plan.kept))
    from tqdm.auto import tqdm

    bar = tqdm(
        total=len(plan.jobs), desc="colorize", unit="img", disable=not progress, file=sys.stderr
    )
    try:
        for result in colorize_stream(
            plan.jobs,
            model,
            batch_size=batch_size,
            decoding=decoding,
            embedder=embedder,
            decode=lambda job: read_image(job.source),
            timings=report.timings,
        ):
            job = result.item
            bar.update(1)
            if result.error is not None:
                report.failed.append((job.source, _reason(result.error)))
                continue
            try:
                with stage_timer(report.timings, "encode"):
                    write_image(job.target, result.rgb, result.alpha, overwrite=overwrite)
                report.done.append((job.source, job.target))
            except OutputExistsError:  # only raised without overwrite
                report.kept.append((job.source, job.target))  # appeared since the plan: left alone
            except Exception as error:  # noqa: BLE001 - disk full, permissions...
                report.failed.append(
                    (job.source, f"could not write {job.target}: {type(error).__name__}: {error}")
                )
    finally:
        bar.close()
    return report


def _reason(error: BaseException) -> str:
    """Why a file failed, for the report: an unreadable file's reason (and hint), a model failure as is."""
    if isinstance(error, ImageReadError):
        return error.reason + (f" ({error.hint})" if error.hint else "")
    if isinstance(error, PredictionError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def missing_input(path: str | Path) -> str | None:
    """Why ``path`` (an input named by the user) does not exist, or None when it does."""
    path = Path(path).expanduser()
    if path.exists():
        return None
    if path.is_symlink():
        return f"input {path} is a broken symbolic link (it points to {os.readlink(path)!r}): fix or remove it"
    return f"input {path} does not exist: check the path and its spelling"
