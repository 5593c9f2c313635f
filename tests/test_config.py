"""Config validation: every field is checked in one place, for the API, the CLI and config files,
and every error is one line naming the field, the bad value and what is allowed."""

from __future__ import annotations

import json

import pytest

from colored.config import Config, ConfigError, size_multiple, validate_fields


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"epochs": -1}, ["epochs = -1", "at least 1"]),
        ({"epochs": 0}, ["epochs = 0", "at least 1"]),
        ({"loss": "nonsense"}, ["loss = 'nonsense'", "'mse' or 'classification'"]),
        ({"architecture": "nonsense"}, ["architecture = 'nonsense'", "'full' or 'simplified'"]),
        ({"augment": "no"}, ["augment = 'no'", "true or false"]),
        ({"image_size": 0}, ["image_size = 0", "at least 16"]),
        ({"image_size": 63}, ["image_size = 63", "multiple of 16", "48 or 64"]),
        ({"batch_size": "8"}, ["batch_size = '8'", "an integer"]),
        ({"batch_size": 2.5}, ["batch_size = 2.5", "an integer"]),
        ({"learning_rate": 0}, ["learning_rate = 0", "greater than 0"]),
        ({"learning_rate": float("nan")}, ["learning_rate = nan", "finite"]),
        ({"temperature": -1}, ["temperature = -1", "greater than 0"]),
        ({"seed": True}, ["seed = True", "an integer"]),
        ({"limit": 0}, ["limit = 0", "at least 1"]),
        ({"mixed_precision": "float8"}, ["mixed_precision = 'float8'", "'bfloat16'"]),
        ({"distribute": "everywhere"}, ["distribute = 'everywhere'", "'mirrored'"]),
        ({"jit_compile": "sometimes"}, ["jit_compile = 'sometimes'", "'auto'", "true or false"]),
        ({"run_dir": ""}, ["run_dir = ''", "folder"]),
        ({"epochs": None}, ["epochs = None", "an integer"]),
    ],
)
def test_bad_values_are_refused_in_one_line(changes, words):
    with pytest.raises(ConfigError) as caught:
        Config(**changes)
    message = str(caught.value)
    assert "\n" not in message, f"error is not one line: {message!r}"
    for word in words:
        assert word in message, f"{changes}: the error {message!r} should mention {word!r}"


def test_replace_validates_too():
    with pytest.raises(ConfigError, match="epochs = -3"):
        Config().replace(epochs=-3)


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"backbone": None}, {"backbone": "none"}),
        ({"backbone": "NONE"}, {"backbone": "none"}),
        ({"mixed_precision": None}, {"mixed_precision": "none"}),
        ({"limit": None, "max_minutes": None}, {"limit": None, "max_minutes": None}),
        ({"learning_rate": 1}, {"learning_rate": 1.0}),
        ({"jit_compile": "auto"}, {"jit_compile": "auto"}),
        ({"image_size": 48, "architecture": "simplified"}, {"image_size": 48}),
    ],
)
def test_good_values_are_kept_or_normalised(changes, expected):
    config = Config(**changes)
    assert {k: getattr(config, k) for k in expected} == expected
    assert type(config.learning_rate) is float


def test_image_size_rule_follows_the_network_strides():
    assert size_multiple("full") == 16 and size_multiple("simplified") == 16
    for size in (16, 64, 128, 256):
        Config(image_size=size)


def test_yaml_values_are_checked_with_the_file_named(tmp_path):
    file = tmp_path / "run.yaml"
    file.write_text('augment: "no"\n')
    with pytest.raises(ConfigError, match=r"run.yaml: augment = 'no' is not allowed"):
        Config.load(file)
    file.write_text("epochs: [1, 2]\n")
    with pytest.raises(ConfigError, match=r"epochs = \[1, 2\]"):
        Config.load(file)
    file.write_text("augment: no\nbackbone: none\nlimit: null\n")  # YAML's own no/none/null
    config = Config.load(file)
    assert config.augment is False and config.backbone == "none" and config.limit is None


def test_malformed_files_give_one_line_with_the_position(tmp_path):
    file = tmp_path / "bad.yaml"
    file.write_text("epochs: 3\n  image_size: [64\n")
    with pytest.raises(ConfigError) as caught:
        Config.load(file)
    assert "bad.yaml is not valid YAML (line" in str(caught.value) and "\n" not in str(caught.value)
    file = tmp_path / "bad.json"
    file.write_text('{"epochs": 3,}')
    with pytest.raises(ConfigError, match=r"bad.json is not valid JSON \(line 1"):
        Config.load(file)
    file = tmp_path / "list.yaml"
    file.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        Config.load(file)
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        Config.load(tmp_path / "missing.yaml")


def test_unknown_keys_are_named():
    with pytest.raises(ConfigError, match=r"unknown config keys \['image_sise'\]"):
        Config.from_dict({"image_sise": 64})


def test_validate_fields_checks_only_config_names():
    validate_fields({"epochs": 3, "data_source": "sample"})  # not a Config field: ignored
    with pytest.raises(ConfigError, match="epochs = 'notanumber'"):
        validate_fields({"epochs": "notanumber"})


def test_saved_config_round_trips(tmp_path):
    config = Config(image_size=64, backbone="none", limit=None, learning_rate=2e-3)
    config.save(tmp_path / "config.json")
    assert Config.load(tmp_path / "config.json") == config


# --------------------------------------------------------------------------------------------------
# the speed switches' "auto" (colored.devices.resolve_speed: the one place it is decided)
# --------------------------------------------------------------------------------------------------

from colored.devices import Gpu, resolve_speed, speed_summary  # noqa: E402

T4, L4, A100 = (
    Gpu("Tesla T4", (7, 5)),
    Gpu("NVIDIA L4", (8, 9)),
    Gpu("NVIDIA A100-SXM4-40GB", (8, 0)),
)
GIB = 2**30


def test_auto_is_the_default_and_means_todays_settings_on_a_cpu():
    config = Config()
    assert (config.mixed_precision, config.lab_in_graph, config.cache_views) == (
        "auto",
        "auto",
        "auto",
    )
    resolved = resolve_speed(config, gpus=[], photos=5000)
    assert (resolved.mixed_precision, resolved.lab_in_graph, resolved.cache_views) == (
        "none",
        False,
        False,
    )
    assert resolved.jit_compile == "auto" and resolved.workers == config.workers, (
        "Keras' own auto; workers kept"
    )
    assert "CPU: today's settings" in speed_summary(gpus=[])


@pytest.mark.parametrize(
    "gpu, precision",
    [(T4, "float16"), (L4, "bfloat16"), (A100, "bfloat16"), (Gpu("unknown GPU"), "float16")],
)
def test_auto_on_a_gpu_is_the_fast_set(gpu, precision):
    resolved = resolve_speed(Config(image_size=256), gpus=[gpu], photos=5000, memory=80 * GIB)
    assert (resolved.mixed_precision, resolved.lab_in_graph, resolved.cache_views) == (
        precision,
        True,
        True,
    )
    assert "GPU found: " + gpu.name in speed_summary(gpus=[gpu])


def test_cache_views_auto_only_when_the_views_fit_in_memory():
    # Colab's 12.7 GB: 5,000 photos × 8 views at 256² (7.3 GiB) would not fit next to the rest; at 128² they do
    colab = dict(gpus=[T4], photos=5000, memory=int(12.7 * GIB))
    assert resolve_speed(Config(image_size=256), **colab).cache_views is False
    assert resolve_speed(Config(image_size=128), **colab).cache_views is True
    assert "more than 40% of 12.7 GiB" in speed_summary(Config(image_size=256), **colab)


def test_explicit_values_are_never_overridden_and_resolving_twice_is_free():
    config = Config(mixed_precision="float16", lab_in_graph=False, cache_views=True)
    assert resolve_speed(config, gpus=[A100]) is config
    once = resolve_speed(Config(), gpus=[A100])
    assert resolve_speed(once, gpus=[]) is once


@pytest.mark.parametrize("field", ["mixed_precision", "lab_in_graph", "cache_views"])
def test_auto_is_accepted_and_bad_words_refused(field):
    assert getattr(Config(**{field: "AUTO"}), field) == "auto"
    with pytest.raises(ConfigError, match=f"{field} = 'fast' is not allowed: expected .*'auto'"):
        Config(**{field: "fast"})


def test_a_config_file_of_an_earlier_version_still_loads(tmp_path):
    # run folders written before `extra` was retired hold "extra": {} in their config.json
    saved = Config(epochs=3).to_dict()
    (tmp_path / "config.json").write_text(json.dumps({**saved, "extra": {}}))
    assert Config.load(tmp_path / "config.json") == Config(epochs=3), (
        "a retired field must be dropped"
    )
    # and before `model` was renamed `architecture` (recipes, run folders, model files)
    old = {**{k: v for k, v in saved.items() if k != "architecture"}, "model": "simplified"}
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert Config.load(tmp_path / "old.json") == Config(epochs=3, architecture="simplified")


def test_every_limit_is_declared_on_its_field():
    # the limits live in the annotations (annotated_types), so the message and the check agree
    from colored.config import Config
    from colored.fields import allowed, describe, hints_of

    hints = hints_of(Config)

    assert (
        describe(*allowed(hints["rebalance"]), "rebalance", hints)
        == "expected a number ≥ 0 and ≤ 1"
    )
    assert "> 0" in describe(*allowed(hints["max_minutes"]), "max_minutes", hints)
    with pytest.raises(ConfigError, match="rebalance = 1.5 is not allowed: it must be at most 1"):
        Config(rebalance=1.5)
