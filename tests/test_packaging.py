"""Packaging and command line: pyproject, environment.yml and the pins in constraints.txt agree;
every command has --help."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from colored.cli import build_parser, config_from_args

REPO = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_requirements() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return project["dependencies"] + project["optional-dependencies"]["test"]


def _environment_pip_list() -> list[str]:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    return next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))


def _pins() -> dict[str, Version]:
    """constraints.txt as {canonical name: version}; every line must be an exact `name==version`."""
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^=\s;]+)", line.strip())
        assert match, f"constraints.txt: {line!r} is not an exact pin (name==version)"
        name = canonicalize_name(match[1])
        assert name not in pins, f"constraints.txt pins {match[1]} twice"
        pins[name] = Version(match[2])
    return pins


def test_environment_yml_pip_list_matches_pyproject():
    wanted = set(_pyproject_requirements())
    listed = {p for p in _environment_pip_list() if not p.startswith("-")}
    assert {_name(r): r for r in listed} == {_name(r): r for r in wanted}, (
        "environment.yml's pip list and pyproject.toml's dependencies + [test] extra disagree: "
        f"only in environment.yml {sorted(listed - wanted)}, only in pyproject {sorted(wanted - listed)}"
    )


def test_constraints_pin_every_dependency_inside_pyproject_ranges():
    pins = _pins()
    for line in _pyproject_requirements():
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, (
            f"{requirement.name} (pyproject.toml) has no pin in constraints.txt: run `make lock`"
        )
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {requirement.name}=={pins[name]}, outside pyproject.toml's {line!r}"
        )
    assert "colored-lab" not in pins and "colored" not in pins, (
        "constraints.txt must not pin the project itself"
    )


def test_environment_yml_installs_the_pinned_versions():
    pip = _environment_pip_list()
    assert "-c constraints.txt" in pip, (
        "environment.yml's pip list must apply the pins (-c constraints.txt)"
    )
    pins = _pins()
    ranges = {
        canonicalize_name(Requirement(r).name): Requirement(r).specifier
        for r in _pyproject_requirements()
    }
    for line in pip:
        if line.startswith("-"):
            continue
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, (
            f"environment.yml installs {requirement.name}, which constraints.txt does not pin"
        )
        for where, specifier in (
            ("environment.yml", requirement.specifier),
            ("pyproject.toml", ranges[name]),
        ):
            assert specifier.contains(pins[name], prereleases=True), (
                f"constraints.txt pins {requirement.name}=={pins[name]}, outside {where}'s {specifier}"
            )


def test_makefile_installs_with_the_constraints_and_reinstalls_when_they_change():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^CONSTRAINTS \?= constraints\.txt$", makefile, re.M), (
        "Makefile: CONSTRAINTS default"
    )
    assert re.search(r"^\$\(STAMP\): .*\$\(CONSTRAINTS\)", makefile, re.M), (
        "the setup stamp must depend on the constraints file (reinstall when the pins change)"
    )
    assert "-c $(CONSTRAINTS)" in makefile, "make setup must install with the constraints"
    for target in ("test-latest", "lock"):
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile lacks `make {target}`"


def test_every_subcommand_has_help():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"download", "train", "colorize"} <= set(commands), f"commands: {sorted(commands)}"
    for name in commands:
        with pytest.raises(SystemExit) as done:
            parser.parse_args([name, "--help"])
        assert done.value.code == 0, f"colored {name} --help failed"


def test_console_script_runs():
    run = subprocess.run(
        [sys.executable, "-m", "colored.cli", "--help"], capture_output=True, text=True
    )
    assert run.returncode == 0 and "download" in run.stdout, run.stderr


def test_train_flags_override_a_config_file(tmp_path):
    file = tmp_path / "c.yaml"
    file.write_text("image_size: 128\nloss: classification\nlimit: 7\n")
    args = build_parser().parse_args(
        [
            "train",
            "--config",
            str(file),
            "--limit",
            "none",
            "--backbone-weights",
            "none",
            "--max-minutes",
            "2.5",
            "--augment",
            "false",
        ]
    )
    config = config_from_args(args)
    assert config.image_size == 128 and config.loss == "classification", "config file values lost"
    assert config.limit is None and config.backbone_weights is None, "'none' must mean None"
    assert config.max_minutes == 2.5 and config.augment is False


def test_unknown_config_key_is_a_clear_error(tmp_path):
    file = tmp_path / "c.yaml"
    file.write_text("image_sise: 128\n")
    with pytest.raises(ValueError, match="unknown config keys.*image_sise"):
        config_from_args(build_parser().parse_args(["train", "--config", str(file)]))
