"""``colored colorize``: its parser and command, a thin shell over :mod:`colored.colorize` and
:mod:`colored.inference`. Every usage error (missing input, no or an incompatible model, an output
folder that cannot be written) is found before any photo is colorized."""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

from colored import colorize, loading
from colored.cli.common import add_decoding_arguments, positive_int, print_usage_error
from colored.io.files import IMAGE_EXTENSIONS, WRITE_FORMATS, OutputDirError, ensure_writable_dir
from colored.predict import decoding_for


def add_colorize_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``colorize`` on an argparse subparsers object; ``args.func(args)`` runs it."""
    parser = subparsers.add_parser(
        "colorize",
        help="colorize black & white photos (files or folders) at full resolution",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Colorize photos with a trained model. The network runs at its training size; the\n"
            "predicted colour is upsampled and combined with each photo's own full-resolution\n"
            "lightness, so outputs have the input's exact size and detail.\n\n"
            "Inputs: files and folders of JPEG, PNG, TIFF, BMP, WebP, GIF (first frame), 8/16-bit,\n"
            "gray, palette, RGBA (alpha kept where the output format allows), CMYK; EXIF\n"
            "orientation is applied. Unreadable files are reported and skipped.\n\n"
            "Existing outputs (e.g. from an earlier run) are kept and listed, not colorized again:\n"
            "re-running after an interruption only does what is missing. --overwrite replaces them.\n"
            "Inputs are never overwritten, even with --overwrite.\n\n"
            "Exit status: 0 when all succeeded (kept outputs count as success), 1 when any file\n"
            "failed, 2 for usage errors, checked before any work (a missing input, no or an\n"
            "incompatible model, an output folder that cannot be written)."
        ),
        epilog=(
            "examples:\n"
            "  colored colorize scan.jpg -o out/ --model runs/default/model.keras\n"
            "  colored colorize old_photos/ -o colorized/ --recursive --format png\n"
            "  colored colorize scan.tif -o scan_color.jpg   (one file: -o may name the output file)\n"
            "  colored colorize old_photos/ -o colorized/ --overwrite   (redo with another model)"
        ),
    )
    parser.add_argument(
        "inputs", nargs="+", metavar="INPUT", type=Path, help="image files and/or folders"
    )
    parser.add_argument(
        "-o",
        "--outdir",
        required=True,
        type=Path,
        metavar="OUTDIR",
        help="output folder (created); the relative folder structure is kept. "
        "Inputs are never overwritten",
    )
    parser.add_argument(
        "--overwrite",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="replace output files that already exist (default: --no-overwrite: they are "
        "kept, listed and counted as 'kept' in the summary)",
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"trained .keras model (default: ${loading.MODEL_ENV_VAR}, else "
        f"{loading.DEFAULT_MODEL_PATH})",
    )
    parser.add_argument(
        "-r", "--recursive", action="store_true", help="also colorize images in sub-folders"
    )
    parser.add_argument(
        "--format",
        choices=sorted({s[1:] for s in WRITE_FORMATS}),
        default=None,
        help="output format (default: the input's own; GIF inputs → PNG)",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=8,
        metavar="N",
        help="images per model call (default: 8)",
    )
    add_decoding_arguments(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=cmd_colorize)
    return parser


def cmd_colorize(args: argparse.Namespace) -> int:
    """``colored colorize``: 0 all done, 1 some file failed, 2 usage error (nothing done)."""
    usage_error = functools.partial(print_usage_error, "colorize")

    for path in args.inputs:  # a mistyped path is a usage error, found before anything is loaded
        problem = colorize.missing_input(path)
        if problem:
            return usage_error(problem)
    try:
        model_path = loading.resolve_model_path(args.model)
    except loading.ModelNotFoundError as error:
        return usage_error(error)
    outdir: Path = args.outdir.expanduser()
    if (
        outdir.exists()
        and not outdir.is_dir()
        and not (len(args.inputs) == 1 and outdir.suffix.lower() in WRITE_FORMATS)
    ):
        return usage_error(
            f"cannot write to the output folder {outdir} (it exists and is a file): "
            "choose another -o OUTDIR"
        )
    try:
        plan = colorize.plan_outputs(
            args.inputs,
            outdir,
            recursive=args.recursive,
            format=args.format,
            overwrite=args.overwrite,
        )
    except OSError as error:  # e.g. an input folder that cannot be listed
        return usage_error(
            f"cannot read {error.filename or ', '.join(map(str, args.inputs))} "
            f"({error.strerror or error}): check its permissions"
        )
    if not plan.jobs and not plan.kept:
        usage_error(
            f"no images found in {', '.join(map(str, args.inputs))} (looked for {', '.join(IMAGE_EXTENSIONS)}"
            + ("" if args.recursive else "; pass --recursive for sub-folders")
            + ")"
        )
        for path, reason in plan.skipped:
            print(f"  skipped {path} — {reason}", file=sys.stderr)
        return 2
    if not plan.jobs:  # every output exists already: nothing to load, nothing to write
        print(colorize.ColorizeReport(skipped=list(plan.skipped), kept=list(plan.kept)).summary())
        return 0
    try:
        model = loading.load_model(model_path)
    except loading.ModelNotFoundError as error:
        return usage_error(error)
    try:  # a decoding this model cannot do (prior_correction without its prior): before any work
        decoding = decoding_for(
            model,
            temperature=args.temperature,
            confidence=args.confidence,
            flip=args.flip,
            prior_correction=args.prior_correction,
        )
    except ValueError as error:
        return usage_error(error)
    embedder = loading.embedder_for(model)
    if embedder is not None:
        from colored.embed import BackboneWeightsError

        try:
            embedder.backbone  # noqa: B018 - load it now: fail before any photo if it is offline
        except BackboneWeightsError as error:
            return usage_error(f"this model needs the fusion backbone. {error}")
    try:  # the last check before the work: the output folder (the one-file output's folder) takes files
        ensure_writable_dir(plan.target_folder, "the output folder", "choose another -o OUTDIR")
    except OutputDirError as error:
        return usage_error(error)
    report = colorize.colorize_paths(
        args.inputs,
        outdir,
        model,
        recursive=args.recursive,
        format=args.format,
        batch_size=args.batch_size,
        decoding=decoding,
        progress=not args.quiet,
        embedder=embedder,
        overwrite=args.overwrite,
    )
    print(report.summary())
    if report.done:
        print(f"output: {outdir}")
    return 0 if report.ok else 1
