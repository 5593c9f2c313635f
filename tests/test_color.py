import numpy as np
import pytest
from skimage import color as skcolor

from colored import color


@pytest.fixture
def rgb():
    return np.random.default_rng(1).integers(0, 256, (17, 23, 3), dtype=np.uint8)


def test_rgb_to_lab_matches_skimage(rgb):
    expected = skcolor.rgb2lab(rgb)
    np.testing.assert_allclose(
        color.rgb_to_lab(rgb),
        expected,
        atol=1e-3,
        err_msg="rgb_to_lab disagrees with skimage.color.rgb2lab",
    )


def test_lab_round_trip(rgb):
    back = color.lab_to_rgb(color.rgb_to_lab(rgb))
    np.testing.assert_allclose(
        back * 255, rgb, atol=0.6, err_msg="RGB → Lab → RGB does not round-trip"
    )


def test_uint16_and_float_inputs_agree(rgb):
    as16 = rgb.astype(np.uint16) * 257
    np.testing.assert_allclose(
        color.rgb_to_lab(as16),
        color.rgb_to_lab(rgb),
        atol=1e-3,
        err_msg="uint16 input not scaled like uint8",
    )
    np.testing.assert_allclose(color.rgb_to_lab(rgb / 255.0), color.rgb_to_lab(rgb), atol=1e-3)


def test_model_normalisation_ranges_and_inverse(rgb):
    l_norm, ab_norm = color.rgb_to_model_input(rgb)
    assert l_norm.shape == (17, 23, 1) and ab_norm.shape == (17, 23, 2), (
        "L/ab split has wrong shapes"
    )
    assert l_norm.dtype == np.float32 and ab_norm.dtype == np.float32
    assert 0 <= l_norm.min() and l_norm.max() <= 1, "L/100 outside [0, 1]"
    assert -1 <= ab_norm.min() and ab_norm.max() <= 1, "ab/128 outside [-1, 1]"
    lab = skcolor.rgb2lab(rgb)
    np.testing.assert_allclose(
        ab_norm * 128, lab[..., 1:], atol=1e-3, err_msg="ab is not Lab ab / 128"
    )
    np.testing.assert_allclose(
        color.model_output_to_rgb(l_norm, ab_norm) * 255,
        rgb,
        atol=0.6,
        err_msg="model_output_to_rgb is not the inverse of rgb_to_model_input",
    )


def test_gray_has_no_colour_and_keeps_lightness(rgb):
    gray = color.rgb_to_gray(rgb)
    assert gray.shape == rgb.shape
    assert np.abs(gray[..., 0] - gray[..., 1]).max() < 1e-3, "gray image has colour (R != G)"
    assert np.abs(gray[..., 1] - gray[..., 2]).max() < 1e-3, "gray image has colour (G != B)"
    np.testing.assert_allclose(
        skcolor.rgb2lab(gray)[..., 0],
        skcolor.rgb2lab(rgb)[..., 0],
        atol=0.05,
        err_msg="gray image changed the Lab lightness",
    )


def test_in_graph_lab_conversion_matches_skimage(rgb):
    from colored.color import rgb_to_lab_tensor, rgb_to_model_input_tensor

    np.testing.assert_allclose(
        np.asarray(rgb_to_lab_tensor(rgb)),
        skcolor.rgb2lab(rgb),
        atol=2e-3,
        err_msg="keras.ops Lab conversion disagrees with skimage",
    )
    l_norm, ab_norm = (np.asarray(t) for t in rgb_to_model_input_tensor(rgb))
    ref_l, ref_ab = color.rgb_to_model_input(rgb)
    np.testing.assert_allclose(l_norm, ref_l, atol=1e-4)
    np.testing.assert_allclose(ab_norm, ref_ab, atol=1e-4)


# --- the fast numpy paths (lightness, lab_to_rgb_uint8) and the keras.ops in-graph conversion ----------
# Checked against skimage.color directly, on random colours and the edge cases: black, white, the
# saturated primaries and secondaries, a near-black colour on sRGB's linear segment.
EDGE_COLOURS = np.array(
    [
        [0, 0, 0],
        [255, 255, 255],
        [255, 0, 0],
        [0, 255, 0],
        [0, 0, 255],
        [0, 255, 255],
        [255, 0, 255],
        [255, 255, 0],
        [1, 2, 3],
        [128, 128, 128],
    ],
    np.uint8,
)


@pytest.fixture
def rgb_with_edges():
    rgb = np.random.default_rng(2).integers(0, 256, (19, 31, 3), dtype=np.uint8)
    rgb[0, : len(EDGE_COLOURS)] = EDGE_COLOURS
    return rgb


@pytest.mark.parametrize("kind", ["uint8", "uint16", "float32"])
def test_fast_lightness_matches_skimage(rgb_with_edges, kind):
    rgb = {
        "uint8": rgb_with_edges,
        "uint16": rgb_with_edges.astype(np.uint16) * 257,
        "float32": rgb_with_edges.astype(np.float32) / 255,
    }[kind]
    if kind == "uint16":  # values between the 8-bit levels too (row 0 keeps the exact edge colours)
        rgb[1:] = np.minimum(rgb[1:].astype(np.int64) + 3, 65535)
    reference = skcolor.rgb2lab(color.to_float_rgb(rgb).astype(np.float64))[..., 0]
    fast = color.lightness(rgb)
    assert fast.shape == rgb.shape[:2] and fast.dtype == np.float32
    error = np.abs(fast - reference).max()
    assert error < 1e-3, (
        f"{kind}: fast L differs from skimage.color.rgb2lab by {error:.2e} (tolerance 1e-3 L units)"
    )
    edges = fast[0, : len(EDGE_COLOURS)]
    assert abs(edges[0]) < 1e-3 and abs(edges[1] - 100) < 1e-3, (
        f"{kind}: black must be L = 0, white L = 100: {edges[:2]}"
    )


def test_fast_lightness_works_block_by_block(monkeypatch, rgb_with_edges):
    monkeypatch.setattr(
        color, "BLOCK_PIXELS", 64
    )  # two rows a block: the blocks must tile the image
    np.testing.assert_allclose(
        color.lightness(rgb_with_edges),
        skcolor.rgb2lab(rgb_with_edges)[..., 0],
        atol=1e-3,
        err_msg="block-wise fast L differs from skimage (tolerance 1e-3 L units)",
    )


def test_fast_lab_to_rgb_round_trips_in_gamut_colours(rgb_with_edges):
    lab = skcolor.rgb2lab(rgb_with_edges).astype(np.float32)
    back = color.lab_to_rgb_uint8(lab[..., 0], lab[..., 1:])
    assert back.dtype == np.uint8 and back.shape == rgb_with_edges.shape
    difference = np.abs(back.astype(int) - rgb_with_edges)
    assert difference.max() <= 1, (
        f"fast Lab → RGB of skimage's Lab is off by {difference.max()} levels (tolerance ±1)"
    )
    np.testing.assert_array_equal(
        back[0, : len(EDGE_COLOURS)],
        EDGE_COLOURS,
        err_msg="black, white and the saturated primaries must come back exactly",
    )


def test_fast_lab_to_rgb_matches_skimage_out_of_gamut():
    import warnings

    rng = np.random.default_rng(5)
    lightness = rng.uniform(0, 100, (23, 37)).astype(np.float32)
    lightness[0, :2] = [0, 100]
    ab = rng.normal(0, 60, (23, 37, 2)).astype(np.float32)  # much of it outside sRGB: clipped
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skimage warns about negative Z values it clips
        reference = skcolor.lab2rgb(
            np.concatenate([lightness[..., None], ab], -1).astype(np.float64)
        )
    reference = np.rint(np.clip(reference, 0, 1) * 255).astype(int)
    difference = np.abs(color.lab_to_rgb_uint8(lightness, ab).astype(int) - reference)
    assert difference.max() <= 1 and (difference > 0).mean() < 0.01, (
        f"fast Lab → RGB differs from skimage.color.lab2rgb by up to {difference.max()} levels on "
        f"{(difference > 0).mean():.1%} of values (tolerance ±1 on under 1%)"
    )


@pytest.mark.parametrize("kind", ["uint8", "float32"])
def test_in_graph_lab_conversion_on_edge_colours(rgb_with_edges, kind):
    rgb = rgb_with_edges if kind == "uint8" else rgb_with_edges.astype(np.float32) / 255
    result = np.asarray(color.rgb_to_lab_tensor(rgb))
    error = np.abs(result - skcolor.rgb2lab(rgb_with_edges)).max()
    assert error < 2e-3, (
        f"{kind}: keras.ops Lab differs from skimage.color.rgb2lab by {error:.2e} (tolerance 2e-3)"
    )
    edges = result[0, : len(EDGE_COLOURS)]
    # skimage's matrix rows do not sum exactly to its D65 white, so its white is (100, −0.002, 0.005).
    np.testing.assert_allclose(
        edges[:2],
        [[0, 0, 0], [100, 0, 0]],
        atol=1e-2,
        err_msg="in-graph Lab of black / white must be (0, 0, 0) / (100, 0, 0) (tolerance 1e-2)",
    )


def test_ab_target_tensor_accepts_ab_or_rgb(rgb_with_edges):
    _, ab_norm = color.rgb_to_model_input(rgb_with_edges)
    np.testing.assert_allclose(
        np.asarray(color.ab_target_tensor(ab_norm)),
        ab_norm,
        err_msg="ab/128 targets must pass through unchanged",
    )
    np.testing.assert_allclose(
        np.asarray(color.ab_target_tensor(rgb_with_edges.astype(np.float32))),
        ab_norm,
        atol=2e-5,
        err_msg="8-bit RGB targets (cast to float by Keras) must become ab/128 "
        "(tolerance 2e-5, i.e. 2.6e-3 ab units)",
    )


@pytest.mark.parametrize(
    "rgb, name",
    [
        ((255, 0, 0), "red"),
        ((255, 165, 0), "orange"),
        ((255, 255, 0), "yellow"),
        ((0, 128, 0), "green"),
        ((0, 255, 255), "cyan"),
        ((0, 0, 255), "blue"),
        ((135, 206, 235), "blue"),
        ((128, 0, 128), "purple"),
        ((255, 105, 180), "pink"),
        ((128, 128, 128), "gray"),
        ((150, 120, 115), "grayish red"),
    ],
)
def test_colour_names_follow_the_lab_hue_skimage_computes(rgb, name):
    from skimage import color as skcolor

    _, a, b = skcolor.rgb2lab(np.array([[rgb]], np.uint8))[0, 0]
    assert color.ab_colour_name(a, b) == name, (
        f"{rgb} (a {a:+.0f}, b {b:+.0f}) named {color.ab_colour_name(a, b)!r}"
    )
