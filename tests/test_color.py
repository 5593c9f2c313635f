import numpy as np
import pytest
from skimage import color as skcolor

from colored import color


@pytest.fixture
def rgb():
    return np.random.default_rng(1).integers(0, 256, (17, 23, 3), dtype=np.uint8)


def test_rgb_to_lab_matches_skimage(rgb):
    expected = skcolor.rgb2lab(rgb)
    np.testing.assert_allclose(color.rgb_to_lab(rgb), expected, atol=1e-3,
                               err_msg="rgb_to_lab disagrees with skimage.color.rgb2lab")


def test_lab_round_trip(rgb):
    back = color.lab_to_rgb(color.rgb_to_lab(rgb))
    np.testing.assert_allclose(back * 255, rgb, atol=0.6, err_msg="RGB → Lab → RGB does not round-trip")


def test_uint16_and_float_inputs_agree(rgb):
    as16 = rgb.astype(np.uint16) * 257
    np.testing.assert_allclose(color.rgb_to_lab(as16), color.rgb_to_lab(rgb), atol=1e-3,
                               err_msg="uint16 input not scaled like uint8")
    np.testing.assert_allclose(color.rgb_to_lab(rgb / 255.0), color.rgb_to_lab(rgb), atol=1e-3)


def test_model_normalisation_ranges_and_inverse(rgb):
    l_norm, ab_norm = color.rgb_to_model_input(rgb)
    assert l_norm.shape == (17, 23, 1) and ab_norm.shape == (17, 23, 2), "L/ab split has wrong shapes"
    assert l_norm.dtype == np.float32 and ab_norm.dtype == np.float32
    assert 0 <= l_norm.min() and l_norm.max() <= 1, "L/100 outside [0, 1]"
    assert -1 <= ab_norm.min() and ab_norm.max() <= 1, "ab/128 outside [-1, 1]"
    lab = skcolor.rgb2lab(rgb)
    np.testing.assert_allclose(ab_norm * 128, lab[..., 1:], atol=1e-3, err_msg="ab is not Lab ab / 128")
    np.testing.assert_allclose(color.model_output_to_rgb(l_norm, ab_norm) * 255, rgb, atol=0.6,
                               err_msg="model_output_to_rgb is not the inverse of rgb_to_model_input")


def test_gray_has_no_colour_and_keeps_lightness(rgb):
    gray = color.rgb_to_gray(rgb)
    assert gray.shape == rgb.shape
    assert np.abs(gray[..., 0] - gray[..., 1]).max() < 1e-3, "gray image has colour (R != G)"
    assert np.abs(gray[..., 1] - gray[..., 2]).max() < 1e-3, "gray image has colour (G != B)"
    np.testing.assert_allclose(skcolor.rgb2lab(gray)[..., 0], skcolor.rgb2lab(rgb)[..., 0], atol=0.05,
                               err_msg="gray image changed the Lab lightness")


def test_in_graph_lab_conversion_matches_skimage(rgb):
    from colored.color import rgb_to_lab_tensor, rgb_to_model_input_tensor

    np.testing.assert_allclose(np.asarray(rgb_to_lab_tensor(rgb)), skcolor.rgb2lab(rgb), atol=2e-3,
                               err_msg="keras.ops Lab conversion disagrees with skimage")
    l_norm, ab_norm = (np.asarray(t) for t in rgb_to_model_input_tensor(rgb))
    ref_l, ref_ab = color.rgb_to_model_input(rgb)
    np.testing.assert_allclose(l_norm, ref_l, atol=1e-4)
    np.testing.assert_allclose(ab_norm, ref_ab, atol=1e-4)
