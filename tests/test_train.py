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
    config = Config(model="simplified", image_size=64, batch_size=1, augment=False, backbone="none",
                    learning_rate=2e-3)
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
    config = Config(model="simplified", image_size=64, batch_size=4, backbone="none", epochs=4,
                    data_dir=str(photo_folder), run_dir=str(tmp_path / "run"), figure_every=2,
                    cache_dir=str(tmp_path / "cache"))
    with pytest.raises(KeyboardInterrupt):
        train(config, callbacks=[_Kill(at=1)], verbose=0)
    assert (tmp_path / "run" / "backup").exists(), "BackupAndRestore left no backup after the kill"
    epochs = _Epochs()
    result = train(config, callbacks=[epochs], verbose=0)
    assert epochs.seen == [2, 3], f"resumed run started at epochs {epochs.seen}, expected [2, 3]"
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history["epoch"] == [0, 1, 2, 3], f"history across the resume is {history['epoch']}"
    assert {"loss", "val_loss", "ab_acc_10", "val_ab_acc_10"} <= set(history), f"history keys: {sorted(history)}"
    assert result.model_path.exists() and (tmp_path / "run" / "best.keras").exists(), "no model files"
    assert [p.name for p in result.figures] == ["epoch_004.png"], f"figures: {result.figures}"
    assert (tmp_path / "run" / "figures" / "epoch_002.png").exists(), "epoch-2 figure from the first run"
    reloaded = keras.saving.load_model(result.model_path, compile=False)
    assert reloaded.count_params() == result.model.count_params()


def test_fine_tuning_starts_from_init_weights_without_the_validation_photos(photo_folder, tmp_path):
    from colored.data import is_validation
    from colored.train import load_initial_weights, training_paths

    config = Config(data_dir=str(photo_folder / "train"), image_size=32, model="simplified", backbone="none",
                    loss="classification", exclude_validation=True)
    train_paths, validation = training_paths(config)
    every = find_images(photo_folder / "train")
    assert sorted(train_paths + validation) == every and not set(train_paths) & set(validation)
    assert all(is_validation(p.relative_to(photo_folder / "train").as_posix()) for p in validation)
    source = build_model(config)
    source.get_layer("ab_logits").set_weights([w + 1.0 for w in source.get_layer("ab_logits").get_weights()])
    source.save(tmp_path / "start.keras")
    fresh = build_model(config)
    load_initial_weights(fresh, tmp_path / "start.keras")
    for a, b in zip(fresh.get_weights(), source.get_weights()):
        np.testing.assert_array_equal(a, b)
    other = build_model(config.replace(model="full"))
    with pytest.raises(ValueError, match="init_weights"):
        load_initial_weights(other, tmp_path / "start.keras")
