"""The throughput switches (in-graph Lab, view cache, jit, mixed precision, data parallelism) must
train correctly, not just run."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from colored import Config
from colored.data import find_images
from colored.model import build_model, training_model
from colored.pipeline import ColorizationDataset
from colored.train import compile_model, make_loss

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def memorize(photo_folder, steps=150, **switches):
    keras.utils.set_random_seed(0)
    config = Config(
        architecture="simplified",
        image_size=64,
        batch_size=2,
        augment=False,
        backbone="none",
        learning_rate=2e-3,
        **switches,
    )
    data = ColorizationDataset(find_images(photo_folder / "train")[:2], config)
    x, y = data[0]
    model = compile_model(
        training_model(build_model(config), config), config, make_loss(config, data.paths)
    )
    losses = [float(model.train_on_batch(x, y)[0]) for _ in range(steps)]
    return config, data, losses


@pytest.mark.slow
def test_lab_in_graph_batches_are_rgb_and_train_like_the_numpy_path(photo_folder):
    config, data, losses = memorize(photo_folder, lab_in_graph=True)
    x, y = data[0]
    assert x.dtype == np.uint8 and x.shape == (2, 64, 64, 3), (
        "lab_in_graph batches should be uint8 RGB"
    )
    _, _, reference = memorize(photo_folder)
    assert losses[0] == pytest.approx(reference[0], rel=1e-3), (
        "in-graph Lab gives a different initial loss"
    )
    assert losses[-1] < losses[0] / 5, (
        f"in-graph Lab model did not learn: {losses[0]:.4f} → {losses[-1]:.4f}"
    )


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_mixed_precision_trains_with_float32_outputs(photo_folder, precision):
    config, data, losses = memorize(photo_folder, mixed_precision=precision)
    model = build_model(config)
    assert model.get_layer("encoder_0").compute_dtype == precision
    assert model.output.dtype == "float32", "the output layer must stay float32"
    assert np.isfinite(losses).all() and losses[-1] < losses[0] / 5, (
        f"{precision} training did not learn: {losses[0]:.4f} → {losses[-1]:.4f}"
    )
    if precision == "float16":
        compiled = compile_model(build_model(config), config, "mse")
        assert isinstance(compiled.optimizer, keras.optimizers.LossScaleOptimizer), (
            "float16 needs loss scaling"
        )


@pytest.mark.slow
def test_jit_compile_and_steps_per_execution_train(photo_folder):
    _, _, losses = memorize(photo_folder, jit_compile=True, steps_per_execution=2)
    assert losses[-1] < losses[0] / 5, (
        f"jit-compiled training did not learn: {losses[0]:.4f} → {losses[-1]:.4f}"
    )


def test_view_cache_returns_the_same_augmented_images(photo_folder):
    paths = find_images(photo_folder / "train")
    config = Config(image_size=64, batch_size=4, backbone="none", augment_views=2)
    cached = ColorizationDataset(paths, config.replace(cache_views=True))
    plain = ColorizationDataset(paths, config)
    for _epoch in range(3):
        for i in range(len(plain)):
            np.testing.assert_array_equal(
                cached[i][1], plain[i][1], f"view cache changed batch {i}"
            )
        cached.on_epoch_end()
        plain.on_epoch_end()
    assert 0 < len(cached._views) <= len(paths) * 2, (
        "the view cache holds more than 2 views per photo"
    )
    assert len(plain._views or {}) == 0, "cache_views=False must not keep views"


DISTRIBUTED = textwrap.dedent("""
    import json, sys, numpy as np
    from colored import Config
    from colored.train import train
    import keras
    devices = {devices}
    # limit: the comparison figure then predicts ONE photo on two replicas (an uneven batch)
    config = Config(architecture="simplified", image_size=64, batch_size=4, backbone="none", epochs=2, limit=8,
                    dataset_dir=sys.argv[1], run_dir=sys.argv[2], cache_dir=sys.argv[2] + "/cache",
                    distribute=sys.argv[3], augment=False)
    result = train(config, verbose=0)
    print(json.dumps({{"devices": devices, "loss": result.history["loss"]}}))
""")


@pytest.mark.slow
@pytest.mark.parametrize(
    "backend,strategy,setup,devices",
    [
        (
            "tensorflow",
            "mirrored",
            "import tensorflow as tf; cpu = tf.config.list_physical_devices('CPU')[0]; "
            "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)",
            "len(tf.config.list_logical_devices('CPU'))",
        ),
        ("jax", "data_parallel", "import jax", "jax.device_count()"),
    ],
)
def test_data_parallel_training_on_two_logical_cpus(
    photo_folder, tmp_path, backend, strategy, setup, devices
):
    if backend == "jax":
        pytest.importorskip("jax", reason="JAX backend not installed (pip install jax)")
    # oneDNN on: it is TensorFlow's default on x86 CPUs with AVX-512 (not on every CPU), and its
    # convolutions reject the empty per-replica batch that an uneven predict() batch leaves.
    env = dict(
        os.environ,
        KERAS_BACKEND=backend,
        XLA_FLAGS="--xla_force_host_platform_device_count=2",
        PYTHONPATH=REPO,
        TF_ENABLE_ONEDNN_OPTS="1",
    )
    script = setup + "\n" + DISTRIBUTED.format(devices=devices)
    run = subprocess.run(
        [sys.executable, "-c", script, str(photo_folder), str(tmp_path / "run"), strategy],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, f"{strategy} training on {backend} failed:\n{run.stderr[-3000:]}"
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["devices"] == 2, f"expected 2 logical devices, got {result['devices']}"
    assert len(result["loss"]) == 2 and all(np.isfinite(result["loss"])), (
        f"losses: {result['loss']}"
    )


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="tf.data feeding is TensorFlow-only"
)
def test_default_workers_feed_fit_through_a_queue_not_autotuned_tf_data(photo_folder):
    # With workers ≤ 1, Keras feeds PyDataset batches through tf.data prefetch(AUTOTUNE); destroying
    # that iterator at each epoch end waits for the autotune thread (up to 20 s per epoch measured
    # on 2 cores). With ≥ 2 workers Keras uses its own queue and turns autotune off.
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    config = Config(image_size=64, batch_size=2, backbone="none")
    data = ColorizationDataset(find_images(photo_folder / "train")[:4], config)
    assert data.workers >= 2, (
        f"Config.workers default is {config.workers}: epochs would stall on TF"
    )
    dataset = PyDatasetAdapter(data, shuffle=False).get_tf_dataset()
    assert dataset.options().autotune.enabled is False, "fit's tf.data pipeline still autotunes"
