import json

import keras
import numpy as np
import pytest

from colored import Config
from colored.data import find_images
from colored.model import build_model
from colored.pipeline import ColorizationDataset
from colored.train import compile_model, train


@pytest.mark.slow
def test_simplified_model_memorizes_one_image(photo_folder):
    """The seed's memorization test: one 64² image, no augmentation → loss drops ≥ 10×."""
    keras.utils.set_random_seed(0)
    config = Config(
        architecture="simplified",
        image_size=64,
        batch_size=1,
        augment=False,
        backbone="none",
        learning_rate=2e-3,
    )
    data = ColorizationDataset(find_images(photo_folder / "train")[:1], config)
    lightness, ab = data[0]
    model = compile_model(build_model(config), config, "mse")
    losses = [float(model.train_on_batch(lightness, ab)[0]) for _ in range(300)]
    first, last = np.mean(losses[:3]), np.mean(losses[-5:])
    assert last <= first / 10, f"memorization failed: loss {first:.5f} → {last:.5f} in 300 steps"


class _Kill(keras.callbacks.Callback):
    """Simulates a killed process right after epoch ``at`` was backed up."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at:
            raise KeyboardInterrupt("killed")


class _Epochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(epoch)


@pytest.mark.slow
def test_killed_run_resumes_at_the_right_epoch(photo_folder, tmp_path):
    config = Config(
        architecture="simplified",
        image_size=64,
        batch_size=4,
        backbone="none",
        epochs=4,
        dataset_dir=str(photo_folder),
        run_dir=str(tmp_path / "run"),
        figure_every=2,
        cache_dir=str(tmp_path / "cache"),
    )
    with pytest.raises(KeyboardInterrupt):
        train(config, callbacks=[_Kill(at=1)], verbose=0)
    assert (tmp_path / "run" / "backup").exists(), "BackupAndRestore left no backup after the kill"
    epochs = _Epochs()
    result = train(config, callbacks=[epochs], verbose=0)
    assert epochs.seen == [2, 3], f"resumed run started at epochs {epochs.seen}, expected [2, 3]"
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history["epoch"] == [0, 1, 2, 3], f"history across the resume is {history['epoch']}"
    assert {"loss", "val_loss", "ab_acc_10", "val_ab_acc_10"} <= set(history), (
        f"history keys: {sorted(history)}"
    )
    assert result.model_path.exists() and (tmp_path / "run" / "best.keras").exists(), (
        "no model files"
    )
    assert [p.name for p in result.figures] == ["epoch_004.png"], f"figures: {result.figures}"
    assert (tmp_path / "run" / "figures" / "epoch_002.png").exists(), (
        "epoch-2 figure from the first run"
    )
    reloaded = keras.saving.load_model(result.model_path, compile=False)
    assert reloaded.count_params() == result.model.count_params()


def test_fine_tuning_starts_from_init_weights_without_the_validation_photos(photo_folder, tmp_path):
    from colored.data import is_validation
    from colored.modelfile import load_initial_weights
    from colored.train import training_paths

    config = Config(
        dataset_dir=str(photo_folder / "train"),
        image_size=32,
        architecture="simplified",
        backbone="none",
        loss="classification",
        exclude_validation=True,
    )
    train_paths, validation = training_paths(config)
    every = find_images(photo_folder / "train")
    assert sorted(train_paths + validation) == every and not set(train_paths) & set(validation)
    assert all(is_validation(p.relative_to(photo_folder / "train").as_posix()) for p in validation)
    source = build_model(config)
    source.get_layer("ab_logits").set_weights(
        [w + 1.0 for w in source.get_layer("ab_logits").get_weights()]
    )
    source.save(tmp_path / "start.keras")
    fresh = build_model(config)
    load_initial_weights(fresh, tmp_path / "start.keras")
    for a, b in zip(fresh.get_weights(), source.get_weights()):
        np.testing.assert_array_equal(a, b)
    other = build_model(config.replace(architecture="full"))
    with pytest.raises(ValueError, match="init_weights"):
        load_initial_weights(other, tmp_path / "start.keras")


def test_a_model_gains_fusion_from_a_model_without_it_and_starts_out_the_same(tmp_path):
    """Warm start of a fusion model from a no-fusion one (the packaged default → a model with the
    ImageNet encoder): the fusion kernel is widened with zeros, so the output is unchanged whatever
    the embedding, and everything else is copied."""
    from colored.modelfile import load_initial_weights, save

    plain = Config(
        image_size=32,
        architecture="simplified",
        backbone="none",
        loss="classification",
        batch_norm=True,
    )
    source = build_model(plain)
    save(source, tmp_path / "plain.keras", plain)
    fused = build_model(plain.replace(backbone="mobilenet_v2"))
    load_initial_weights(fused, tmp_path / "plain.keras")
    kernel = fused.get_layer("fusion").get_weights()[0]
    assert kernel.shape[-2] == 128 + 1000 and not kernel[..., 128:, :].any(), (
        "the embedding's inputs must start at 0"
    )
    lightness = np.random.default_rng(0).random((2, 32, 32, 1)).astype("float32")
    embedding = np.random.default_rng(1).random((2, 1000)).astype("float32")
    np.testing.assert_allclose(
        fused.predict([lightness, embedding], verbose=0),
        source.predict(lightness, verbose=0),
        atol=1e-5,
        err_msg="the widened model must start out computing what the old one did",
    )
    with pytest.raises(ValueError, match="init_weights.*fusion"):  # shrinking is not widening
        save(fused, tmp_path / "fused.keras", plain.replace(backbone="mobilenet_v2"))
        load_initial_weights(build_model(plain), tmp_path / "fused.keras")


# --------------------------------------------------------------------------------------------------
# issue 14: the comparison photos come from different source photos; history.json records resumes
# --------------------------------------------------------------------------------------------------


def test_comparison_photos_come_from_different_source_photos():
    from pathlib import Path

    from colored.train import demo_photos

    sample_test = [
        Path(f"test/{name}_{i:02d}.png") for name in ("chelsea", "coffee") for i in range(10)
    ]
    chosen = [p.name for p in demo_photos(sample_test)]
    assert chosen == ["chelsea_00.png", "coffee_00.png", "chelsea_05.png"], (
        chosen
    )  # both photos, then a far crop
    many = [
        Path(f"{name}_{i:02d}.png")
        for name in (
            "astronaut",
            "chelsea",
            "coffee",
            "hubble_deep_field",
            "motorcycle_left",
            "rocket",
        )
        for i in range(10)
    ]
    chosen = demo_photos(list(reversed(many)))  # deterministic whatever the input order
    assert len({p.stem.rsplit("_", 1)[0] for p in chosen}) == 3, chosen
    assert chosen == demo_photos(many) and chosen[0].name == "astronaut_00.png"
    plain = [Path(f"{i:04d}.jpg") for i in range(30)]  # no common prefixes: spread over the list
    assert [p.name for p in demo_photos(plain)] == ["0000.jpg", "0010.jpg", "0020.jpg"]
    same = [Path(f"img_{i:02d}.png") for i in range(12)]
    assert [p.name for p in demo_photos(same)] == ["img_00.png", "img_04.png", "img_08.png"]
    assert demo_photos(same[:2]) == same[:2] and demo_photos([]) == []


def test_history_records_a_resume_once_and_keeps_the_csv_per_epoch(tmp_path):
    import csv

    from colored.callbacks import HistoryJSON, read_history

    path = tmp_path / "history.json"
    first = HistoryJSON(path)
    for epoch in range(
        3
    ):  # epoch 2 logged, then killed before its backup: the backup holds 2 epochs
        first.on_epoch_end(epoch, {"loss": 1.0 - epoch / 10})
    assert "resumed_after" not in read_history(path), "a straight run records no resume"
    for _ in range(
        2
    ):  # resumed from that backup, killed again before the next backup, resumed again
        resumed = HistoryJSON(path, resumed_after=2)
        resumed.on_epoch_end(2, {"loss": 0.5})
    resumed.on_epoch_end(3, {"loss": 0.4})
    HistoryJSON(path, resumed_after=4).on_epoch_end(4, {"loss": 0.3})
    history = read_history(path)
    assert history["epoch"] == [0, 1, 2, 3, 4] and history["loss"][2:] == [0.5, 0.4, 0.3]
    assert history["resumed_after"] == [2, 4], history
    with open(tmp_path / "history.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["epoch"]) for row in rows] == [0, 1, 2, 3, 4] and set(rows[0]) == {
        "epoch",
        "loss",
    }
    # a rerun from an older backup (epochs 3-4 trained again) forgets the resume that came after it
    HistoryJSON(path, resumed_after=3).on_epoch_end(3, {"loss": 0.35})
    assert read_history(path)["resumed_after"] == [2, 3]


@pytest.mark.slow
def test_resumed_run_records_where_it_resumed(photo_folder, tmp_path):
    from colored import viz

    run = tmp_path / "run"
    config = Config(
        architecture="simplified",
        image_size=32,
        batch_size=4,
        backbone="none",
        epochs=3,
        augment=False,
        dataset_dir=str(photo_folder),
        run_dir=str(run),
        figure_every=5,
        steps_per_epoch=1,
        cache_dir=str(tmp_path / "cache"),
    )
    with pytest.raises(KeyboardInterrupt):
        train(config, callbacks=[_Kill(at=1)], verbose=0)
    assert "resumed_after" not in json.loads((run / "history.json").read_text())
    result = train(config, verbose=0)
    history = json.loads((run / "history.json").read_text())
    assert history["epoch"] == [0, 1, 2] and history["resumed_after"] == [2], history
    assert result.history["resumed_after"] == [2]
    assert (run / "history.csv").read_text().splitlines()[0].split(",")[0] == "epoch"
    assert "resumed_after" not in (run / "history.csv").read_text()
    fig = viz.history_figure(history, loss=config.loss)
    assert all(
        any(line.get_label() == "resumed after epoch 2" for line in ax.get_lines())
        for ax in fig.axes
    )
    viz.show_or_close(fig)


# --------------------------------------------------------------------------------------------------
# out of memory during training: one clear error, the backend's chained, the backup kept
# --------------------------------------------------------------------------------------------------


class ResourceExhaustedError(Exception):
    """Stands in for ``tf.errors.ResourceExhaustedError``: told by its name, as the lab tells it."""


_TF_OOM = (
    "OOM when allocating tensor with shape[16,64,128,128] and type float on "
    "/job:localhost/replica:0/task:0/device:GPU:0 by allocator GPU_0_bfc\n"
    "\t [[{{node model/conv2d/Conv2D}}]]\nHint: If you want to see a list of allocated tensors ..."
)


class _OutOfMemoryAt(keras.callbacks.Callback):
    """Raises ``error`` when epoch ``at`` (0-based) begins, after the earlier epochs were backed up."""

    def __init__(self, at, error):
        super().__init__()
        self.at, self.error = at, error

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            raise self.error


def test_out_of_memory_in_training_says_what_to_lower_and_keeps_the_backup(
    photo_folder, tmp_path, monkeypatch
):
    from colored import devices
    from colored.memory import TrainingOutOfMemoryError
    from colored.train import backup_state, check_run_dir

    monkeypatch.setattr(devices, "_GPUS", (devices.Gpu("Tesla T4", (7, 5)),))
    run = tmp_path / "run"
    config = Config(
        architecture="simplified",
        image_size=32,
        batch_size=4,
        backbone="none",
        epochs=3,
        augment=False,
        dataset_dir=str(photo_folder),
        run_dir=str(run),
        figure_every=5,
        steps_per_epoch=1,
        cache_dir=str(tmp_path / "cache"),
        cache_views=True,
        mixed_precision="none",
        lab_in_graph=False,
        jit_compile=False,
    )
    original = ResourceExhaustedError(_TF_OOM)
    with pytest.raises(TrainingOutOfMemoryError) as caught:
        train(config, callbacks=[_OutOfMemoryAt(1, original)], verbose=0)

    error = caught.value
    assert isinstance(error, MemoryError) and error.__cause__ is original, (
        "the backend's error must be chained"
    )
    first, kept, raw = str(error).splitlines()
    assert first == (
        "training ran out of memory at image_size 32, batch_size 4 on GPU:0 (Tesla T4): "
        "lower batch_size (e.g. 2) or image_size (e.g. 16)."
    ), first
    assert kept.startswith(
        f"The last finished epoch (1) is kept in {run / 'backup'}; but a new batch_size or "
        "image_size is another config"
    ), kept
    assert "new run_dir (--run-dir)" in kept and "fresh_start = True (--restart)" in kept, kept
    assert "cache_views" not in str(error), (
        "the GPU ran out: the views cached in RAM are not the cause"
    )
    assert raw.startswith(
        "(ResourceExhaustedError: OOM when allocating tensor with shape[16,64,128,128]"
    ), raw
    assert backup_state(run / "backup")["epoch"] == 1, "the first epoch's backup did not survive"
    # what the message says about the run folder is what it does: same config resumes, a new batch is refused
    assert check_run_dir(config.replace(cache_views=False))["epoch"] == 1
    with pytest.raises(ValueError, match=r"batch_size: 4 → 2"):
        check_run_dir(config.replace(batch_size=2))


@pytest.mark.parametrize(
    ("name", "text", "device"),
    [
        (
            "XlaRuntimeError",
            "RESOURCE_EXHAUSTED: Out of memory while trying to allocate 4294967296 bytes.",
            "the CPU",
        ),
        (
            "JaxRuntimeError",
            "RESOURCE_EXHAUSTED: Out of memory allocating 1073741824 bytes.",
            "the CPU",
        ),
        (
            "OutOfMemoryError",
            "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 14.75 GiB total capacity)",
            "GPU:0",
        ),
        (
            "RuntimeError",
            "CUDA out of memory. Tried to allocate 20.00 MiB (GPU 1; 7.8 GiB total)",
            "GPU:1",
        ),
        (
            "ResourceExhaustedError",
            "OOM when allocating tensor with shape[1,2] and type float on "
            "/job:localhost/replica:0/task:0/device:CPU:0 by allocator cpu",
            "the CPU",
        ),
        ("MemoryError", "Unable to allocate 7.3 GiB for an array", "the CPU (the machine's RAM)"),
    ],
)
def test_every_backend_out_of_memory_is_recognised_by_name(
    tmp_path, monkeypatch, name, text, device
):
    from colored import devices
    from colored.memory import is_out_of_memory, oom_device, out_of_memory_message

    monkeypatch.setattr(devices, "_GPUS", ())  # no backend asked: a CPU machine
    base = MemoryError if name == "MemoryError" else Exception
    error = type(name, (base,), {})(text)
    assert is_out_of_memory(error)
    assert oom_device(error)[0] == device
    wrapped = RuntimeError("a step failed")
    wrapped.__cause__ = error
    assert is_out_of_memory(wrapped), "an out-of-memory cause counts"
    assert f"on {device}: lower" in out_of_memory_message(Config(), tmp_path / "run", wrapped), (
        "the cause is read"
    )
    message = out_of_memory_message(
        Config(image_size=64, batch_size=8, cache_views=True), tmp_path / "run", error
    )
    assert message.startswith(
        f"training ran out of memory at image_size 64, batch_size 8 on {device}: lower "
        "batch_size (e.g. 4) or image_size (e.g. 32)"
    ), message
    assert ("cache_views False" in message) == (not device.startswith("GPU")), message
    assert (
        f"No epoch finished (nothing to resume), but {tmp_path / 'run'} already records this config, so it "
        "refuses a new batch_size or image_size: use a new run_dir (--run-dir), or fresh_start = True"
    ) in message


def test_other_errors_in_training_are_not_called_out_of_memory():
    from colored.memory import TrainingOutOfMemoryError, is_out_of_memory

    assert not is_out_of_memory(ValueError("shapes (2, 3) and (4,) are incompatible"))
    assert not is_out_of_memory(RuntimeError("CUDA error: device-side assert triggered"))
    assert not is_out_of_memory(TrainingOutOfMemoryError("already translated"))


def test_colored_train_reports_out_of_memory_in_one_line(
    photo_folder, tmp_path, monkeypatch, capsys
):
    from colored import devices
    from colored.cli import main

    def fit_out_of_memory(*args, **kwargs):
        raise ResourceExhaustedError(_TF_OOM)

    monkeypatch.setattr(keras.Model, "fit", fit_out_of_memory)
    monkeypatch.setattr(devices, "_GPUS", ())
    code = main(
        [
            "train",
            "--dataset-dir",
            str(photo_folder),
            "--run-dir",
            str(tmp_path / "run"),
            "--architecture",
            "simplified",
            "--image-size",
            "32",
            "--batch-size",
            "4",
            "--backbone",
            "none",
            "--epochs",
            "1",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--verbose",
            "0",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith(
        "colored train: error: training ran out of memory at image_size 32, batch_size 4 on GPU:0"
    ), err
    assert (
        "No epoch finished (nothing to resume)" in err
        and "(ResourceExhaustedError: OOM when" in err
    ), err
