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
