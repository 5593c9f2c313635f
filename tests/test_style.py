"""The tree is clean by the project's own style rules (pyproject.toml, [tool.ruff]): ruff's lint and its
formatter at 100 columns. `ruff check --fix . && ruff format .` repairs most of what these report."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def ruff() -> list[str]:
    # the venv's ruff (the test extra installs it) beside this Python, else one on PATH
    local = Path(sys.executable).with_name("ruff")
    if local.exists():
        return [str(local)]
    if shutil.which("ruff"):
        return [shutil.which("ruff")]
    pytest.skip("ruff is not installed: pip install -e '.[test]' installs it")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*ruff(), *args], cwd=REPO, capture_output=True, text=True, check=False)


def test_ruff_lint_is_clean():
    result = run("check", "--output-format", "concise", ".")
    assert result.returncode == 0, (
        f"ruff check found problems (fix: ruff check --fix .):\n{result.stdout}{result.stderr}"
    )


def test_ruff_format_is_clean():
    result = run("format", "--check", ".")
    assert result.returncode == 0, (
        f"files ruff format would change (fix: ruff format .):\n{result.stdout}{result.stderr}"
    )
