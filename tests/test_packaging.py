"""Packaging and command line: pyproject and environment.yml agree; every command has --help."""
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from colored.cli import build_parser, config_from_args

REPO = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_pip_list_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"]) | set(project["optional-dependencies"]["test"])
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {p for p in pip if not p.startswith("-e")}
    assert {_name(r): r for r in listed} == {_name(r): r for r in wanted}, (
        "environment.yml's pip list and pyproject.toml's dependencies + [test] extra disagree: "
        f"only in environment.yml {sorted(listed - wanted)}, only in pyproject {sorted(wanted - listed)}")


def test_every_subcommand_has_help():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"download", "train", "colorize"} <= set(commands), f"commands: {sorted(commands)}"
    for name in commands:
        with pytest.raises(SystemExit) as done:
            parser.parse_args([name, "--help"])
        assert done.value.code == 0, f"colored {name} --help failed"


def test_console_script_runs():
    run = subprocess.run([sys.executable, "-m", "colored.cli", "--help"], capture_output=True, text=True)
    assert run.returncode == 0 and "download" in run.stdout, run.stderr


def test_train_flags_override_a_config_file(tmp_path):
    file = tmp_path / "c.yaml"
    file.write_text("image_size: 128\nloss: classification\nlimit: 7\n")
    args = build_parser().parse_args(["train", "--config", str(file), "--limit", "none",
                                      "--backbone-weights", "none", "--max-minutes", "2.5", "--augment", "false"])
    config = config_from_args(args)
    assert config.image_size == 128 and config.loss == "classification", "config file values lost"
    assert config.limit is None and config.backbone_weights is None, "'none' must mean None"
    assert config.max_minutes == 2.5 and config.augment is False


def test_unknown_config_key_is_a_clear_error(tmp_path):
    file = tmp_path / "c.yaml"
    file.write_text("image_sise: 128\n")
    with pytest.raises(ValueError, match="unknown config keys.*image_sise"):
        config_from_args(build_parser().parse_args(["train", "--config", str(file)]))
