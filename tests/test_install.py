"""A plain install: the wheel built from this repository (not editable), installed in a fresh virtual
environment, gives working ``colored train``, ``colorize`` and ``evaluate`` (with the packaged
default model and profiles), and ``colored demo``/``chain`` say in one line what to install and where
the notebooks are (they are not in the wheel; papermill and Jupyter are the ``lab`` extra).

No multi-GB download: the new environment gets this .venv's installed dependencies through a ``.pth``
file naming a *filtered* copy of its site-packages (symbolic links), without the project itself and
without the ``lab`` extra's packages, so ``import papermill`` fails there as after a plain install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
#: What the new environment must not see from this .venv: the project (an editable install here) and
#: the notebook chain's packages (the ``lab`` extra) with the Jupyter stack under them.
HIDDEN_PREFIXES = (
    "colored",
    "_colored",
    "__editable__",
    "papermill",
    "nbformat",
    "nbclient",
    "nbval",
    "jupyter",
    "ipykernel",
    "notebook",
    "nbconvert",
)


def _run(
    command: list[str], cwd: Path, env: dict[str, str], timeout: int = 600
) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def _photos(folder: Path, count: int, size: int) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size] / size
    for i in range(
        count
    ):  # smooth colour gradients: real-looking enough for a colorizer and the metrics
        rgb = np.stack([x, y, (x + y) / 2], axis=-1) * rng.uniform(0.5, 1.0, 3) * 255
        Image.fromarray(rgb.astype(np.uint8)).save(folder / f"photo_{i}.png")
    return folder


@pytest.fixture(scope="module")
def plain_install(tmp_path_factory):
    """``(bin folder, environment)`` of a fresh venv with the wheel installed with ``--no-deps``."""
    tmp = tmp_path_factory.mktemp("plain_install")
    source = tmp / "src"  # a copy: building in the checkout would leave build/ and egg-info there
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(
        REPO / "colored", source / "colored", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    wheels = tmp / "wheels"
    build = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(source),
        ],
        tmp,
        dict(os.environ),
    )
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = next(wheels.glob("*.whl"))

    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=False)
    bin_dir = env_dir / "bin"
    site = Path(
        subprocess.check_output(
            [
                str(bin_dir / "python"),
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ],
            text=True,
        ).strip()
    )
    deps = tmp / "deps"  # this .venv's site-packages, less the project and the lab extra
    deps.mkdir()
    ours = Path(sysconfig.get_paths()["purelib"])
    for entry in ours.iterdir():
        if entry.name.lower().startswith(HIDDEN_PREFIXES) or entry.suffix == ".pth":
            continue
        (deps / entry.name).symlink_to(entry)
    (site / "dependencies.pth").write_text(f"{deps}\n")
    install = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(bin_dir / "python"),
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            str(wheel),
        ],
        tmp,
        dict(os.environ),
    )
    assert install.returncode == 0, install.stderr[-3000:]

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        TF_CPP_MIN_LOG_LEVEL="3",
        MPLBACKEND="Agg",
        KERAS_BACKEND="tensorflow",
    )
    return bin_dir, env, tmp


@pytest.mark.slow
def test_the_wheel_is_a_plain_install_without_the_notebook_tools(plain_install):
    bin_dir, env, tmp = plain_install
    probe = _run(
        [
            str(bin_dir / "python"),
            "-c",
            "import colored, importlib.util as u; print(colored.__file__); "
            "print([m for m in ('papermill', 'nbformat', 'jupyter_client', 'ipykernel') if u.find_spec(m)])",
        ],
        tmp,
        env,
    )
    assert probe.returncode == 0, probe.stderr
    where, found = probe.stdout.splitlines()
    assert str(tmp / "venv") in where, f"colored imported from {where}, not the plain install"
    assert found == "[]", f"the lab extra's packages leak into the plain install: {found}"
    packaged = Path(where).parent
    assert (packaged / "weights" / "default.keras").is_file(), (
        "the default model is not in the wheel"
    )
    assert sorted(p.name for p in (packaged / "notebook" / "profiles").glob("*.yaml")) == [
        "colab.yaml",
        "reference.yaml",
    ]


@pytest.mark.slow
def test_plain_install_commands(plain_install):
    bin_dir, env, tmp = plain_install
    colored = str(bin_dir / "colored")
    work = tmp / "work"
    work.mkdir()

    assert _run([colored, "--help"], work, env).returncode == 0

    photo = _photos(work / "bw", 1, 48) / "photo_0.png"
    done = _run([colored, "colorize", str(photo), "-o", str(work / "colorized"), "-q"], work, env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (work / "colorized" / "photo_0.png").is_file(), done.stdout

    photos = _photos(work / "photos", 4, 32)
    trained = _run(
        [
            colored,
            "train",
            "--dataset-dir",
            str(photos),
            "--image-size",
            "32",
            "--backbone",
            "none",
            "--epochs",
            "1",
            "--batch-size",
            "2",
            "--run-dir",
            str(work / "run"),
            "--cache-dir",
            str(work / "cache"),
            "--verbose",
            "0",
        ],
        work,
        env,
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert (work / "run" / "model.keras").is_file() and "speed settings: auto" in trained.stdout, (
        trained.stdout
    )

    scored = _run(
        [
            colored,
            "evaluate",
            str(photos),
            "--model",
            "gray",
            "--out",
            str(work / "eval"),
            "-q",
            "--gallery",
            "0",
        ],
        work,
        env,
    )
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert (work / "eval" / "metrics.json").is_file()

    for command in (["demo"], ["chain", "--profile", "colab"]):
        refused = _run([colored, *command], work, env)
        assert refused.returncode == 2, (command, refused.stdout, refused.stderr)
        lines = refused.stderr.strip().splitlines()
        assert (
            len(lines) == 1
            and ".[lab]" in lines[0]
            and "notebooks" in lines[0]
            and "git clone" in lines[0]
        ), lines
