"""The ``colored`` command line: every argparse parser of the project, each command a thin shell
over the library (no logic of its own). Only the entry points import this package: the console
script (``colored = "colored.cli:main"``), ``python -m colored`` (:mod:`colored.__main__`) and
``python -m colored.cli`` (:mod:`colored.cli.__main__`).

This module holds the top-level parser, ``download``, ``train`` and :func:`main`; the other
commands live in a module each (:mod:`~colored.cli.colorize`, :mod:`~colored.cli.evaluate`,
:mod:`~colored.cli.notebooks`), what they share in :mod:`colored.cli.common`, so that no file is
longer than a sitting."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from colored.cli.colorize import add_colorize_parser
from colored.cli.common import OneLineParser, add_config_arguments, config_from_args
from colored.cli.evaluate import add_baselines_parser, add_evaluate_parser
from colored.cli.notebooks import add_chain_parsers, add_notebooks_parser

__all__ = ["build_parser", "config_from_args", "import_keras_quietly", "main"]


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
    """The ``colored`` parser, every subcommand on it (in the order ``colored --help`` lists them)."""
    parser = OneLineParser(prog="colored", description="Deep-learning image colorization lab.")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser
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
    """Run one ``colored`` command; its exit status (2: usage error or a refused input, 130: ^C)."""
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
