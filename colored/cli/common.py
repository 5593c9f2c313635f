"""What the ``colored`` subcommands share: the argparse types (positive_int, …), the one-line usage
errors, and the flags several commands take (one per Config field, the decoding settings). Kept
apart from the package's ``__init__`` so the subcommand modules can import it without an import
circle through :func:`colored.cli.build_parser`."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from colored.config import (
    DEFAULT_CONFIDENCE,
    DEFAULT_FLIP,
    DEFAULT_PRIOR_CORRECTION,
    DEFAULT_TEMPERATURE,
    RENAMED_FIELDS,
    Config,
    ConfigError,
    parse_field_text,
)

_UNSET = object()  # "flag not given" (None is a real value: --limit none, --backbone-weights none)


def _parse_value(field: dataclasses.Field, text: str):
    """argparse type of a Config flag: :func:`colored.config.parse_field_text`, its refusal as argparse's."""
    try:
        return parse_field_text(field.name, text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


class OneLineParser(argparse.ArgumentParser):
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
    """--temperature, --confidence, --flip and --prior-correction: the fields of a :class:`~colored.config.Decoding`,
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
    parser.add_argument(
        "--prior-correction",
        type=non_negative_float,
        default=None,
        metavar="TAU",
        help="divide the training set's colour prior out of classification models' predictions to "
        "this power (rare, vivid colours the model finds plausible win over common dull ones; "
        f"0 = off; needs a model file that records its prior); default: the model's, else "
        f"{DEFAULT_PRIOR_CORRECTION:g}",
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


def print_usage_error(command: str, message: object) -> int:
    """Print ``colored COMMAND: error: MESSAGE`` (one line) and return the usage-error status, 2."""
    print(f"colored {command}: error: {message}", file=sys.stderr)
    return 2
