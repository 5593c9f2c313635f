import numpy as np
import pytest

from colored import Config
from colored.model import build_model, decode_logits, predict_ab
from colored.losses import ab_bins


def test_full_model_has_the_seeds_parameter_count():
    model = build_model(Config(backbone_weights=None))
    assert model.count_params() == 6_541_202, "FullModel at 256² with 1000-d fusion must match the seed"
    assert model.output_shape == (None, 256, 256, 2)
    names = [layer.name for layer in model.layers]
    assert "fusion_concat" in names and model.get_layer("fusion_reshape").output.shape[1:3] == (32, 32), \
        "fusion must happen at the 32×32 bottleneck"


def test_simplified_and_no_fusion_variants():
    simplified = build_model(Config(model="simplified", image_size=64))
    assert simplified.output_shape == (None, 64, 64, 2) and len(simplified.inputs) == 2
    no_fusion = build_model(Config(model="simplified", image_size=64, backbone="none"))
    assert len(no_fusion.inputs) == 1, "no-fusion variant must take only L"
    # the fusion 1×1 conv sees 128 channels instead of 128 + 1000
    assert simplified.count_params() - no_fusion.count_params() == 1000 * 256


def test_classification_head_outputs_bin_logits_at_half_size():
    model = build_model(Config(model="simplified", image_size=64, backbone="none", loss="classification"))
    assert model.output_shape == (None, 32, 32, len(ab_bins()))
    ab = predict_ab(model, np.random.default_rng(0).random((2, 64, 64, 1), np.float32))
    assert ab.shape == (2, 64, 64, 2), "predict_ab must return ab at the input size"


def test_bad_image_size_is_a_clear_error():
    with pytest.raises(ValueError, match="multiple of 16"):
        build_model(Config(model="simplified", image_size=72, backbone="none"))


def test_annealed_mean_decoding_temperature():
    bins = ab_bins()
    logits = np.full((1, len(bins)), -10.0, np.float32)
    target = int(np.argmax(np.hypot(bins[:, 0], bins[:, 1])))  # the most saturated bin
    logits[0, target] = 0.0
    logits[0, int(np.argmin(np.hypot(bins[:, 0], bins[:, 1])))] = -1.0
    cold = np.asarray(decode_logits(logits, 0.1))[0]
    warm = np.asarray(decode_logits(logits, 1.0))[0]
    np.testing.assert_allclose(cold, bins[target], atol=1.0, err_msg="T→0 should give the mode bin")
    assert np.hypot(*warm) < np.hypot(*cold), "higher temperature should pull towards the mean (less vivid)"


def test_ab_bins_are_the_in_gamut_grid():
    bins = ab_bins()
    assert len(bins) == 261, "the sRGB gamut occupies 261 cells of the 10-unit ab grid"
    assert np.all(bins % 10 == 0)
    assert bins[:, 0].min() == -90 and bins[:, 1].min() == -110
