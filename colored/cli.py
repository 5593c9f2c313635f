"""The ``colored`` command line: every argparse parser of the project, each command a thin shell
over the library (no logic of its own). Only the entry points import this module: the console script
(``colored = "colored.cli:main"``) and ``python -m colored`` (:mod:`colored.__main__`)."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import sys
import tempfile
import time
from pathlib import Path

from colored import colorize, evaluate, inference, metrics, report
from colored.config import (
    DEFAULT_CONFIDENCE,
    DEFAULT_FLIP,
    DEFAULT_TEMPERATURE,
    RENAMED_FIELDS,
    Config,
    ConfigError,
    parse_field_text,
)
from colored.io.images import IMAGE_EXTENSIONS, WRITE_FORMATS, OutputDirError, ensure_writable_dir
from colored.notebook import chain

_UNSET = object()  # "flag not given" (None is a real value: --limit none, --backbone-weights none)


def _parse_value(field: dataclasses.Field, text: str):
    """argparse type of a Config flag: :func:`colored.config.parse_field_text`, its refusal as argparse's."""
    try:
        return parse_field_text(field.name, text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


class _OneLineParser(argparse.ArgumentParser):
    """argparse, with usage errors on one line (the usage itself is one ``--help`` away)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1 (shared by the subcommands)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a number ≥ 0."""
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number ≥ 0, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number > 0."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def add_decoding_arguments(parser: argparse.ArgumentParser, several: bool = False) -> None:
    """--temperature, --confidence and --flip: the fields of a :class:`~colored.config.Decoding`,
    each left None (the model file's, else the default) unless given. ``several``: evaluate scores
    every temperature × confidence given."""
    each = " each scored at every other setting given (FOLDERs first);" if several else ""
    parser.add_argument(
        "--temperature",
        nargs="+" if several else None,
        type=positive_float,
        default=None,
        metavar="T",
        help=f"annealed-mean temperature{'(s)' if several else ''} for classification models "
        f"(lower: more vivid);{each} default: the model's, else {DEFAULT_TEMPERATURE}",
    )
    parser.add_argument(
        "--confidence",
        nargs="+" if several else None,
        type=non_negative_float,
        default=None,
        metavar="C",
        help=f"confidence-aware decoding strength{'(s)' if several else ''} for classification "
        "models: colour pulled toward the mean where the model is unsure, 0 = off;"
        f"{each} default: the model's, else {DEFAULT_CONFIDENCE:g}",
    )
    parser.add_argument(
        "--flip",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="average with the prediction for the mirrored photo "
        f"(default: the model's, else {DEFAULT_FLIP})",
    )


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per Config field, plus ``--config FILE`` (JSON/YAML) underneath them."""
    parser.add_argument(
        "--config", type=Path, help="JSON or YAML file of Config values (flags override it)"
    )
    group = parser.add_argument_group("configuration (see colored.Config)")
    # A renamed field keeps its old flag (scripts written before the rename: --data-dir), except
    # --model, which everywhere else names a model file: --architecture alone says the network.
    old_flags = {
        new: f"--{old.replace('_', '-')}" for old, new in RENAMED_FIELDS.items() if old != "model"
    }
    for field in dataclasses.fields(Config):
        default = field.default
        flags = [f"--{field.name.replace('_', '-')}"]
        flags += [old_flags[field.name]] if field.name in old_flags else []
        group.add_argument(
            *flags,
            dest=field.name,
            default=_UNSET,
            type=lambda text, f=field: _parse_value(f, text),
            metavar="VALUE",
            help=f"default: {default}",
        )


def config_from_args(args: argparse.Namespace) -> Config:
    """The file's values (``--config``), then the flags; validated once, on the combination."""
    values = {}
    if getattr(args, "config", None):
        values = Config.load(args.config).to_dict()
    values.update(
        {
            f.name: getattr(args, f.name)
            for f in dataclasses.fields(Config)
            if getattr(args, f.name, _UNSET) is not _UNSET
        }
    )
    return Config.from_dict(
        values, source=f"{args.config} (with the flags)" if getattr(args, "config", None) else None
    )


def cmd_download(args: argparse.Namespace) -> int:
    from colored.data import find_images, get_dataset

    root = get_dataset(args.source, args.data_dir)
    print(f"dataset ready: {root} ({len(find_images(root))} images)")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from colored.train import train

    config = config_from_args(args)
    result = train(config, verbose=args.verbose, restart=args.restart, log=print)
    print(f"model: {result.model_path}")
    for figure in result.figures[-1:]:
        print(f"comparison figure: {figure}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="colored", description="Deep-learning image colorization lab.")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_OneLineParser
    )

    download = sub.add_parser(
        "download",
        help="fetch a dataset (Kaggle, or the offline sample)",
        description="Fetch a dataset into DATA_DIR/<source>.",
    )
    download.add_argument(
        "--source",
        default="sample",
        help="sample (offline, default), kaggle (needs credentials), or auto (kaggle when credentials are found, else sample)",
    )
    download.add_argument("--data-dir", default="data", help="where datasets land (default: data)")
    download.set_defaults(func=cmd_download)

    train = sub.add_parser(
        "train",
        help="train a colorization model",
        description="Train a model; re-running with the same --run-dir resumes a killed run.",
    )
    add_config_arguments(train)
    train.add_argument(
        "--verbose", type=int, choices=(0, 1, 2), default=2, help="Keras fit verbosity (0, 1, 2)"
    )
    train.add_argument(
        "--restart",
        action="store_true",
        help="forget what an earlier run left in --run-dir (backup, checkpoints, history, "
        "figures) and start over; without it a rerun resumes, or refuses a changed config",
    )
    train.set_defaults(func=cmd_train)

    add_colorize_parser(sub)
    add_evaluate_parser(sub)
    add_baselines_parser(sub)
    add_chain_parsers(sub)
    add_notebooks_parser(sub)
    return parser


# ---------------------------------------------------------------------------------------------
# colored colorize (colored.colorize, colored.inference)


def _usage_error(command: str, message) -> int:
    """Print ``colored COMMAND: error: MESSAGE`` (one line) and return the usage-error status, 2."""
    print(f"colored {command}: error: {message}", file=sys.stderr)
    return 2


def add_colorize_parser(subparsers) -> argparse.ArgumentParser:
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
        help=f"trained .keras model (default: ${inference.MODEL_ENV_VAR}, else "
        f"{inference.DEFAULT_MODEL_PATH})",
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
    usage_error = functools.partial(_usage_error, "colorize")

    for path in args.inputs:  # a mistyped path is a usage error, found before anything is loaded
        problem = colorize.missing_input(path)
        if problem:
            return usage_error(problem)
    try:
        model_path = inference.resolve_model_path(args.model)
    except inference.ModelNotFoundError as error:
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
        model = inference.load_model(model_path)
    except inference.ModelNotFoundError as error:
        return usage_error(error)
    embedder = inference.embedder_for(model)
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
        temperature=args.temperature,
        confidence=args.confidence,
        flip=args.flip,
        progress=not args.quiet,
        embedder=embedder,
        overwrite=args.overwrite,
    )
    print(report.summary())
    if report.done:
        print(f"output: {outdir}")
    return 0 if report.ok else 1


# ---------------------------------------------------------------------------------------------
# colored evaluate, colored baselines (colored.evaluate, colored.metrics)


def add_evaluate_parser(subparsers) -> argparse.ArgumentParser:
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
    usage_error = functools.partial(_usage_error, "evaluate")

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
        methods = evaluate.resolve_methods(
            args.models, args.temperature, args.confidence, args.flip
        )
    except inference.ModelNotFoundError as error:
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


def add_baselines_parser(subparsers) -> argparse.ArgumentParser:
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


# ---------------------------------------------------------------------------------------------
# colored demo, colored chain (colored.notebook.chain)

_OUT_HELP = "output folder (default: runs/<timestamp>); it must be new or empty, unless --overwrite"
_OVERWRITE_HELP = (
    "let --out name the folder of an earlier run (one holding its chain.json): everything in "
    "it is deleted first, so no old figure, notebook or model mixes with the new ones. A "
    "non-empty folder without chain.json is never deleted"
)


def add_chain_parsers(subparsers) -> None:
    """Register ``demo`` and ``chain``."""
    demo = subparsers.add_parser(
        "demo",
        help="run the seven notebooks with the reference parameters into runs/<timestamp>/",
        description="Run notebooks 01-07 headless (papermill), in order, with their reference parameters "
        "(= colored chain --profile reference); stops at the first failing notebook.",
    )
    demo.add_argument("--out", type=Path, default=None, help=_OUT_HELP)
    demo.add_argument("--overwrite", action="store_true", help=_OVERWRITE_HELP)
    demo.add_argument(
        "--kernel", default=chain.KERNEL_NAME, help=f"Jupyter kernel (default: {chain.KERNEL_NAME})"
    )
    demo.set_defaults(func=cmd_demo)

    parser = subparsers.add_parser(
        "chain",
        help="run the notebooks with other parameters (-p KEY VALUE, --params-file FILE.yaml)",
        description="Run the notebooks headless (papermill), in order. Each notebook receives the "
        "parameters its `parameters` cell declares; run_dir defaults to the output folder. "
        "Every value is checked before anything runs: a parameter no notebook declares, or "
        "a value of the wrong type for a notebook's parameters cell (an integer default "
        "takes integers, a float default numbers, a string default strings, a bool default "
        "true/false; null only where the default is None or the annotation Optional) or "
        "outside what colored.Config allows, stops the chain at once (exit code 2).",
    )
    parser.add_argument(
        "--profile",
        choices=chain.profile_names(),
        default=None,
        help="a parameter set shipped with the package (colored/notebook/profiles/NAME.yaml): "
        "reference (offline, CPU, what colored demo runs) or colab (ColorED's real run "
        "on a GPU: Kaggle data, 256², ImageNet fusion, 200 epochs, resumes after a "
        "disconnect); --params-file and -p override its values",
    )
    parser.add_argument(
        "--params-file", type=Path, help="YAML file of parameters (overrides --profile)"
    )
    parser.add_argument(
        "-p",
        "--param",
        nargs=2,
        action="append",
        metavar=("KEY", "VALUE"),
        help="a parameter (value parsed as YAML); repeatable, overrides --params-file",
    )
    parser.add_argument("--out", type=Path, default=None, help=_OUT_HELP)
    parser.add_argument("--overwrite", action="store_true", help=_OVERWRITE_HELP)
    parser.add_argument("--only", default=None, help="comma-separated notebooks to run, e.g. 04,05")
    parser.add_argument(
        "--kernel", default=chain.KERNEL_NAME, help=f"Jupyter kernel (default: {chain.KERNEL_NAME})"
    )
    parser.add_argument(
        "--list", action="store_true", help="list the notebooks' parameters and exit"
    )
    parser.add_argument(
        "--save-outputs",
        action="store_true",
        help="maintainers: run with the reference parameters and store the outputs in "
        "notebooks/*.ipynb (the reference `make test` compares against)",
    )
    parser.set_defaults(func=cmd_chain)


def _run_chain(
    params: dict, out: Path | None, notebooks: list[str], kernel: str, overwrite: bool = False
) -> int:
    out_dir = out or chain.timestamped_run_dir()
    start = time.perf_counter()
    chain.run_chain(params, out_dir, notebooks, kernel_name=kernel, overwrite=overwrite)
    print(
        f"{'total':<28} {time.perf_counter() - start:6.1f} s\nresults (executed notebooks, figures, "
        f"model, metrics): {out_dir}/"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    missing = chain.missing_prerequisites()
    if missing:
        return _usage_error("demo", missing)
    return _run_chain(
        chain.load_profile("reference"),
        args.out,
        list(chain.NOTEBOOKS),
        args.kernel,
        overwrite=args.overwrite,
    )


def cmd_chain(args: argparse.Namespace) -> int:
    missing = chain.missing_prerequisites()
    if missing:
        return _usage_error("chain", missing)
    notebooks = chain.select_notebooks(args.only)
    if args.save_outputs:
        if args.param or args.params_file or args.out or args.profile:
            raise ValueError(
                "--save-outputs runs the reference parameters into runs/reference only: "
                "drop -p, --params-file, --profile and --out"
            )
        for path in chain.refresh_reference_outputs(notebooks, args.kernel):
            print(f"outputs saved in {path} ({path.stat().st_size / 1024:.0f} kB)")
        return 0
    if args.list:
        print(chain.parameters_listing(notebooks))
        return 0
    params = chain.chain_params(args.params_file, args.param or (), profile=args.profile)
    return _run_chain(params, args.out, notebooks, args.kernel, overwrite=args.overwrite)


# ---------------------------------------------------------------------------------------------
# colored notebooks (colored.notebook.publish)


def add_notebooks_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "notebooks",
        help="set where the lab is published (the notebooks' Colab badges and install lines)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "The notebooks' Colab badges and their setup cells' install line (pip install\n"
            "git+https://github.com/OWNER/NAME@REF) name the GitHub repository the lab is published in.\n"
            "One setting holds it (PUBLISHED in colored/notebook/publish.py); --repo rewrites that setting and every\n"
            "badge and install line of the seven notebooks (outputs untouched), README.md and\n"
            "notebooks/README.md, in this checkout. Without --repo: check that they all agree\n"
            "(exit 1, listing each one that does not)."
        ),
        epilog=(
            "examples:\n"
            "  colored notebooks --repo alice/colored@main   (then commit, push, open 01's badge)\n"
            "  colored notebooks                              (where is it published? do all agree?)"
        ),
    )
    parser.add_argument(
        "--repo",
        metavar="OWNER/NAME[@REF]",
        default=None,
        help="the GitHub repository (and branch, tag or commit; default main) to point at",
    )
    parser.set_defaults(func=cmd_notebooks)
    return parser


def cmd_notebooks(args: argparse.Namespace) -> int:
    from colored.notebook import publish

    if args.repo is not None:
        try:
            repo = publish.parse_repository(args.repo)
        except ValueError as error:
            return _usage_error("notebooks", error)
        changed = publish.set_published(repo)
        for path in changed:
            print(f"rewrote {path.relative_to(publish.ROOT)}")
        print(
            f"the lab is published at {repo} ({len(changed)} file(s) changed): commit and push, then open "
            f"{repo.badge_url('01_data_download.ipynb')}"
        )
    setting = repo if args.repo is not None else publish.published()
    problems = publish.find_mismatches(repo=setting)
    for problem in problems:
        print(f"colored notebooks: {problem}", file=sys.stderr)
    if problems:
        print(
            f"colored notebooks: error: {len(problems)} place(s) disagree with PUBLISHED in colored/notebook/publish.py; "
            f"`colored notebooks --repo {setting}` rewrites them",
            file=sys.stderr,
        )
        return 1
    if args.repo is None:
        print(f"the lab is published at {setting}: every badge and install line agrees")
    return 0


# ---------------------------------------------------------------------------------------------
# running a command


#: Commands that load Keras (and so TensorFlow's native libraries) in this process.
_KERAS_COMMANDS = {"train", "colorize", "evaluate"}
#: TensorFlow's native start-up lines: written to file descriptor 2 by C++ code while the library
#: loads, before its logging reads TF_CPP_MIN_LOG_LEVEL (TF 2.21 prints them even at level 3).
_NATIVE_NOISE = (
    "absl::InitializeLog",
    "cudart_stub.cc",
    "cpu_feature_guard.cc",
    "port.cc:",
    "To enable the following instructions",
    "rebuild TensorFlow with the appropriate",
    "Unable to register cu",
    "TF-TRT Warning",
    "computation placer already registered",
    "oneDNN custom operations are on",
    "This TensorFlow binary is optimized",
)


def import_keras_quietly() -> None:
    """Import Keras (and its backend) with file descriptor 2 captured, then pass on every stderr
    line but TensorFlow's start-up noise. Environment variables cannot silence those lines: they
    are printed before TensorFlow reads them."""
    if "keras" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines(keepends=True)
    kept = "".join(line for line in lines if not any(noise in line for noise in _NATIVE_NOISE))
    if kept.strip():
        sys.stderr.write(kept)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command in _KERAS_COMMANDS:
            import_keras_quietly()
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"colored {args.command}: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError, RuntimeError) as error:
        print(f"colored {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 2


def _one_line(error: BaseException) -> str:
    """An exception as one line: OSErrors name their path; other messages keep their first line(s)
    joined (library messages are written to be read whole)."""
    if isinstance(error, OSError) and error.filename and error.strerror:
        return f"{error.filename}: {error.strerror}"
    return " ".join(str(error).split("\n")).strip() or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
