import numpy as np

from colored import Config
from colored.data import find_images
from colored.embed import Embedder
from colored.pipeline import ColorizationDataset


def make(photo_folder, **overrides):
    config = Config(
        image_size=64, batch_size=5, backbone="none", cache_dir=str(photo_folder / "cache")
    )
    return ColorizationDataset(find_images(photo_folder / "train"), config.replace(**overrides))


def test_batches_have_exact_size_shapes_dtypes_and_ranges(photo_folder):
    data = make(photo_folder)
    assert len(data) == 2, (
        "12 images in batches of 5 (training drops the partial batch) → 2 batches"
    )
    for i in range(len(data)):
        lightness, ab = data[i]
        assert lightness.shape == (5, 64, 64, 1), (
            f"batch {i}: L shape {lightness.shape} (seed bug: size+1)"
        )
        assert ab.shape == (5, 64, 64, 2)
        assert lightness.dtype == np.float32 and ab.dtype == np.float32
        assert 0 <= lightness.min() and lightness.max() <= 1, "L/100 out of [0, 1]"
        assert -1 <= ab.min() and ab.max() <= 1, "ab/128 out of [-1, 1]"
        assert np.abs(ab).max() > 0.1, "ab targets carry no colour"


def test_evaluation_mode_keeps_every_image_in_order_without_augmentation(photo_folder):
    data = make(photo_folder, batch_size=5)
    evaluation = ColorizationDataset(data.paths, data.config, training=False)
    assert len(evaluation) == 3 and evaluation[2][0].shape[0] == 2, (
        "eval must keep the partial batch"
    )
    again = ColorizationDataset(data.paths, data.config, training=False)
    np.testing.assert_array_equal(
        evaluation[0][1], again[0][1], "evaluation batches are not deterministic"
    )


def test_epochs_reshuffle_and_augment_reproducibly(photo_folder):
    a, b = make(photo_folder), make(photo_folder)
    first = a[0][1]
    np.testing.assert_array_equal(first, b[0][1], "same seed must give the same batch")
    a.on_epoch_end()
    assert not np.array_equal(first, a[0][1]), "a new epoch should give a different batch"


def test_fusion_batches_use_cached_embeddings_of_the_same_augmented_image(photo_folder):
    embedder = Embedder(weights=None, cache_dir=photo_folder / "cache")
    data = ColorizationDataset(
        find_images(photo_folder / "train"),
        Config(
            image_size=64,
            batch_size=4,
            backbone="inception_resnet_v2",
            backbone_weights=None,
            cache_dir=str(photo_folder / "cache"),
        ),
        embedder=embedder,
    )
    (lightness, embedding), ab = data[0]
    assert embedding.shape == (4, 1000) and embedding.dtype == np.float32
    calls = []
    original = embedder.compute
    embedder.compute = lambda batch: calls.append(len(batch)) or original(batch)
    (lightness_again, embedding_again), _ = data[0]
    assert calls == [], "second pass over the same batch recomputed embeddings (the seed's 91 %)"
    np.testing.assert_array_equal(lightness, lightness_again)
    np.testing.assert_array_equal(embedding, embedding_again)
    # consistency: the cached vector equals a fresh embedding of this batch's augmented gray image
    from colored import color

    indices = data._order[:4]
    gray = color.rgb_to_gray(
        np.stack([data.augmented_image(int(i), data.view_of(int(i))) for i in indices])
    )
    np.testing.assert_allclose(
        original(gray),
        embedding,
        atol=1e-5,
        err_msg="embedding does not come from the same augmented image as L/ab",
    )


def test_embedding_cache_never_mixes_views_of_different_sizes_seeds_or_augmentation(photo_folder):
    paths = find_images(photo_folder / "train")[:1]
    base = Config(
        image_size=64,
        batch_size=1,
        backbone="inception_resnet_v2",
        backbone_weights=None,
        cache_dir=str(photo_folder / "cache"),
        augment_views=2,
    )
    variants = {
        "augmented view 0": base,
        "augmented view 0, other seed": base.replace(seed=7),
        "augmented view 0, 128²": base.replace(image_size=128),
        "un-augmented (validation)": base.replace(augment=False),
    }
    keys = {
        name: ColorizationDataset(paths, config, embedder=Embedder(None)).embedding_key(0, 0)
        for name, config in variants.items()
    }
    assert len(set(keys.values())) == len(keys), (
        f"different images share an embedding cache key: {keys}"
    )
    same = ColorizationDataset(paths, base, embedder=Embedder(None)).embedding_key(0, 0)
    assert same == keys["augmented view 0"], "the key of one view must be stable across datasets"
