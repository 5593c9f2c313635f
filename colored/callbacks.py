"""Training's bookkeeping as Keras callbacks: the comparison figure, history.json and history.csv,
the best checkpoint, the atomic backup that resumes a run, and the wall-clock limit.

Every file is written atomically (temporary file, then rename), so a kill at any moment leaves the
previous state or the new one; the backup is written last at an epoch's end, so once it names epoch
k every record of epoch k is on disk (colored.train reads it back to resume).
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import keras
import numpy as np

from colored import modelfile, viz
from colored.config import Config, Decoding
from colored.distributed import workers_agree
from colored.inference import colorize_batch
from colored.io.files import atomic_save_to, atomic_write_text
from colored.model import inference_model


class ComparisonFigure(keras.callbacks.Callback):
    """Every ``every`` epochs (and after the last), plot original | gray | predicted for a few photos,
    save it as ``figures/epoch_NNN.png`` in the run folder and show it inline in notebooks."""

    def __init__(
        self,
        images: list[np.ndarray],
        folder: str | Path,
        every: int = 10,
        decoding: Decoding | None = None,
        embeddings: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        self.images = np.stack(images)
        self.folder = Path(folder)
        self.every = max(1, every)
        self.decoding = decoding
        self.embeddings = embeddings
        self.saved: list[Path] = []

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        last = epoch + 1 == self.params.get("epochs")
        if (epoch + 1) % self.every and not last:
            return
        predicted = colorize_batch(
            list(self.images), self.model, decoding=self.decoding, embeddings=self.embeddings
        )
        fig = viz.comparison_figure(list(self.images), predicted, title=f"epoch {epoch + 1}")
        self.saved.append(viz.save_figure(fig, self.folder / f"epoch_{epoch + 1:03d}.png"))
        viz.show_or_close(fig)


RESUMED_AFTER = viz.RESUMED_AFTER  # history.json's resume record (defined where it is drawn)


class HistoryJSON(keras.callbacks.Callback):
    """Keeps ``history.json`` (and the same table as ``history.csv``) up to date after every epoch,
    across resumed runs: an epoch that is run again replaces its earlier record, never doubles it.
    Both files are rewritten whole and atomically (Keras' CSVLogger appends, so a rerun doubled it).

    ``resumed_after``: the epochs the backup held when this call resumed the run (0: a fresh start).
    It is added to history.json's ``"resumed_after"`` list with this call's first epoch, so a resume
    that trains nothing leaves no mark, and a resume from the same backup twice is recorded once.
    history.csv stays one row per epoch (the resume record is not a column)."""

    def __init__(self, path: str | Path, resumed_after: int = 0) -> None:
        super().__init__()
        self.path = Path(path)
        self.resumed_after = resumed_after

    def load(self) -> dict[str, list[float]]:
        return read_history(self.path)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        history = self.load()
        resumes = [int(done) for done in history.pop(RESUMED_AFTER, [])]
        epochs = history.setdefault("epoch", [])
        # A resumed run repeats no epoch: drop anything logged at or after this one (killed mid-way).
        keep = sum(1 for e in epochs if e < epoch)
        history = {k: v[:keep] for k, v in history.items()}
        history.setdefault("epoch", []).append(epoch)
        for key, value in (logs or {}).items():
            history.setdefault(key, [float("nan")] * keep).append(float(value))
        atomic_write_text(self.path.with_suffix(".csv"), _history_csv(history))
        # resumes at or before the epochs kept (a later one belongs to epochs being trained again)
        resumes = [done for done in resumes if done <= keep]
        if self.resumed_after and self.resumed_after not in resumes:
            resumes = sorted(resumes + [self.resumed_after])
        if resumes:
            history[RESUMED_AFTER] = resumes
        atomic_write_text(self.path, json.dumps(history, indent=1))


def read_history(path: str | Path) -> dict[str, list[float]]:
    """A run's ``history.json`` (empty when there is none yet)."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise RuntimeError(
            f"cannot read {path} ({error}): run again with --restart (restart=True) to start "
            "this run over, or choose a new --run-dir"
        ) from None


def _history_csv(history: dict[str, list[float]]) -> str:
    keys = ["epoch"] + sorted(
        k for k in history if k not in ("epoch", RESUMED_AFTER)
    )  # per-epoch columns
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(keys)
    writer.writerows(zip(*(history[k] for k in keys)))
    return out.getvalue()


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` whose backup survives a kill at any moment.

    Keras writes ``latest.weights.h5`` in place and then the epoch in a second file: a kill during
    the write leaves a 0-byte file that fails every rerun, and a kill between the two leaves weights
    and epoch that disagree. Here each epoch's weights go to a new file, then ``state.json`` (written
    atomically) names that file and the epoch: the one commit point. Older weights are removed after.
    """

    STATE = "state.json"

    def __init__(self, backup_dir: str | Path) -> None:
        super().__init__(str(backup_dir), save_freq="epoch", delete_checkpoint=False)
        self.folder = Path(backup_dir)

    def _save_model(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        weights = self.folder / f"epoch_{self._current_epoch:04d}.weights.h5"
        atomic_save_to(weights, lambda temporary: self.model.save_weights(str(temporary)))
        atomic_write_text(
            self.folder / self.STATE,
            json.dumps(
                {
                    "epoch": self._current_epoch,
                    "weights": weights.name,
                    "keras_version": keras.__version__,
                }
            ),
        )
        for old in self.folder.glob("epoch_*.weights.h5"):
            if old != weights:
                old.unlink(missing_ok=True)

    def _load_model(self) -> None:
        state = backup_state(self.folder)
        if state is None:
            return
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        try:
            self.model.load_weights(str(self.folder / state["weights"]))
        except Exception as error:  # noqa: BLE001 - h5py and Keras raise many kinds; all mean "unusable"
            writer = state.get("keras_version")
            versions = (
                f"; it was written by Keras {writer} and this is Keras {keras.__version__}"
                if writer and writer != keras.__version__
                else ""
            )
            raise RuntimeError(
                f"the backup {self.folder / state['weights']} cannot be loaded "
                f"({type(error).__name__}: {str(error).splitlines()[0][:120]}){versions}: run again "
                "with --restart (restart=True) to start over, or choose a new --run-dir (this "
                "run folder is left as it is)"
            ) from None
        self.model._initial_epoch = state[
            "epoch"
        ]  # how BackupAndRestore tells fit() where to resume


def backup_state(folder: str | Path) -> dict | None:
    """``{"epoch": epochs completed, "weights": file name}`` of a run's backup, or None (no backup).
    A backup folder that is there but unusable (e.g. one left by an older version) is an error."""
    folder = Path(folder)
    if not folder.is_dir() or not any(folder.iterdir()):
        return None
    state_file = folder / AtomicBackupAndRestore.STATE
    try:
        state = json.loads(state_file.read_text())
        epoch, weights = int(state["epoch"]), str(state["weights"])
        if not (folder / weights).is_file():
            raise FileNotFoundError(f"{weights} is missing")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise RuntimeError(
            f"the backup in {folder} is unusable ({error}): run again with --restart "
            "(restart=True) to start over, or choose a new --run-dir"
        ) from None
    return {"epoch": epoch, "weights": weights, "keras_version": state.get("keras_version")}


class BestModelCheckpoint(keras.callbacks.Callback):
    """Saves the L-input network as ``best.keras`` (atomically) whenever ``monitor`` improves on
    ``best``. A resumed run passes the best value of its earlier epochs, so a worse epoch after a
    resume never replaces the true best (Keras' ModelCheckpoint restarts from infinity, and writes
    in place)."""

    def __init__(
        self,
        path: str | Path,
        config: Config | None = None,
        monitor: str = "val_loss",
        best: float = float("inf"),
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.config = config
        self.monitor = monitor
        self.best = best

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None or not np.isfinite(value) or value >= self.best:
            return
        self.best = float(value)
        modelfile.save(inference_model(self.model), self.path, self.config)


class TimeLimit(keras.callbacks.Callback):
    """Ends training after the epoch during which ``minutes`` of wall-clock time ran out."""

    def __init__(self, minutes: float) -> None:
        super().__init__()
        self.seconds = minutes * 60

    def on_train_begin(self, logs=None) -> None:
        self.start = time.monotonic()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        # every worker of a multi-worker run must stop after the same epoch (or the rest hang)
        if workers_agree(self.model, time.monotonic() - self.start >= self.seconds):
            self.model.stop_training = True


def standard_callbacks(
    config: Config,
    run_dir: Path,
    demo_images: list[np.ndarray],
    validation: bool,
    demo_embeddings: np.ndarray | None = None,
    best: float = float("inf"),
    resumed_after: int = 0,
) -> list[keras.callbacks.Callback]:
    """The run's bookkeeping, in the order it must happen at an epoch's end: checkpoint, history and
    figure first, the backup last. The backup is the commit point: once it names epoch k, every
    record of epoch k is already on disk. ``resumed_after``: epochs done before this call (0: a
    fresh start), recorded in history.json."""
    monitor = "val_loss" if validation else "loss"  # ColorED monitored val_loss with no val data
    limit = [TimeLimit(config.max_minutes)] if config.max_minutes else []
    return limit + [
        BestModelCheckpoint(run_dir / "best.keras", config, monitor=monitor, best=best),
        keras.callbacks.ReduceLROnPlateau(
            monitor="loss", factor=0.2, patience=config.lr_patience, min_lr=1e-5
        ),
        HistoryJSON(run_dir / "history.json", resumed_after),
        ComparisonFigure(
            demo_images,
            run_dir / "figures",
            config.figure_every,
            config.decoding,
            demo_embeddings,
        ),
        AtomicBackupAndRestore(run_dir / "backup"),
    ]
