"""Training: compile, callbacks (comparison figure, checkpoint, resume, LR schedule, history), fit.

A run folder is crash-consistent: every file in it is written atomically (temporary file, then
rename), so a kill at any moment leaves the previous state or the new one. The folder remembers its
config (``config.json``): a rerun resumes from the last finished epoch, says that a finished run is
finished (unless ``epochs`` grew), and refuses a config that differs in anything that changes what
is learned, naming the fields and the two ways out (a new ``run_dir``, or ``restart=True``). A
training that runs out of memory ends in one :class:`TrainingOutOfMemoryError` that says what to
lower, and what the run folder kept.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from colored import color, modelfile, viz
from colored.bins import cached_prior, rebalancing_weights
from colored.config import Config, ConfigError, Decoding
from colored.devices import resolve_speed, speed_summary
from colored.distributed import multi_worker_workarounds, worker_config, workers_agree
from colored.inference import colorize_batch
from colored.io.images import atomic_save_to, atomic_write_text, ensure_writable_dir
from colored.losses import AbAccuracy, AbMeanSquaredError, SoftEncodedCrossEntropy
from colored.model import build_model, inference_model, training_model
from colored.pipeline import ColorizationDataset, load_resized


def training_paths(config: Config) -> tuple[list[Path], list[Path]]:
    """Train and (optional) test image paths of ``config.data_dir``; ``config.limit`` caps train."""
    from colored.data import dataset_splits, find_images

    splits = dataset_splits(config.data_dir)
    train = find_images(splits["train"])
    test = find_images(splits["test"]) if "test" in splits else []
    if config.exclude_validation:  # the fixed hash split of colored.data.is_validation
        from colored.data import split_validation

        train, validation = split_validation(splits["train"])
        test = test or validation
    if config.limit:
        train = train[: config.limit]
    return train, test


def make_loss(config: Config, train_paths: list[Path]):
    if config.loss == "mse":
        return AbMeanSquaredError()
    prior = cached_prior(train_paths, config.image_size, config.cache_dir)
    return SoftEncodedCrossEntropy(class_weights=rebalancing_weights(prior, lam=config.rebalance))


def compile_model(model: keras.Model, config: Config, loss) -> keras.Model:
    config = resolve_speed(config)
    optimizer = keras.optimizers.Adam(config.learning_rate)
    if config.mixed_precision == "float16":
        # float16 gradients underflow without loss scaling (bfloat16 has float32's range: none needed)
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(
        optimizer=optimizer,
        loss=loss,
        metrics=[AbAccuracy(config.ab_accuracy_threshold, config.temperature)],
        jit_compile=config.jit_compile,
        steps_per_execution=config.steps_per_execution,
    )
    return multi_worker_workarounds(
        model
    )  # fit under MultiWorkerMirroredStrategy (no-op otherwise)


def distribution_scope(config: Config):
    """Data-parallel training over every local device: TF's MirroredStrategy or Keras' JAX
    DataParallel. The batch size stays the global one (split across devices)."""
    if config.distribute in ("mirrored", "multi_worker"):
        if keras.backend.backend() != "tensorflow":
            raise ValueError(
                f"distribute='{config.distribute}' needs the TensorFlow backend; "
                "use 'data_parallel' on JAX"
            )
        import tensorflow as tf

        if config.distribute == "multi_worker":  # cluster described by the TF_CONFIG variable
            return tf.distribute.MultiWorkerMirroredStrategy().scope()
        return tf.distribute.MirroredStrategy().scope()
    if config.distribute == "data_parallel":
        if keras.backend.backend() != "jax":
            raise ValueError(
                "distribute='data_parallel' needs the JAX backend; use 'mirrored' on TensorFlow"
            )
        return keras.distribution.DataParallel(devices=keras.distribution.list_devices()).scope()
    return contextlib.nullcontext()


def photo_source(path: str | Path) -> tuple[str, str]:
    """The photo a file was cut from, by its name: the stem before the last ``_`` in its folder
    (``chelsea_03.png`` → ``chelsea``; a name without ``_`` is its own source)."""
    path = Path(path)
    return path.parent.as_posix(), path.stem.rsplit("_", 1)[0]


def demo_photos(paths: list[Path], count: int = 3) -> list[Path]:
    """``count`` photos for the epoch comparison figures: from as many different source photos
    (:func:`photo_source`) as there are, spread over the sorted list, deterministic; one photo of
    every chosen source comes before a second one of any (a split of many crops per photo would
    otherwise show three crops of one photo)."""
    paths = sorted(paths)
    groups: dict[tuple[str, str], list[Path]] = {}
    for path in paths:
        groups.setdefault(photo_source(path), []).append(path)
    sources = list(groups.values())
    if (
        len(sources) >= count
    ):  # one photo (the first: e.g. the sample's whole-photo crop) per spread source
        chosen = [sources[i * len(sources) // count][0] for i in range(count)]
    else:  # every source, then more photos of each in turn, spread within it
        quota = [0] * len(sources)
        while sum(quota) < min(count, len(paths)):
            for i, group in enumerate(sources):
                if quota[i] < len(group) and sum(quota) < count:
                    quota[i] += 1
        # round by round (one photo of every source first), so the figure's rows alternate sources
        chosen = [
            group[j * len(group) // q]
            for j in range(max(quota, default=0))
            for group, q in zip(sources, quota)
            if j < q
        ]
    return chosen


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


@dataclass
class TrainResult:
    model: keras.Model
    history: dict[str, list[float]]
    run_dir: Path
    model_path: Path
    figures: list[Path]
    #: epochs this call trained (0 for a run that was already finished)
    epochs_trained: int = 0


#: Files and folders a training run writes in its run folder (what ``restart`` removes).
RUN_FILES = ("config.json", "model.keras", "best.keras", "history.json", "history.csv")
RUN_FOLDERS = ("backup",)
#: Config fields that may change when a run resumes: how long and how fast it trains, where its
#: caches live. Every other field changes what is learned, so the run folder refuses it.
# (temperature, confidence: how predictions are decoded, not what is learnt; the model file saves the new one)
RESUMABLE_FIELDS = frozenset(
    {
        "epochs",
        "max_minutes",
        "figure_every",
        "workers",
        "max_queue_size",
        "cache_views",
        "jit_compile",
        "steps_per_execution",
        "cache_dir",
        "run_dir",
        "temperature",
        "confidence",
    }
)


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
    monitor = "val_loss" if validation else "loss"  # the seed monitored val_loss with no val data
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


def clear_run(run_dir: str | Path) -> None:
    """Remove what a training run wrote in ``run_dir`` (see RUN_FILES), and nothing else."""
    run_dir = Path(run_dir)
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)
    for name in RUN_FOLDERS:
        shutil.rmtree(run_dir / name, ignore_errors=True)
    for figure in (run_dir / "figures").glob("epoch_*.png"):
        figure.unlink(missing_ok=True)


def config_differences(saved: Config, wanted: Config) -> dict[str, tuple]:
    """Fields (outside RESUMABLE_FIELDS) whose values differ: ``{name: (saved, wanted)}``."""
    old, new = saved.to_dict(), wanted.to_dict()
    for values in (old, new):  # one folder, however it is spelled
        values["data_dir"] = str(Path(values["data_dir"]).resolve())
    return {
        name: (old[name], new[name])
        for name in new
        if name not in RESUMABLE_FIELDS and old.get(name) != new[name]
    }


def check_run_dir(config: Config) -> dict | None:
    """Check ``config.run_dir`` before any work: writable, and either new or holding a run of this
    config. Returns the backup state to resume from (None: a fresh start)."""
    run_dir = Path(config.run_dir)
    _ensure_writable(run_dir)
    saved_file = run_dir / "config.json"
    if saved_file.exists():
        try:
            saved = Config.load(saved_file)
        except (ConfigError, OSError) as error:
            raise RuntimeError(
                f"the run folder {run_dir} holds a config.json this version cannot read "
                f"({error}); use a new --run-dir, or --restart to discard that run"
            ) from None
        differences = config_differences(saved, config)
        if differences:
            listed = ", ".join(
                f"{name}: {old!r} → {new!r}" for name, (old, new) in differences.items()
            )
            raise ConfigError(
                f"the run folder {run_dir} holds a run with another config ({listed}); use a "
                "new --run-dir (notebook 05: run_dir), or --restart (fresh_start = True) to "
                "discard that run and start over"
            )
    return backup_state(run_dir / "backup")


def _ensure_writable(folder: Path) -> None:
    """Prove the run folder writable now, not after an hour of training."""
    ensure_writable_dir(folder, "the run folder", "choose another --run-dir (run_dir)")


def train(
    config: Config,
    callbacks: list[keras.callbacks.Callback] | None = None,
    verbose: int | str = 2,
    *,
    restart: bool = False,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train a model as ``config`` says, in ``config.run_dir``.

    Rerunning resumes a killed run at its last finished epoch. A finished run is not trained again
    unless ``config.epochs`` grew (it returns the saved model). A run folder that holds a run with
    another config is refused (:class:`ConfigError`); ``restart=True`` discards that run first.
    ``log`` (e.g. ``print``) receives one line about resuming or finishing, and one saying what the
    "auto" speed switches mean on this machine (:func:`colored.devices.resolve_speed`: the run folder's
    ``config.json`` records the values used).
    """
    config = worker_config(
        config
    )  # a multi-worker run's non-chief workers write in run_dir/workers/<i>
    train_paths, test_paths = training_paths(config)
    requested, config = config, resolve_speed(config, photos=len(train_paths))
    run_dir = Path(config.run_dir)
    if restart:
        _ensure_writable(run_dir)
        clear_run(run_dir)
    state = check_run_dir(config)
    model_path = run_dir / "model.keras"
    done = state["epoch"] if state else 0
    if state and done >= config.epochs and model_path.is_file():
        if log:
            log(
                f"{run_dir} already finished its {_count(done, 'epoch')} (model: {model_path}); pass --epochs above "
                f"{done} to train on, --restart to start over, or a new --run-dir"
            )
        figures = sorted((run_dir / "figures").glob("epoch_*.png"))
        return TrainResult(
            modelfile.load(model_path),
            read_history(run_dir / "history.json"),
            run_dir,
            model_path,
            figures,
            epochs_trained=0,
        )
    if (
        log and requested != config
    ):  # what "auto" means here, before training (not for a finished run)
        log(speed_summary(requested, photos=len(train_paths)))
    if state and log:
        log(f"resuming {run_dir} after epoch {done} of {config.epochs}")
    config.save(run_dir / "config.json")  # only now: a refused run must not touch a run's record
    keras.utils.set_random_seed(config.seed)
    scope = distribution_scope(config)
    scope.__enter__()
    try:
        return _fit(config, run_dir, train_paths, test_paths, callbacks, verbose, done)
    finally:
        scope.__exit__(None, None, None)


def _best_so_far(run_dir: Path, monitor: str, epochs_done: int) -> float:
    """The best ``monitor`` value among the epochs the backup holds (what best.keras was chosen on)."""
    history = read_history(run_dir / "history.json")
    values = [
        v for e, v in zip(history.get("epoch", []), history.get(monitor, [])) if e < epochs_done
    ]
    finite = [v for v in values if np.isfinite(v)]
    return min(finite) if finite else float("inf")


def load_initial_weights(core: keras.Model, path: str | Path) -> None:
    """Start from a trained model's weights (``Config.init_weights``: fine-tuning, e.g. the shipped
    ``colored/weights/default.keras``), layer by layer, by name.

    The file's network must have the same layers and shapes, with one exception that lets a model
    gain fusion: a layer whose kernel only has more inputs here (the ``fusion`` 1×1 convolution,
    once an embedding is concatenated to its input) gets the trained kernel for the old inputs and
    zeros for the new ones. So the new network starts out computing exactly what the old one did,
    and training teaches it to use the embedding (Net2Net-style widening, Chen et al. 2016).
    """
    from colored.inference import load_model

    source = inference_model(load_model(path))
    mismatch = ConfigError(
        f"init_weights = {path}: its network does not match this config's: layers "
        f"{sorted(layer.name for layer in source.layers if layer.weights)} vs "
        f"{sorted(layer.name for layer in core.layers if layer.weights)}"
    )
    trained = {layer.name: layer for layer in source.layers if layer.weights}
    if set(trained) != {layer.name for layer in core.layers if layer.weights}:
        raise mismatch
    for layer in core.layers:
        if not layer.weights:
            continue
        old, new = trained[layer.name].get_weights(), layer.get_weights()
        if len(old) != len(new):
            raise mismatch
        for index, (a, b) in enumerate(zip(old, new)):
            if a.shape == b.shape:
                continue
            # only a kernel whose input axis (the one before the last) grew may differ
            if (
                index != 0
                or a.ndim < 2
                or a.shape[:-2] != b.shape[:-2]
                or a.shape[-1] != b.shape[-1]
                or a.shape[-2] > b.shape[-2]
            ):
                raise ConfigError(
                    f"init_weights = {path}: layer {layer.name} has weights of shape {a.shape} "
                    f"there and {b.shape} here"
                ) from None
            widened = np.zeros(b.shape, dtype=a.dtype)
            widened[..., : a.shape[-2], :] = a
            old[index] = widened
        layer.set_weights(old)


def _count(number: int, noun: str) -> str:
    """``1 epoch``, ``2 epochs``."""
    return f"{number} {noun}" + ("" if number == 1 else "s")


class TrainingOutOfMemoryError(MemoryError, RuntimeError):
    """Training ran out of memory (the backend's error is the ``__cause__``). The message's first line
    says at which image_size and batch_size, on which device, and what to lower; the next says what
    the run folder kept and how to go on. A RuntimeError too, so that ``colored train`` reports it in
    one line (exit 2) as it does every other failure."""


#: How each backend says it ran out of memory: exception class names (any class in the MRO), and
#: texts (the first for JAX's XlaRuntimeError/JaxRuntimeError, the others torch's and TF's).
_OOM_NAMES = frozenset({"ResourceExhaustedError", "OutOfMemoryError"})
_OOM_TEXTS = ("RESOURCE_EXHAUSTED", "CUDA out of memory", "OOM when allocating")


def out_of_memory_cause(error: BaseException) -> BaseException | None:
    """The backend's out-of-memory error that ``error`` is or was caused by, else None: TensorFlow's
    ``ResourceExhaustedError``, JAX's ``XlaRuntimeError`` with ``RESOURCE_EXHAUSTED``, torch's
    ``OutOfMemoryError`` ("CUDA out of memory"), or Python's ``MemoryError`` (the machine's RAM). Told
    by class name and message, so that no backend is imported to ask."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, TrainingOutOfMemoryError):
            return None  # already translated
        names = {cls.__name__ for cls in type(error).__mro__}
        if names & _OOM_NAMES or isinstance(error, MemoryError):
            return error
        if any(marker in str(error) for marker in _OOM_TEXTS):
            return error
        error = error.__cause__ or error.__context__
    return None


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` (or one of its causes) is a backend running out of memory
    (:func:`out_of_memory_cause`)."""
    return out_of_memory_cause(error) is not None


def _oom_device(error: BaseException) -> tuple[str, bool]:
    """The device a backend's out-of-memory error names (TF: ``…/device:GPU:0``; torch: ``GPU 0``),
    with the GPU's model when known, else this machine's GPU or the CPU; and whether the error itself
    named a GPU (then the machine's RAM is not what ran out)."""
    text = str(error)
    if isinstance(error, MemoryError) and not (
        {c.__name__ for c in type(error).__mro__} & _OOM_NAMES
    ):
        return "the CPU (the machine's RAM)", False
    match = re.search(r"device:(GPU|CPU):(\d+)", text) or re.search(r"\b(GPU) (\d+)\b", text)
    if match and match.group(1) == "CPU":
        return "the CPU", False
    try:
        from colored.devices import local_gpus

        gpus = local_gpus()
    except Exception:  # noqa: BLE001 - naming the device is a courtesy, never a second failure
        gpus = ()
    if match:
        index = int(match.group(2))
        return f"GPU:{index}" + (f" ({gpus[index].name})" if index < len(gpus) else ""), True
    if gpus:
        return (gpus[0].name if len(gpus) == 1 else f"{len(gpus)} GPUs ({gpus[0].name})"), False
    return "the CPU", False


def out_of_memory_message(config: Config, run_dir: Path, error: BaseException) -> str:
    """What :class:`TrainingOutOfMemoryError` says: the config and device, what to lower, what the
    run folder kept, and the backend's own first line."""
    from colored.config import size_multiple

    error = out_of_memory_cause(error) or error

    size, batch = config.image_size, config.batch_size
    device, on_gpu = _oom_device(error)
    multiple = size_multiple(config.architecture)
    smaller = max(multiple, size // 2 // multiple * multiple)
    lower = [f"batch_size (e.g. {max(1, batch // 2)})"] if batch > 1 else []
    if smaller < size:
        lower.append(f"image_size (e.g. {smaller})")
    fix = " or ".join(lower) if lower else "the model's size"
    # the views cache lives in the machine's RAM: only worth naming when that may be what ran out
    views = config.cache_views is True and not on_gpu
    ram = ", or set cache_views False (the augmented views cached in RAM)" if views else ""
    try:
        state = backup_state(run_dir / "backup")
    except RuntimeError:
        state = None
    ways_out = (
        "use a new run_dir (--run-dir), or fresh_start = True (--restart) to discard this run"
    )
    if state:
        kept = (
            f"The last finished epoch ({state['epoch']}) is kept in {run_dir / 'backup'}"
            + (" (a rerun with only cache_views changed resumes after it)" if views else "")
            + "; but a new batch_size or image_size is another config, which this run folder refuses: "
            + f"{ways_out}."
        )
    else:
        kept = (
            f"No epoch finished (nothing to resume), but {run_dir} already records this config, so it "
            f"refuses a new batch_size or image_size: {ways_out}."
        )
    original = (str(error).strip().splitlines() or [""])[0]
    if len(original) > 200:
        original = original[:200] + "…"
    return (
        f"training ran out of memory at image_size {size}, batch_size {batch} on {device}: "
        f"lower {fix}{ram}.\n"
        f"{kept} In a notebook, restart the kernel first (Colab: Runtime > Restart session): the "
        "failed run may still hold its memory.\n"
        f"({type(error).__name__}: {original})"
    )


def _fit(config, run_dir, train_paths, test_paths, callbacks, verbose, epochs_done) -> TrainResult:
    train_data = ColorizationDataset(train_paths, config, training=True)
    validation = (
        ColorizationDataset(test_paths, config, training=False, embedder=train_data.embedder)
        if test_paths
        else None
    )
    core = build_model(config)
    if config.init_weights and not epochs_done:  # a resumed run restores its own backup instead
        load_initial_weights(core, config.init_weights)
    model = compile_model(training_model(core, config), config, make_loss(config, train_paths))
    demo_paths = demo_photos(test_paths or train_paths) if not config.limit else train_paths[:1]
    demo_images = [load_resized(p, config.image_size) for p in demo_paths]
    demo_embeddings = None
    if train_data.embedder is not None:
        demo_embeddings = train_data.embedder.compute(color.rgb_to_gray(np.stack(demo_images)))
    best = _best_so_far(run_dir, "val_loss" if validation is not None else "loss", epochs_done)
    all_callbacks = standard_callbacks(
        config, run_dir, demo_images, validation is not None, demo_embeddings, best, epochs_done
    ) + list(callbacks or [])
    try:
        keras_history = model.fit(
            train_data,
            validation_data=validation,
            epochs=config.epochs,
            steps_per_epoch=config.steps_per_epoch,
            callbacks=all_callbacks,
            verbose=verbose,
        )
    except Exception as error:  # noqa: BLE001 - only an out-of-memory error is translated, by its name
        if not is_out_of_memory(error):
            raise
        raise TrainingOutOfMemoryError(out_of_memory_message(config, run_dir, error)) from error
    model_path = run_dir / "model.keras"
    modelfile.save(core, model_path, config)  # the L-input network, whatever wrapper was trained
    figures = next(c for c in all_callbacks if isinstance(c, ComparisonFigure)).saved
    trained = len(keras_history.epoch) if keras_history is not None else 0
    return TrainResult(
        core, read_history(run_dir / "history.json"), run_dir, model_path, figures, trained
    )
