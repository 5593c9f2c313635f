import numpy as np
import pytest

from colored.embed import IMAGENET_WEIGHTS_MD5, BackboneWeightsError, Embedder, build_backbone


def test_offline_weights_error_names_cache_file_md5_and_alternatives(tmp_path, monkeypatch):
    import keras

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))

    def offline(*args, **kwargs):
        raise Exception(
            "URL fetch failure on https://storage.googleapis.com/...: None -- [Errno -3]"
        )

    monkeypatch.setattr(keras.utils, "get_file", offline)
    monkeypatch.setattr("keras.src.applications.inception_resnet_v2.file_utils.get_file", offline)
    with pytest.raises(BackboneWeightsError) as info:
        build_backbone("imagenet")
    message = str(info.value)
    assert "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5" in message, (
        "cache file not named"
    )
    assert str(tmp_path / "keras-home" / "models") in message, "KERAS_HOME cache folder not named"
    assert IMAGENET_WEIGHTS_MD5 in message, "md5 not given"
    assert "backbone='none'" in message and "backbone_weights" in message, (
        "alternatives not offered"
    )


def test_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(BackboneWeightsError, match="not found"):
        build_backbone(str(tmp_path / "nope.h5"))


def test_embedding_cache_returns_what_a_fresh_computation_gives(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    embedder = Embedder(weights=None, cache_dir=tmp_path)
    gray = np.random.default_rng(0).random((3, 64, 64, 3), np.float32)
    photo = tmp_path / "a.png"
    photo.write_bytes(b"x")
    keys = [Embedder.cache_key(photo, view) for view in range(3)]
    first = embedder.cached(keys, gray)
    assert first.shape == (3, 1000) and np.allclose(first.sum(1), 1, atol=1e-4), (
        "not class probabilities"
    )
    assert len(list(embedder.cache_dir.glob("*.npy"))) == 3, "embeddings were not cached on disk"
    calls = []
    original = embedder.compute
    embedder.compute = lambda batch: calls.append(len(batch)) or original(batch)
    again = embedder.cached(keys, gray)
    assert calls == [], "cached embeddings were recomputed"
    fresh = original(gray)
    np.testing.assert_allclose(
        again, fresh, atol=1e-5, err_msg="cache returned a different embedding"
    )
