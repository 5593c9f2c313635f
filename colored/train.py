"""Training: compile, callbacks (comparison figure, checkpoint, resume, LR schedule, history), fit."""
from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from colored import color, viz
from colored.config import Config
from colored.losses import AbAccuracy, AbMeanSquaredError, SoftEncodedCrossEntropy, cached_prior, rebalancing_weights
from colored.model import build_model, predict_ab, training_model
from colored.pipeline import ColorizationDataset, load_resized


def training_paths(config: Config) -> tuple[list[Path], list[Path]]:
    """Train and (optional) test image paths of ``config.data_dir``; ``config.limit`` caps train."""
    from colored.data import dataset_splits, find_images

    splits = dataset_splits(config.data_dir)
    train = find_images(splits["train"])
    if config.limit:
        train = train[: config.limit]
    test = find_images(splits["test"]) if "test" in splits else []
    return train, test


def make_loss(config: Config, train_paths: list[Path]):
    if config.loss == "mse":
        return AbMeanSquaredError()
    prior = cached_prior(train_paths, config.image_size, config.cache_dir)
    return SoftEncodedCrossEntropy(class_weights=rebalancing_weights(prior))


def compile_model(model: keras.Model, config: Config, loss) -> keras.Model:
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
    return model


def distribution_scope(config: Config):
    """Data-parallel training over every local device: TF's MirroredStrategy or Keras' JAX
    DataParallel. The batch size stays the global one (split across devices)."""
    if config.distribute in ("mirrored", "multi_worker"):
        if keras.backend.backend() != "tensorflow":
            raise ValueError(f"distribute='{config.distribute}' needs the TensorFlow backend; "
                             "use 'data_parallel' on JAX")
        import tensorflow as tf

        if config.distribute == "multi_worker":  # cluster described by the TF_CONFIG variable
            return tf.distribute.MultiWorkerMirroredStrategy().scope()
        return tf.distribute.MirroredStrategy().scope()
    if config.distribute == "data_parallel":
        if keras.backend.backend() != "jax":
            raise ValueError("distribute='data_parallel' needs the JAX backend; use 'mirrored' on TensorFlow")
        return keras.distribution.DataParallel(devices=keras.distribution.list_devices()).scope()
    return contextlib.nullcontext()


class ComparisonFigure(keras.callbacks.Callback):
    """Every ``every`` epochs (and after the last), plot original | gray | predicted for a few photos,
    save it as ``figures/epoch_NNN.png`` in the run folder and show it inline in notebooks."""

    def __init__(self, images: list[np.ndarray], folder: str | Path, every: int = 10,
                 temperature: float | None = None, embeddings: np.ndarray | None = None) -> None:
        super().__init__()
        self.images = np.stack(images)
        self.folder = Path(folder)
        self.every = max(1, every)
        self.temperature = temperature
        self.embeddings = embeddings
        self.saved: list[Path] = []

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        last = epoch + 1 == self.params.get("epochs")
        if (epoch + 1) % self.every and not last:
            return
        l_norm, _ = color.rgb_to_model_input(self.images)
        ab = predict_ab(self.model, l_norm, self.embeddings, self.temperature)
        predicted = color.lab_to_rgb(color.join_lab(color.denormalize_l(l_norm), ab))
        fig = viz.comparison_figure(list(self.images), list(predicted), title=f"epoch {epoch + 1}")
        self.saved.append(viz.save_figure(fig, self.folder / f"epoch_{epoch + 1:03d}.png"))
        viz.show_or_close(fig)


class HistoryJSON(keras.callbacks.Callback):
    """Keeps ``history.json`` up to date after every epoch, appending across resumed runs."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)

    def load(self) -> dict[str, list[float]]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        history = self.load()
        epochs = history.setdefault("epoch", [])
        # A resumed run repeats no epoch: drop anything logged at or after this one (killed mid-way).
        keep = sum(1 for e in epochs if e < epoch)
        history = {k: v[:keep] for k, v in history.items()}
        history.setdefault("epoch", []).append(epoch)
        for key, value in (logs or {}).items():
            history.setdefault(key, []).append(float(value))
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(history, indent=1))
        tmp.replace(self.path)


class TimeLimit(keras.callbacks.Callback):
    """Ends training after the epoch during which ``minutes`` of wall-clock time ran out."""

    def __init__(self, minutes: float) -> None:
        super().__init__()
        self.seconds = minutes * 60

    def on_train_begin(self, logs=None) -> None:
        self.start = time.monotonic()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if time.monotonic() - self.start >= self.seconds:
            self.model.stop_training = True


@dataclass
class TrainResult:
    model: keras.Model
    history: dict[str, list[float]]
    run_dir: Path
    model_path: Path
    figures: list[Path]


def standard_callbacks(config: Config, run_dir: Path, demo_images: list[np.ndarray],
                       validation: bool, demo_embeddings: np.ndarray | None = None) -> list[keras.callbacks.Callback]:
    monitor = "val_loss" if validation else "loss"  # the seed monitored val_loss with no val data
    limit = [TimeLimit(config.max_minutes)] if config.max_minutes else []
    return limit + [
        keras.callbacks.BackupAndRestore(str(run_dir / "backup")),
        keras.callbacks.ModelCheckpoint(str(run_dir / "best.keras"), monitor=monitor, save_best_only=True),
        keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.2, patience=config.lr_patience, min_lr=1e-5),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        HistoryJSON(run_dir / "history.json"),
        ComparisonFigure(demo_images, run_dir / "figures", config.figure_every, config.temperature,
                         demo_embeddings),
    ]


def train(config: Config, callbacks: list[keras.callbacks.Callback] | None = None,
          verbose: int | str = 2) -> TrainResult:
    """Train a model as ``config`` says, in ``config.run_dir``; re-running a killed run resumes it."""
    keras.utils.set_random_seed(config.seed)
    run_dir = Path(config.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    config.save(run_dir / "config.json")
    train_paths, test_paths = training_paths(config)
    scope = distribution_scope(config)
    scope.__enter__()
    try:
        return _fit(config, run_dir, train_paths, test_paths, callbacks, verbose)
    finally:
        scope.__exit__(None, None, None)


def _fit(config, run_dir, train_paths, test_paths, callbacks, verbose) -> TrainResult:
    train_data = ColorizationDataset(train_paths, config, training=True)
    validation = ColorizationDataset(test_paths, config, training=False,
                                     embedder=train_data.embedder) if test_paths else None
    core = build_model(config)
    model = compile_model(training_model(core, config), config, make_loss(config, train_paths))
    demo_paths = (test_paths or train_paths)[:3] if not config.limit else train_paths[:1]
    demo_images = [load_resized(p, config.image_size) for p in demo_paths]
    demo_embeddings = None
    if train_data.embedder is not None:
        demo_embeddings = train_data.embedder.compute(color.rgb_to_gray(np.stack(demo_images)))
    all_callbacks = standard_callbacks(config, run_dir, demo_images, validation is not None,
                                       demo_embeddings) + list(callbacks or [])
    model.fit(train_data, validation_data=validation, epochs=config.epochs,
              steps_per_epoch=config.steps_per_epoch, callbacks=all_callbacks, verbose=verbose)
    model_path = run_dir / "model.keras"
    core.save(model_path)  # the L-input network, whatever wrapper was trained
    figures = next(c for c in all_callbacks if isinstance(c, ComparisonFigure)).saved
    return TrainResult(core, HistoryJSON(run_dir / "history.json").load(), run_dir, model_path, figures)
