"""``colored.evaluate``: scoring baselines and models on folders, the report files, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import colored
from colored import cli as colored_cli
from colored.evaluate import evaluate_folder, load_set, score_set
from colored.inference import ModelNotFoundError, load_model
from colored.methods import method_label
from colored.viz import gallery_figure
from tests.conftest import synthetic_photo

SIZE = 64


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """5 colourful photos of different sizes (one non-square), one in a sub-folder."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(1)
    (root / "more").mkdir()
    for i, size in enumerate((80, 96, 72, 64)):
        Image.fromarray(synthetic_photo(rng, size)).save(root / f"p{i}.png")
    Image.fromarray(synthetic_photo(rng, 96)[:, :70]).save(root / "more" / "tall.jpg", quality=95)
    return root


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """A tiny untrained MSE model and a tiny classification model with peaked logits."""
    from colored.model import build_model

    folder = tmp_path_factory.mktemp("models")
    paths = {}
    for loss in ("mse", "classification"):
        model = build_model(
            colored.Config(image_size=SIZE, architecture="simplified", backbone="none", loss=loss)
        )
        if loss == "classification":  # untrained logits are ~0 (uniform at any T): give them spread
            layer = model.get_layer("ab_logits")
            kernel, bias = layer.get_weights()
            bias = np.random.default_rng(0).normal(0.0, 2.0, bias.shape).astype(np.float32)
            layer.set_weights([kernel, bias])
        paths[loss] = folder / loss / "model.keras"
        paths[loss].parent.mkdir()
        model.save(paths[loss])
    return paths


@pytest.fixture(scope="module")
def loaded(models) -> dict:
    """The same models, loaded once (each load and first predict costs a compile)."""
    return {name: load_model(path) for name, path in models.items()}


def run(argv: list[str]) -> int:
    return colored_cli.main(["evaluate", *map(str, argv)])


# ---------------------------------------------------------------------------------------------
# Python API


def test_baselines_on_a_folder(photos):
    per_image, gray = evaluate_folder(photos, "gray", progress=False)
    assert [row["name"] for row in per_image] == [
        "more/tall.jpg",
        "p0.png",
        "p1.png",
        "p2.png",
        "p3.png",
    ]
    assert gray["n_images"] == 5 and gray["n_skipped"] == 0
    assert gray["colorfulness"] < 0.5 and gray["colorfulness_ratio"] < 0.01  # gray has no colour
    assert gray["chroma_true"] > 20  # ...the ground truth has plenty
    _, mean_ab = evaluate_folder(photos, "mean-ab", progress=False)
    assert 0 < mean_ab["chroma_ratio"] < 1  # a flat colour is less saturated than the photo
    assert mean_ab["psnr"] > gray["psnr"]
    for key in ("psnr", "ssim", "auc", "auc_rebalanced", "ab_rmse", "js_divergence"):
        assert np.isfinite(gray[key]) and key in per_image[0]


def test_model_path_and_loaded_model_agree(photos, models, loaded):
    per_path, by_path = evaluate_folder(photos, models["mse"], progress=False)
    per_model, by_model = evaluate_folder(photos, loaded["mse"], progress=False)
    assert by_path["n_images"] == 5
    assert by_path["psnr"] == pytest.approx(by_model["psnr"])
    assert per_path[0]["js_divergence"] == pytest.approx(per_model[0]["js_divergence"])
    assert "temperature" not in by_path  # only classification models have one


def test_model_prediction_is_at_the_protocol_size(photos, loaded):
    eval_set = load_set(photos)
    assert all(t.shape == (256, 256, 3) and t.dtype == np.uint8 for t in eval_set.trues)
    _, _, kept = score_set(eval_set, loaded["classification"], progress=False, keep=2)
    assert len(kept) == 2 and kept[0].shape == (256, 256, 3) and kept[0].dtype == np.uint8


def test_temperature_changes_a_classification_model(photos, loaded):
    # confidence 0: the plain annealed mean (strong confidence-aware decoding mutes this unsure model at any T)
    per_cold, cold = evaluate_folder(
        photos, loaded["classification"], temperature=0.2, confidence=0, progress=False
    )
    per_warm, warm = evaluate_folder(
        photos, loaded["classification"], temperature=1.0, confidence=0, progress=False
    )
    assert cold["temperature"] == 0.2 and warm["temperature"] == 1.0
    assert abs(cold["chroma"] - warm["chroma"]) > 1.0  # Lab units
    assert per_cold[0]["ab_rmse"] != pytest.approx(per_warm[0]["ab_rmse"])
    _, default = evaluate_folder(photos, loaded["classification"], progress=False)
    assert default["temperature"] == colored.config.DEFAULT_TEMPERATURE
    # an MSE model ignores the temperature
    _, a = evaluate_folder(photos, loaded["mse"], temperature=0.2, progress=False)
    _, b = evaluate_folder(photos, loaded["mse"], temperature=1.0, progress=False)
    assert a["psnr"] == pytest.approx(b["psnr"])


def test_bad_file_is_reported_and_skipped(photos, tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.png").write_bytes((photos / "p0.png").read_bytes())
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "notes.png").write_text("hello")
    per_image, summary = evaluate_folder(folder, "gray", progress=False)
    assert [row["name"] for row in per_image] == ["good.png"]
    assert summary["n_images"] == 1 and summary["n_skipped"] == 2
    assert {s["name"] for s in summary["skipped"]} == {"broken.jpg", "notes.png"}
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "notes.png" in err


def test_missing_and_empty_folders_are_named(tmp_path):
    missing = tmp_path / "no_such_set"
    with pytest.raises(FileNotFoundError, match="no_such_set"):
        evaluate_folder(missing, "gray", progress=False)
    empty = tmp_path / "empty_set"
    empty.mkdir()
    (empty / "readme.txt").write_text("no photos here")
    with pytest.raises(ValueError, match="empty_set"):
        evaluate_folder(empty, "gray", progress=False)
    only_bad = tmp_path / "bad_set"
    only_bad.mkdir()
    (only_bad / "x.png").write_text("not a png")
    with pytest.raises(ValueError, match="bad_set"):
        evaluate_folder(only_bad, "gray", progress=False)


def test_missing_model_is_named(photos, tmp_path):
    with pytest.raises(ModelNotFoundError, match="nowhere.keras") as info:
        evaluate_folder(photos, tmp_path / "nowhere.keras", progress=False)
    assert "gray" in str(info.value)  # says the baselines exist, in case one was mistyped
    with pytest.raises(ModelNotFoundError, match="grey"):
        evaluate_folder(photos, "grey", progress=False)


def test_method_labels(models):
    assert method_label("gray") == "gray"
    assert method_label(models["mse"]) == "mse"  # run folder of …/model.keras
    assert method_label(models["classification"], 0.5) == "classification T=0.5"
    assert method_label(Path("runs/x/best.keras")) == "best"


def test_gallery_figure_layout():
    rgb = np.zeros((16, 16, 3), np.uint8)
    fig = gallery_figure({"a": [rgb] * 4, "b": [rgb] * 4}, ["ground truth", "gray", "m1", "m2"])
    axes = fig.get_axes()
    assert len(axes) == 8
    assert [ax.get_title() for ax in axes[:4]] == ["ground truth", "gray", "m1", "m2"]
    assert axes[0].get_ylabel() == "a" and axes[4].get_ylabel() == "b"


# ---------------------------------------------------------------------------------------------
# command line


def test_cli_writes_json_markdown_and_gallery(photos, models, tmp_path, capsys):
    second = tmp_path / "Second"
    second.mkdir()
    for name in ("p1.png", "p2.png"):
        (second / name).write_bytes((photos / name).read_bytes())
    out = tmp_path / "report"
    rc = run(
        [
            photos,
            second,
            "--model",
            "gray",
            "--model",
            "mean-ab",
            "--model",
            models["mse"],
            "--model",
            models["classification"],
            "--temperature",
            "0.2",
            "1.0",
            "--out",
            out,
            "--gallery",
            "2",
            "-q",
        ]
    )
    assert rc == 0
    labels = ["gray", "mean-ab", "mse", "classification T=0.2", "classification T=1"]
    report = json.loads((out / "metrics.json").read_text())  # strict JSON: no NaN / Infinity
    assert list(report["sets"]) == [photos.name, "Second"]
    first = report["sets"][photos.name]
    assert first["n_images"] == 5 and list(first["methods"]) == labels
    assert len(first["methods"]["gray"]["per_image"]) == 5
    assert first["methods"]["classification T=0.2"]["temperature"] == 0.2
    assert first["methods"]["mse"]["temperature"] is None
    assert first["methods"]["gray"]["mean"]["colorfulness"] < 0.5
    assert report["sets"]["Second"]["methods"]["mean-ab"]["mean"]["n_images"] == 2
    assert "rebalancing_prior" in report["protocol"]

    table = (out / "metrics.md").read_text()
    rows = [
        line for line in table.splitlines() if line.startswith(("| " + photos.name, "| Second"))
    ]
    assert len(rows) == 2 * len(labels)  # one row per method per set
    assert "| Second | classification T=0.2 |" in table and "JS (bits)" in table

    with Image.open(out / "gallery.png") as gallery:
        width, height = gallery.size
    assert width > height  # 4 rows (2 per set) × 6 columns (ground truth, gray, 4 other methods)
    stdout = capsys.readouterr().out
    assert "metrics.json" in stdout and "| Second | gray |" in stdout


def test_cli_errors_exit_2_and_name_the_problem(photos, tmp_path, capsys):
    missing = tmp_path / "nope_folder"
    assert run([photos, missing, "--model", "gray", "--out", tmp_path / "o1", "-q"]) == 2
    assert "nope_folder" in capsys.readouterr().err
    empty = tmp_path / "vacant"
    empty.mkdir()
    assert run([empty, "--model", "gray", "--out", tmp_path / "o2", "-q"]) == 2
    assert "vacant" in capsys.readouterr().err
    assert (
        run(
            [
                photos,
                "--model",
                "gray",
                "--model",
                tmp_path / "gone.keras",
                "--out",
                tmp_path / "o3",
                "-q",
            ]
        )
        == 2
    )
    assert "gone.keras" in capsys.readouterr().err
    assert (
        not (tmp_path / "o1").exists() and not (tmp_path / "o3").exists()
    )  # nothing written on error
    with pytest.raises(SystemExit):
        run([photos, "--out", tmp_path / "o4"])  # --model is required


# ---------------------------------------------------------------------------------------------
# reliability: unwritable --out, incompatible models, results that cannot be written


@pytest.mark.parametrize(
    "case", ["parent is a file", "out is a file", "permission denied", "read-only mount"]
)
def test_cli_unwritable_out_is_refused_before_scoring(photos, tmp_path, monkeypatch, capsys, case):
    from colored import evaluate as evaluate_module
    from colored.io import files as fileio

    (tmp_path / "file").write_text("not a folder")
    if case == "parent is a file":
        out, reason = tmp_path / "file" / "report", f"{tmp_path / 'file'} is a file, not a folder"
    elif case == "out is a file":
        out, reason = tmp_path / "file", "it exists and is a file"
    else:
        out = tmp_path / "report"
        number, reason = (
            (13, "Permission denied")
            if case == "permission denied"
            else (30, "Read-only file system")
        )
        real = fileio.tempfile.mkstemp

        def mkstemp(*args, dir=None, **kwargs):  # noqa: A002 - a read-only folder, even for root
            if dir is not None and Path(dir) == out:
                raise OSError(number, reason)
            return real(*args, dir=dir, **kwargs)

        monkeypatch.setattr(fileio.tempfile, "mkstemp", mkstemp)

    def no_scoring(*args, **kwargs):
        raise AssertionError("the images were loaded and scored although --out cannot be written")

    monkeypatch.setattr(evaluate_module, "load_set", no_scoring)
    assert run([photos, "--model", "gray", "--out", out, "-q"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"colored evaluate: error: cannot write to the output folder {out} ({reason}): "
        "choose another --out\n"
    ), err


def test_cli_incompatible_model_is_refused_in_one_line(photos, tmp_path, capsys):
    import keras

    from colored.inference import IncompatibleModelError

    lightness = keras.Input((16, 16, 1))
    bad = keras.Model(lightness, keras.layers.Conv2D(3, 1)(lightness))
    path = tmp_path / "rgb" / "model.keras"
    path.parent.mkdir()
    bad.save(path)
    assert run([photos, "--model", "gray", "--model", path, "--out", tmp_path / "o", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, f"one line, not a traceback:\n{err}"
    assert err.startswith(
        f"colored evaluate: error: model file {path} is not a colorization model (output wrong): "
        "it takes (None, 16, 16, 1) and outputs (None, 16, 16, 3); expected input"
    ), err
    assert not (tmp_path / "o").exists(), "nothing is written for a bad model"
    with pytest.raises(
        IncompatibleModelError, match=r"outputs \(None, 16, 16, 3\)"
    ):  # a model object, too
        evaluate_folder(photos, bad, progress=False)


def test_cli_results_that_cannot_be_written_keep_the_table_and_exit_1(
    photos, tmp_path, monkeypatch, capsys
):
    from colored import report as report_module

    def disk_full(path, data):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(report_module, "write_json", disk_full)
    out = tmp_path / "report"
    assert run([photos, "--model", "gray", "--out", out, "--gallery", "0", "-q"]) == 1
    captured = capsys.readouterr()
    assert f"| {photos.name} | gray |" in captured.out, "the computed table must still be shown"
    assert (
        f"colored evaluate: error: could not write {out / 'metrics.json'} (No space left on device): the table "
        "above has the results; free space or choose another --out"
    ) in captured.err, captured.err


# ---------------------------------------------------------------------------------------------
# issue "default model v2": confidently wrong colour, confidence-aware decoding, flip averaging


def test_confidently_wrong_is_reported_for_baselines_and_models(photos, loaded):
    _, gray = evaluate_folder(photos, "gray", progress=False)
    _, mean_ab = evaluate_folder(photos, "mean-ab", progress=False)
    per_image, model = evaluate_folder(photos, loaded["classification"], progress=False)
    assert gray["confidently_wrong"] == 0.0, "gray never commits to a colour"
    assert 0.0 <= mean_ab["confidently_wrong"] <= 1.0 and 0.0 <= model["confidently_wrong"] <= 1.0
    assert "confidently_wrong" in per_image[0]
    assert model["confidence"] == colored.config.DEFAULT_CONFIDENCE and "flip" in model


def test_confidence_and_flip_reach_the_model(photos, loaded):
    from colored.methods import resolve_methods

    eval_set = load_set(photos)
    _, plain, _ = score_set(eval_set, loaded["classification"], confidence=0.0, progress=False)
    _, strong, _ = score_set(eval_set, loaded["classification"], confidence=5.0, progress=False)
    assert strong["confidence"] == 5.0 and strong["chroma"] < plain["chroma"], (
        "strong confidence-aware decoding pulls an unsure model toward its (muted) mean"
    )
    _, flipped, _ = score_set(
        eval_set, loaded["classification"], confidence=0.0, flip=True, progress=False
    )
    assert flipped["flip"] == 1.0 and flipped["psnr"] != pytest.approx(plain["psnr"], abs=1e-6)
    methods = resolve_methods(["gray", loaded["classification"]], [0.38], [0.0, 1.0], flip=True)
    assert [m.label.split(" ", 1)[-1] for m in methods[1:]] == ["T=0.38 c=0", "T=0.38 c=1"]
    assert [m.decoding.confidence for m in methods[1:]] == [0.0, 1.0], "one method per confidence"
    assert methods[1].decoding.flip is True and methods[0].decoding is None, (
        "models carry the decoding they are scored with, baselines none"
    )
    assert methods[1].decoding_fields() == {
        "temperature": 0.38,
        "confidence": 0.0,
        "flip": True,
        "prior_correction": 0.0,
    }


def test_cli_confidence_and_flip_flags(photos, models, tmp_path):
    out = tmp_path / "report"
    assert (
        run(
            [
                photos,
                "--model",
                models["classification"],
                "--confidence",
                "0",
                "2",
                "--flip",
                "--out",
                out,
                "--gallery",
                "0",
                "-q",
            ]
        )
        == 0
    )
    report = json.loads((out / "metrics.json").read_text())
    methods = report["sets"][photos.name]["methods"]
    assert [m["confidence"] for m in methods.values()] == [0.0, 2.0] and all(
        m["flip"] for m in methods.values()
    )
    assert all("confidently_wrong" in m["mean"] for m in methods.values())
    assert "conf. wrong" in (out / "metrics.md").read_text()
    with pytest.raises(SystemExit):
        colored_cli.build_parser().parse_args(
            ["evaluate", str(photos), "--model", "gray", "--confidence", "-1"]
        )
