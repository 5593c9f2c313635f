"""The lab on Colab, without Colab: where the lab is published (colored.notebook.publish, ``colored notebooks``)
and what ``colored.notebook.setup()`` does in a Colab runtime (Drive folder, Kaggle secrets), under a fake
``google.colab`` package written into ``tmp_path`` by the fixtures below:

* ``google/colab/userdata.py``: ``get(name)`` reads a JSON file of secrets next to it, and raises
  ``SecretNotFoundError`` (a missing secret) or ``NotebookAccessError`` (names listed as denied) like
  Colab's;
* ``google/colab/drive.py``: ``mount(mountpoint)`` creates ``mountpoint/MyDrive`` (the fake Drive);
* ``sitecustomize.py``: imports ``google.colab`` at start-up, as Colab's kernel does, so that a kernel
  started with that folder on ``PYTHONPATH`` believes it runs on Colab.

``google/`` has no ``__init__.py``: it joins the installed ``google`` namespace package (protobuf)
instead of hiding it. The notebooks' pip install is skipped with ``COLORED_SKIP_INSTALL=1`` (the package
is installed already); its failure path is run with a fake ``subprocess.run``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from colored import data, notebook
from colored.cli import main
from colored.notebook import chain, publish

REPO = Path(__file__).resolve().parents[1]
TOKEN = "kgat-FAKE-token-0123456789abcdefXYZ"
USERNAME = "alice-colab-test"
KEY = "fake-legacy-key-9876543210fedcba"


# --------------------------------------------------------------------------------------------------
# the fake google.colab
# --------------------------------------------------------------------------------------------------


def write_fake_colab(folder: Path, secrets: dict[str, str], denied: tuple[str, ...] = ()) -> Path:
    """Write the fake ``google.colab`` package into ``folder``; returns ``folder`` (for sys.path)."""
    package = folder / "google" / "colab"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""Fake google.colab for tests/test_colab.py."""\n')
    (package / "secrets.json").write_text(json.dumps({"secrets": secrets, "denied": list(denied)}))
    (package / "userdata.py").write_text(
        textwrap.dedent("""\
        import json
        from pathlib import Path


        class SecretNotFoundError(Exception):
            def __init__(self, key):
                super().__init__(f"Secret {key} does not exist.")


        class NotebookAccessError(Exception):
            def __init__(self, key):
                super().__init__(f"Notebook does not have access to secret {key}")


        def get(key):
            store = json.loads((Path(__file__).parent / "secrets.json").read_text())
            if key in store["denied"]:
                raise NotebookAccessError(key)
            if key not in store["secrets"]:
                raise SecretNotFoundError(key)
            return store["secrets"][key]
        """)
    )
    (package / "drive.py").write_text(
        textwrap.dedent("""\
        import os

        MOUNTS = []


        def mount(mountpoint, force_remount=False, timeout_ms=120000, readonly=False):
            os.makedirs(os.path.join(mountpoint, "MyDrive"), exist_ok=True)
            MOUNTS.append(mountpoint)
            print(f"Mounted at {mountpoint}")
        """)
    )
    (folder / "sitecustomize.py").write_text(
        "import google.colab  # noqa: F401 - as Colab's kernel does\n"
    )
    return folder


@pytest.fixture
def colab_env(tmp_path, monkeypatch):
    """A clean environment for a fake Colab: HOME in tmp_path (no real Kaggle files), no KAGGLE_*
    variables, the fake Drive's mount point in tmp_path."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in [
        *notebook.KAGGLE_SECRETS,
        "KAGGLE_CONFIG_DIR",
        "COLORED_DRIVE_FOLDER",
        "COLORED_PERSIST",
    ]:
        monkeypatch.setenv(
            name, ""
        )  # recorded, so that what setup() copies in is removed afterwards
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("COLORED_DRIVE_MOUNTPOINT", str(tmp_path / "drive"))
    return tmp_path


def _forget_google_colab() -> None:
    for name in [m for m in sys.modules if m == "google.colab" or m.startswith("google.colab.")]:
        del sys.modules[name]


@pytest.fixture
def fake_colab(colab_env, monkeypatch):
    """This process on the fake Colab: returns a function ``(secrets, denied=()) -> fake folder`` that
    writes the package and imports it (``google.colab`` in ``sys.modules``: :func:`notebook.on_colab`)."""
    made = []

    def install(secrets: dict[str, str], denied: tuple[str, ...] = ()) -> Path:
        folder = write_fake_colab(colab_env / f"fake{len(made)}", secrets, denied)
        _forget_google_colab()
        monkeypatch.syspath_prepend(str(folder))
        import google.colab  # noqa: F401

        made.append(folder)
        return folder

    yield install
    _forget_google_colab()


# --------------------------------------------------------------------------------------------------
# colored.notebook on the fake Colab, in this process
# --------------------------------------------------------------------------------------------------


def test_secrets_reach_the_environment_and_are_never_printed(fake_colab, monkeypatch, capsys):
    fake_colab({"KAGGLE_API_TOKEN": TOKEN, "KAGGLE_USERNAME": USERNAME}, denied=("KAGGLE_KEY",))
    assert notebook.on_colab()
    copied, denied = notebook.load_colab_secrets()
    assert copied == ["KAGGLE_API_TOKEN", "KAGGLE_USERNAME"] and denied == ["KAGGLE_KEY"]
    assert os.environ["KAGGLE_API_TOKEN"] == TOKEN and os.environ["KAGGLE_USERNAME"] == USERNAME
    note = notebook.kaggle_secrets_note(copied, denied)
    assert (
        "KAGGLE_API_TOKEN, KAGGLE_USERNAME copied" in note
        and "KAGGLE_KEY" in note
        and "Notebook access" in note
    )
    assert TOKEN not in note and USERNAME not in note

    monkeypatch.setenv("KAGGLE_API_TOKEN", "already-set-by-hand-123456")
    assert notebook.load_colab_secrets() == ([], ["KAGGLE_KEY"]), (
        "a variable set by hand is not replaced"
    )
    assert os.environ["KAGGLE_API_TOKEN"] == "already-set-by-hand-123456"


def test_missing_secrets_give_one_clear_message(fake_colab):
    fake_colab({})
    copied, denied = notebook.load_colab_secrets()
    assert (copied, denied) == ([], [])
    assert not any(os.environ.get(name) for name in notebook.KAGGLE_SECRETS)
    note = notebook.kaggle_secrets_note(copied, denied)
    assert len(note.splitlines()) == 1, note
    for needle in (
        "no credentials",
        'data_source = "sample"',
        "KAGGLE_API_TOKEN",
        "KAGGLE_USERNAME and KAGGLE_KEY",
        "Secrets panel",
        "run this cell again",
    ):
        assert needle in note, f"{needle!r} missing from {note!r}"


def test_persist_on_drive_links_data_and_runs_into_the_drive_folder(fake_colab, colab_env, capsys):
    fake_colab({})
    work = colab_env / "content"
    (work / "runs" / "old").mkdir(parents=True)  # results from before, in the runtime's own disk
    (work / "runs" / "old" / "history.json").write_text("{}")
    folder = notebook.persist_on_drive(workdir=work)
    assert folder == colab_env / "drive" / "MyDrive" / "colored-lab" == notebook.drive_folder()
    from google.colab import drive

    assert drive.MOUNTS == [str(colab_env / "drive")], "Drive is mounted once, at the mount point"
    for name in notebook.PERSISTED:
        assert (work / name).is_symlink() and (work / name).resolve() == (
            folder / name
        ).resolve(), name
    assert (folder / "runs" / "old" / "history.json").is_file(), "the local runs/ moved into Drive"

    (work / "runs" / "new").mkdir()  # written through the link: on Drive
    assert (
        notebook.persist_on_drive(workdir=work) == folder
    )  # a second run (setup cell re-run) changes nothing
    assert drive.MOUNTS == [str(colab_env / "drive")], (
        "an already mounted Drive is not mounted again"
    )
    assert (folder / "runs" / "new").is_dir()


def test_a_clash_keeps_the_local_folder_and_says_so(fake_colab, colab_env):
    fake_colab({})
    work = colab_env / "content"
    (work / "data" / "sample").mkdir(parents=True)
    (colab_env / "drive" / "MyDrive" / "colored-lab" / "data" / "sample").mkdir(parents=True)
    notes: list[str] = []
    notebook.persist_on_drive(workdir=work, log=notes.append)
    assert not (work / "data").is_symlink() and (work / "data" / "sample").is_dir(), (
        "nothing is overwritten"
    )
    assert (work / "runs").is_symlink()
    assert len(notes) == 1 and "stays local" in notes[0] and "data" in notes[0], notes


def test_setup_on_colab_persists_unless_told_not_to(fake_colab, colab_env, monkeypatch, capsys):
    fake_colab({"KAGGLE_USERNAME": USERNAME, "KAGGLE_KEY": KEY})
    monkeypatch.setattr(notebook, "_ipython", lambda: None)
    work = colab_env / "content"
    work.mkdir()
    monkeypatch.chdir(work)
    notebook.setup()
    out = capsys.readouterr().out
    assert (work / "runs").is_symlink() and (work / "data").is_symlink()
    assert (
        f"kept in {notebook.drive_folder()}/" in out and "KAGGLE_USERNAME, KAGGLE_KEY copied" in out
    ), out
    assert USERNAME not in out and KEY not in out
    assert os.environ["KAGGLE_KEY"] == KEY

    other = colab_env / "other"
    other.mkdir()
    monkeypatch.chdir(other)
    monkeypatch.setenv("COLORED_PERSIST", "0")
    notebook.setup(verbose=False)
    assert not (other / "runs").exists(), "COLORED_PERSIST=0: no Drive"
    notebook.setup(verbose=False, persist=True)
    assert (other / "runs").is_symlink(), "persist=True wins over the environment"


def test_off_colab_setup_touches_no_drive(colab_env, monkeypatch, capsys):
    _forget_google_colab()
    monkeypatch.setattr(notebook, "_ipython", lambda: None)
    monkeypatch.chdir(colab_env)
    notebook.setup(persist=True)
    assert (
        not notebook.on_colab()
        and not (colab_env / "runs").exists()
        and not (colab_env / "drive").exists()
    )
    assert "Drive" not in capsys.readouterr().out


# --------------------------------------------------------------------------------------------------
# one place names where the lab is published
# --------------------------------------------------------------------------------------------------


def _setup_cell(notebook: Path) -> str:
    return next(
        c for c in nbformat.read(str(notebook), as_version=4).cells if c.cell_type == "code"
    ).source


def test_every_badge_and_install_line_names_the_published_repository():
    repo = publish.published()
    assert publish.find_mismatches() == [], "run `colored notebooks --repo " + str(repo) + "`"
    for name in chain.NOTEBOOKS:
        nb = nbformat.read(str(REPO / "notebooks" / name), as_version=4)
        assert repo.badge_url(name) in nb.cells[0].source, (
            f"{name}: its badge does not open itself in {repo}"
        )
        setup = _setup_cell(REPO / "notebooks" / name)
        assert (
            f'LAB_REPOSITORY = "{repo}"' in setup
            and "%pip install -q git+https://github.com/{LAB_REPOSITORY}" in setup
        ), name
        assert "COLORED_SKIP_INSTALL" in setup, name
    for doc in ("README.md", "notebooks/README.md"):
        text = (REPO / doc).read_text()
        assert repo.badge_url("01_data_download.ipynb") in text, f"{doc}: no badge for notebook 01"
        assert "colored notebooks --repo" in text, (
            f"{doc}: does not say how a fork sets its repository"
        )


@pytest.mark.parametrize(
    "text, expected",
    [
        ("alice/colored", "alice/colored@main"),
        ("alice/colored@v2", "alice/colored@v2"),
        ("https://github.com/alice/my.lab.git", "alice/my.lab@main"),
        ("bob-x/lab@feature/colab", "bob-x/lab@feature/colab"),
    ],
)
def test_parse_repository(text, expected):
    assert str(publish.parse_repository(text)) == expected


@pytest.mark.parametrize(
    "text",
    [
        "alice",
        "alice/",
        "/colored",
        "alice/colored@",
        "a b/c",
        "alice/colored@x..y",
        'alice/"colored"',
    ],
)
def test_parse_repository_refuses_what_is_not_one(text):
    with pytest.raises(ValueError, match="OWNER/NAME or OWNER/NAME@REF"):
        publish.parse_repository(text)


@pytest.fixture
def checkout(tmp_path):
    """The files ``colored notebooks`` rewrites, copied into ``tmp_path``."""
    root = tmp_path / "checkout"
    (root / "colored" / "notebook").mkdir(parents=True)
    shutil.copy(
        REPO / "colored" / "notebook" / "publish.py", root / "colored" / "notebook" / "publish.py"
    )
    shutil.copytree(REPO / "notebooks", root / "notebooks")
    shutil.copy(REPO / "README.md", root / "README.md")
    return root


def test_the_command_rewrites_every_place_consistently(checkout):
    before = {
        name: nbformat.read(str(checkout / "notebooks" / name), as_version=4)
        for name in chain.NOTEBOOKS
    }
    fork = publish.parse_repository("alice/colored-fork@spring-2026")
    changed = publish.set_published(fork, root=checkout)
    assert len(changed) == 1 + len(chain.NOTEBOOKS) + 2, changed
    assert publish.find_mismatches(checkout) == [], "after the rewrite everything names the fork"
    assert publish.find_mismatches(checkout, publish.published()) != [], (
        "…and nothing names the old one"
    )
    assert f'PUBLISHED = "{fork}"' in (checkout / "colored" / "notebook" / "publish.py").read_text()
    for name in chain.NOTEBOOKS:
        after = nbformat.read(str(checkout / "notebooks" / name), as_version=4)
        assert fork.badge_url(name) in after.cells[0].source
        assert f'LAB_REPOSITORY = "{fork}"' in _setup_cell(checkout / "notebooks" / name)
        assert [c.get("outputs") for c in after.cells] == [
            c.get("outputs") for c in before[name].cells
        ], f"{name}: the rewrite must keep the committed outputs"
    text = (checkout / "README.md").read_text()
    old = publish.published()
    assert (
        old.badge_prefix not in text
        and old.pip_url not in text
        and fork.badge_url("01_data_download.ipynb") in text
    )
    assert publish.set_published(fork, root=checkout) == [], "a second run changes nothing"


def test_a_hand_edited_badge_is_found_and_repaired(checkout):
    path = checkout / "notebooks" / "03_model.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    nb.cells[0].source = nb.cells[0].source.replace("/blob/main/", "/blob/dev/")
    nbformat.write(nb, str(path))
    problems = publish.find_mismatches(checkout)
    assert len(problems) == 2 and all("03_model" in p for p in problems), problems
    publish.set_published(publish.published(), root=checkout)
    assert publish.find_mismatches(checkout) == []


def test_colored_notebooks_command(monkeypatch, capsys, checkout):
    monkeypatch.setattr(publish, "ROOT", checkout)
    assert main(["notebooks"]) == 0
    assert f"published at {publish.PUBLISHED}" in capsys.readouterr().out
    assert main(["notebooks", "--repo", "not a repo"]) == 2
    assert "OWNER/NAME" in capsys.readouterr().err
    assert main(["notebooks", "--repo", "alice/lab"]) == 0
    out = capsys.readouterr().out
    assert (
        "published at alice/lab@main" in out and "rewrote notebooks/01_data_download.ipynb" in out
    ), out
    assert (
        'PUBLISHED = "alice/lab@main"'
        in (checkout / "colored" / "notebook" / "publish.py").read_text()
    )


def _install_block(setup: str) -> str:
    """The setup cell's lines before ``import colored.notebook``, as IPython runs them (``%pip`` becomes a call)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(setup[: setup.index("import colored.notebook")])


class FakeShell:
    """What the setup cell's ``%pip`` line calls (``get_ipython().run_line_magic``), recorded."""

    def __init__(self):
        self.calls = []

    def run_line_magic(self, name, line, *args, **kwargs):
        self.calls.append((name, line))


def test_the_install_runs_on_colab_only_and_names_the_repository_setting(fake_colab, monkeypatch):
    fake_colab({})
    monkeypatch.delenv("COLORED_SKIP_INSTALL", raising=False)
    setup = _setup_cell(REPO / "notebooks" / "01_data_download.ipynb")
    block = _install_block(setup)
    shell = FakeShell()
    namespace = {"get_ipython": lambda: shell}
    exec(compile(block, "setup cell", "exec"), namespace)  # noqa: S102 - the notebook's own code
    assert shell.calls, "on Colab the setup cell must install the lab"
    name, line = shell.calls[0]
    # IPython expands {LAB_REPOSITORY} in a magic's line from the namespace
    assert (
        name == "pip"
        and line.replace("{LAB_REPOSITORY}", namespace["LAB_REPOSITORY"]).split()[-1]
        == publish.published().pip_url
    ), shell.calls
    # where pip fails, the next line is what raises: its comment says why, in the traceback
    import_line = next(
        line for line in setup.splitlines() if line.startswith("import colored.notebook")
    )
    assert "pip above could not install LAB_REPOSITORY" in import_line

    shell.calls.clear()
    monkeypatch.setenv("COLORED_SKIP_INSTALL", "1")
    exec(compile(block, "setup cell", "exec"), {"get_ipython": lambda: shell})  # noqa: S102
    assert shell.calls == [], "COLORED_SKIP_INSTALL=1 skips the install"


# --------------------------------------------------------------------------------------------------
# notebook 01 headless, in a kernel that believes it runs on Colab
# --------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_notebook_01_on_the_fake_colab(colab_env, monkeypatch):
    fake = write_fake_colab(colab_env / "fake", {"KAGGLE_USERNAME": USERNAME, "KAGGLE_KEY": KEY})
    # The kernel inherits this process's environment (plus the kernel spec's variables).
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(fake), os.environ.get("PYTHONPATH")]))
    )
    monkeypatch.setenv("COLORED_SKIP_INSTALL", "1")
    content = colab_env / "content"  # Colab's working folder: the notebook alone, no checkout
    content.mkdir()
    shutil.copy(REPO / "notebooks" / "01_data_download.ipynb", content)
    out = colab_env / "out"
    chain.run_chain(
        {"data_source": "sample", "run_dir": "runs/colab"},
        out,
        ["01_data_download.ipynb"],
        notebook_dir=content,
        log=None,
    )

    drive = notebook.drive_folder()
    assert drive == colab_env / "drive" / "MyDrive" / "colored-lab"
    assert (content / "runs").is_symlink() and (content / "data").is_symlink()
    assert (drive / "runs" / "colab" / "figures" / "01_train_photos.png").is_file(), (
        "the run folder is on Drive"
    )
    assert len(list((drive / "data" / "sample" / "train").iterdir())) == len(
        data._sample_plan()["train"]
    ), "the dataset is on Drive"

    executed = nbformat.read(str(out / "01_data_download.ipynb"), as_version=4)
    printed = "\n".join(
        o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs
    )
    assert "KAGGLE_USERNAME, KAGGLE_KEY copied from Colab's secrets" in printed, printed
    assert "Kaggle credentials: KAGGLE_USERNAME and KAGGLE_KEY environment variables" in printed, (
        "the secrets reached the kernel's environment"
    )
    assert f"kept in {drive}/" in printed, printed
    everything = (
        (out / "01_data_download.ipynb").read_text()
        + (out / "kernels.log").read_text()
        + (out / "chain.json").read_text()
    )
    for secret in (KEY, USERNAME):
        assert secret not in everything, "a secret was printed"
    assert re.search(r"dataset 'sample' in data/sample", printed)
