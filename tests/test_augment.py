import numpy as np

from colored.augment import augment, build_augmenter
from tests.conftest import synthetic_photo


def test_augmentation_never_changes_a_solid_colour():
    solid = np.zeros((64, 64, 3), np.uint8) + np.array([200, 40, 90], np.uint8)
    for seed in range(20):
        out = augment(build_augmenter(True, seed=seed), solid)
        assert out.shape == solid.shape
        assert (out == solid).all(), (
            f"augmentation (seed {seed}) changed a solid colour image's pixels"
        )


def test_augmentation_is_geometric_and_reproducible():
    photo = synthetic_photo(np.random.default_rng(3))
    outputs = [augment(build_augmenter(True, seed=s), photo) for s in range(8)]
    assert any(not np.array_equal(o, photo) for o in outputs), "augmentation never changed anything"
    again = augment(build_augmenter(True, seed=5), photo)
    assert np.array_equal(again, outputs[5]), "same seed gave a different augmentation"
    # nearest interpolation + reflection only move pixels: no new colours are invented
    palette = {tuple(p) for p in photo.reshape(-1, 3)}
    assert all(tuple(p) in palette for o in outputs for p in o.reshape(-1, 3)), (
        "augmentation invented colours"
    )


def test_augmentation_can_be_switched_off():
    photo = synthetic_photo(np.random.default_rng(4))
    for seed in range(5):
        assert np.array_equal(augment(build_augmenter(False, seed=seed), photo), photo), (
            "augment disabled but the image changed"
        )
