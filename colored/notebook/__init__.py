"""The notebooks' helpers: each notebook's first code cell is

    import colored.notebook
    colored.notebook.setup()

followed by the imports its later cells use. The package also holds what runs the notebooks
(``chain``: papermill, headless; ``kernel``: the quiet Jupyter kernel) and where the lab is
published (``publish``). Import it **before** anything imports keras: importing it silences
TensorFlow's C++ start-up lines and albumentations' PyPI version check (TensorFlow reads
``TF_CPP_MIN_LOG_LEVEL`` once, when it loads), which would otherwise land in the notebooks' outputs.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from colored import QUIET_ENVIRONMENT

# Enforced (not just defaulted, as colored/__init__.py does) when this module is imported, before
# keras or albumentations load, as the notebooks always did.
os.environ.update(QUIET_ENVIRONMENT)

#: The seed of every lab notebook: same weights, shuffles and augmentations on every run.
SEED = 42
#: Figure resolution in the notebooks: small JPEG figures keep the committed notebooks light.
FIGURE_DPI = 72

#: The Kaggle credentials setup() copies from Colab's Secrets panel into the environment (values never printed).
KAGGLE_SECRETS = ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY")
#: Where Colab mounts Google Drive (``$COLORED_DRIVE_MOUNTPOINT`` overrides it: the tests' fake Drive).
DRIVE_MOUNTPOINT = "/content/drive"
#: The lab's folder in Drive (``$COLORED_DRIVE_FOLDER`` overrides it, an absolute path).
DRIVE_FOLDER = "MyDrive/colored-lab"
#: The working folder's sub-folders that live in the Drive folder on Colab (see :func:`persist_on_drive`).
PERSISTED = ("data", "runs")


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


# --------------------------------------------------------------------------------------------------
# Colab: one runtime per notebook, erased on disconnect
# --------------------------------------------------------------------------------------------------


def on_colab() -> bool:
    """Whether this runs in a Colab runtime (its kernel has imported ``google.colab``)."""
    return "google.colab" in sys.modules


def drive_folder() -> Path:
    """The lab's folder in Google Drive: ``$COLORED_DRIVE_FOLDER``, else
    ``<mount point>/MyDrive/colored-lab``."""
    mountpoint = Path(os.environ.get("COLORED_DRIVE_MOUNTPOINT") or DRIVE_MOUNTPOINT)
    return Path(os.environ.get("COLORED_DRIVE_FOLDER") or mountpoint / DRIVE_FOLDER)


def persist_on_drive(
    folder: str | Path | None = None,
    workdir: str | Path | None = None,
    names: tuple[str, ...] = PERSISTED,
    log=print,
) -> Path:
    """On Colab: mount Google Drive (Colab asks for permission once) and make ``workdir/data`` and
    ``workdir/runs`` (``workdir``: the current folder) links to ``folder/data`` and ``folder/runs``
    (``folder``: :func:`drive_folder`). Each notebook runs in a runtime of its own, erased when it
    disconnects; with the folders on Drive every notebook sees the datasets and run folders of the
    earlier ones, and a disconnected training resumes from its last epoch when notebook 05 runs again.

    A real ``workdir/data`` (or ``runs``) folder is moved into Drive first, entry by entry, where Drive
    has no entry of that name yet; if something is left, the folder stays local and ``log`` says so.
    Returns the Drive folder."""
    folder = Path(folder) if folder is not None else drive_folder()
    workdir = Path.cwd() if workdir is None else Path(workdir)
    mountpoint = Path(os.environ.get("COLORED_DRIVE_MOUNTPOINT") or DRIVE_MOUNTPOINT)
    if not (mountpoint / "MyDrive").is_dir():
        from google.colab import drive  # noqa: PLC0415 - only exists on Colab

        drive.mount(str(mountpoint))
    for name in names:
        target = folder / name
        target.mkdir(parents=True, exist_ok=True)
        link = workdir / name
        if link.is_symlink():
            if link.resolve() == target.resolve():
                continue
            link.unlink()
        elif link.is_dir():
            for entry in sorted(link.iterdir()):
                if not (target / entry.name).exists() and not (target / entry.name).is_symlink():
                    shutil.move(str(entry), str(target / entry.name))
            if any(link.iterdir()):
                log(
                    f"{link}/ is a local folder holding entries that {target}/ has too: it stays local (not "
                    "kept after this runtime disconnects). Move or delete them, then run this cell again."
                )
                continue
            link.rmdir()
        elif link.exists():
            log(
                f"{link} is a file, not a folder: {name}/ stays local. Move it, then run this cell again."
            )
            continue
        link.symlink_to(target, target_is_directory=True)
    return folder


def load_colab_secrets(
    names: tuple[str, ...] = KAGGLE_SECRETS, environ: dict[str, str] | None = None
) -> tuple[list[str], list[str]]:
    """Copy Colab secrets into the environment (``os.environ``): each of ``names`` not set there yet,
    read with ``google.colab.userdata.get``. Returns ``(names copied, names this notebook may not
    read)``. Values are never printed, logged or put in a message; a secret that does not exist is
    skipped."""
    from google.colab import userdata  # noqa: PLC0415 - only exists on Colab

    environ = os.environ if environ is None else environ
    copied: list[str] = []
    denied: list[str] = []
    for name in names:
        if environ.get(name):
            continue
        try:
            value = userdata.get(name)
        except Exception as error:  # noqa: BLE001 - SecretNotFoundError, NotebookAccessError, timeouts
            if type(error).__name__ == "NotebookAccessError":
                denied.append(name)
            continue  # the error itself is never shown: only names are
        if isinstance(value, str) and value.strip():
            environ[name] = value.strip()
            copied.append(name)
    return copied, denied


def kaggle_secrets_note(
    copied: list[str], denied: list[str], environ: dict[str, str] | None = None
) -> str:
    """One line about Kaggle credentials on Colab: which secrets were copied, and, when no credentials
    are found at all, which secret names to add (only names, never values)."""
    from colored.io.kaggle_credentials import find_kaggle_credentials  # noqa: PLC0415

    parts = []
    if copied:
        parts.append(
            f"Kaggle: {', '.join(copied)} copied from Colab's secrets into the environment."
        )
    if denied:
        parts.append(
            f"Kaggle: this notebook may not read the secret(s) {', '.join(denied)}: switch on "
            "'Notebook access' for them in the Secrets panel (key icon, left), then run this cell again."
        )
    if find_kaggle_credentials(env=os.environ if environ is None else environ) is None:
        parts.append(
            'Kaggle: no credentials (fine for data_source = "sample"). For the Kaggle dataset add the '
            "secret KAGGLE_API_TOKEN (or KAGGLE_USERNAME and KAGGLE_KEY) in Colab's Secrets panel "
            "(key icon, left), allow this notebook access, then run this cell again."
        )
    return "\n".join(parts)


def _persist_default() -> bool:
    return on_colab() and os.environ.get("COLORED_PERSIST", "1").strip().lower() not in (
        "0",
        "false",
        "no",
        "off",
    )


def setup(
    seed: int = SEED,
    figure_dpi: int = FIGURE_DPI,
    chdir: bool = True,
    verbose: bool = True,
    persist: bool | None = None,
) -> None:
    """What every lab notebook does first: quiet logs (:data:`colored.QUIET_ENVIRONMENT`); with
    ``chdir``, the repository root as working folder (so ``data/`` and ``runs/`` are the same in
    JupyterLab, papermill and nbval); inline JPEG figures at ``figure_dpi``;
    ``keras.utils.set_random_seed(seed)``; with ``verbose``, the versions, devices and what the speed
    switches' ``"auto"`` means here.

    On Colab, first: ``persist`` (default on, unless ``$COLORED_PERSIST=0``) keeps ``data/`` and
    ``runs/`` on Google Drive (:func:`persist_on_drive`), so the next notebook finds this one's
    results and a disconnected training resumes (an argument, not a notebook parameter: it must act
    before anything reads those folders); and the Kaggle secrets are copied into the environment
    (:func:`load_colab_secrets`; values never printed).
    """
    os.environ.update(QUIET_ENVIRONMENT)
    root = repository_root() if chdir else None
    if root is not None:
        os.chdir(root)
    colab_notes: list[str] = []
    if on_colab():
        if _persist_default() if persist is None else persist:
            folder = persist_on_drive(log=colab_notes.append)
            colab_notes.insert(
                0,
                f"Drive: {', '.join(n + '/' for n in PERSISTED)} are kept in {folder}/ "
                "(the next notebooks find them; a disconnected training resumes there)",
            )
        note = kaggle_secrets_note(*load_colab_secrets())
        if note:
            colab_notes.append(note)
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
        for note in colab_notes:
            print(note)
        gpus = keras.distribution.list_devices("gpu")
        print(
            f"colored {colored.__version__}, keras {keras.__version__}, {keras.backend.backend()} backend"
        )
        if gpus:
            print("GPU:", ", ".join(gpus))
        else:
            print(
                "No GPU: running on the CPU (fine for the reference parameters, slow for real training).\n"
                "On Colab: Runtime > Change runtime type > GPU, then run all cells again."
            )
        from colored.devices import speed_summary

        print(speed_summary())  # what the speed switches' "auto" (Config's default) means here


# --------------------------------------------------------------------------------------------------
# Notebook 07: the upload button
# --------------------------------------------------------------------------------------------------


def file_upload_contents(
    value: Mapping[str, Mapping[str, Any]] | Sequence[Mapping[str, Any]] | None,
) -> dict[str, bytes]:
    """``{file name: content}`` of an ``ipywidgets.FileUpload``'s ``value``; ``{}`` for None or no upload.

    ipywidgets 8.0 changed the value's shape, and both are in use: Colab ships 7.x (7.7.1), whose value
    is a dict ``{name: {"metadata": {...}, "content": bytes}}``; JupyterLab installs get 8.x, whose
    value is a tuple of dicts with ``name``, ``type``, ``size``, ``content`` (a memoryview) and
    ``last_modified``.
    """
    if not value:
        return {}
    if isinstance(value, Mapping):  # ipywidgets 7.x
        return {name: bytes(upload["content"]) for name, upload in value.items()}
    return {upload["name"]: bytes(upload["content"]) for upload in value}  # ipywidgets 8.x
