"""Score colorizers on folders of colour photos: a Python API and the ``colored evaluate`` command.

What is measured, and how (the protocol of :mod:`colored.metrics`):

1. every image file under the folder (sub-folders too, :func:`colored.data.find_images`) is decoded
   with :func:`colored.imageio.read_image`; a file that cannot be decoded is **reported by name and
   skipped** (it is listed under ``skipped`` in the results), never fatal;
2. the ground truth is :func:`colored.metrics.prepare`\\ d: centre-cropped square, 256² bicubic, RGB
   uint8;
3. the method colorizes *that prepared image's* lightness:

   - ``"gray"``: L kept, a = b = 0 (:func:`colored.metrics.gray_prediction`);
   - ``"mean-ab"``: L kept, ab = the image's own mean ab (:func:`colored.metrics.mean_ab_prediction`,
     an oracle flat guess: what an MSE model collapses to, knowing the true mean colour);
   - a model (loaded Keras model or ``.keras`` path): exactly :func:`colored.colorize.colorize`'s
     path — L resized (bicubic) to the network's own input size, ab predicted there (classification
     models decoded by annealed mean at ``temperature``, default 0.38), ab upsampled bilinearly to
     256² and joined with the prepared image's full 256² L;

4. :func:`colored.metrics.evaluate` scores prediction against ground truth. The **rebalanced AuC**
   weights pixels by 1 / prior of their ground-truth ab cell, with the prior computed over **the set
   being scored** (all readable images of that folder; :func:`colored.metrics.ab_prior`). Zhang et
   al. use the training-set prior; the own-set prior keeps the number reproducible from the folder
   alone, but it means rebalanced AuCs are comparable between methods on one set, not across sets.

Python::

    from colored.evaluate import evaluate_folder
    per_image, summary = evaluate_folder("eval/CBSD68", "runs/default/model.keras", temperature=0.38)
    per_image, summary = evaluate_folder("eval/CBSD68", "gray")

Command line::

    colored evaluate eval/CBSD68 eval/Set14 --model gray --model mean-ab \\
        --model runs/default/model.keras --temperature 0.2 0.38 1.0 --out runs/eval

writes ``metrics.json`` (per image and mean, per folder and method), ``metrics.md`` (one table row per
method per set) and ``gallery.png`` (ground truth | gray | each method, first images of each set).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from colored import metrics
from colored.cli import positive_float, positive_int

#: Baseline methods, by the name ``--model`` / ``method`` accepts.
BASELINE_NAMES = tuple(metrics.BASELINES)  # ("gray", "mean-ab")
DEFAULT_TEMPERATURE = 0.38
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
    from colored.imageio import ImageReadError, read_image

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
        raise ValueError(f"no readable images in {str(folder)!r}: all {len(paths)} image files failed to decode")
    return EvalSet(folder, names, trues, skipped, size, metrics.ab_prior(trues))


# ---------------------------------------------------------------------------------------------
# methods


def resolve_method(method: Any):
    """``"gray"`` / ``"mean-ab"`` → that name; a ``.keras`` path → the loaded model; a model → itself.

    A path that does not exist raises :class:`colored.colorize.ModelNotFoundError` naming it (and
    the baseline names, in case one was mistyped); a model (file or object) whose inputs or outputs
    are not a colorization model's raises :class:`colored.colorize.IncompatibleModelError` (one
    line: the file, the shapes found, the shapes expected) before any image is scored.
    """
    if isinstance(method, str) and method in metrics.BASELINES:
        return method
    if isinstance(method, (str, os.PathLike)):
        from colored.colorize import IncompatibleModelError, ModelNotFoundError, load_model

        try:
            return load_model(method)
        except IncompatibleModelError:
            raise
        except ModelNotFoundError as error:
            raise ModelNotFoundError(f"{error}\n(or use a baseline: {', '.join(BASELINE_NAMES)})") from None
    if hasattr(method, "predict") and getattr(method, "inputs", None):
        from colored.colorize import check_model

        return check_model(method)
    raise TypeError(f"method must be a Keras model, a .keras path or one of {BASELINE_NAMES}, got {method!r}")


def is_classification(method: Any) -> bool:
    """Whether ``method`` (resolved) is a classification model, i.e. one that ``temperature`` affects."""
    if isinstance(method, str):
        return False
    from colored.model import inference_model
    from colored.model import is_classification as _is_cls

    return _is_cls(inference_model(method))


def method_label(method: Any, temperature: float | None = None) -> str:
    """A short name for tables: the baseline name, the run folder of ``…/model.keras`` (else the
    file's stem) or the model's name; ``T=…`` appended for classification models."""
    if isinstance(method, str) and method in metrics.BASELINES:
        return method
    if isinstance(method, (str, os.PathLike)):
        path = Path(method)
        label = path.parent.name if path.stem == "model" and path.parent.name else path.stem
        return label if temperature is None else f"{label} T={temperature:g}"
    label = getattr(method, "name", type(method).__name__)
    if temperature is not None or is_classification(method):
        label += f" T={DEFAULT_TEMPERATURE if temperature is None else temperature:g}"
    return label


class _Predictor:
    """Prepared 256² RGB → prepared-size RGB prediction, a batch at a time, for one method."""

    def __init__(self, method: Any, temperature: float | None, batch_size: int) -> None:
        self.method = method
        self.temperature = temperature
        self.batch_size = max(1, int(batch_size))
        self.embedder = None
        if not isinstance(method, str):
            from colored.colorize import model_input_size
            from colored.model import needs_embedding

            self.size = model_input_size(method)
            if needs_embedding(method):
                from colored.embed import Embedder

                self.embedder = Embedder("imagenet")

    def __call__(self, trues: Sequence[np.ndarray], pad_to: int) -> list[np.ndarray]:
        if isinstance(self.method, str):
            fn = metrics.BASELINES[self.method]
            return [fn(t) for t in trues]
        from colored.colorize import predict, preprocess, recombine
        from colored.imageio import decode_array

        prepared = [preprocess(decode_array(t), self.size) for t in trues]
        ab = predict(self.method, np.stack([small for _, small in prepared]), temperature=self.temperature,
                     embedder=self.embedder, pad_to=pad_to)
        return [recombine(full, ab[i]) for i, (full, _) in enumerate(prepared)]


def _clean(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "name"}


def score_set(eval_set: EvalSet, method: Any, *, temperature: float | None = None, batch_size: int = 8,
              progress: bool = True, keep: int = 0, desc: str | None = None
              ) -> tuple[list[dict[str, Any]], dict[str, Any], list[np.ndarray]]:
    """Score one (resolved or not) method on a loaded :class:`EvalSet`.

    Returns ``(per_image, summary, kept)``: per-image metric dicts (each with its ``name``), the
    :func:`~colored.metrics.summarize` summary (plus ``n_skipped`` and ``skipped`` from loading,
    and ``temperature`` for classification models), and the predictions of the first ``keep``
    images (for a gallery).
    """
    from tqdm.auto import tqdm

    method = resolve_method(method)
    predictor = _Predictor(method, temperature, batch_size)
    # Every model call gets exactly `batch` images (the last one padded): one compiled shape per model,
    # whatever the set sizes (Keras traces / XLA-compiles a function per batch shape: seconds each).
    batch = max(1, int(batch_size))
    prior = eval_set.prior if eval_set.prior is not None else metrics.ab_prior(eval_set.trues)
    per_image: list[dict[str, Any]] = []
    kept: list[np.ndarray] = []
    bar = tqdm(total=len(eval_set), desc=desc or f"{eval_set.name}: {method_label(method, temperature)}",
               unit="img", disable=not progress, file=sys.stderr, leave=False)
    try:
        for start in range(0, len(eval_set), batch):
            trues = eval_set.trues[start:start + batch]
            preds = predictor(trues, pad_to=batch)
            for i, (pred, true) in enumerate(zip(preds, trues)):
                row = {"name": eval_set.names[start + i]}
                row.update(metrics.image_metrics(pred, true, prior))
                per_image.append(row)
                if start + i < keep:
                    kept.append(pred)
                bar.update(1)
    finally:
        bar.close()
    summary: dict[str, Any] = metrics.summarize([_clean(r) for r in per_image])
    if is_classification(method):
        summary["temperature"] = DEFAULT_TEMPERATURE if temperature is None else float(temperature)
    summary["n_skipped"] = float(len(eval_set.skipped))
    summary["skipped"] = [{"name": n, "reason": r} for n, r in eval_set.skipped]
    return per_image, summary, kept


def evaluate_folder(folder: str | Path, method: Any, *, temperature: float | None = None,
                    size: int = metrics.EVAL_SIZE, batch_size: int = 8, progress: bool = True
                    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Score ``method`` on every photo under ``folder`` (recursively) → ``(per_image, summary)``.

    ``method``: a loaded Keras model, a path to a ``.keras`` file, ``"gray"`` or ``"mean-ab"``.
    ``temperature``: annealed-mean temperature (classification models only; default 0.38).
    ``per_image``: one dict per readable image, ``name`` (path relative to ``folder``) plus every
    metric of :func:`colored.metrics.image_metrics`. ``summary``: the means
    (:func:`colored.metrics.summarize`, with the colourfulness and chroma *ratios of means*),
    ``n_images``, ``n_skipped`` and ``skipped`` (``[{"name", "reason"}]``: files that could not be
    decoded, reported on stderr and left out). The rebalanced AuC uses the prior of this folder's
    own ground truths (see the module docstring).
    """
    method = resolve_method(method)  # fail on a missing model before decoding anything
    eval_set = load_set(folder, size)
    per_image, summary, _ = score_set(eval_set, method, temperature=temperature, batch_size=batch_size,
                                      progress=progress)
    return per_image, summary


# ---------------------------------------------------------------------------------------------
# reporting


def gallery_figure(rows: Mapping[str, Sequence[np.ndarray]], titles: Sequence[str], cell: float = 2.0):
    """A grid of images: one row per entry of ``rows`` (its key labels the row), one column per
    image in it (``titles`` label the columns), e.g. ground truth | gray | method A | method B.

    Not evaluation-specific: a generalisation of :func:`colored.viz.comparison_figure` to any number
    of columns; it belongs in :mod:`colored.viz` (kept here until it is moved there).
    """
    from colored import color
    from colored import viz  # noqa: F401 - selects the headless backend outside notebooks
    import matplotlib.pyplot as plt

    n_rows = max(1, len(rows))
    n_cols = max([len(titles)] + [len(images) for images in rows.values()])
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(n_cols * cell, n_rows * cell), squeeze=False)
    for r, (label, images) in enumerate(rows.items()):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c < len(images):
                ax.imshow(color.to_float_rgb(np.asarray(images[c])))
            if r == 0 and c < len(titles):
                ax.set_title(titles[c], fontsize=8)
            if c == 0:
                ax.set_ylabel(label, fontsize=7)
    fig.tight_layout()
    return fig


TABLE_COLUMNS: tuple[str, ...] = ("n_images",) + metrics.DEFAULT_COLUMNS


def _format(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if key in ("n_images", "n_skipped"):
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{metrics.DECIMALS.get(key, 3)}f}"


def results_table(results: Mapping[str, Mapping[str, Mapping[str, Any]]],
                  columns: Sequence[str] = TABLE_COLUMNS) -> str:
    """One Markdown table, one row per method per set: ``results[set][method] = summary``."""
    cols = [c for c in columns if any(c in s for methods in results.values() for s in methods.values())]
    lines = ["| set | method | " + " | ".join(metrics.HEADERS.get(c, "n" if c == "n_images" else c) for c in cols)
             + " |", "|---|---|" + "---:|" * len(cols)]
    for set_name, methods in results.items():
        for label, summary in methods.items():
            lines.append(f"| {set_name} | {label} | " + " | ".join(_format(c, summary.get(c)) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def _json_safe(value: Any) -> Any:
    """Non-finite floats → None (strict JSON has no inf / nan); numpy scalars → Python."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_json(path: str | Path, data: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_json_safe(data), indent=1, allow_nan=False) + "\n")
    return path


# ---------------------------------------------------------------------------------------------
# command line






def add_cli(subparsers) -> argparse.ArgumentParser:
    """Register ``evaluate`` on an argparse subparsers object; ``args.func(args)`` runs it."""
    parser = subparsers.add_parser(
        "evaluate", help="score colorizers (models and baselines) on folders of colour photos",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Score each --model on each FOLDER of colour photos (searched recursively) under the\n"
            "colored.metrics protocol: centre crop, 256² bicubic ground truth; the model colorizes\n"
            "its lightness at its own input size, ab upsampled to 256². Metrics: PSNR, SSIM,\n"
            "colourfulness (and ratio to ground truth), chroma ratio, AuC, rebalanced AuC (prior of\n"
            "the set being scored), ab RMSE, ab-histogram JS divergence.\n\n"
            "Writes OUT/metrics.json (per image and mean, per folder and method), OUT/metrics.md\n"
            "(one row per method per set) and OUT/gallery.png (ground truth | gray | each method).\n"
            "Unreadable files are reported and skipped. Exit status: 0 done; 2 usage error,\n"
            "checked before any scoring (missing or empty folder, missing or incompatible model,\n"
            "an --out folder that cannot be written); 1 if the results could not be written at\n"
            "the end (the table is still printed)."),
        epilog=(
            "examples:\n"
            "  colored evaluate eval/CBSD68 --model gray --model mean-ab --model runs/default/model.keras\n"
            "  colored evaluate eval/ --model runs/cls/model.keras --temperature 0.2 0.38 1.0 --out runs/eval"))
    parser.add_argument("folders", nargs="+", metavar="FOLDER", type=Path, help="folders of colour photos")
    parser.add_argument("--model", dest="models", action="append", required=True, metavar="PATH|gray|mean-ab",
                        help="a .keras model or a baseline (gray, mean-ab); repeat for several")
    parser.add_argument("--temperature", nargs="+", type=positive_float, default=None, metavar="T",
                        help="annealed-mean temperature(s) for classification models (give FOLDERs first): each is scored at "
                             f"every T given (default {DEFAULT_TEMPERATURE}); other methods ignore it")
    parser.add_argument("--out", type=Path, default=Path("runs/evaluate"), metavar="DIR",
                        help="output folder (default: runs/evaluate; created, and checked writable before scoring)")
    parser.add_argument("--size", type=positive_int, default=metrics.EVAL_SIZE,
                        help=f"evaluation size (default {metrics.EVAL_SIZE}: the protocol's)")
    parser.add_argument("--batch-size", type=positive_int, default=8, metavar="N", help="images per model call")
    parser.add_argument("--gallery", type=int, default=GALLERY_ROWS, metavar="N",
                        help=f"images per set in gallery.png (default {GALLERY_ROWS}; 0: no gallery)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_cli)
    return parser


def run_cli(args: argparse.Namespace) -> int:
    """Run ``colored evaluate``: 0 done, 2 usage error (nothing written), 1 results not written."""
    err = sys.stderr
    start = time.perf_counter()
    # Check everything cheap first: a typo in the last --model must not cost a whole evaluation.
    from colored.data import find_images

    for folder in args.folders:
        try:
            find_images(folder, recursive=True)
        except (FileNotFoundError, NotADirectoryError, ValueError) as error:
            print(f"colored evaluate: error: {error}", file=err)
            return 2
    out: Path = args.out.expanduser()
    if out.exists() and not out.is_dir():
        print(f"colored evaluate: error: cannot write to the output folder {out} (it exists and is a file): "
              "choose another --out", file=err)
        return 2
    methods: list[tuple[str, Any, float | None]] = []  # (label, resolved method, temperature)
    from colored.colorize import ModelNotFoundError

    for spec in args.models:
        try:
            method = resolve_method(spec)
        except ModelNotFoundError as error:
            print(f"colored evaluate: error: {error}", file=err)
            return 2
        if is_classification(method):
            for t in args.temperature or [DEFAULT_TEMPERATURE]:
                methods.append((method_label(spec, t), method, t))
        else:
            methods.append((method_label(spec), method, None))
    # the output folder is checked (created, a probe file written) before the long scoring starts,
    # after the cheap checks above so that a usage error leaves no empty folder behind
    from colored.imageio import OutputDirError, ensure_writable_dir

    try:
        ensure_writable_dir(out, "the output folder", "choose another --out")
    except OutputDirError as error:
        print(f"colored evaluate: error: {error}", file=err)
        return 2
    labels = [label for label, *_ in methods]
    if len(set(labels)) != len(labels):  # e.g. two runs/*/model.keras with the same folder name
        counts: dict[str, int] = {}
        for i, label in enumerate(labels):
            counts[label] = counts.get(label, 0) + 1
            if labels.count(label) > 1:
                methods[i] = (f"{label} #{counts[label]}", *methods[i][1:])

    report: dict[str, Any] = {"protocol": _protocol(args.size), "sets": {}}
    tables: dict[str, dict[str, dict[str, Any]]] = {}
    gallery: dict[str, list[np.ndarray]] = {}
    set_names = _unique_set_names(args.folders)
    for folder, set_name in zip(args.folders, set_names):
        try:
            eval_set = load_set(folder, args.size)
        except ValueError as error:
            print(f"colored evaluate: error: {error}", file=err)
            return 2
        keep = min(max(args.gallery, 0), len(eval_set))
        entry = {"folder": str(folder), "n_images": len(eval_set),
                 "skipped": [{"name": n, "reason": r} for n, r in eval_set.skipped], "methods": {}}
        tables[set_name] = {}
        panels = {f"{set_name}/{eval_set.names[i]}": [eval_set.trues[i]] for i in range(keep)}
        for label, method, temperature in methods:
            per_image, summary, kept = score_set(eval_set, method, temperature=temperature,
                                                 batch_size=args.batch_size, progress=not args.quiet, keep=keep,
                                                 desc=f"{set_name}: {label}")
            summary = {k: v for k, v in summary.items() if k != "skipped"}
            entry["methods"][label] = {"temperature": temperature if is_classification(method) else None,
                                       "mean": summary, "per_image": per_image}
            tables[set_name][label] = summary
            if not (isinstance(method, str) and method == "gray"):  # gray has its own column already
                for row, pred in zip(panels.values(), kept):
                    row.append(pred)
        for row, true in zip(panels.values(), eval_set.trues):
            row.insert(1, metrics.gray_prediction(true))
        gallery.update(panels)
        report["sets"][set_name] = entry
        print(f"{set_name}: {len(eval_set)} images" + (f", {len(eval_set.skipped)} skipped" if eval_set.skipped else ""),
              file=err)

    report["seconds"] = time.perf_counter() - start
    print(results_table(tables))  # first: whatever happens to the files, the numbers are on screen
    written = []
    try:
        written.append(write_json(out / "metrics.json", report))
        (out / "metrics.md").write_text(_markdown_report(tables, report, args.size))
        written.append(out / "metrics.md")
        if gallery:
            from colored.viz import save_figure
            import matplotlib.pyplot as plt

            shown = [label for label, method, _ in methods if not (isinstance(method, str) and method == "gray")]
            fig = gallery_figure(gallery, ["ground truth", "gray (input)"] + shown)
            try:
                written.append(save_figure(fig, out / "gallery.png"))
            finally:
                plt.close(fig)
    except OSError as error:  # e.g. the disk filled up during the run (the folder was writable at the start)
        for path in written:
            print(f"wrote {path}", file=err)
        print(f"colored evaluate: error: could not write {error.filename or out} "
              f"({error.strerror or error}): the table above has the results; free space or choose another --out",
              file=err)
        return 1
    for path in written:
        print(f"wrote {path}")
    return 0


def _protocol(size: int) -> dict[str, Any]:
    return {"ground_truth": f"centre crop to square, {size}x{size} PIL bicubic, RGB uint8 (colored.metrics.prepare)",
            "models": "L of the prepared image resized (bicubic) to the network input; ab upsampled bilinearly "
                      f"to {size}x{size} and joined with the prepared L",
            "psnr_cap_db": metrics.PSNR_CAP,
            "auc_thresholds": "0..150 ab units",
            "rebalancing_prior": "22x22 ab prior of the set being scored (its ground truths)",
            "js_histogram": "22x22 cells of 10 ab units over [-110, 110)^2, bits",
            "ratios": "ratio of means (mean prediction / mean ground truth)"}


def _unique_set_names(folders: Sequence[Path]) -> list[str]:
    names = [Path(f).resolve().name or str(f) for f in folders]
    return [n if names.count(n) == 1 else str(f) for n, f in zip(names, folders)]


def _markdown_report(tables, report, size: int) -> str:
    lines = [f"# colored evaluate\n", f"Protocol: `colored.metrics` at {size}², rebalanced AuC with the prior of "
             "the set being scored; ratios are ratios of means. ↑ higher is better, ↓ lower, →1 closer to 1.\n",
             results_table(tables)]
    for set_name, entry in report["sets"].items():
        for item in entry["skipped"]:
            lines.append(f"- skipped {set_name}/{item['name']}: {item['reason']}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m colored.evaluate ...``: the same command, parser and error handling as ``colored evaluate ...``."""
    from colored.cli import main as cli_main

    return cli_main(["evaluate", *(argv if argv is not None else sys.argv[1:])])


if __name__ == "__main__":
    sys.exit(main())
