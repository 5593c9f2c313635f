"""tools/test_stack.py (`make test-colab`, `make test-oldest`): the parts that decide what is tested.

The environments themselves are built by the make targets (minutes, network); here, in
milliseconds: which pins are read, which Python is refused, what counts as a changed package or an
error output, and that the setup cell still installs the way the tool copies.
"""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("test_stack", REPO / "tools" / "test_stack.py")
stack = importlib.util.module_from_spec(spec)
sys.modules["test_stack"] = stack
spec.loader.exec_module(stack)


def test_colab_freeze_is_read_without_url_installs(tmp_path):
    freeze = tmp_path / "pip-freeze.txt"
    freeze.write_text(
        "# a comment\nKeras==3.13.2\nml_dtypes==0.6.0\n"
        "torch @ https://download.pytorch.org/whl/cpu/torch-2.11.0%2Bcpu-cp313.whl\n"
    )
    assert stack.read_freeze(freeze) == {"keras": "3.13.2", "ml-dtypes": "0.6.0"}


def test_the_published_colab_freeze_has_the_versions_the_readme_names():
    if not stack.FREEZE.is_file():
        pytest.skip(f"{stack.FREEZE} is absent (../shared is not beside this checkout)")
    pins = stack.read_freeze(stack.FREEZE)
    assert (pins["tensorflow"], pins["keras"], pins["ipywidgets"]) == (
        "2.20.0",
        "3.13.2",
        "7.7.1",
    ), "Colab's freeze changed: update README's 'Tested environments' table"


def test_a_missing_python_stops_with_what_to_do(monkeypatch, capsys):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SystemExit) as caught:
        stack.find_python("2.9")
    assert "no Python 2.9 found" in str(caught.value) and "pyenv install 2.9" in str(caught.value)


def test_this_python_is_found_by_its_minor_version():
    minor = "{}.{}".format(*sys.version_info[:2])
    found = stack.find_python(minor)
    assert Path(found).name.startswith("python"), found


def test_lower_bounds_come_from_pyproject():
    python, bounds = stack.lower_bounds()
    assert python == "3.11", "requires-python changed: the oldest stack must follow"
    assert {"tensorflow", "keras", "pillow", "kaggle"} <= set(bounds), bounds


def test_versions_order_numerically():
    assert stack.version_key("2.16.1") > stack.version_key("2.16") and stack.version_key(
        "3.10.0"
    ) > stack.version_key("3.9.2")


def test_the_setup_cell_installs_as_the_tool_copies():
    assert stack.setup_cell_install() == ["install", "-q"], (
        "the Colab setup cell's pip call changed"
    )


def test_a_changed_preinstalled_package_fails_the_table(capsys):
    assert stack.check_unchanged({"keras": "3.13.2"}, {"after": {"keras": "3.13.2"}})
    assert not stack.check_unchanged(
        {"keras": "3.13.2", "numpy": "2.1.3"}, {"after": {"keras": "3.15.1", "numpy": "2.1.3"}}
    )
    out = capsys.readouterr().out
    assert "CHANGED: keras" in out and "3.15.1" in out and "<-- changed" in out


def test_error_outputs_of_the_chain_are_found(tmp_path):
    cells = [
        {
            "cell_type": "code",
            "outputs": [{"output_type": "stream", "name": "stdout", "text": "Error rate 3%"}],
        },
        {
            "cell_type": "code",
            "outputs": [{"output_type": "stream", "name": "stderr", "text": "Traceback ..."}],
        },
        {
            "cell_type": "code",
            "outputs": [{"output_type": "error", "ename": "ValueError", "evalue": "x"}],
        },
    ]
    (tmp_path / "01.ipynb").write_text(json.dumps({"cells": cells}))
    found = stack.chain_errors(tmp_path)
    assert len(found) == 2 and "cell 1" in found[0] and "ValueError" in found[1], found
