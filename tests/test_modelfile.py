"""The model file (colored.modelfile): rebuilt by the library on any Keras, honest one-line errors.

The cross-version half of this (a file written by the pinned Keras loads on Colab's, and a run is
resumed there) runs in `make test-colab` (tools/colab_env.py); here: the mechanism, on this Keras.
"""

import hashlib
import json
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from colored import Config, Decoding, modelfile
from colored.loading import (
    IncompatibleModelError,
    ModelNotFoundError,
    load_model,
    save_half_precision,
)
from colored.model import build_model
from colored.train import train
from tests.test_runs import tiny

ARCHITECTURE = dict(
    architecture="simplified",
    image_size=32,
    backbone="none",
    loss="classification",
    batch_norm=True,
)


@pytest.fixture
def network():
    keras.utils.set_random_seed(3)
    return build_model(Config(**ARCHITECTURE))


def predict(model, seed=0):
    x = np.random.default_rng(seed).random((2, 32, 32, 1)).astype("float32")
    return model.predict(x, verbose=0)


def rewrite_member(path: Path, name: str, text: str) -> None:
    """``path`` with member ``name`` replaced (zipfile cannot replace in place)."""
    with zipfile.ZipFile(path) as archive:
        members = {item: archive.read(item) for item in archive.namelist()}
    members[name] = text.encode()
    with zipfile.ZipFile(path, "w") as archive:
        for item, data in members.items():
            archive.writestr(item, data)


def test_a_saved_network_is_rebuilt_by_the_library_with_the_same_output(network, tmp_path):
    path = modelfile.save(network, tmp_path / "m.keras", Config(**ARCHITECTURE))
    info = modelfile.read_info(path)
    assert info.architecture == {**ARCHITECTURE, "embedding_dim": 1000, "fusion_gain": 1.0}, (
        "colored.json must hold the network's fields"
    )
    assert info.keras_version == keras.__version__
    # the library's path, not Keras' config: colored.json is what load() builds from
    rewrite_member(path, "config.json", json.dumps({"class_name": "NotAKerasClassAnyKerasKnows"}))
    loaded = load_model(path)
    assert np.array_equal(predict(network), predict(loaded)), (
        "the rebuilt network predicts differently"
    )


def test_the_architecture_is_read_off_a_built_network_and_verified(network):
    assert modelfile.architecture_of(network) == {
        **ARCHITECTURE,
        "embedding_dim": 1000,
        "fusion_gain": 1.0,
    }
    fused = build_model(
        Config(architecture="simplified", image_size=32, backbone="inception_resnet_v2")
    )
    assert modelfile.architecture_of(fused)["backbone"] == "inception_resnet_v2"
    other = keras.Sequential(
        [keras.Input((32, 32, 1)), keras.layers.Conv2D(2, 3)], name="SimplifiedModel"
    )
    assert modelfile.architecture_of(other) is None, (
        "a network build_model cannot rebuild must stay Keras-only"
    )


def test_a_file_without_the_library_record_is_still_loaded_by_keras(network, tmp_path):
    path = tmp_path / "plain.keras"
    network.save(path)
    assert modelfile.read_info(path).architecture is None
    assert np.array_equal(predict(network), predict(load_model(path)))


def test_half_precision_file_is_rebuilt_as_float32(network, tmp_path):
    path = save_half_precision(network, tmp_path / "half.keras")
    assert modelfile.read_info(path).architecture is not None
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo("model.weights.h5").file_size < 0.6 * sum(
            w.numpy().nbytes for w in network.weights
        ), "weights are not stored in half precision"
    loaded = load_model(path)
    assert {str(w.dtype) for w in loaded.weights} == {"float32"}
    assert np.abs(predict(network) - predict(loaded)).max() < 0.05


def test_the_shipped_default_model_carries_its_definition():
    info = modelfile.read_info(Path(modelfile.__file__).parent / "weights" / "default.keras")
    assert info.architecture == {
        "architecture": "full",
        "image_size": 128,
        "backbone": "mobilenet_v2_14x14",  # default model v3: MobileNetV2's 14x14 map fused
        "embedding_dim": 1000,
        "fusion_gain": 10.0,
        "batch_norm": True,
        "loss": "classification",
    }, info
    assert info.prior is not None, "v3 decodes with prior correction: its file must carry the prior"


def test_a_keras_2_hdf5_file_is_named_as_such(tmp_path):
    path = tmp_path / "old.keras"
    keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save_weights(
        tmp_path / "w.weights.h5"
    )
    path.write_bytes((tmp_path / "w.weights.h5").read_bytes())
    with pytest.raises(ModelNotFoundError) as caught:
        load_model(path)
    message = str(caught.value)
    assert (
        str(path) in message and "HDF5" in message and "Keras 2" in message and "\n" not in message
    ), message
    assert "damaged" not in message and "corrupt" not in message


def test_a_truncated_file_is_called_damaged(network, tmp_path):
    path = modelfile.save(network, tmp_path / "m.keras")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ModelNotFoundError) as caught:
        load_model(path)
    message = str(caught.value)
    assert (
        str(path) in message and "damaged" in message and "again" in message and "\n" not in message
    ), message


def test_a_file_from_another_keras_names_both_versions_and_the_fix(network, tmp_path):
    path = tmp_path / "future.keras"
    network.save(
        path
    )  # Keras' own path: what files from before colored.json, or from other tools, take
    rewrite_member(path, "metadata.json", json.dumps({"keras_version": "9.1.0"}))
    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    config["config"]["layers"][1]["config"]["a_new_argument"] = None  # what a newer Keras writes
    rewrite_member(path, "config.json", json.dumps(config))
    with pytest.raises(ModelNotFoundError) as caught:
        load_model(path)
    message = str(caught.value)
    for needed in (
        str(path),
        "Keras 9.1.0",
        f"Keras {keras.__version__}",
        "pip install -U 'keras>=9.1.0'",
    ):
        assert needed in message, f"the version message must say {needed!r}: {message}"
    assert "corrupt" not in message and "damaged" not in message and "\n" not in message, message


def test_a_file_of_another_architecture_is_refused_by_shape(tmp_path):
    other = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(3, 1)])
    other.save(tmp_path / "other.keras")
    with pytest.raises(
        IncompatibleModelError, match=r"not a colorization model .*outputs \(None, 16, 16, 3\)"
    ):
        load_model(tmp_path / "other.keras")


def test_a_record_the_library_cannot_build_is_one_line(network, tmp_path):
    path = modelfile.save(network, tmp_path / "m.keras")
    rewrite_member(
        path, modelfile.ARCHITECTURE_MEMBER, json.dumps({"format": 1, "config": {"model": "huge"}})
    )
    with pytest.raises(ModelNotFoundError, match=r"model\b.*huge.*colored train") as caught:
        load_model(path)
    assert "\n" not in str(caught.value)


def folder_digest(folder: Path) -> dict[str, str]:
    """Every file's hash but config.json's (a resume records its new epoch count there first)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "config.json"
    }


@pytest.mark.slow
def test_a_run_from_another_keras_resumes_or_stops_in_one_line_leaving_the_folder(
    photo_folder, tmp_path
):
    run = tmp_path / "run"
    train(tiny(photo_folder, run, epochs=1), verbose=0)
    for name in ("model.keras", "best.keras"):
        assert modelfile.read_info(run / name).architecture is not None, (
            f"{name} lacks the library's record"
        )
    state_file = run / "backup" / "state.json"
    state = json.loads(state_file.read_text())
    assert state["keras_version"] == keras.__version__, (
        "the backup must record the Keras that wrote it"
    )

    # written by another Keras, readable: the run resumes
    state_file.write_text(json.dumps({**state, "keras_version": "3.99.0"}))
    result = train(tiny(photo_folder, run, epochs=2), verbose=0)
    assert result.epochs_trained == 1

    # written by another Keras, unreadable here: one line naming both, the folder untouched
    state = json.loads(state_file.read_text())
    (run / "backup" / state["weights"]).write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    state_file.write_text(json.dumps({**state, "keras_version": "3.99.0"}))
    before = folder_digest(run)
    with pytest.raises(RuntimeError) as caught:
        train(tiny(photo_folder, run, epochs=3), verbose=0)
    message = str(caught.value)
    for needed in ("Keras 3.99.0", f"Keras {keras.__version__}", "--restart", "left as it is"):
        assert needed in message, f"the resume message must say {needed!r}: {message}"
    assert "\n" not in message
    assert folder_digest(run) == before, "a refused resume changed the run folder"


def test_a_fusion_model_is_given_the_backbone_its_file_names(tmp_path):
    from colored.loading import embedder_for

    fused = Config(architecture="simplified", image_size=32, backbone="mobilenet_v2")
    path = modelfile.save(build_model(fused), tmp_path / "fused.keras", fused)
    embedder = embedder_for(load_model(path))
    assert embedder.backbone_name == "mobilenet_v2", (
        "colorize would feed the model another backbone's embedding"
    )
    plain = tmp_path / "plain.keras"
    build_model(fused).save(plain)  # no record: the seed's backbone
    assert embedder_for(load_model(plain)).backbone_name == "inception_resnet_v2"
    assert (
        embedder_for(
            load_model(modelfile.save(build_model(Config(**ARCHITECTURE)), tmp_path / "n.keras"))
        )
        is None
    )


def test_the_decoding_is_saved_with_the_model_and_used_unless_told_otherwise(network, tmp_path):
    from colored.predict import decode_output

    path = modelfile.save(
        network, tmp_path / "m.keras", Config(**ARCHITECTURE, temperature=0.3, confidence=2.0)
    )
    assert modelfile.read_info(path).decoding == {"temperature": 0.3, "confidence": 2.0}
    loaded = load_model(path)
    assert modelfile.recorded_decoding(loaded) == {"temperature": 0.3, "confidence": 2.0}
    output = 3 * np.random.default_rng(0).standard_normal((1, 16, 16, 261)).astype(
        "float32"
    )  # peaked logits
    saved = decode_output(loaded, output, (32, 32))
    assert np.allclose(saved, decode_output(loaded, output, (32, 32), Decoding(0.3, 2.0))), (
        "the saved decoding was not used"
    )
    assert not np.allclose(saved, decode_output(loaded, output, (32, 32), Decoding(1.0, 0.0))), (
        "an explicit decoding must win over the saved one (and differ from it here)"
    )
    # written back unchanged when the loaded model is saved again without a config
    again = modelfile.save(loaded, tmp_path / "again.keras")
    assert modelfile.read_info(again).decoding == {"temperature": 0.3, "confidence": 2.0}


def test_the_whole_decoding_flip_included_travels_with_the_file(network, tmp_path):
    from colored.predict import decoding_for

    modelfile.record_decoding(network, Decoding(temperature=0.5, confidence=1.0, flip=True))
    path = modelfile.save(network, tmp_path / "m.keras")
    assert modelfile.read_info(path).decoding == {
        "temperature": 0.5,
        "confidence": 1.0,
        "flip": True,
        "prior_correction": 0.0,
    }
    loaded = load_model(path)
    assert decoding_for(loaded) == Decoding(0.5, 1.0, True), "the file's decoding is the default"
    assert decoding_for(loaded, flip=False) == Decoding(0.5, 1.0, False), (
        "a keyword changes one field"
    )
    assert decoding_for(loaded, Decoding()) == Decoding(), "a given Decoding wins over the file's"


def test_the_shipped_default_model_carries_the_default_decoding():
    from colored.config import Decoding

    decoding = modelfile.read_info(
        modelfile.Path(__file__).resolve().parents[1] / "colored/weights/default.keras"
    ).decoding
    assert decoding == Decoding().to_dict(), (
        f"default.keras decodes with {decoding}, the library's default is {Decoding().to_dict()}"
    )


def test_a_file_written_before_model_was_renamed_architecture_loads(network, tmp_path):
    path = modelfile.save(network, tmp_path / "m.keras", Config(**ARCHITECTURE))
    record = json.loads(zipfile.ZipFile(path).read("colored.json"))
    config = dict(record["config"])
    config["model"] = config.pop(
        "architecture"
    )  # as every file before the rename (default.keras too)
    rewrite_member(path, "colored.json", json.dumps({**record, "config": config}))
    assert modelfile.read_info(path).architecture["architecture"] == ARCHITECTURE["architecture"]
    assert load_model(path).name == network.name


def test_a_bad_saved_decoding_is_one_line_naming_the_file(network, tmp_path):
    path = modelfile.save(network, tmp_path / "m.keras", Config(**ARCHITECTURE))
    record = json.loads(zipfile.ZipFile(path).read("colored.json"))
    rewrite_member(path, "colored.json", json.dumps({**record, "decoding": {"temperature": -1}}))
    with pytest.raises(ValueError, match=r"m\.keras:colored\.json decoding: temperature = -1"):
        modelfile.read_info(path)


def test_a_training_run_records_its_prior_for_prior_corrected_decoding(photo_folder, tmp_path):
    from colored.bins import cached_prior
    from colored.predict import decode_output, decoding_for
    from colored.train import training_paths

    config = tiny(photo_folder, tmp_path / "run", loss="classification", epochs=1)
    train(config, verbose=0)
    path = tmp_path / "run" / "model.keras"
    expected = cached_prior(training_paths(config)[0], config.image_size, config.cache_dir)
    recorded = modelfile.read_info(path).prior
    assert recorded is not None and np.allclose(recorded, expected, rtol=1e-5, atol=1e-9), (
        "the model file must carry its training set's ab prior"
    )
    model = load_model(path)
    modelfile.record_decoding(model, prior_correction=0.5)
    again = modelfile.save(model, tmp_path / "again.keras", config)
    loaded = load_model(again)
    assert decoding_for(loaded).prior_correction == 0.5, (
        "a decoding chosen after training must win over the run's config when saved"
    )
    assert np.allclose(modelfile.recorded_prior(loaded), expected, rtol=1e-5, atol=1e-9)
    logits = 2 * np.random.default_rng(0).standard_normal((1, 32, 32, 261)).astype("float32")
    corrected = decode_output(loaded, logits, (64, 64))
    plain = decode_output(loaded, logits, (64, 64), prior_correction=0.0)
    assert not np.allclose(corrected, plain), "prior_correction 0.5 must change the colours"


def test_prior_correction_without_a_recorded_prior_is_one_clear_error(network):
    from colored.predict import decode_output

    logits = np.zeros((1, 16, 16, 261), np.float32)
    with pytest.raises(ValueError, match="prior_correction 0.3 needs the colour prior"):
        decode_output(network, logits, (32, 32), prior_correction=0.3)
    decode_output(network, logits, (32, 32), prior_correction=0.0)  # off: no prior needed
