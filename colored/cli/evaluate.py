"""``colored evaluate`` and ``colored baselines``: their parsers and commands, thin shells over
:mod:`colored.evaluate`, :mod:`colored.metrics` and :mod:`colored.report`. ``evaluate`` checks
every folder, model and the output folder before the long scoring starts."""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

from colored import evaluate, loading, metrics, report
from colored.cli.common import add_decoding_arguments, positive_int, print_usage_error
from colored.io.files import OutputDirError, ensure_writable_dir
from colored.methods import resolve_methods


def add_evaluate_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``evaluate`` on an argparse subparsers object; ``args.func(args)`` runs it."""
    parser = subparsers.add_parser(
        "evaluate",
        help="score colorizers (models and baselines) on folders of colour photos",
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
            "the end (the table is still printed)."
        ),
        epilog=(
            "examples:\n"
            "  colored evaluate eval/CBSD68 --model gray --model mean-ab --model runs/default/model.keras\n"
            "  colored evaluate eval/ --model runs/cls/model.keras --temperature 0.2 0.38 1.0 --out runs/eval"
        ),
    )
    parser.add_argument(
        "folders", nargs="+", metavar="FOLDER", type=Path, help="folders of colour photos"
    )
    parser.add_argument(
        "--model",
        dest="models",
        action="append",
        required=True,
        metavar="PATH|gray|mean-ab",
        help="a .keras model or a baseline (gray, mean-ab); repeat for several",
    )
    add_decoding_arguments(parser, several=True)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("runs/evaluate"),
        metavar="DIR",
        help="output folder (default: runs/evaluate; created, and checked writable before scoring)",
    )
    parser.add_argument(
        "--size",
        type=positive_int,
        default=metrics.EVAL_SIZE,
        help=f"evaluation size (default {metrics.EVAL_SIZE}: the protocol's)",
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=8, metavar="N", help="images per model call"
    )
    parser.add_argument(
        "--gallery",
        type=int,
        default=evaluate.GALLERY_ROWS,
        metavar="N",
        help=f"images per set in gallery.png (default {evaluate.GALLERY_ROWS}; 0: no gallery)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=cmd_evaluate)
    return parser


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``colored evaluate``: 0 done, 2 usage error (nothing written), 1 results not written."""
    usage_error = functools.partial(print_usage_error, "evaluate")

    # Check everything cheap first: a typo in the last --model must not cost a whole evaluation.
    try:
        evaluate.check_folders(args.folders)
    except (FileNotFoundError, NotADirectoryError, ValueError) as error:
        return usage_error(error)
    out: Path = args.out.expanduser()
    if out.exists() and not out.is_dir():
        return usage_error(
            f"cannot write to the output folder {out} (it exists and is a file): choose another --out"
        )
    try:
        methods = resolve_methods(
            args.models, args.temperature, args.confidence, args.flip, args.prior_correction
        )
    except (loading.ModelNotFoundError, ValueError) as error:  # ValueError: a decoding it cannot do
        return usage_error(error)
    # the output folder is checked (created, a probe file written) before the long scoring starts,
    # after the cheap checks above so that a usage error leaves no empty folder behind
    try:
        ensure_writable_dir(out, "the output folder", "choose another --out")
    except OutputDirError as error:
        return usage_error(error)
    try:
        results = evaluate.evaluate_sets(
            args.folders,
            methods,
            size=args.size,
            batch_size=args.batch_size,
            gallery=args.gallery,
            progress=not args.quiet,
            log=lambda line: print(line, file=sys.stderr),
        )
    except ValueError as error:
        return usage_error(error)
    print(results.table())  # first: whatever happens to the files, the numbers are on screen
    written: list[Path] = []
    try:
        report.write_reports(results, out, written)
    except (
        OSError
    ) as error:  # e.g. the disk filled up during the run (the folder was writable at the start)
        for path in written:
            print(f"wrote {path}", file=sys.stderr)
        print(
            f"colored evaluate: error: could not write {error.filename or out} ({error.strerror or error}): the "
            "table above has the results; free space or choose another --out",
            file=sys.stderr,
        )
        return 1
    for path in written:
        print(f"wrote {path}")
    return 0


def add_baselines_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "baselines",
        help="the all-gray and mean-ab baselines' metrics on folders of colour photos",
        description="Print one Markdown table per FOLDER (its image files, not sub-folders): the gray and "
        "mean-ab baselines under the colored.metrics protocol.",
    )
    parser.add_argument(
        "folders", nargs="+", metavar="FOLDER", type=Path, help="folders of colour photos"
    )
    parser.add_argument(
        "--size",
        type=positive_int,
        default=metrics.EVAL_SIZE,
        help=f"evaluation size (default {metrics.EVAL_SIZE}: the protocol's)",
    )
    parser.set_defaults(func=cmd_baselines)
    return parser


def cmd_baselines(args: argparse.Namespace) -> int:
    for folder in args.folders:
        print(report.baselines_report(folder, args.size))
    return 0
