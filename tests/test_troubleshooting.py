"""notebooks/README.md's *Troubleshooting* quotes what the lab really says: every failure it lists is
triggered here, offline and in seconds, and each text quoted in its "You see" line must be part of
what the library (or TensorFlow, or the notebooks' own setup cell) really printed or raised. The
quotes are read from the README, so the docs cannot drift from the code.

A quote may skip the middle of a long line with "…": its pieces must then appear in that order.
Each ``### `` entry of the section is one failure, triggered by the function of the same name in
``TRIGGERS``; an entry without a trigger (or a trigger without an entry) fails the test.

No network: Kaggle's and Keras' downloads fail at name resolution (``socket.getaddrinfo`` raises
what an offline machine's resolver raises), and Kaggle's HTTP 401 comes from a local HTTP server.
"""

from __future__ import annotations

import http.server
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "notebooks" / "README.md"
SECTION = "## Troubleshooting"
YOU_SEE = "- **You see:**"


# --------------------------------------------------------------------------------------------------
# the README's quotes
# --------------------------------------------------------------------------------------------------


def code_spans(text: str) -> list[str]:
    """Markdown code spans (any number of backticks; one space padding both sides is dropped)."""
    spans = []
    for match in re.finditer(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", text, re.S):
        span = match.group(2).replace("\n", " ")
        if len(span) > 2 and span.startswith(" ") and span.endswith(" "):
            span = span[1:-1]
        spans.append(span)
    return spans


def troubleshooting_entries(text: str | None = None) -> dict[str, list[str]]:
    """``{entry heading: [quoted messages]}`` of the Troubleshooting section: the code spans of each
    entry's "You see" bullet (which may run over several lines, up to the next bullet)."""
    text = README.read_text() if text is None else text
    assert SECTION in text, f"{README} has no {SECTION!r} section"
    section = text.split(SECTION, 1)[1]
    section = re.split(r"^## ", section, maxsplit=1, flags=re.M)[0]
    entries: dict[str, list[str]] = {}
    for block in re.split(r"^### ", section, flags=re.M)[1:]:
        heading, _, body = block.partition("\n")
        bullets = re.split(r"^(?=- \*\*)", body, flags=re.M)
        seen = [bullet for bullet in bullets if bullet.startswith(YOU_SEE)]
        entries[heading.strip()] = [
            span for bullet in seen for span in code_spans(bullet[len(YOU_SEE) :])
        ]
    return entries


def quoted_in(quote: str, said: str) -> bool:
    """Whether ``quote`` is part of ``said``; a "…" in the quote skips any text (pieces in order)."""
    position = 0
    for piece in (part.strip() for part in quote.split("…")):
        found = said.find(piece, position)
        if found < 0:
            return False
        position = found + len(piece)
    return True


def test_quoted_in_reads_the_ellipsis_as_a_gap():
    said = "could not reach Kaggle (offline?) (ConnectionError: a long chain). Nothing in data/kaggle was changed."
    assert quoted_in(
        "could not reach Kaggle (offline?) (ConnectionError: … Nothing in data/kaggle was changed.",
        said,
    )
    assert not quoted_in("Nothing in … could not reach Kaggle", said), "pieces out of order"
    assert not quoted_in("could not reach Kaggle (online?)", said)
    assert code_spans("a `x` and ``b `c` d`` and `` `e` ``") == ["x", "b `c` d", "`e`"]


# --------------------------------------------------------------------------------------------------
# offline helpers
# --------------------------------------------------------------------------------------------------


def _resolver_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """Name resolution fails as on a machine without network (what urllib and urllib3 see offline)."""

    def offline(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", offline)


def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)


def _clean_kaggle_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No Kaggle credentials anywhere: HOME in tmp_path, no KAGGLE_* variables; work from tmp_path."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for name in (
        "KAGGLE_API_TOKEN",
        "KAGGLE_USERNAME",
        "KAGGLE_KEY",
        "KAGGLE_CONFIG_DIR",
        "KAGGLE_API_V1_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    _no_proxies(monkeypatch)
    monkeypatch.chdir(tmp_path)
    return home


def _with_wrong_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAGGLE_USERNAME", "alice")
    monkeypatch.setenv("KAGGLE_KEY", "0123456789abcdef-not-a-real-key")


def _kaggle_download_error() -> str:
    """What ``get_dataset("kaggle")`` (notebook 01's ``data_source = "kaggle"``) raises, through the
    real kaggle library."""
    from colored.data import get_dataset

    with pytest.raises(Exception) as error:  # noqa: PT011 - the type is part of what is checked below
        get_dataset("kaggle", "data")
    return f"{type(error.value).__name__}: {error.value}"


class _Refuse(http.server.BaseHTTPRequestHandler):
    """Kaggle's API answering HTTP 401 (wrong or revoked credentials), without a JSON body."""

    status = 401

    def do_POST(self):  # noqa: N802 - http.server's naming
        self.send_response(self.status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST

    def log_message(self, *args):
        pass


# --------------------------------------------------------------------------------------------------
# the triggers: one per README entry, each returns what the lab said
# --------------------------------------------------------------------------------------------------


def no_gpu(tmp_path, monkeypatch, capsys, request) -> str:
    """The setup cell (``colored.notebook.setup()``) on a machine where Keras sees no GPU."""
    import keras
    import matplotlib.pyplot as plt

    from colored import QUIET_ENVIRONMENT, notebook

    for name in QUIET_ENVIRONMENT:  # setup() sets them: restored afterwards
        monkeypatch.setenv(name, os.environ.get(name, ""))
    monkeypatch.setitem(plt.rcParams, "figure.dpi", plt.rcParams["figure.dpi"])
    monkeypatch.setattr(notebook, "_ipython", lambda: None)
    monkeypatch.setattr(notebook, "on_colab", lambda: False)
    real = keras.distribution.list_devices
    monkeypatch.setattr(
        keras.distribution,
        "list_devices",
        lambda device_type=None: [] if str(device_type).lower() == "gpu" else real(device_type),
    )
    capsys.readouterr()
    notebook.setup(chdir=False)
    return capsys.readouterr().out


def kaggle_no_credentials(tmp_path, monkeypatch, capsys, request) -> str:
    """``get_dataset("kaggle")`` without any credentials; a broken ``kaggle.json``; the Colab setup
    cell's notes (no secrets; a secret this notebook may not read)."""
    from colored import notebook

    home = _clean_kaggle_env(tmp_path, monkeypatch)
    said = [_kaggle_download_error()]
    (home / ".kaggle").mkdir()
    (home / ".kaggle" / "kaggle.json").write_text("{not json")
    said.append(_kaggle_download_error())
    (home / ".kaggle" / "kaggle.json").unlink()
    said.append(notebook.kaggle_secrets_note([], []))
    said.append(notebook.kaggle_secrets_note([], ["KAGGLE_API_TOKEN"]))
    return "\n".join(said)


def kaggle_wrong_credentials(tmp_path, monkeypatch, capsys, request, handler=_Refuse) -> str:
    """Credentials that Kaggle refuses: the real kaggle library talks to a local server answering 401
    (``handler``: another answer). The credentials are KAGGLE_USERNAME and KAGGLE_KEY unless some were
    set up before (``_clean_kaggle_env`` keeps HOME's files made after it)."""
    pytest.importorskip("kaggle")
    import kagglesdk.kaggle_env as kaggle_env

    home = _clean_kaggle_env(tmp_path, monkeypatch)
    if not (home / ".kaggle").exists():
        _with_wrong_credentials(monkeypatch)
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # kaggle talks to the production endpoint only: point it at the local server
        monkeypatch.setitem(
            kaggle_env._env_to_endpoint,
            kaggle_env.KaggleEnv.PROD,
            f"http://127.0.0.1:{server.server_address[1]}",
        )
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        return _kaggle_download_error()
    finally:
        server.shutdown()
        server.server_close()


def kaggle_offline(tmp_path, monkeypatch, capsys, request) -> str:
    """Credentials present, no network: the real kaggle library cannot resolve api.kaggle.com."""
    pytest.importorskip("kaggle")
    _clean_kaggle_env(tmp_path, monkeypatch)
    _with_wrong_credentials(monkeypatch)
    _resolver_fails(monkeypatch)
    return _kaggle_download_error()


def imagenet_weights(tmp_path, monkeypatch, capsys, request) -> str:
    """``backbone="inception_resnet_v2"`` offline, with an empty Keras cache: the real Keras download
    fails at name resolution."""
    import keras.src.backend.config as keras_config

    from colored.embed import BackboneWeightsError, build_backbone

    # Keras reads KERAS_HOME once, when it is imported; colored's message reads it at each call.
    keras_home = tmp_path / "keras-home"
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(keras_home))
    assert Path(keras_config.keras_home()) == keras_home, "Keras' cache is not the empty tmp folder"
    _no_proxies(monkeypatch)
    _resolver_fails(monkeypatch)
    with pytest.raises(BackboneWeightsError) as error:
        build_backbone("imagenet")
    return f"{type(error.value).__name__}: {error.value}"


def out_of_memory(tmp_path, monkeypatch, capsys, request) -> str:
    """Training that runs out of memory in its second epoch: TensorFlow fails to allocate a tensor
    inside ``model.fit`` (from a callback; a 1 PiB one, beyond any address space, so it is refused at
    once whatever the machine's overcommit policy: nothing is allocated), and the lab translates
    TensorFlow's real error. Returns the lab's error, then TensorFlow's (its cause, and all there is
    outside training)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the quoted message is TensorFlow's (the notebooks' backend)")
    import tensorflow as tf

    from colored.memory import TrainingOutOfMemoryError
    from colored.train import backup_state, train

    monkeypatch.chdir(request.getfixturevalue("finished_run"))

    def allocate(epoch, logs=None):
        if epoch == 1:
            keras.ops.zeros((1 << 24, 1 << 24))

    with pytest.raises(TrainingOutOfMemoryError) as error:
        train(
            _tiny_config(epochs=2, run_dir="runs/oom"),
            verbose=0,
            restart=True,
            callbacks=[keras.callbacks.LambdaCallback(on_epoch_begin=allocate)],
        )
    cause = error.value.__cause__
    assert isinstance(cause, tf.errors.ResourceExhaustedError), (
        f"TensorFlow's error is not chained: {cause!r}"
    )
    assert backup_state(Path("runs/oom/backup"))["epoch"] == 1, (
        "the first epoch's backup did not survive"
    )
    return f"{type(error.value).__name__}: {error.value}\n{type(cause).__name__}: {cause}"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny finished training (1 epoch, 1 step) in ``<folder>/runs/mine``; returns the folder, to be
    worked from (the messages then name ``runs/mine``, as a student's would)."""
    import numpy as np
    from PIL import Image

    from colored.train import train
    from tests.conftest import synthetic_photo

    folder = tmp_path_factory.mktemp("troubleshooting")
    rng = np.random.default_rng(0)
    for split, count in (("train", 4), ("test", 2)):
        (folder / "photos" / split).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(synthetic_photo(rng, 32)).save(folder / "photos" / split / f"{i}.png")
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        train(_tiny_config(epochs=1), verbose=0)
    finally:
        os.chdir(cwd)
    assert (folder / "runs" / "mine" / "model.keras").is_file()
    return folder


def _tiny_config(**changes):
    from colored import Config

    values = dict(
        dataset_dir="photos",
        run_dir="runs/mine",
        cache_dir="cache",
        architecture="simplified",
        image_size=32,
        batch_size=2,
        steps_per_epoch=1,
        backbone="none",
        augment=False,
        figure_every=100,
        epochs=1,
    )
    return Config(**{**values, **changes})


class _StopAtStart(Exception):
    pass


def training_resumed(tmp_path, monkeypatch, capsys, request) -> str:
    """``colored train`` (``train(..., log=print)``) run again in the same run folder: a finished run
    says so; one with epochs left resumes after its last finished epoch (stopped here as soon as
    training begins: the line is printed before)."""
    import keras

    from colored.train import train

    monkeypatch.chdir(request.getfixturevalue("finished_run"))
    said: list[str] = []
    train(_tiny_config(epochs=1), verbose=0, log=said.append)

    def stop(logs=None):
        raise _StopAtStart

    with pytest.raises(_StopAtStart):
        train(
            _tiny_config(epochs=2),
            verbose=0,
            log=said.append,
            callbacks=[keras.callbacks.LambdaCallback(on_train_begin=stop)],
        )
    return "\n".join(said)


def training_refused(tmp_path, monkeypatch, capsys, request) -> str:
    """The same run folder with a setting that changes the model (image size)."""
    from colored.config import ConfigError
    from colored.train import train

    monkeypatch.chdir(request.getfixturevalue("finished_run"))
    with pytest.raises(ConfigError) as error:
        train(_tiny_config(image_size=64), verbose=0)
    return f"{type(error.value).__name__}: {error.value}"


def no_model(tmp_path, monkeypatch, capsys, request) -> str:
    """Notebook 06's ``load_model(run / "model.keras")`` before notebook 05 wrote it."""
    from colored.inference import load_model

    monkeypatch.chdir(tmp_path)
    with pytest.raises(Exception) as error:  # noqa: PT011 - the type is part of what is checked
        load_model(Path("runs/reference") / "model.keras")
    return f"{type(error.value).__name__}: {error.value}"


def model_from_another_keras(tmp_path, monkeypatch, capsys, request) -> str:
    """A Keras-only .keras file from a newer Keras (a layer argument this one lacks), a backup of a
    run folder written by another Keras that this one cannot read, a Keras 2 HDF5 file, a truncated file."""
    import json
    import zipfile

    import keras

    from colored import Config
    from colored.inference import load_model
    from colored.model import build_model
    from colored.train import train
    from tests.test_modelfile import rewrite_member
    from tests.test_runs import tiny

    said = []
    network = build_model(Config(architecture="simplified", image_size=32, backbone="none"))
    newer = tmp_path / "newer.keras"
    network.save(newer)
    rewrite_member(newer, "metadata.json", json.dumps({"keras_version": "9.1.0"}))
    config = json.loads(zipfile.ZipFile(newer).read("config.json"))
    config["config"]["layers"][1]["config"]["input_axes"] = None
    rewrite_member(newer, "config.json", json.dumps(config))
    hdf5 = tmp_path / "old.keras"
    network.save_weights(tmp_path / "w.weights.h5")
    hdf5.write_bytes((tmp_path / "w.weights.h5").read_bytes())
    truncated = tmp_path / "half.keras"
    truncated.write_bytes(newer.read_bytes()[:5000])
    for path in (newer, hdf5, truncated):
        with pytest.raises(Exception) as error:  # noqa: PT011 - the type is part of what is checked
            load_model(path)
        said.append(f"{type(error.value).__name__}: {error.value}")

    photos = request.getfixturevalue("photo_folder")
    run = tmp_path / "run"
    train(tiny(photos, run, epochs=1, steps_per_epoch=1), verbose=0)
    state_file = run / "backup" / "state.json"
    state = json.loads(state_file.read_text())
    (run / "backup" / state["weights"]).write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    state_file.write_text(json.dumps({**state, "keras_version": "9.1.0"}))
    with pytest.raises(RuntimeError) as error:
        train(tiny(photos, run, epochs=2, steps_per_epoch=1), verbose=0)
    said.append(f"{type(error.value).__name__}: {error.value}")
    assert keras.__version__ in said[0] and keras.__version__ in said[-1]
    return "\n".join(said)


def chain_refuses(tmp_path, monkeypatch, capsys, request) -> str:
    """``colored chain``: a parameter of the wrong type; an --out folder that is not empty."""
    from colored.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "mine").mkdir(parents=True)
    (tmp_path / "runs" / "mine" / "notes.txt").write_text("mine")
    capsys.readouterr()
    codes = [
        main(["chain", "-p", "epochs", "notanumber", "--out", "runs/new"]),
        main(["chain", "--out", "runs/mine"]),
        main(["chain", "--out", "runs/mine", "--overwrite"]),
    ]
    assert codes == [2, 2, 2], codes
    assert (tmp_path / "runs" / "mine" / "notes.txt").read_text() == "mine", (
        "a refused --out was touched"
    )
    return capsys.readouterr().err


def colab_install_fails(tmp_path, monkeypatch, capsys, request) -> str:
    """A notebook's setup cell on Colab when pip cannot install the lab from GitHub: the cell's own
    lines, as IPython runs them, in a Python where the lab is not installed (``-I -S``), ``%pip``
    answering with pip's error."""
    import nbformat
    from IPython.core.inputtransformer2 import TransformerManager

    prelude = (
        "import sys, types\n"
        "sys.modules['google.colab'] = types.ModuleType('google.colab')  # on Colab\n"
        "class Shell:\n"
        "    def run_line_magic(self, name, line):  # pip, failing\n"
        '        print("ERROR: pip\'s own reason", file=sys.stderr)\n'
        "get_ipython = Shell\n"
    )
    environment = {k: v for k, v in os.environ.items() if k != "COLORED_SKIP_INSTALL"}
    said = []
    for notebook in sorted((REPO / "notebooks").glob("0*.ipynb")):
        setup = next(
            c for c in nbformat.read(str(notebook), as_version=4).cells if c.cell_type == "code"
        ).source
        cell = setup[
            : setup.index("\n", setup.index("import colored.notebook"))
        ]  # up to the import
        script = tmp_path / "setup_cell.py"
        script.write_text(prelude + TransformerManager().transform_cell(cell))
        run = subprocess.run(
            [sys.executable, "-I", "-S", str(script)],
            capture_output=True,
            text=True,
            env=environment,
            cwd=tmp_path,
        )
        assert run.returncode != 0, f"{notebook.name}: the setup cell went on without the lab"
        said.append(
            run.stderr[run.stderr.index("ERROR: pip's own reason") :].replace(
                str(script), "setup cell"
            )
        )
    assert len(set(said)) == 1, "the notebooks' setup cells say different things"
    return said[0]


class _Forbid(_Refuse):
    """Kaggle's API answering HTTP 403 (credentials known, download not allowed)."""

    status = 403


def test_kaggle_403_names_the_credentials_used_and_the_fix(tmp_path, monkeypatch, capsys, request):
    """A 403 is a rejection of the credentials too, not "offline": the message names their source
    (home written ~), the token page and Colab's fix, and that the data folder was not touched."""
    home = _clean_kaggle_env(tmp_path, monkeypatch)
    (home / ".kaggle").mkdir()
    (home / ".kaggle" / "kaggle.json").write_text(
        '{"username": "alice", "key": "0123456789abcdef-secret"}'
    )
    said = kaggle_wrong_credentials(tmp_path, monkeypatch, capsys, request, handler=_Forbid)
    used = "used: API key file ~/.kaggle/kaggle.json"
    assert f"Kaggle rejected the credentials (HTTP 403 Forbidden; {used})" in said, said
    assert "https://www.kaggle.com/settings/api" in said and "Restart session" in said, said
    assert said.endswith("Nothing in data/kaggle was changed."), said
    assert "offline" not in said and "0123456789abcdef-secret" not in said, said
    assert "\n" not in said, "one line"
    assert not Path("data/kaggle").exists(), "the data folder was created"


def test_kaggle_401_and_offline_say_different_things(tmp_path, monkeypatch, capsys, request):
    """Rejected credentials do not read as a network failure, nor a network failure as a refusal."""
    rejected = kaggle_wrong_credentials(tmp_path, monkeypatch, capsys, request)
    assert (
        "rejected the credentials (HTTP 401 Unauthorized; used: KAGGLE_USERNAME and KAGGLE_KEY"
        in rejected
    )
    assert "offline" not in rejected and "could not reach" not in rejected, rejected
    monkeypatch.undo()
    offline = kaggle_offline(tmp_path, monkeypatch, capsys, request)
    assert "could not reach Kaggle (offline?) (ConnectionError:" in offline, offline
    assert "refused" not in offline and "rejected" not in offline, offline


TRIGGERS: dict[str, Callable[..., str]] = {
    "No GPU": no_gpu,
    "Kaggle: no credentials": kaggle_no_credentials,
    "Kaggle: wrong credentials (HTTP 401/403)": kaggle_wrong_credentials,
    "Kaggle: no network": kaggle_offline,
    "ImageNet weights cannot be downloaded": imagenet_weights,
    "Out of memory": out_of_memory,
    "Colab disconnected, training killed: resume": training_resumed,
    "Training refused: another config in the same run folder": training_refused,
    "06 (or 07) finds no model": no_model,
    "A model file from another Keras version": model_from_another_keras,
    "`colored chain` refuses to start": chain_refuses,
    "Colab: the setup cell cannot install the lab": colab_install_fails,
}


def test_every_entry_has_a_trigger_and_quotes_something():
    entries = troubleshooting_entries()
    assert set(entries) == set(TRIGGERS), (
        f"README entries without a trigger: {sorted(set(entries) - set(TRIGGERS))}; "
        f"triggers without an entry: {sorted(set(TRIGGERS) - set(entries))}"
    )
    empty = [heading for heading, quotes in entries.items() if not quotes]
    assert not empty, f"entries with no quoted message in their {YOU_SEE!r} line: {empty}"


@pytest.mark.parametrize("heading", list(TRIGGERS))
def test_the_quoted_messages_are_what_the_lab_says(heading, tmp_path, monkeypatch, capsys, request):
    quotes = troubleshooting_entries().get(heading)
    if not quotes:
        pytest.fail(
            f"notebooks/README.md's Troubleshooting has no entry {heading!r} quoting a message"
        )
    said = TRIGGERS[heading](tmp_path, monkeypatch, capsys, request)
    missing = [quote for quote in quotes if not quoted_in(quote, said)]
    assert not missing, (
        f"{heading!r}: notebooks/README.md quotes text the lab does not say:\n  "
        + "\n  ".join(missing)
        + f"\nIt says:\n{said}"
    )
