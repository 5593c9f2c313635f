"""colored.notebook: the notebooks' setup cell as one function."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

import colored
from colored import notebook

REPO = Path(__file__).resolve().parents[1]


def _fresh_python(code: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in colored.QUIET_ENVIRONMENT}
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.strip()


def test_importing_colored_lab_quiets_tensorflow_before_keras_is_loaded():
    out = _fresh_python(
        "import os, sys; import colored.notebook; "
        "print(os.environ['TF_CPP_MIN_LOG_LEVEL'], os.environ['NO_ALBUMENTATIONS_UPDATE'], "
        "any(m.split('.')[0] in ('keras', 'tensorflow', 'albumentations') for m in sys.modules))"
    )
    assert out == "3 1 False", (
        f"import colored.notebook must set the variables and load no keras: {out!r}"
    )


def test_setup_enforces_the_quiet_environment_even_over_other_values():
    out = _fresh_python(
        "import os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '0'; import colored.notebook; "
        "print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"
    )
    assert out == "3", "the notebooks always forced TensorFlow's C++ logs off"


class FakeShell:
    def __init__(self):
        self.magics: list[tuple[str, str]] = []

    def run_line_magic(self, name: str, line: str) -> None:
        self.magics.append((name, line))


def test_setup_does_what_the_setup_cell_did(tmp_path, monkeypatch, capsys):
    repo, elsewhere = tmp_path / "repo", tmp_path / "elsewhere" / "notebooks"
    (repo / "notebooks").mkdir(parents=True)
    (repo / "pyproject.toml").write_text("")
    elsewhere.mkdir(parents=True)  # a notebooks/ folder that is not in a repository: no chdir
    shell = FakeShell()
    monkeypatch.setattr(notebook, "_ipython", lambda: shell)
    monkeypatch.setitem(plt.rcParams, "figure.dpi", 100)

    monkeypatch.chdir(repo / "notebooks")
    notebook.setup()
    assert Path.cwd() == repo, "started in notebooks/, setup should move to the repository root"
    assert shell.magics == [
        ("matplotlib", "inline"),
        ("config", 'InlineBackend.figure_formats = ["jpeg"]'),
    ]
    assert plt.rcParams["figure.dpi"] == 72
    first = np.random.random(3)
    out = capsys.readouterr().out
    assert out.startswith(f"colored {colored.__version__}, keras "), out
    assert "backend\n" in out and ("GPU:" in out or "No GPU: running on the CPU" in out), out

    monkeypatch.chdir(elsewhere)
    notebook.setup(verbose=False)
    assert Path.cwd() == elsewhere, (
        "outside a repository's notebooks/ folder the working folder stays"
    )
    assert np.array_equal(np.random.random(3), first), (
        "setup should seed numpy (keras.utils.set_random_seed)"
    )
    assert capsys.readouterr().out == "", "verbose=False prints nothing"


def test_setup_outside_ipython_runs_no_magics(monkeypatch, tmp_path):
    monkeypatch.setattr(notebook, "_ipython", lambda: None)
    monkeypatch.setitem(plt.rcParams, "figure.dpi", 100)
    monkeypatch.chdir(tmp_path)
    notebook.setup(seed=1, figure_dpi=50, verbose=False)
    assert plt.rcParams["figure.dpi"] == 50


@pytest.mark.parametrize(
    "cwd, expected", [("repo/notebooks", "repo"), ("repo", None), ("other/notebooks", None)]
)
def test_repository_root(tmp_path, cwd, expected):
    (tmp_path / "repo" / "notebooks").mkdir(parents=True)
    (tmp_path / "repo" / "pyproject.toml").write_text("")
    (tmp_path / "other" / "notebooks").mkdir(parents=True)
    assert notebook.repository_root(tmp_path / cwd) == (tmp_path / expected if expected else None)


# --------------------------------------------------------------------------------------------------
# notebook 07's figures (colored.viz)
# --------------------------------------------------------------------------------------------------


def test_photo_row_and_temperature_figures():
    from colored import viz

    photo = np.zeros((30, 60, 3), np.uint8)  # wide: the figure keeps the photos' aspect ratio
    fig = viz.photo_row_figure([photo, photo], ["before (gray)", "after"])
    assert [ax.get_title() for ax in fig.axes] == ["before (gray)", "after"]
    assert tuple(fig.get_size_inches()) == pytest.approx((6.0, 3.0 * 30 / 60 + 0.4))
    plt.close(fig)
    labels = [
        "T = 0.01 (≈ the mode)",
        "T = 0.38 (vivid)",
        "T = 0.7 (the default)",
        "T = 1.0 (the mean)",
        "T = 4.0 (flatter: grayer)",
    ]
    assert [viz.temperature_label(t) for t in (0.01, 0.38, 0.7, 1.0, 4.0)] == labels, (
        "temperature titles must say what each T does (and which is the package's default)"
    )
    fig = viz.temperature_figure([photo] * 3, (0.01, 1.0, 4.0))
    assert [ax.get_title() for ax in fig.axes] == [labels[0], labels[3], labels[4]]
    assert tuple(fig.get_size_inches()) == pytest.approx((9.0, 1.9))
    plt.close(fig)


def test_embedding_and_uncertainty_figures_label_what_they_show():
    from colored import viz

    flat = np.full(1000, 1e-3)
    fig = viz.embedding_figure(flat, trained=False)
    ax = fig.axes[0]
    assert (
        "random weights" in ax.get_title() and ax.get_xlabel() and ax.get_ylabel() == "probability"
    )
    plt.close(fig)
    peaked = flat.copy()
    peaked[281] = 0.5
    assert "ImageNet weights" in viz.embedding_figure(peaked, trained=True).axes[0].get_title()
    plt.close("all")
    fig = viz.uncertainty_figure(
        np.zeros((30, 60), np.uint8), np.linspace(0, 40, 1800).reshape(30, 60)
    )
    assert len(fig.axes) == 3, "photo, σ map and a colour bar"
    assert "Lab units" in fig.axes[2].get_ylabel(), "the colour bar must name the unit"
    plt.close(fig)


# --------------------------------------------------------------------------------------------------
# notebook 07's upload button: ipywidgets 7.x (Colab) and 8.x shape FileUpload.value differently
# --------------------------------------------------------------------------------------------------

PHOTOS = {"gray.png": b"\x89PNG\r\n\x1a\nfake", "old photo.jpg": b"\xff\xd8\xff\xe0jpeg"}


def _upload_as_the_front_end_does(button, files: dict[str, bytes]) -> None:
    """Sync an upload into a real FileUpload as the installed ipywidgets' browser side does (one
    model.set: widget_upload.ts): the comm message's state, contents as binary buffers (memoryviews),
    through ``set_state``."""
    import ipywidgets

    if int(ipywidgets.__version__.split(".")[0]) >= 8:  # the value itself, timestamps in ms
        button.set_state(
            {
                "value": [
                    {
                        "name": name,
                        "type": "image/png",
                        "size": len(data),
                        "content": memoryview(data),
                        "last_modified": 1_700_000_000_000,
                    }
                    for name, data in files.items()
                ],
                "error": "",
            }
        )
    else:  # 7.x: metadata and data, then _counter, whose observer builds the read-only value
        button.set_state(
            {
                "metadata": [
                    {
                        "name": name,
                        "type": "image/png",
                        "size": len(data),
                        "lastModified": 1_700_000_000_000,
                    }
                    for name, data in files.items()
                ],
                "data": [memoryview(data) for data in files.values()],
                "_counter": button._counter + len(files),
                "error": "",
            }
        )


def test_file_upload_contents_of_a_real_upload_button():
    import ipywidgets

    button = ipywidgets.FileUpload(
        accept="image/*", multiple=True
    )  # as notebook 07 makes it, but multiple
    assert notebook.file_upload_contents(button.value) == {}, "nothing uploaded yet"
    _upload_as_the_front_end_does(button, PHOTOS)
    shape = tuple if int(ipywidgets.__version__.split(".")[0]) >= 8 else dict
    assert isinstance(button.value, shape), (
        f"ipywidgets {ipywidgets.__version__}: value is {type(button.value)}"
    )
    contents = notebook.file_upload_contents(button.value)
    assert contents == PHOTOS and all(type(data) is bytes for data in contents.values())


def test_file_upload_contents_of_both_value_shapes():
    v7 = {
        name: {
            "metadata": {"name": name, "type": "image/png", "size": len(data), "lastModified": 0},
            "content": data,
        }
        for name, data in PHOTOS.items()
    }
    v8 = tuple(
        {
            "name": name,
            "type": "image/png",
            "size": len(data),
            "content": memoryview(data),
            "last_modified": dt.datetime(2023, 11, 14, tzinfo=dt.UTC),
        }
        for name, data in PHOTOS.items()
    )
    assert notebook.file_upload_contents(v7) == PHOTOS
    assert notebook.file_upload_contents(v8) == PHOTOS
    assert all(type(data) is bytes for data in notebook.file_upload_contents(v8).values()), (
        "memoryviews must become bytes"
    )
    for empty in (None, {}, ()):
        assert notebook.file_upload_contents(empty) == {}


def test_the_old_name_colored_lab_still_works_and_says_the_new_one():
    # notebooks saved before the rename run `import colored.lab; colored.lab.setup()`
    code = (
        "import warnings, sys; warnings.simplefilter('always');\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    import colored.lab\n"
        "import colored.notebook\n"
        "print(colored.lab is colored.notebook, [str(w.message) for w in caught])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("True") and "colored.notebook.setup()" in out.stdout, out.stdout
