"""The README's promise that the same code trains on the torch backend (KERAS_BACKEND=torch).

The backend is fixed when keras is first imported, so each check runs in a fresh interpreter. It
uses torch's CPU build; without torch the test is skipped with the reason (`pip install torch` pulls a
multi-GB CUDA build from PyPI by default, so torch is not in the [test] extra: see README, "Backends").
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TRAIN_ON_TORCH = textwrap.dedent("""
    import json, sys
    import keras, numpy as np
    assert keras.backend.backend() == "torch", keras.backend.backend()
    from colored import Config
    from colored.data import find_images
    from colored.predict import predict_ab
    from colored.model import build_model, inference_model, training_model
    from colored.pipeline import ColorizationDataset
    from colored.train import compile_model, make_loss

    keras.utils.set_random_seed(0)
    photos, work, loss, lab_in_graph = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
    config = Config(architecture="simplified", image_size=64, batch_size=2, augment=False, backbone="none",
                    learning_rate=2e-3, loss=loss, lab_in_graph=lab_in_graph, cache_dir=work + "/cache")
    data = ColorizationDataset(find_images(photos + "/train")[:2], config)
    x, y = data[0]
    model = compile_model(training_model(build_model(config), config), config, make_loss(config, data.paths))
    losses = [float(model.train_on_batch(x, y)[0]) for _ in range(int(sys.argv[5]))]

    core = inference_model(model)  # the L-input network: saved, reloaded and used for colorizing
    core.save(work + "/model.keras")
    reloaded = keras.saving.load_model(work + "/model.keras")
    l_norm = ColorizationDataset(data.paths, config.replace(lab_in_graph=False))[0][0]
    ab = predict_ab(reloaded, l_norm)
    print(json.dumps({"device": str(next(iter(core.weights)).value.device), "losses": losses,
                      "ab_shape": list(ab.shape), "ab_finite": bool(np.isfinite(ab).all())}))
""")


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="torch not installed: the torch-backend check needs torch's CPU build "
    "(CI installs torch==2.13.0 when a local CPU wheel is available, see .ci/run)",
)
# (loss, in-graph Lab, steps, how far the loss must fall): MSE falls ~3x in 40 steps, the
# cross-entropy over 261 bins ~1.5x (4.3 -> 2.9) in 40: an untrained model's stays put.
@pytest.mark.parametrize(
    "loss,lab_in_graph,steps,ratio", [("mse", False, 40, 0.5), ("classification", True, 40, 0.8)]
)
def test_training_on_the_torch_backend(photo_folder, tmp_path, loss, lab_in_graph, steps, ratio):
    env = dict(os.environ, KERAS_BACKEND="torch", PYTHONPATH=REPO, CUDA_VISIBLE_DEVICES="")
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            TRAIN_ON_TORCH,
            str(photo_folder),
            str(tmp_path),
            loss,
            "1" if lab_in_graph else "0",
            str(steps),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, f"{loss} training on torch failed:\n{run.stderr[-3000:]}"
    result = json.loads(run.stdout.strip().splitlines()[-1])
    losses = result["losses"]
    assert result["device"] == "cpu", result
    assert all(np.isfinite(losses)), f"non-finite {loss} loss on torch: {losses}"
    first, last = np.mean(losses[:3]), np.mean(losses[-3:])
    assert last < ratio * first, (
        f"{loss} loss on torch did not fall clearly: {first:.4f} -> {last:.4f}"
    )
    assert result["ab_shape"] == [2, 64, 64, 2] and result["ab_finite"], (
        f"predict_ab after reload: {result}"
    )
