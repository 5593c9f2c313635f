"""Training: compile, the run folder (resume or refuse), fit with :mod:`colored.callbacks`.

A run folder is crash-consistent: every file in it is written atomically (temporary file, then
rename), so a kill at any moment leaves the previous state or the new one. The folder remembers its
config (``config.json``): a rerun resumes from the last finished epoch, says that a finished run is
finished (unless ``epochs`` grew), and refuses a config that differs in anything that changes what
is learned, naming the fields and the two ways out (a new ``run_dir``, or ``restart=True``). A
training that runs out of memory ends in one :class:`TrainingOutOfMemoryError` that says what to
lower, and what the run folder kept (:mod:`colored.memory`).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from colored import color, modelfile
from colored.bins import cached_prior, rebalancing_weights
from colored.callbacks import ComparisonFigure, backup_state, read_history, standard_callbacks
from colored.config import Config, ConfigError
from colored.devices import resolve_speed, speed_summary
from colored.distributed import multi_worker_workarounds, worker_config
from colored.io.files import ensure_writable_dir
from colored.losses import AbAccuracy, AbMeanSquaredError, SoftEncodedCrossEntropy
from colored.memory import TrainingOutOfMemoryError, is_out_of_memory, out_of_memory_message
from colored.model import build_model, training_model
from colored.pipeline import ColorizationDataset, load_resized


def training_paths(config: Config) -> tuple[list[Path], list[Path]]:
    """Train and (optional) test image paths of ``config.dataset_dir``; ``config.limit`` caps train."""
    from colored.data import dataset_splits, find_images

    splits = dataset_splits(config.dataset_dir)
    train = find_images(splits["train"])
    test = find_images(splits["test"]) if "test" in splits else []
    if config.exclude_validation:  # the fixed hash split of colored.data.is_validation
        from colored.data import split_validation

        train, validation = split_validation(splits["train"])
        test = test or validation
    if config.limit:
        train = train[: config.limit]
    return train, test


def make_loss(config: Config, train_paths: list[Path], core: keras.Model | None = None):
    """The loss; for the classification head also records the training set's ab prior on ``core``,
    so that every model file the run writes carries it (prior-corrected decoding needs it)."""
    if config.loss == "mse":
        return AbMeanSquaredError()
    prior = cached_prior(train_paths, config.image_size, config.cache_dir)
    if core is not None:
        modelfile.record_prior(core, prior)
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
        values["dataset_dir"] = str(Path(values["dataset_dir"]).resolve())
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


def _count(number: int, noun: str) -> str:
    """``1 epoch``, ``2 epochs``."""
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _fit(config, run_dir, train_paths, test_paths, callbacks, verbose, epochs_done) -> TrainResult:
    train_data = ColorizationDataset(train_paths, config, training=True)
    validation = (
        ColorizationDataset(test_paths, config, training=False, embedder=train_data.embedder)
        if test_paths
        else None
    )
    core = build_model(config)
    if config.init_weights and not epochs_done:  # a resumed run restores its own backup instead
        modelfile.load_initial_weights(core, config.init_weights)
    model = compile_model(
        training_model(core, config), config, make_loss(config, train_paths, core)
    )
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
