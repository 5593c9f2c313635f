"""Run folders are crash-consistent: a kill at any moment leaves a run that the next call resumes,
a rerun never mixes two configs, a finished run says so, and best.keras stays the true best."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import pytest

from colored import Config
from colored.callbacks import AtomicBackupAndRestore, BestModelCheckpoint, backup_state
from colored.config import ConfigError
from colored.train import _best_so_far, train

REPO = Path(__file__).resolve().parents[1]


def tiny(photo_folder: Path, run_dir: Path, **changes) -> Config:
    values = dict(
        architecture="simplified",
        image_size=64,
        batch_size=4,
        backbone="none",
        epochs=2,
        augment=False,
        dataset_dir=str(photo_folder),
        run_dir=str(run_dir),
        cache_dir=str(run_dir.parent / "cache"),
        figure_every=1,
        learning_rate=2e-3,
    )
    values.update(changes)
    return Config(**values)


def csv_epochs(run_dir: Path) -> list[int]:
    with open(run_dir / "history.csv") as handle:
        return [int(float(row["epoch"])) for row in csv.DictReader(handle)]


@pytest.mark.slow
def test_rerun_of_a_finished_run_says_so_and_more_epochs_continue(photo_folder, tmp_path):
    run = tmp_path / "run"
    first = train(tiny(photo_folder, run), verbose=0)
    assert first.epochs_trained == 2
    model_bytes = (run / "model.keras").read_bytes()
    said = []

    again = train(tiny(photo_folder, run), verbose=0, log=said.append)

    assert again.epochs_trained == 0, "a finished run was trained again"
    assert said and "already finished its 2 epochs" in said[0] and "--epochs" in said[0], said
    assert (run / "model.keras").read_bytes() == model_bytes, "model.keras was rewritten"
    assert csv_epochs(run) == [0, 1], "history.csv doubled"

    longer = train(tiny(photo_folder, run, epochs=3), verbose=0, log=said.append)
    assert (
        longer.epochs_trained == 1 and "resuming" in said[-1] and "after epoch 2 of 3" in said[-1]
    ), said
    assert longer.history["epoch"] == [0, 1, 2] and csv_epochs(run) == [0, 1, 2]


def test_another_config_in_the_same_run_dir_is_refused_by_name(photo_folder, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    tiny(photo_folder, run).save(run / "config.json")
    record = (run / "config.json").read_text()

    with pytest.raises(ConfigError) as caught:
        train(tiny(photo_folder, run, image_size=128, architecture="full"), verbose=0)

    message = str(caught.value)
    assert "image_size: 64 → 128" in message and "architecture: 'simplified' → 'full'" in message, (
        message
    )
    assert "--run-dir" in message and "--restart" in message, "the two ways out must be named"
    assert (
        "--run-dir (notebook 05: run_dir)" in message
        and "--restart (fresh_start = True)" in message
    ), "the two ways out must be named for the notebook too"
    assert "\n" not in message
    assert (run / "config.json").read_text() == record, "a refused run rewrote config.json"
    # what may change on resume (how long, how fast) is not a conflict
    from colored.train import check_run_dir

    assert check_run_dir(tiny(photo_folder, run, epochs=9, workers=0, max_minutes=5)) is None


@pytest.mark.slow
def test_restart_discards_the_old_run(photo_folder, tmp_path):
    run = tmp_path / "run"
    train(tiny(photo_folder, run, epochs=1), verbose=0)
    (run / "figures" / "epoch_007.png").write_bytes(b"stale")
    (run / "notes.txt").write_text("mine")

    result = train(tiny(photo_folder, run, epochs=1, image_size=48), verbose=0, restart=True)

    assert (
        result.epochs_trained == 1
        and json.loads((run / "config.json").read_text())["image_size"] == 48
    )
    assert not (run / "figures" / "epoch_007.png").exists(), "a stale figure survived --restart"
    assert (run / "notes.txt").read_text() == "mine", "restart removed a file the run did not write"


def test_an_unusable_backup_is_one_line_with_the_fix(tmp_path):
    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "latest.weights.h5").write_bytes(b"")  # what Keras' own callback left after a kill
    with pytest.raises(RuntimeError, match=r"backup in .* is unusable .*--restart"):
        backup_state(backup)


def test_a_run_folder_that_cannot_be_written_is_refused_before_work(photo_folder, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ValueError, match=r"cannot write to the run folder .*file/run.*--run-dir"):
        train(tiny(photo_folder, blocker / "run"), verbose=0)


def test_best_checkpoint_keeps_the_best_of_earlier_epochs(tmp_path):
    history = {"epoch": [0, 1, 2], "loss": [0.5, 0.2, 0.1]}
    (tmp_path / "history.json").write_text(json.dumps(history))
    # the backup holds 2 epochs: epoch 2 (killed before its backup) will be trained again
    assert _best_so_far(tmp_path, "loss", 2) == 0.2
    assert _best_so_far(tmp_path, "val_loss", 2) == float("inf")

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    checkpoint = BestModelCheckpoint(tmp_path / "best.keras", monitor="loss", best=0.2)
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(2, {"loss": 0.3})
    assert not (tmp_path / "best.keras").exists(), (
        "a worse epoch after a resume replaced the best model"
    )
    checkpoint.on_epoch_end(3, {"loss": 0.15})
    assert (tmp_path / "best.keras").is_file() and checkpoint.best == 0.15


def test_backup_is_one_atomic_commit(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    backup = AtomicBackupAndRestore(tmp_path / "backup")
    backup.set_model(model)
    for epoch in range(3):
        backup.on_epoch_end(epoch)
    files = sorted(p.name for p in (tmp_path / "backup").iterdir())
    assert files == ["epoch_0003.weights.h5", "state.json"], f"old or temporary files left: {files}"
    assert backup_state(tmp_path / "backup") == {
        "epoch": 3,
        "weights": "epoch_0003.weights.h5",
        "keras_version": keras.__version__,
    }


# --------------------------------------------------------------------------------------------------
# kill -9 at each stage of a real training process, then rerun
# --------------------------------------------------------------------------------------------------

KILLABLE = textwrap.dedent("""
    import json, os, signal, sys
    import keras
    from colored import Config
    from colored.train import train

    data, run, stage = sys.argv[1], sys.argv[2], sys.argv[3]
    config = Config(architecture="simplified", image_size=64, batch_size=4, backbone="none", epochs=3, augment=False,
                    dataset_dir=data, run_dir=run, cache_dir=run + "-cache", figure_every=1)

    def die():
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    def half_written(path):  # what a kill in the middle of a write leaves: the start of a file
        with open(path, "wb") as handle:
            handle.write(b"\\x89HDF\\r\\n\\x1a\\n partial")
        die()

    calls = {"save_weights": 0, "save": 0}
    callbacks = []
    if stage == "mid-epoch":  # during epoch 2's second batch
        callbacks.append(keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs: die() if model_epoch[0] == 1 and batch == 1 else None,
            on_epoch_begin=lambda epoch, logs: model_epoch.__setitem__(0, epoch)))
    model_epoch = [0]
    if stage == "backup-write":  # while epoch 2's backup is being written
        original = keras.Model.save_weights
        def save_weights(self, filepath, *args, **kwargs):
            calls["save_weights"] += 1
            if calls["save_weights"] == 2:
                half_written(filepath)
            return original(self, filepath, *args, **kwargs)
        keras.Model.save_weights = save_weights
    if stage == "checkpoint-write":  # while a later best.keras is being written
        original_save = keras.Model.save
        def save(self, filepath, *args, **kwargs):
            calls["save"] += 1
            if calls["save"] == 2 and "best" in os.path.basename(str(filepath)):
                half_written(filepath)
            return original_save(self, filepath, *args, **kwargs)
        keras.Model.save = save
    if stage == "after-last-epoch":  # fit is over, model.keras not yet written
        callbacks.append(keras.callbacks.LambdaCallback(on_train_end=lambda logs: die()))

    result = train(config, callbacks=callbacks, verbose=0, log=lambda line: print("LOG", line))
    print(json.dumps({"trained": result.epochs_trained, "epochs": result.history["epoch"]}))
""")


def run_training(photo_folder: Path, run: Path, stage: str) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO),
        KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "tensorflow"),
    )
    return subprocess.run(
        [sys.executable, "-c", KILLABLE, str(photo_folder), str(run), stage],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "stage, retrained",
    [
        ("mid-epoch", 2),  # backup after epoch 1 → epochs 2 and 3 again
        ("backup-write", 2),  # epoch 2's backup never committed → from epoch 1's
        ("checkpoint-write", None),  # the kill hits the first improved epoch after epoch 1
        ("after-last-epoch", 0),  # all 3 epochs backed up: only model.keras is left to write
    ],
)
def test_killed_training_resumes_on_rerun(photo_folder, tmp_path, stage, retrained):
    run = tmp_path / "run"
    killed = run_training(photo_folder, run, stage)
    assert killed.returncode == -9, (
        f"the {stage} kill did not happen (exit {killed.returncode}):\n{killed.stderr[-2000:]}"
    )

    rerun = run_training(photo_folder, run, "none")

    assert rerun.returncode == 0, f"rerun after a kill at {stage} failed:\n{rerun.stderr[-3000:]}"
    outcome = json.loads(rerun.stdout.strip().splitlines()[-1])
    if retrained is not None:
        assert outcome["trained"] == retrained, f"after a kill at {stage}: {rerun.stdout}"
    assert outcome["epochs"] == [0, 1, 2], f"history after a kill at {stage}: {outcome['epochs']}"
    assert csv_epochs(run) == [0, 1, 2], f"history.csv after a kill at {stage}: {csv_epochs(run)}"
    for name in ("model.keras", "best.keras"):
        keras.saving.load_model(run / name)  # complete, loadable files
    assert backup_state(run / "backup")["epoch"] == 3
    leftovers = [p.name for p in run.rglob("*partial*")]
    assert not leftovers or stage in ("backup-write", "checkpoint-write"), leftovers
    if stage == "after-last-epoch":  # and a third call has nothing left to do
        finished = run_training(photo_folder, run, "none")
        assert "already finished its 3 epochs" in finished.stdout, finished.stdout
