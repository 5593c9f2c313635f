"""The ``colored`` command line: a thin shell over the library (no logic of its own)."""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import os
import sys
import tempfile
import typing
from pathlib import Path

from colored.config import Config


_UNSET = object()  # "flag not given" (None is a real value: --limit none, --backbone-weights none)
_HINTS = typing.get_type_hints(Config)


def _parse_value(field: dataclasses.Field, text: str):
    """A command-line string → the Python value for a Config field, by the field's type hint.
    Only the type is read here; ranges and choices are checked by Config itself (one place)."""
    from colored.config import _allowed

    kinds, choices, optional = _allowed(_HINTS[field.name])
    word = text.strip().lower()
    if choices and (text in choices or word in choices):  # "none" is a backbone, not a missing value
        return text
    if optional and word in ("none", "null"):
        return None
    if bool in kinds:
        if word in ("true", "yes", "1", "on"):
            return True
        if word in ("false", "no", "0", "off"):
            return False
    if int in kinds and float not in kinds:
        try:
            return int(text)
        except ValueError:
            pass
    if float in kinds:
        try:
            return float(text)
        except ValueError:
            pass
    if str in kinds:
        return text
    from colored.config import _describe

    raise argparse.ArgumentTypeError(f"{text!r} is not allowed: {_describe(kinds, choices, optional, field.name)}")


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


def positive_float(text: str) -> float:
    """argparse type: a number > 0."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per Config field, plus ``--config FILE`` (JSON/YAML) underneath them."""
    parser.add_argument("--config", type=Path, help="JSON or YAML file of Config values (flags override it)")
    group = parser.add_argument_group("configuration (see colored.Config)")
    for field in dataclasses.fields(Config):
        if field.name == "extra":
            continue
        default = field.default
        group.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, default=_UNSET,
                           type=lambda text, f=field: _parse_value(f, text), metavar="VALUE",
                           help=f"default: {default}")


def config_from_args(args: argparse.Namespace) -> Config:
    """The file's values (``--config``), then the flags; validated once, on the combination."""
    values = {}
    if getattr(args, "config", None):
        values = Config.load(args.config).to_dict()
    values.update({f.name: getattr(args, f.name) for f in dataclasses.fields(Config)
                   if getattr(args, f.name, _UNSET) is not _UNSET})
    return Config.from_dict(values, source=f"{args.config} (with the flags)" if getattr(args, "config", None)
                            else None)


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
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_OneLineParser)

    download = sub.add_parser("download", help="fetch a dataset (Kaggle, or the offline sample)",
                              description="Fetch a dataset into DATA_DIR/<source>.")
    download.add_argument("--source", default="sample", help="sample (offline, default) or kaggle")
    download.add_argument("--data-dir", default="data", help="where datasets land (default: data)")
    download.set_defaults(func=cmd_download)

    train = sub.add_parser("train", help="train a colorization model",
                           description="Train a model; re-running with the same --run-dir resumes a killed run.")
    add_config_arguments(train)
    train.add_argument("--verbose", type=int, choices=(0, 1, 2), default=2, help="Keras fit verbosity (0, 1, 2)")
    train.add_argument("--restart", action="store_true",
                       help="forget what an earlier run left in --run-dir (backup, checkpoints, history, "
                            "figures) and start over; without it a rerun resumes, or refuses a changed config")
    train.set_defaults(func=cmd_train)

    for module in ("colored.colorize", "colored.evaluate", "colored.chain"):
        if importlib.util.find_spec(module) is not None:  # each command's module registers itself
            importlib.import_module(module).add_cli(sub)
    return parser


#: Commands that load Keras (and so TensorFlow's native libraries) in this process.
_KERAS_COMMANDS = {"train", "colorize", "evaluate"}
#: TensorFlow's native start-up lines: written to file descriptor 2 by C++ code while the library
#: loads, before its logging reads TF_CPP_MIN_LOG_LEVEL (TF 2.21 prints them even at level 3).
_NATIVE_NOISE = ("absl::InitializeLog", "cudart_stub.cc", "cpu_feature_guard.cc", "port.cc:",
                 "To enable the following instructions", "rebuild TensorFlow with the appropriate",
                 "Unable to register cu", "TF-TRT Warning", "computation placer already registered",
                 "oneDNN custom operations are on", "This TensorFlow binary is optimized")


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
