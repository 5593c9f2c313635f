"""The ``colored`` command line: a thin shell over the library (no logic of its own)."""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import sys
from pathlib import Path

from colored.config import Config


_UNSET = object()  # "flag not given" (None is a real value: --limit none, --backbone-weights none)


def _parse_value(field: dataclasses.Field, text: str):
    """Parse a command-line string for a Config field, guided by the field's default."""
    default = field.default if field.default is not dataclasses.MISSING else None
    if text.lower() in ("none", "null") and not isinstance(default, bool):
        return None
    if isinstance(default, bool) or text.lower() in ("true", "false"):
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            if field.name == "jit_compile" and text == "auto":
                return "auto"
            raise argparse.ArgumentTypeError(f"--{field.name.replace('_', '-')} expects true/false, got {text!r}")
        return text.lower() in ("true", "1", "yes")
    kind = str(field.type)  # the annotation, e.g. "float | None"
    if isinstance(default, float) or "float" in kind:
        return float(text)
    if isinstance(default, int) or kind.startswith("int"):
        return int(text)
    return text


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
    config = Config.load(args.config) if getattr(args, "config", None) else Config()
    changes = {f.name: getattr(args, f.name) for f in dataclasses.fields(Config)
               if getattr(args, f.name, _UNSET) is not _UNSET}
    return config.replace(**changes)


def cmd_download(args: argparse.Namespace) -> int:
    from colored.data import find_images, get_dataset

    root = get_dataset(args.source, args.data_dir)
    print(f"dataset ready: {root} ({len(find_images(root))} images)")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from colored.train import train

    config = config_from_args(args)
    result = train(config, verbose=args.verbose)
    print(f"model: {result.model_path}")
    for figure in result.figures[-1:]:
        print(f"comparison figure: {figure}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="colored", description="Deep-learning image colorization lab.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    download = sub.add_parser("download", help="fetch a dataset (Kaggle, or the offline sample)",
                              description="Fetch a dataset into DATA_DIR/<source>.")
    download.add_argument("--source", default="sample", help="sample (offline, default) or kaggle")
    download.add_argument("--data-dir", default="data", help="where datasets land (default: data)")
    download.set_defaults(func=cmd_download)

    train = sub.add_parser("train", help="train a colorization model",
                           description="Train a model; re-running with the same --run-dir resumes a killed run.")
    add_config_arguments(train)
    train.add_argument("--verbose", type=int, default=2, help="Keras fit verbosity (0, 1, 2)")
    train.set_defaults(func=cmd_train)

    for module in ("colored.colorize", "colored.evaluate", "colored.chain"):
        if importlib.util.find_spec(module) is not None:  # each command's module registers itself
            importlib.import_module(module).add_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"colored {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
