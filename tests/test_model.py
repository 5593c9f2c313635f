import numpy as np
import pytest

from colored import Config, Decoding
from colored.bins import num_bins
from colored.model import build_model
from colored.predict import predict_ab


def test_full_model_has_the_seeds_parameter_count():
    model = build_model(Config(backbone_weights=None))
    assert model.count_params() == 6_541_202, (
        "FullModel at 256² with 1000-d fusion must match the seed"
    )
    assert model.output_shape == (None, 256, 256, 2)
    names = [layer.name for layer in model.layers]
    assert "fusion_concat" in names and model.get_layer("fusion_grid").output.shape[1:] == (
        32,
        32,
        1000,
    ), "fusion must happen at the 32×32 bottleneck"


def test_simplified_and_no_fusion_variants():
    simplified = build_model(Config(architecture="simplified", image_size=64))
    assert simplified.output_shape == (None, 64, 64, 2) and len(simplified.inputs) == 2
    no_fusion = build_model(Config(architecture="simplified", image_size=64, backbone="none"))
    assert len(no_fusion.inputs) == 1, "no-fusion variant must take only L"
    # the fusion 1×1 conv sees 128 channels instead of 128 + 1000
    assert simplified.count_params() - no_fusion.count_params() == 1000 * 256


def test_classification_head_outputs_bin_logits_at_half_size():
    model = build_model(
        Config(architecture="simplified", image_size=64, backbone="none", loss="classification")
    )
    assert model.output_shape == (None, 32, 32, num_bins())
    from colored.bins import decode_logits
    from colored.predict import decode_output, predict_output

    l_norm = np.random.default_rng(0).random((2, 64, 64, 1), np.float32)
    ab = predict_ab(model, l_norm)
    assert ab.shape == (2, 64, 64, 2), "predict_ab must return ab at the input size"
    logits = predict_output(model, l_norm)
    np.testing.assert_allclose(  # at the head's own size nothing is resized: the annealed mean itself
        decode_output(model, logits, (32, 32)),
        np.asarray(decode_logits(logits, Decoding().temperature, Decoding().confidence)),
        atol=1e-4,
        err_msg="decode_output must be decode_logits at the default decoding",
    )
    peaked = 3 * np.random.default_rng(1).standard_normal(logits.shape).astype(np.float32)
    mode = decode_output(model, peaked, (64, 64), temperature=0.01)
    mean = decode_output(model, peaked, (64, 64), temperature=1.0)
    change = float(np.abs(mode - mean).mean())
    assert change > 5.0, (
        f"the temperature must reach the decoding: mode vs mean differ by {change:.3f}"
    )


def test_bad_image_size_is_a_clear_error():
    with pytest.raises(ValueError, match="multiple of 16"):
        build_model(Config(architecture="simplified", image_size=72, backbone="none"))
