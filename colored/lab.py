"""The lab notebooks' setup, in one place: each notebook's first code cell is

    import colored.lab
    colored.lab.setup()

followed by the imports its later cells use. Import this module **before** anything imports keras
(TensorFlow reads ``TF_CPP_MIN_LOG_LEVEL`` once, when it loads): importing it silences TensorFlow's C++
start-up lines and albumentations' PyPI version check, which would otherwise land in the notebooks'
outputs and break the regression check. ``colored/__init__.py`` does not import keras, so
``import colored.lab`` is early enough.
"""
from __future__ import annotations

import os
from pathlib import Path

from colored import QUIET_ENVIRONMENT

# Enforced (not just defaulted, as colored/__init__.py does) when this module is imported, before
# keras or albumentations load, as the notebooks always did.
os.environ.update(QUIET_ENVIRONMENT)

#: The seed of every lab notebook: same weights, shuffles and augmentations on every run.
SEED = 42
#: Figure resolution in the notebooks: small JPEG figures keep the committed notebooks light.
FIGURE_DPI = 72


def repository_root(cwd: str | Path | None = None) -> Path | None:
    """The repository root when ``cwd`` (default: the current folder) is its ``notebooks/`` folder."""
    cwd = Path.cwd() if cwd is None else Path(cwd)
    if cwd.name == "notebooks" and (cwd.parent / "pyproject.toml").is_file():
        return cwd.parent
    return None


def _ipython():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def setup(seed: int = SEED, figure_dpi: int = FIGURE_DPI, chdir: bool = True, verbose: bool = True) -> None:
    """What every lab notebook does first.

    1. silence TensorFlow's C++ logs and albumentations' update check
       (:data:`colored.QUIET_ENVIRONMENT`);
    2. ``chdir``: work from the repository root when started in ``notebooks/``, so ``data/`` and
       ``runs/`` are the same folders in JupyterLab, papermill and nbval;
    3. in IPython: ``%matplotlib inline`` and ``%config InlineBackend.figure_formats = ["jpeg"]``;
    4. ``keras.utils.set_random_seed(seed)`` and ``plt.rcParams["figure.dpi"] = figure_dpi``;
    5. ``verbose``: print the versions and the devices (and how to get a GPU on Colab when none).
    """
    os.environ.update(QUIET_ENVIRONMENT)
    root = repository_root() if chdir else None
    if root is not None:
        os.chdir(root)
    shell = _ipython()
    if shell is not None:  # before matplotlib.pyplot is imported (here or by colored.viz)
        shell.run_line_magic("matplotlib", "inline")
        shell.run_line_magic("config", 'InlineBackend.figure_formats = ["jpeg"]')
    import keras
    import matplotlib.pyplot as plt

    import colored

    keras.utils.set_random_seed(seed)
    plt.rcParams["figure.dpi"] = figure_dpi
    if verbose:
        gpus = keras.distribution.list_devices("gpu")
        print(f"colored {colored.__version__}, keras {keras.__version__}, {keras.backend.backend()} backend")
        if gpus:
            print("GPU:", ", ".join(gpus))
        else:
            print("No GPU: running on the CPU (fine for the reference parameters, slow for real training).\n"
                  "On Colab: Runtime > Change runtime type > GPU, then run all cells again.")
