"""colored.colorize and colored.inference: full-resolution colorization of real files, folders and the CLI.

A tiny untrained 64² model is enough: what is tested is the plumbing (sizes, the reattached
full-resolution L, alpha, folders, bad files, exit codes, never overwriting inputs), not the colours.
Its output bias is set so it predicts a definite colour, which makes "it was colorized" checkable.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import colored
from colored import color, inference, loading, predict
from colored import colorize as colorize_module
from colored.cli import build_parser
from colored.colorize import ColorizeReport, colorize_paths
from colored.inference import ModelNotFoundError, colorize, colorize_batch, load_model
from colored.io.images import read_image
from colored.model import input_size as model_input_size

SIZE = 64


def detailed_photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth colour plus pixel-level detail (noise), lightness kept inside 15..85."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([0.5 + 0.25 * np.sin(x / 17 + c) * np.cos(y / 23 - c) for c in range(3)], -1)
    detail = rng.uniform(-0.12, 0.12, (height, width, 1))
    return (np.clip(base + detail, 0.15, 0.85) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    from colored.model import build_model

    model = build_model(colored.Config(image_size=SIZE, architecture="simplified", backbone="none"))
    for layer in model.layers:  # a definite colour: ab ≈ 128·tanh(0.15, -0.1) ≈ (19, -13)
        if layer.name == "ab_conv":
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel * 0.1, np.array([0.15, -0.1], np.float32)])
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def model(model_path):
    return load_model(model_path)


def cli(argv: list[str]) -> int:
    args = build_parser().parse_args(["colorize", *argv])
    return args.func(args)


def save(path: Path, array: np.ndarray, **options) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **options)
    return path


# ---------------------------------------------------------------------------------------------
# model loading


def test_load_model_round_trip(model):
    assert model_input_size(model) == (SIZE, SIZE)


def test_no_model_gives_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv(loading.MODEL_ENV_VAR, raising=False)
    monkeypatch.setattr(loading, "DEFAULT_MODEL_PATH", tmp_path / "weights" / "default.keras")
    with pytest.raises(ModelNotFoundError) as caught:
        load_model()
    message = str(caught.value)
    assert isinstance(caught.value, FileNotFoundError)
    for needed in (
        "--model",
        "colored train",
        "notebook 05",
        str(tmp_path / "weights" / "default.keras"),
    ):
        assert needed in message, f"the no-model message must mention {needed!r}:\n{message}"


def test_missing_corrupt_and_wrong_model_files_are_named(tmp_path):
    for path, words in (
        (tmp_path / "nope.keras", "does not exist"),
        (tmp_path / "weights.h5", "not a .keras file"),
        (tmp_path, "directory"),
    ):
        if path.suffix == ".h5":
            path.write_bytes(b"\x89HDF")
        with pytest.raises(ModelNotFoundError, match=words) as caught:
            load_model(path)
        assert str(path) in str(caught.value)
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"this is not a zip file")
    with pytest.raises(
        ModelNotFoundError, match="is damaged"
    ) as caught:  # tests/test_modelfile.py: each kind
        load_model(corrupt)
    assert str(corrupt) in str(caught.value) and "colored train" in str(caught.value)


def test_default_model_from_environment(monkeypatch, model_path):
    monkeypatch.setenv(loading.MODEL_ENV_VAR, str(model_path))
    assert model_input_size(load_model()) == (SIZE, SIZE)


# ---------------------------------------------------------------------------------------------
# full resolution


@pytest.mark.parametrize("shape", [(333, 517), (517, 333), (3, 5), (64, 64)])
def test_output_has_the_input_exact_size(model, shape):
    out = colorize(detailed_photo(*shape), model)
    assert out.shape == (*shape, 3) and out.dtype == np.uint8, (
        f"input {shape} gave output {out.shape}"
    )


def test_full_resolution_lightness_is_reattached(model):
    photo = detailed_photo(333, 517)
    out = colorize(photo, model)
    error = np.abs(color.rgb_to_lab(out)[..., 0] - color.rgb_to_lab(photo)[..., 0])
    assert error.mean() < 0.5 and np.percentile(error, 99) < 1.0, (
        f"output L differs from input L by {error.mean():.2f} on average (99th percentile "
        f"{np.percentile(error, 99):.2f}): the full-resolution L was not reattached"
    )
    chroma = np.hypot(*np.moveaxis(color.rgb_to_lab(out)[..., 1:], -1, 0))
    assert np.median(chroma) > 5, (
        "the output should be coloured (the test model predicts a definite ab)"
    )


def test_gray_inputs_work(model, tmp_path):
    gray = detailed_photo(40, 60)[..., 0]
    for image in (
        gray,
        save(tmp_path / "g.png", gray),
        Image.fromarray(gray),
        save(tmp_path / "g16.png", gray.astype(np.uint16) * 257),
    ):
        out = colorize(image, model)
        assert out.shape == (40, 60, 3)
        assert np.ptp(out.astype(int), axis=-1).mean() > 3, (
            f"{type(image).__name__}: gray in, gray out"
        )


def test_exif_rotated_photo_comes_out_upright(model, tmp_path):
    image = Image.fromarray(detailed_photo(30, 50))
    exif = image.getexif()
    exif[0x0112] = 6
    image.save(tmp_path / "rotated.jpg", exif=exif)
    assert colorize(tmp_path / "rotated.jpg", model).shape == (50, 30, 3)


def test_rgba_keeps_alpha(model, tmp_path):
    alpha = np.tile(np.linspace(0, 255, 48).astype(np.uint8), (32, 1))
    path = save(tmp_path / "in" / "logo.png", np.dstack([detailed_photo(32, 48), alpha]))
    rgba = colorize(path, model, keep_alpha=True)
    assert rgba.shape == (32, 48, 4)
    np.testing.assert_array_equal(rgba[..., 3], alpha)
    assert colorize(path, model).shape == (32, 48, 3)
    report = colorize_paths([path], tmp_path / "out", model, progress=False)
    written = read_image(tmp_path / "out" / "logo.png")
    assert report.ok and written.alpha is not None, "PNG output must keep the input's alpha"
    np.testing.assert_array_equal(written.alpha, alpha)


def test_batches_several_images_per_model_call_with_one_shape(model, monkeypatch):
    shapes = []
    real = model.predict

    def counting(inputs, **kwargs):  # every call of the network itself
        shapes.append(np.shape(inputs))
        return real(inputs, **kwargs)

    monkeypatch.setattr(model, "predict", counting)
    images = [inference.as_decoded(detailed_photo(20 + i, 30)) for i in range(5)]
    outs = colorize_batch(
        images, model, batch_size=4, keep_aspect=False
    )  # all squashed to the square
    # 5 images, at most 4 per call → 3 + 2, the 2 padded to 3: one batch shape, one compile
    assert shapes == [(3, SIZE, SIZE, 1)] * 2, f"expected two model calls of 3 images, got {shapes}"
    assert [o.shape[:2] for o in outs] == [(20 + i, 30) for i in range(5)]
    np.testing.assert_array_equal(
        outs[4],
        colorize_batch([images[4]], model, keep_aspect=False)[0],
        err_msg="padding changed a result",
    )
    assert [inference.even_batch_size(n, 8) for n in (1, 8, 9, 13, 16, 17)] == [1, 8, 5, 7, 8, 6]


# ---------------------------------------------------------------------------------------------
# files, folders, bad input, CLI


def test_folder_with_good_and_bad_files(model_path, tmp_path, capsys):
    folder = tmp_path / "photos"
    good = [
        save(folder / "a.jpg", detailed_photo(40, 60)),
        save(folder / "b.png", detailed_photo(61, 33, 1)),
        save(folder / "c.tif", detailed_photo(20, 20, 2)),
        save(folder / "d.bmp", detailed_photo(25, 30, 3)),
        save(folder / "e.webp", detailed_photo(30, 25, 4)),
        save(folder / "f.gif", detailed_photo(15, 35, 5)),
    ]
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.png").write_text("not an image")
    (folder / "cut.jpg").write_bytes((folder / "a.jpg").read_bytes()[:300])
    (folder / "dir.jpg").mkdir()
    (folder / "readme.txt").write_text("ignored: not an image extension")
    (folder / "._a.jpg").write_bytes(
        b"\x00\x05\x16\x07 AppleDouble"
    )  # macOS metadata: skipped quietly
    status = cli(
        [
            str(folder),
            "-o",
            str(tmp_path / "out"),
            "--model",
            str(model_path),
            "-q",
            "--batch-size",
            "4",
        ]
    )
    captured = capsys.readouterr()
    assert status == 1, f"a failed file must give exit status 1, got {status}"
    for path in good:
        suffix = ".png" if path.suffix == ".gif" else path.suffix  # GIF's 256 colours → PNG
        out = tmp_path / "out" / (path.stem + suffix)
        assert out.is_file(), f"{out.name} was not written although {path.name} is fine"
        assert read_image(out).size == read_image(path).size
    for name, reason in (
        ("empty.jpg", "empty"),
        ("notes.png", "text file"),
        ("cut.jpg", "truncated"),
        ("dir.jpg", "directory"),
    ):
        line = next((line for line in captured.out.splitlines() if name in line), "")
        assert reason in line, (
            f"{name} must be reported with its reason ({reason!r}); output:\n{captured.out}"
        )
    assert "6 colorized, 4 failed" in captured.out
    assert (
        not (tmp_path / "out" / "empty.jpg").exists()
        and not (tmp_path / "out" / "._a.jpg").exists()
    )


def test_recursive_keeps_the_folder_structure(model, tmp_path):
    root = tmp_path / "album"
    for relative in ("top.jpg", "1950s/beach.png", "1950s/family/xmas.TIF"):
        save(root / relative, detailed_photo(24, 36))
    report = colorize_paths([root], tmp_path / "out", model, recursive=True, progress=False)
    assert report.ok, report.summary()
    written = sorted(
        str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file()
    )
    assert written == ["1950s/beach.png", "1950s/family/xmas.TIF", "top.jpg"]
    flat = colorize_paths([root], tmp_path / "flat", model, progress=False)
    assert [p.name for _, p in flat.done] == ["top.jpg"]
    assert any("recursive" in reason for _, reason in flat.skipped), (
        "sub-folders are reported as skipped"
    )


def test_output_folder_inside_the_input_is_not_read_back(model, tmp_path):
    root = tmp_path / "album"
    save(root / "a.png", detailed_photo(16, 16))
    save(root / "old" / "b.png", detailed_photo(16, 16))
    expected = ["colorized/a.png", "colorized/old/b.png"]
    first = colorize_paths([root], root / "colorized", model, recursive=True, progress=False)
    assert sorted(str(p.relative_to(root)) for _, p in first.done) == expected
    for overwrite in (False, True):  # a second run must not colorize the first run's outputs
        again = colorize_paths(
            [root], root / "colorized", model, recursive=True, progress=False, overwrite=overwrite
        )
        outputs = again.done if overwrite else again.kept
        assert sorted(str(p.relative_to(root)) for _, p in outputs) == expected, (
            f"overwrite={overwrite}: {again.summary()}"
        )
        assert len(again.done) + len(again.kept) == 2 and not again.failed, again.summary()
    same = colorize_paths(
        [root / "old"], root / "old", model, recursive=True, progress=False
    )  # outdir == input
    assert [p.name for _, p in same.done] == ["b_colorized.png"], (
        "sub-folders of the input must still be read"
    )
    twice = colorize_paths(
        [root / "a.png", root / "a.png", root], tmp_path / "out", model, progress=False
    )
    assert [p.name for _, p in twice.done] == ["a.png"], (
        "the same file named twice is colorized once"
    )


def test_inputs_are_never_overwritten(model, tmp_path):
    folder = tmp_path / "photos"
    paths = [
        save(folder / "a.png", detailed_photo(20, 30)),
        save(folder / "b.jpg", detailed_photo(30, 20)),
    ]
    before = {p: p.read_bytes() for p in paths}
    report = colorize_paths([folder], folder, model, progress=False)  # outdir == input folder
    assert report.ok, report.summary()
    for path, data in before.items():
        assert path.read_bytes() == data, f"{path.name} (an input) was overwritten"
    assert sorted(p.name for _, p in report.done) == ["a_colorized.png", "b_colorized.jpg"]
    # an output name that is a hard link to an input is protected too
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.png").hardlink_to(paths[0])
    report = colorize_paths([paths[0]], tmp_path / "out", model, progress=False)
    assert paths[0].read_bytes() == before[paths[0]] and report.done[0][1].name == "a_colorized.png"


def test_colliding_outputs_get_distinct_names(model, tmp_path):
    folder = tmp_path / "in"
    save(folder / "x.jpg", detailed_photo(20, 20))
    save(folder / "x.png", detailed_photo(20, 20, 1))
    report = colorize_paths([folder], tmp_path / "out", model, format="webp", progress=False)
    assert sorted(p.name for _, p in report.done) == ["x.webp", "x_colorized.webp"]


def test_format_option_and_single_output_file(model_path, tmp_path, capsys):
    photo = save(tmp_path / "scan.tif", detailed_photo(21, 34))
    assert (
        cli(
            [
                str(photo),
                "-o",
                str(tmp_path / "out"),
                "--format",
                "jpg",
                "--model",
                str(model_path),
                "-q",
            ]
        )
        == 0
    )
    with Image.open(tmp_path / "out" / "scan.jpg") as written:
        assert written.format == "JPEG" and written.size == (34, 21)
    assert (
        cli([str(photo), "-o", str(tmp_path / "named.webp"), "--model", str(model_path), "-q"]) == 0
    )
    with Image.open(tmp_path / "named.webp") as written:
        assert written.format == "WEBP" and written.size == (34, 21)
    assert "1 colorized, 0 failed" in capsys.readouterr().out


def test_cli_without_a_model_exits_2_and_says_how(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv(loading.MODEL_ENV_VAR, raising=False)
    monkeypatch.setattr(loading, "DEFAULT_MODEL_PATH", tmp_path / "default.keras")
    photo = save(tmp_path / "a.png", detailed_photo(10, 10))
    assert cli([str(photo), "-o", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "--model" in error and "colored train" in error, error
    assert not (tmp_path / "out").exists(), "nothing is written when there is no model"


def test_cli_with_no_images_exits_2(model_path, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert (
        cli([str(tmp_path / "empty"), "-o", str(tmp_path / "out"), "--model", str(model_path)]) == 2
    )
    assert "no images found" in capsys.readouterr().err


def test_missing_input_is_reported_and_others_still_done(model, tmp_path):
    photo = save(tmp_path / "ok.png", detailed_photo(10, 12))
    report = colorize_paths(
        [tmp_path / "missing.jpg", photo], tmp_path / "out", model, progress=False
    )
    assert [p.name for _, p in report.done] == ["ok.png"]
    assert report.failed[0][0].name == "missing.jpg" and "no such file" in report.failed[0][1]
    assert isinstance(report, ColorizeReport) and not report.ok and "1 failed" in report.summary()
    assert set(report.timings) >= {"decode", "preprocess", "model", "recombine", "encode"}


def test_help_and_argument_validation(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in (
        "--model",
        "--recursive",
        "--format",
        "--batch-size",
        "--temperature",
        "-o OUTDIR",
        "--overwrite",
        "--no-overwrite",
    ):
        assert option in text, f"--help must document {option}"
    with pytest.raises(SystemExit) as exit_info:
        cli(["x.jpg", "-o", "out", "--batch-size", "0"])
    assert exit_info.value.code == 2


def test_registered_in_the_colored_command(model_path, tmp_path):
    from colored import cli as colored_cli

    photo = save(tmp_path / "a.png", detailed_photo(12, 16))
    (tmp_path / "bad.jpg").write_bytes(b"<html></html>")
    status = colored_cli.main(
        [
            "colorize",
            str(photo),
            str(tmp_path / "bad.jpg"),
            "-o",
            str(tmp_path / "out"),
            "--model",
            str(model_path),
            "-q",
        ]
    )
    assert status == 1 and (tmp_path / "out" / "a.png").is_file()


# ---------------------------------------------------------------------------------------------
# reliability: incompatible models, missing inputs, unwritable outputs, existing outputs


def tiny_model(input_shapes: list[tuple], out_channels: int):
    """The smallest Keras model with these inputs and an ``out_channels`` output (an image input first)."""
    import keras

    inputs = [keras.Input(shape) for shape in input_shapes]
    if len(input_shapes[0]) == 3:
        x = keras.layers.Conv2D(out_channels, 1)(inputs[0])
    else:
        x = keras.layers.Dense(out_channels)(inputs[0])
    if len(inputs) > 1:  # the embedding, added everywhere (as the fusion does)
        height, width = input_shapes[0][:2]
        tiled = keras.layers.RepeatVector(height * width)(
            keras.layers.Dense(out_channels)(inputs[1])
        )
        x = keras.layers.Add()([x, keras.layers.Reshape((height, width, out_channels))(tiled)])
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], x)


def saved_tiny_model(path: Path, input_shapes: list[tuple], out_channels: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tiny_model(input_shapes, out_channels).save(path)
    return path


@pytest.mark.parametrize(
    "inputs, channels, found, problem",
    [
        ([(16, 16, 1)], 3, "outputs (None, 16, 16, 3)", "output wrong"),
        ([(16, 16, 3)], 2, "takes (None, 16, 16, 3)", "input wrong"),
        (
            [(16, 16, 1), (512,)],
            2,
            "takes [(None, 16, 16, 1), (None, 512)]",
            "embedding input wrong",
        ),
        ([(10,)], 2, "takes (None, 10) and outputs (None, 2)", "input and output wrong"),
    ],
    ids=["3-channel output", "rgb input", "wrong embedding size", "not an image model"],
)
def test_incompatible_model_is_refused_at_load_in_one_line(
    tmp_path, inputs, channels, found, problem
):
    from colored.bins import num_bins
    from colored.inference import IncompatibleModelError

    path = saved_tiny_model(tmp_path / "bad.keras", inputs, channels)
    with pytest.raises(IncompatibleModelError) as caught:
        load_model(path)
    message = str(caught.value)
    assert "\n" not in message, f"the refusal must be one line:\n{message}"
    for needed in (
        f"model file {path} is not a colorization model ({problem})",
        found,
        "expected input (None, H, W, 1)",
        "(None, 1000) (embedding)",
        "(None, H, W, 2) (ab)",
        f"(None, H, W, {num_bins()}) (ab-bin logits)",
    ):
        assert needed in message, f"the refusal must say {needed!r}:\n{message}"
    assert isinstance(caught.value, ModelNotFoundError), (
        "callers catching ModelNotFoundError must still catch it"
    )


@pytest.mark.parametrize(
    "inputs, channels",
    [
        ([(16, 16, 1)], 2),
        ([(None, None, 1)], 2),
        ([(16, 16, 1)], "bins"),
        ([(16, 16, 1), (1000,)], 2),
    ],
    ids=["regression", "any size", "classification", "fusion"],
)
def test_compatible_models_load(tmp_path, inputs, channels):
    from colored.bins import num_bins
    from colored.predict import predict_output

    out_channels = num_bins() if channels == "bins" else channels
    original = tiny_model(inputs, out_channels)
    path = tmp_path / "ok.keras"
    original.save(path)
    loaded = load_model(path)
    assert [tuple(x.shape[1:]) for x in loaded.inputs] == inputs, (
        "the inputs survive the round trip"
    )
    l_norm = np.random.default_rng(0).random((2, 16, 16, 1), np.float32)
    embeddings = np.full((2, 1000), 1e-3, np.float32) if len(inputs) > 1 else None
    # the loaded model predicts exactly what the saved one did: the weights came back
    np.testing.assert_allclose(
        predict_output(loaded, l_norm, embeddings),
        predict_output(original, l_norm, embeddings),
        atol=1e-6,
        err_msg="the loaded model predicts otherwise than the one saved",
    )


def test_cli_refuses_an_incompatible_model_before_any_work(tmp_path, capsys):
    from colored import cli as colored_cli
    from colored.inference import IncompatibleModelError

    bad = saved_tiny_model(tmp_path / "rgb_out.keras", [(16, 16, 1)], 3)
    photo = save(tmp_path / "a.png", detailed_photo(10, 12))
    status = colored_cli.main(
        ["colorize", str(photo), "-o", str(tmp_path / "out"), "--model", str(bad), "-q"]
    )
    err = capsys.readouterr().err
    assert status == 2, f"an incompatible model is a usage error (2), got {status}: {err}"
    assert err.count("\n") == 1 and err.startswith(
        f"colored colorize: error: model file {bad} is not a colorization "
        "model (output wrong): it takes (None, 16, 16, 1) and outputs "
        "(None, 16, 16, 3); expected"
    ), err
    assert not (tmp_path / "out").exists(), (
        "nothing may be written (not even the folder) for a bad model"
    )
    with pytest.raises(
        IncompatibleModelError, match="outputs \\(None, 16, 16, 3\\)"
    ):  # in memory, too
        colorize_paths([photo], tmp_path / "out", tiny_model([(16, 16, 1)], 3), progress=False)


def test_cli_missing_input_is_a_usage_error(model_path, tmp_path, capsys):
    from colored import cli as colored_cli

    photo = save(tmp_path / "ok.png", detailed_photo(10, 12))
    missing = tmp_path / "missin.jpg"
    status = colored_cli.main(
        [
            "colorize",
            str(photo),
            str(missing),
            "-o",
            str(tmp_path / "out"),
            "--model",
            str(model_path),
            "-q",
        ]
    )
    err = capsys.readouterr().err
    assert status == 2, (
        f"a missing input is a usage error (2, as in `colored evaluate`), got {status}"
    )
    assert (
        err
        == f"colored colorize: error: input {missing} does not exist: check the path and its spelling\n"
    ), err
    assert not (tmp_path / "out").exists(), "nothing is colorized when an input path is wrong"
    link = tmp_path / "link.png"
    link.symlink_to(tmp_path / "gone.png")
    assert cli([str(link), "-o", str(tmp_path / "out"), "--model", str(model_path), "-q"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"colored colorize: error: input {link} is a broken symbolic link (it points to "
        f"{str(tmp_path / 'gone.png')!r}): fix or remove it\n"
    ), err


@pytest.mark.parametrize("case", ["parent is a file", "permission denied"])
def test_cli_unwritable_output_folder_is_a_usage_error_before_any_work(
    model_path, tmp_path, monkeypatch, capsys, case
):
    from colored.io import files as fileio

    photo = save(tmp_path / "a.png", detailed_photo(10, 12))
    if case == "parent is a file":
        (tmp_path / "file").write_text("not a folder")
        outdir, reason = tmp_path / "file" / "out", f"{tmp_path / 'file'} is a file, not a folder"
    else:
        outdir, reason = tmp_path / "out", "Permission denied"
        real = fileio.tempfile.mkstemp

        def mkstemp(*args, dir=None, **kwargs):  # noqa: A002 - a read-only folder, even for root
            if dir is not None and Path(dir) == outdir:
                raise PermissionError(13, "Permission denied")
            return real(*args, dir=dir, **kwargs)

        monkeypatch.setattr(fileio.tempfile, "mkstemp", mkstemp)

    def no_work(*args, **kwargs):
        raise AssertionError("colorize_paths ran although the output folder cannot be written")

    monkeypatch.setattr(colorize_module, "colorize_paths", no_work)
    assert cli([str(photo), "-o", str(outdir), "--model", str(model_path), "-q"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"colored colorize: error: cannot write to the output folder {outdir} ({reason}): "
        "choose another -o OUTDIR\n"
    ), err


def test_existing_outputs_are_kept_unless_overwrite(model_path, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "photos"
    for name in ("a.png", "b.jpg"):
        save(folder / name, detailed_photo(20, 30))
    out = tmp_path / "out"
    args = [str(folder), "-o", str(out), "--model", str(model_path), "-q"]
    assert cli(args) == 0
    assert "2 colorized, 0 failed" in capsys.readouterr().out
    (out / "a.png").write_bytes(b"retouched by hand")

    monkeypatch.setattr(
        inference, "load_model", lambda *a, **k: pytest.fail("model loaded for nothing")
    )
    assert cli(args) == 0, "kept outputs are not failures"
    stdout = capsys.readouterr().out
    assert (
        "0 colorized, 0 failed, 2 kept (output already exists; --overwrite replaces it)" in stdout
    ), stdout
    assert f"kept {out / 'a.png'}" in stdout, f"each kept output must be listed:\n{stdout}"
    assert (out / "a.png").read_bytes() == b"retouched by hand", (
        "an existing output was replaced by default"
    )

    save(folder / "c.tif", detailed_photo(20, 30))  # a new photo: only it is colorized
    assert cli(args + ["--no-overwrite"]) == 0
    assert "1 colorized, 0 failed, 2 kept" in capsys.readouterr().out
    assert (out / "c.tif").is_file() and (out / "a.png").read_bytes() == b"retouched by hand"

    assert cli(args + ["--overwrite"]) == 0
    assert "3 colorized, 0 failed\n" in capsys.readouterr().out
    assert read_image(out / "a.png").size == (30, 20), (
        "--overwrite must replace the existing output"
    )

    named = tmp_path / "named.webp"  # one file, -o naming the output file
    named.write_bytes(b"keep me")
    assert cli([str(folder / "a.png"), "-o", str(named), "--model", str(model_path), "-q"]) == 0
    assert named.read_bytes() == b"keep me" and "1 kept" in capsys.readouterr().out


def test_output_appearing_during_the_run_is_kept(model, tmp_path, monkeypatch):
    photo = save(tmp_path / "in" / "a.png", detailed_photo(12, 12))
    target = tmp_path / "out" / "a.png"
    real_read = colorize_module.read_image

    def read_and_race(path):  # another process writes the same output after our plan
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"other process")
        return real_read(path)

    monkeypatch.setattr(colorize_module, "read_image", read_and_race)
    report = colorize_paths([photo], tmp_path / "out", model, progress=False)
    assert report.ok and report.kept == [(photo, target)] and not report.done, report.summary()
    assert target.read_bytes() == b"other process", (
        "a file that appeared during the run was clobbered"
    )


# ---------------------------------------------------------------------------------------------
# aspect-preserving inference, flip averaging


def test_network_size_keeps_the_aspect_of_fully_convolutional_models(model):
    # SimplifiedModel: strides 2·2·2, ×2 for the head → multiples of 16; training size SIZE = 64
    assert predict.network_size(model, 100, 200) == (64, 128)
    assert predict.network_size(model, 200, 100) == (128, 64)
    assert predict.network_size(model, 64, 64) == (64, 64)
    assert predict.network_size(model, 300, 400) == (64, 80), (
        "64·4/3 = 85.3 → 80, the nearest multiple of 16"
    )
    assert predict.network_size(model, 3, 5) == (64, 112)
    assert predict.network_size(model, 100, 101) == (64, 64), "never shorter than the training size"


@pytest.mark.parametrize("backbone", ["mobilenet_v2", "mobilenet_v2_14x14"])
def test_fusion_models_keep_the_aspect_too(backbone):
    """The embedding (a vector, or a 14×14 map) is laid onto whatever grid the photo gives, so a
    fusion model runs at the photo's aspect ratio, and at its square size it computes what the
    fixed-size network does."""
    from colored.model import build_model

    config = colored.Config(image_size=SIZE, architecture="simplified", backbone=backbone)
    fusion = build_model(config)
    assert predict.network_size(fusion, 100, 200) == (SIZE, 2 * SIZE), "the aspect is kept"
    rng = np.random.default_rng(0)
    embedding = rng.random((1, *config.embedding_shape)).astype("float32")
    wide = rng.random((1, SIZE, 2 * SIZE, 1)).astype("float32")
    out = predict.predict_output(fusion, wide, embedding)
    assert out.shape[1:3] == (SIZE, 2 * SIZE), out.shape
    square = wide[:, :, :SIZE]
    np.testing.assert_allclose(
        predict.predict_output(fusion, square, embedding),
        fusion.predict([square, embedding], verbose=0),
        atol=1e-5,
        err_msg="the flexible clone must compute what the network does at its own size",
    )


def test_non_square_photos_are_predicted_at_their_aspect(model, monkeypatch):
    seen = []
    real = predict.predict_output

    def recording(model_, l_norm, *args, **kwargs):
        seen.append(tuple(l_norm.shape))
        return real(model_, l_norm, *args, **kwargs)

    monkeypatch.setattr(predict, "predict_output", recording)
    photos = [detailed_photo(100, 200), detailed_photo(64, 64), detailed_photo(100, 200, seed=1)]
    outs = colorize_batch(photos, model)
    assert [o.shape[:2] for o in outs] == [(100, 200), (64, 64), (100, 200)]
    assert sorted(seen) == [(1, 64, 64, 1), (2, 64, 128, 1)], (
        f"one call per shape, in the aspect: {seen}"
    )
    squashed = colorize_batch(photos[:1], model, keep_aspect=False)[0]
    assert not np.array_equal(squashed, outs[0]), (
        "keep_aspect=False must squash the photo to the square"
    )


def test_flip_averages_the_mirrored_prediction(tmp_path):
    from colored.model import build_model

    l_norm = np.random.default_rng(0).uniform(0, 1, (2, SIZE, SIZE, 1)).astype(np.float32)
    for loss in ("mse", "classification"):
        net = build_model(
            colored.Config(image_size=SIZE, architecture="simplified", backbone="none", loss=loss)
        )
        if loss == "classification":
            layer = net.get_layer("ab_logits")
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel * 20, bias])
        plain = predict.predict_output(net, l_norm, flip=False)
        mirrored = predict.predict_output(net, l_norm[:, :, ::-1], flip=False)[:, :, ::-1]
        both = predict.predict_output(net, l_norm, flip=True)
        assert not np.allclose(plain, mirrored, atol=1e-4), (
            f"{loss}: the test network should not be symmetric"
        )
        if loss == "mse":
            np.testing.assert_allclose(
                both, (plain + mirrored) / 2, atol=1e-5, err_msg="regression: mean of ab"
            )
        else:
            p = predict._softmax(plain) + predict._softmax(mirrored)
            np.testing.assert_allclose(
                predict._softmax(both),
                p / 2,
                atol=1e-5,
                err_msg="classification: the mean of the two probability maps",
            )


def test_half_precision_file_loads_as_float32_and_colorizes_alike(model, tmp_path):
    path = loading.save_half_precision(model, tmp_path / "half.keras")
    loaded = load_model(path)
    assert {str(w.dtype) for w in loaded.weights} == {"float32"}, (
        "a float16 file must load as a float32 model"
    )
    photo = detailed_photo(48, 80)
    difference = np.abs(colorize(photo, loaded).astype(int) - colorize(photo, model).astype(int))
    assert difference.max() <= 2, (
        f"half-precision weights changed the colours by up to {difference.max()} levels"
    )


def test_prior_correction_for_a_model_without_its_prior_is_a_usage_error(tmp_path, capsys):
    from colored import modelfile
    from colored.model import build_model

    config = colored.Config(
        image_size=SIZE, architecture="simplified", backbone="none", loss="classification"
    )
    path = modelfile.save(build_model(config), tmp_path / "no-prior.keras", config)
    photo = save(tmp_path / "in" / "a.png", detailed_photo(20, 30))
    out = tmp_path / "out"
    code = cli(
        [str(photo), "-o", str(out), "--model", str(path), "--prior-correction", "0.3", "-q"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "prior_correction 0.3 needs the colour prior" in err, (code, err)
    assert not out.exists() or not any(out.iterdir()), "nothing may be written on a usage error"
    assert (
        cli([str(photo), "-o", str(out), "--model", str(path), "--prior-correction", "0", "-q"])
        == 0
    )


def test_prior_correction_on_colorize_turns_the_colour_dial(tmp_path):
    """``colorize(..., prior_correction=τ)``: dividing out a prior that favours the gray bins moves
    the decoded colour away from gray; the keyword equals the same field in a Decoding."""
    from colored import metrics, modelfile
    from colored.bins import ab_bins
    from colored.config import Decoding
    from colored.model import build_model

    config = colored.Config(
        image_size=SIZE, architecture="simplified", backbone="none", loss="classification"
    )
    network = build_model(config)
    chroma_of_bin = np.hypot(*ab_bins().T)
    modelfile.record_prior(network, np.exp(-chroma_of_bin / 10) / np.exp(-chroma_of_bin / 10).sum())
    photo = detailed_photo(40, 56)
    plain = colorize(photo, network, prior_correction=0)
    corrected = colorize(photo, network, prior_correction=0.5)
    assert metrics.mean_chroma(corrected) > metrics.mean_chroma(plain) + 1, (
        f"τ 0.5 should raise the chroma: {metrics.mean_chroma(plain):.1f} -> "
        f"{metrics.mean_chroma(corrected):.1f}"
    )
    np.testing.assert_array_equal(
        corrected, colorize(photo, network, decoding=Decoding(prior_correction=0.5))
    )
