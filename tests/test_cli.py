"""The command line: the documentation's own command lines parse as written, flags mean what the
docs say ("none" included), refused settings leave a run folder untouched, and no command prints
TensorFlow's start-up noise."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from colored.cli import build_parser, config_from_args, main

REPO = Path(__file__).resolve().parents[1]
DOCS = [
    REPO / "README.md",
    REPO / "notebooks" / "README.md",
    REPO / "colored" / "weights" / "MODEL_CARD.md",
]


def documented_command_lines() -> list[tuple[str, str]]:
    """Every ``colored …`` line of the docs: in code blocks, and inline in backticks."""
    found = []
    for doc in DOCS:
        text = doc.read_text()
        lines = [
            line
            for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", text, re.S)
            for line in block.splitlines()
        ]
        # inline: full command lines only, not a command named in prose ("`colored colorize` uses…")
        lines += [
            line
            for line in re.findall(r"`(colored [^`]+)`", text)
            if len(line.split()) > 2 or line.split()[1] in ("demo", "--help")
        ]
        for line in lines:
            line = line.split("  #")[0].strip()
            if (
                line.startswith("colored ")
                and ": error:" not in line
                and not line.endswith("...")
                and "--help" not in line
            ):
                found.append((doc.name, line))
    return found


def test_the_docs_show_command_lines():
    commands = {shlex.split(line)[1] for _, line in documented_command_lines()}
    assert {"download", "train", "colorize", "evaluate", "chain", "demo"} <= commands, commands


@pytest.mark.parametrize("doc, line", documented_command_lines())
def test_documented_command_line_parses(doc, line):
    argv = shlex.split(line)[1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit:
        pytest.fail(f"{doc}: `{line}` is refused by the parser (exit {exit.code})")
    if args.command == "train":
        config = config_from_args(args)  # YAML files named in the docs must load and validate
        if "--backbone none" in line:
            assert config.backbone == "none" and not config.fusion, (
                f"{doc}: `{line}` builds a fusion model"
            )


@pytest.mark.parametrize(
    "flag, value, field, expected",
    [
        ("--backbone", "none", "backbone", "none"),
        ("--backbone", "None", "backbone", "none"),
        ("--mixed-precision", "none", "mixed_precision", "none"),
        ("--distribute", "none", "distribute", "none"),
        ("--limit", "none", "limit", None),
        ("--max-minutes", "null", "max_minutes", None),
        ("--backbone-weights", "none", "backbone_weights", None),
        ("--steps-per-epoch", "none", "steps_per_epoch", None),
        ("--augment", "no", "augment", False),
        ("--jit-compile", "auto", "jit_compile", "auto"),
        ("--jit-compile", "false", "jit_compile", False),
        ("--learning-rate", "3e-4", "learning_rate", 3e-4),
    ],
)
def test_every_none_able_flag_means_what_it_says(flag, value, field, expected):
    config = config_from_args(build_parser().parse_args(["train", flag, value]))
    assert getattr(config, field) == expected, f"{flag} {value} gave {getattr(config, field)!r}"


@pytest.mark.parametrize(
    "argv, words",
    [
        (["train", "--epochs", "-1"], ["epochs = -1", "at least 1"]),
        (["train", "--epochs", "x"], ["--epochs", "'x'", "integer"]),
        (["train", "--loss", "nonsense"], ["--loss", "'mse' or 'classification'"]),
        (["train", "--architecture", "nonsense"], ["--architecture", "'full' or 'simplified'"]),
        (["train", "--image-size", "0"], ["image_size = 0"]),
        (["train", "--image-size", "63"], ["image_size = 63", "multiple of 16"]),
    ],
)
def test_bad_flags_exit_2_with_one_line(argv, words, capsys):
    try:
        code = main(argv)
    except SystemExit as exit:
        code = exit.code
    err = capsys.readouterr().err.strip()
    assert code == 2, f"colored {' '.join(argv)} exited {code}: {err}"
    assert len(err.splitlines()) == 1, f"not one line:\n{err}"
    for word in words:
        assert word in err, f"{argv}: {err!r} should mention {word!r}"


def test_a_refused_run_leaves_the_run_folder_untouched(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    record = '{"image_size": 64}'
    (run / "config.json").write_text(record)
    assert main(["train", "--image-size", "63", "--run-dir", str(run)]) == 2
    assert (run / "config.json").read_text() == record, "a refused run rewrote config.json"


def test_bad_yaml_is_one_line(tmp_path, capsys):
    file = tmp_path / "c.yaml"
    file.write_text("epochs: [3\n")
    assert main(["train", "--config", str(file)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "c.yaml is not valid YAML" in err, err


def test_no_tensorflow_start_up_noise(tmp_path):
    # colorize imports Keras (and so TensorFlow) before it looks at its input: the one line on stderr
    # must be the error about the missing photo, nothing of TensorFlow's native start-up.
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL",)}
    env["PYTHONPATH"] = str(REPO)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "colored.cli",
            "colorize",
            str(tmp_path / "missing.jpg"),
            "-o",
            str(tmp_path / "out"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    noise = [
        line
        for line in lines
        if re.search(r"absl|cudart|oneDNN|cpu_feature_guard|I0000|W0000", line)
    ]
    assert not noise, "TensorFlow start-up lines on stderr:\n" + "\n".join(noise)
    assert len(lines) == 1 and "missing.jpg" in lines[0], (
        f"expected one error line, got:\n{run.stderr}"
    )


def test_train_with_backbone_none_from_the_command_line(photo_folder, tmp_path, capsys):
    run = tmp_path / "run"
    code = main(
        [
            "train",
            "--data-dir",  # the old name of --dataset-dir: still accepted
            str(photo_folder),
            "--image-size",
            "64",
            "--backbone",
            "none",
            "--epochs",
            "1",
            "--architecture",
            "simplified",
            "--batch-size",
            "4",
            "--run-dir",
            str(run),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--verbose",
            "0",
        ]
    )
    assert code == 0, capsys.readouterr().err
    saved = json.loads((run / "config.json").read_text())
    assert saved["backbone"] == "none", f"config.json records backbone {saved['backbone']!r}"
    assert saved["dataset_dir"] == str(photo_folder), "--data-dir is read as --dataset-dir"
    assert (run / "model.keras").is_file()
