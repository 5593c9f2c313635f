"""The papermill chain (colored.notebook.chain) and the lab notebooks' structure.

Most tests cover the runner with tiny throwaway notebooks (parameter injection and checks, failures,
the output folder and --overwrite) and check statically what a re-run cannot (one parameters cell,
badges, sizes, ...). One slow test runs what a newcomer runs first, ``make demo``: the seven real
notebooks through the papermill chain with the reference parameters into a temporary run folder, and
compares their outputs with the committed ones the way nbval does (``notebooks/sanitize.cfg``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import nbformat
import pytest

from colored.notebook import chain
from colored.notebook import params as notebook_params
from colored.notebook import reference as notebook_reference

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"


def write_notebook(path: Path, parameters: str, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"), params]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, str(path))
    return path


def injected(path: Path) -> str:
    cells = nbformat.read(str(path), as_version=4).cells
    found = [c.source for c in cells if "injected-parameters" in c.metadata.get("tags", [])]
    return found[0] if found else ""


def stdout(path: Path) -> str:
    cells = nbformat.read(str(path), as_version=4).cells
    return "".join(o.get("text", "") for c in cells if c.cell_type == "code" for o in c.outputs)


# --------------------------------------------------------------------------------------------------
# running the chain
# --------------------------------------------------------------------------------------------------


def test_each_notebook_gets_only_the_parameters_it_declares(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    write_notebook(src / "a.ipynb", "x = 1\nrun_dir = 'nowhere'", "print('a', x, run_dir)")
    write_notebook(src / "b.ipynb", "y = 2", "print('b', y)")
    out = tmp_path / "out"

    executed = chain.run_chain(
        {"x": 5, "y": 7}, out, ["a.ipynb", "b.ipynb"], notebook_dir=src, log=None
    )

    assert executed == [out / "a.ipynb", out / "b.ipynb"]
    names = {
        nb: re.findall(r"^(\w+) =", injected(out / nb), re.MULTILINE)
        for nb in ("a.ipynb", "b.ipynb")
    }
    assert names == {"a.ipynb": ["x", "run_dir"], "b.ipynb": ["y"]}, (
        "b declares no run_dir: it gets none"
    )
    # run_dir defaults to the output folder, for the notebooks that declare it
    assert stdout(out / "a.ipynb").split() == ["a", "5", str(out.resolve())]
    assert stdout(out / "b.ipynb").split() == ["b", "7"]
    record = json.loads((out / "chain.json").read_text())
    assert record["notebooks"]["b.ipynb"]["parameters"] == {"y": 7}


def test_an_undeclared_parameter_is_an_error_not_ignored(tmp_path):
    write_notebook(tmp_path / "a.ipynb", "epochs = 1")
    with pytest.raises(ValueError, match="epocs.*not declared.*epochs"):
        chain.run_chain(
            {"epocs": 200}, tmp_path / "out", ["a.ipynb"], notebook_dir=tmp_path, log=None
        )


def test_a_failing_notebook_stops_the_chain_naming_notebook_and_cell(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    write_notebook(src / "ok.ipynb", "n = 1", "print(n)")
    write_notebook(
        src / "broken.ipynb",
        "n = 1",
        "print('fine')",
        "raise ValueError(f'boom {n}')",
        "print('never')",
    )
    write_notebook(src / "after.ipynb", "n = 1", "print('after')")
    out = tmp_path / "out"

    with pytest.raises(chain.ChainError) as caught:
        chain.run_chain(
            {"n": 3}, out, ["ok.ipynb", "broken.ipynb", "after.ipynb"], notebook_dir=src, log=None
        )

    error = caught.value
    assert (error.notebook, error.cell_index, error.ename, error.evalue) == (
        "broken.ipynb",
        3,
        "ValueError",
        "boom 3",
    )
    message = str(error)
    assert "broken.ipynb" in message and "cell 3" in message and "ValueError: boom 3" in message
    assert "raise ValueError" in message, "the failing cell's first line helps find it"
    assert error.output == out / "broken.ipynb" and error.output.is_file()
    assert not (out / "after.ipynb").exists(), "the chain must stop at the first failing notebook"
    assert (
        json.loads((out / "chain.json").read_text())["notebooks"]["broken.ipynb"]["failed"] is True
    )


def test_cli_reports_the_failing_notebook_and_exits_nonzero(tmp_path, monkeypatch, capsys):
    from colored.cli import main

    write_notebook(
        tmp_path / "05_training.ipynb", "epochs = 1", "assert epochs < 100, 'too many epochs'"
    )
    monkeypatch.setattr(chain, "NOTEBOOK_DIR", tmp_path)
    monkeypatch.setattr(chain, "NOTEBOOKS", ("05_training.ipynb",))

    code = main(["chain", "--only", "05", "-p", "epochs", "200", "--out", str(tmp_path / "out")])

    assert code != 0
    err = capsys.readouterr().err
    assert "05_training.ipynb failed in cell 2" in err and "AssertionError: too many epochs" in err


def test_clean_executed_keeps_outputs_and_drops_papermill_traces(tmp_path):
    source = write_notebook(tmp_path / "a.ipynb", "x = 1", "print(x * 2)", "x")
    chain.run_chain({"x": 21}, tmp_path / "out", ["a.ipynb"], notebook_dir=tmp_path, log=None)
    executed = nbformat.read(str(tmp_path / "out" / "a.ipynb"), as_version=4)

    clean = notebook_reference.clean_executed(executed, nbformat.read(str(source), as_version=4))

    assert [c.source for c in clean.cells] == [
        c.source for c in nbformat.read(str(source), as_version=4).cells
    ]
    assert "papermill" not in clean.metadata and all(
        "papermill" not in c.metadata for c in clean.cells
    )
    code = [c for c in clean.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == [1, 2, 3]
    assert code[1].outputs[0].text == "42\n" and code[2].outputs[0].data["text/plain"] == "21"
    assert code[2].outputs[0].execution_count == 3
    nbformat.validate(clean)

    # how the kernel splits printed text into pieces is timing noise: pieces are merged
    stream = nbformat.v4.new_output
    executed.cells[3].outputs = [
        stream("stream", name="stdout", text="4"),
        stream("stream", name="stdout", text="2\n"),
        stream("stream", name="stderr", text="!\n"),
        stream("stream", name="stdout", text="x\n"),
    ]
    outputs = (
        notebook_reference.clean_executed(executed, nbformat.read(str(source), as_version=4))
        .cells[2]
        .outputs
    )
    assert [(o.name, o.text) for o in outputs] == [
        ("stdout", "42\n"),
        ("stderr", "!\n"),
        ("stdout", "x\n"),
    ]


# --------------------------------------------------------------------------------------------------
# parameters from the command line and files
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, value",
    [
        ("200", 200),
        ("1e-3", 1e-3),
        ("0.5", 0.5),
        ("true", True),
        ("False", False),
        ("null", None),
        ("none", "none"),
        ("kaggle", "kaggle"),
        ("inception_resnet_v2", "inception_resnet_v2"),
        ("runs/colab", "runs/colab"),
        ("data/my.photos", "data/my.photos"),
    ],
)
def test_command_line_values_are_parsed_like_yaml(text, value):
    assert notebook_params.parse_value(text) == value and type(
        notebook_params.parse_value(text)
    ) is type(value)


def test_params_file_then_command_line_overrides(tmp_path):
    params_file = tmp_path / "colab.yaml"
    params_file.write_text(
        "# Colab GPU run\ndata_source: kaggle\nepochs: 200\nimage_size: 256\n"
        "backbone: inception_resnet_v2\nlearning_rate: 1.0e-3\n"
    )
    params = notebook_params.chain_params(params_file, [("epochs", "50"), ("batch_size", "32")])
    assert params == {
        "data_source": "kaggle",
        "epochs": 50,
        "image_size": 256,
        "backbone": "inception_resnet_v2",
        "learning_rate": 1e-3,
        "batch_size": 32,
    }
    (tmp_path / "bad.yaml").write_text("- epochs\n- 200\n")
    with pytest.raises(ValueError, match="mapping"):
        notebook_params.load_params_file(tmp_path / "bad.yaml")


@pytest.mark.parametrize(
    "only, expected",
    [
        (None, list(chain.NOTEBOOKS)),
        ("04,05", ["04_memorization.ipynb", "05_training.ipynb"]),
        ("6, 1", ["01_data_download.ipynb", "06_analysis.ipynb"]),
        (["03_model"], ["03_model.ipynb"]),
    ],
)
def test_select_notebooks(only, expected):
    assert chain.select_notebooks(only) == expected


def test_select_notebooks_rejects_unknown():
    with pytest.raises(ValueError, match="no notebook '99'"):
        chain.select_notebooks("99")


def test_cli_registers_demo_and_chain():
    # colored/cli/ skips modules whose import fails: make sure chain's commands really are there.
    from colored.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    assert {"demo", "chain"} <= set(commands)


# --------------------------------------------------------------------------------------------------
# parameters are checked before anything runs
# --------------------------------------------------------------------------------------------------


def spec(default: str, annotation: str = "None") -> dict:
    return {"default": default, "inferred_type_name": annotation, "help": ""}


@pytest.mark.parametrize(
    "default, annotation, good, bad",
    [
        ("6", "None", [1, 200], ["notanumber", 6.0, True, None, "6"]),
        ("1e-3", "None", [0.01, 1, 2e-4], ["fast", True, None]),
        ('"sample"', "None", ["kaggle", "data/my photos"], [3, 1.5, True, None]),
        ("True", "None", [True, False], [1, 0, "yes", None]),
        ("None", "None", [None, 3, "x", 1.5], []),  # a None default: anything goes
        ("2", "Optional[int]", [None, 3], ["two", 2.5, False]),
        ("None", "int", [None, 3], ["x"]),  # annotated, with a None default
        ("0.5", "Optional[float]", [None, 1, 0.25], ["x"]),
        ("compute()", "None", ["x", 1, None], []),  # an expression: nothing to go on
    ],
)
def test_parameter_values_must_fit_the_parameters_cell(default, annotation, good, bad):
    specs = {"n.ipynb": {"p": spec(default, annotation)}}
    for value in good:
        notebook_params.check_params({"p": value}, specs)
    for value in bad:
        with pytest.raises(
            ValueError, match=rf"parameter p \(n\.ipynb\): got {re.escape(repr(value))}, expected"
        ):
            notebook_params.check_params({"p": value}, specs)


def test_a_bad_value_stops_the_chain_before_any_notebook_runs(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    write_notebook(src / "a.ipynb", "n = 1", "open('ran_a', 'w').close()")
    write_notebook(src / "b.ipynb", "epochs = 6\nrate = 0.5")
    out = tmp_path / "out"

    with pytest.raises(ValueError) as caught:
        chain.run_chain(
            {"n": 2, "epochs": "notanumber", "rate": "fast"},
            out,
            ["a.ipynb", "b.ipynb"],
            notebook_dir=src,
            log=None,
        )

    message = str(caught.value)
    assert "\n" not in message
    assert (
        "parameter epochs (b.ipynb): got 'notanumber', expected an integer (its default is 6)"
        in message
    )
    assert "parameter rate (b.ipynb): got 'fast', expected a number" in message, (
        "every bad value, at once"
    )
    assert not out.exists() and not (src / "ran_a").exists(), (
        "nothing may run before the values are checked"
    )


def test_cli_refuses_a_bad_value_with_one_line_and_exit_2_before_notebook_01(
    tmp_path, monkeypatch, capsys
):
    from colored.cli import main

    def never(*args, **kwargs):
        raise AssertionError("a notebook was executed")

    monkeypatch.setattr("papermill.execute_notebook", never)
    out = tmp_path / "out"
    code = main(["chain", "-p", "epochs", "notanumber", "--out", str(out)])

    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert err.count("\n") == 1, err
    assert (
        "05_training.ipynb" in err
        and "epochs" in err
        and "'notanumber'" in err
        and "an integer" in err
    )


def test_documented_null_is_accepted(tmp_path):
    # 05's interrupt_after_epoch says "None: train straight through": its annotation lets null through
    specs = {
        name: notebook_params.notebook_parameter_specs(NOTEBOOK_DIR / name)
        for name in ("05_training.ipynb",)
    }
    notebook_params.check_params({"interrupt_after_epoch": None}, specs)
    with pytest.raises(ValueError, match="interrupt_after_epoch.*expected an integer or null"):
        notebook_params.check_params({"interrupt_after_epoch": "never"}, specs)


@pytest.fixture(scope="module")
def lab_specs():
    return {
        name: notebook_params.notebook_parameter_specs(NOTEBOOK_DIR / name)
        for name in chain.NOTEBOOKS
    }


def test_parameters_passed_to_config_follow_configs_rules(lab_specs, monkeypatch):
    """With a stand-in ``validate_fields``: which parameters reach it, under which field, and the message."""
    import colored.config

    seen = []

    def validate_fields(values):
        seen.append(dict(values))
        field, value = next(iter(values.items()))
        if value == "bad":
            raise ValueError(f"{field} = {value!r} is not allowed: expected something good")

    monkeypatch.setattr(colored.config, "validate_fields", validate_fields, raising=False)
    notebook_params.check_params(
        {
            "architecture": "simplified",
            "memorization_lr": 0.01,
            "data_dir": "bad",
            "steps_per_epoch": 5,
            "gallery_size": 3,
            "epochs": 9,
        },
        lab_specs,
    )
    assert sorted(map(str, seen)) == sorted(
        map(str, [{"architecture": "simplified"}, {"learning_rate": 0.01}, {"epochs": 9}])
    ), (
        "data_dir (the datasets' parent folder: Config's is dataset_dir) and 04's steps_per_epoch are not Config's; gallery_size is no field"
    )

    with pytest.raises(ValueError) as caught:
        notebook_params.check_params({"architecture": "bad", "loss": "bad"}, lab_specs)
    message = str(caught.value)
    assert "\n" not in message
    assert (
        "parameter architecture (03_model.ipynb, 05_training.ipynb): "
        "architecture = 'bad' is not allowed: expected something good"
    ) in message
    assert (
        "parameter loss (03_model.ipynb, 05_training.ipynb): loss = 'bad' is not allowed" in message
    )

    seen.clear()
    with pytest.raises(ValueError, match="expected an integer"):
        notebook_params.check_params({"epochs": "notanumber"}, lab_specs)
    assert seen == [], "a value of the wrong type is reported once, by the type check"

    monkeypatch.delattr(colored.config, "validate_fields")  # an older package: the type check alone
    notebook_params.check_params({"architecture": "bad"}, lab_specs)


def test_config_named_parameters_are_checked_or_exempted_on_purpose(lab_specs):
    import dataclasses

    from colored.config import Config

    fields = {f.name for f in dataclasses.fields(Config)}
    for notebook, declared in lab_specs.items():
        for name in declared:
            exempt = ("*", name) in notebook_params.NOT_CONFIG_FIELDS or (
                notebook,
                name,
            ) in notebook_params.NOT_CONFIG_FIELDS
            expected = (
                None
                if exempt
                else notebook_params.CONFIG_FIELD_ALIASES.get(
                    name, name if name in fields else None
                )
            )
            assert notebook_params.config_field(notebook, name) == expected, (notebook, name)
    assert all(field in fields for field in notebook_params.CONFIG_FIELD_ALIASES.values())
    # the reference values (the parameters cells' defaults) pass every check, Config's included
    import ast

    notebook_params.check_params(
        {name: ast.literal_eval(s["default"]) for d in lab_specs.values() for name, s in d.items()},
        lab_specs,
    )


def test_configs_own_rules_reject_what_the_type_check_lets_through(lab_specs):
    import colored.config

    if getattr(colored.config, "validate_fields", None) is None:
        pytest.skip("colored.config.validate_fields is not in this version of the package")
    for params, words in [
        (
            {"architecture": "huge"},
            [
                "03_model.ipynb",
                "05_training.ipynb",
                "architecture = 'huge'",
                "'full' or 'simplified'",
            ],
        ),
        ({"image_size": 0}, ["05_training.ipynb", "image_size", "0"]),
        ({"temperature": -1}, ["07_colorize_your_photos.ipynb", "temperature", "-1"]),
    ]:
        with pytest.raises(ValueError) as caught:
            notebook_params.check_params(params, lab_specs)
        assert all(word in str(caught.value) for word in words) and "\n" not in str(caught.value), (
            str(caught.value)
        )


# --------------------------------------------------------------------------------------------------
# the output folder: new or empty, or --overwrite an earlier run
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def tiny_lab(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    write_notebook(
        src / "a.ipynb",
        "run_dir = 'nowhere'\ntag = 'new'",
        "from pathlib import Path\n(Path(run_dir) / 'figures').mkdir(exist_ok=True)\n"
        "(Path(run_dir) / 'figures' / f'{tag}.png').write_text(tag)",
    )
    return src


def test_a_non_empty_out_folder_is_refused_without_overwrite(tmp_path, tiny_lab):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"out .* is not empty .*notes\.txt.*--overwrite"):
        chain.run_chain({}, out, ["a.ipynb"], notebook_dir=tiny_lab, log=None)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    (out / "notes.txt").unlink()
    chain.run_chain(
        {}, out, ["a.ipynb"], notebook_dir=tiny_lab, log=None
    )  # an empty folder is fine


def test_overwrite_replaces_an_earlier_run_leaving_nothing_stale(tmp_path, tiny_lab):
    out = tmp_path / "out"
    chain.run_chain({"tag": "old"}, out, ["a.ipynb"], notebook_dir=tiny_lab, log=None)
    (out / "model.keras").write_text("old model")  # what other notebooks of the earlier run left
    (out / "colorized").mkdir()
    (out / "colorized" / "old_colorized.png").write_text("old")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("keep")
    (out / "link").symlink_to(elsewhere, target_is_directory=True)

    chain.run_chain(
        {"tag": "new"}, out, ["a.ipynb"], notebook_dir=tiny_lab, log=None, overwrite=True
    )

    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "a.ipynb",
        "chain.json",
        "figures",
        "figures/new.png",
        "kernels.log",
    ]
    assert json.loads((out / "chain.json").read_text())["params"]["tag"] == "new"
    assert (elsewhere / "keep.txt").is_file(), "a symlink is removed, never followed"


@pytest.mark.parametrize("chain_json", [None, "not json", '{"something": "else"}'])
def test_overwrite_never_empties_a_folder_that_is_not_a_chain_run(tmp_path, tiny_lab, chain_json):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_text("precious")
    if chain_json is not None:
        (out / "chain.json").write_text(chain_json)
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(
        ValueError,
        match=r"refusing to --overwrite .*photos: it has no chain\.json.*nothing was deleted",
    ):
        chain.run_chain({}, out, ["a.ipynb"], notebook_dir=tiny_lab, log=None, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == before


def test_overwrite_never_empties_the_current_folder_or_a_parent_of_it(
    tmp_path, tiny_lab, monkeypatch
):
    out = tmp_path / "out"
    chain.run_chain({}, out, ["a.ipynb"], notebook_dir=tiny_lab, log=None)
    monkeypatch.chdir(out)
    for folder in (Path("."), tmp_path):
        with pytest.raises(ValueError, match="refusing to empty"):
            chain.prepare_out_dir(folder, overwrite=True)
    assert (out / "chain.json").is_file()


@pytest.mark.parametrize("command", ["demo", "chain"])
def test_cli_out_and_overwrite(tmp_path, monkeypatch, capsys, command):
    from colored.cli import main

    calls = []
    monkeypatch.setattr("papermill.execute_notebook", lambda *a, **kw: calls.append(a))
    monkeypatch.setattr(chain, "ensure_kernel", lambda name: None)
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.png").write_text("old")

    assert main([command, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not empty" in err and "--overwrite" in err
    assert main([command, "--out", str(out), "--overwrite"]) == 2
    assert "no chain.json" in capsys.readouterr().err and (out / "old.png").is_file() and not calls

    (out / "chain.json").write_text('{"params": {}, "notebooks": {}}')
    assert main([command, "--out", str(out), "--overwrite"]) == 0
    assert len(calls) == len(chain.NOTEBOOKS) and not (out / "old.png").exists()


@pytest.mark.parametrize("command", ["demo", "chain"])
def test_help_documents_overwrite(command, capsys):
    from colored.cli import main

    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--overwrite" in text and "chain.json" in text and "never deleted" in text


def test_demo_is_the_chain_with_the_reference_parameters(tmp_path, monkeypatch):
    from colored.cli import main

    runs = []
    monkeypatch.setattr(
        chain,
        "run_chain",
        lambda params, out, notebooks, **kw: runs.append((params, out, notebooks)),
    )
    assert main(["demo", "--out", str(tmp_path / "out")]) == 0
    assert runs == [
        (notebook_params.load_profile("reference"), tmp_path / "out", list(chain.NOTEBOOKS))
    ]


# --------------------------------------------------------------------------------------------------
# the profiles shipped in the package: reference (colored demo) and colab (ColorED's real run)
# --------------------------------------------------------------------------------------------------


def _defaults(lab_specs) -> dict:
    import ast

    return {
        name: ast.literal_eval(spec["default"])
        for specs in lab_specs.values()
        for name, spec in specs.items()
    }


def test_the_reference_profile_is_the_notebooks_own_defaults(lab_specs):
    # so `colored demo` (the profile) and nbval (the notebooks as they are) run the same reference run
    defaults = {k: v for k, v in _defaults(lab_specs).items() if k != "run_dir"}
    assert notebook_params.load_profile("reference") == defaults, (
        "colored/notebook/profiles/reference.yaml and the parameters cells disagree"
    )


def test_the_colab_profile_is_the_seeds_real_run_and_resumes(lab_specs):
    colab = notebook_params.load_profile("colab")
    notebook_params.check_params(colab, lab_specs)  # every name declared, every value allowed
    assert {
        k: colab[k]
        for k in (
            "data_source",
            "image_size",
            "epochs",
            "backbone",
            "backbone_weights",
            "figure_every",
            "architecture",
        )
    } == {
        "data_source": "kaggle",
        "image_size": 256,
        "epochs": 200,
        "backbone": "inception_resnet_v2",
        "backbone_weights": "imagenet",
        "figure_every": 10,
        "architecture": "full",
    }
    assert colab["interrupt_after_epoch"] is None, "no simulated crash in a real run"
    assert colab["fresh_start"] is False, (
        "a rerun after a disconnect must resume, not delete the run"
    )
    assert all(
        colab[k] == "auto"
        for k in ("mixed_precision", "lab_in_graph", "cache_views", "jit_compile")
    )
    assert "run_dir" not in colab, "run_dir follows --out"


def test_profiles_ship_inside_the_package():
    import tomllib

    assert notebook_params.profile_names() == ["colab", "reference"]
    assert notebook_params.PROFILES_DIR.parent == Path(notebook_params.__file__).resolve().parent
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]
    assert "notebook/profiles/*.yaml" in package_data["colored"], (
        "the profiles must be in the wheel (package-data)"
    )


def test_profile_then_params_file_then_p(tmp_path):
    file = tmp_path / "mine.yaml"
    file.write_text("epochs: 20\nimage_size: 128\n")
    params = notebook_params.chain_params(file, [("epochs", "30")], profile="colab")
    assert (
        params["epochs"] == 30 and params["image_size"] == 128 and params["data_source"] == "kaggle"
    )
    with pytest.raises(ValueError, match="no profile 'colb'.*colab, reference"):
        notebook_params.chain_params(profile="colb")


def test_cli_chain_profile(tmp_path, monkeypatch):
    from colored.cli import main

    runs = []
    monkeypatch.setattr(
        chain, "run_chain", lambda params, out, notebooks, **kw: runs.append(params)
    )
    assert (
        main(["chain", "--profile", "colab", "-p", "epochs", "3", "--out", str(tmp_path / "o")])
        == 0
    )
    assert (
        runs[0]["epochs"] == 3
        and runs[0]["data_source"] == "kaggle"
        and runs[0]["fresh_start"] is False
    )
    with pytest.raises(SystemExit):
        main(["chain", "--profile", "colb"])


def test_training_parameters_reach_notebook_05(lab_specs):
    # `-p loss classification` used to be declared by 03 only: 05 silently trained MSE
    cells = nbformat.read(str(NOTEBOOK_DIR / "05_training.ipynb"), as_version=4).cells
    config_call = "".join(next(c.source for c in cells if "Config(" in c.source).split())
    for name in (
        "loss",
        "batch_norm",
        "max_minutes",
        "mixed_precision",
        "lab_in_graph",
        "cache_views",
        "jit_compile",
    ):
        assert name in lab_specs["05_training.ipynb"], f"05 does not declare {name}"
        assert f"{name}={name}" in config_call, f"05 does not pass {name} to Config"
    notebook_params.check_params(
        {
            "loss": "classification",
            "lab_in_graph": True,
            "cache_views": "auto",
            "max_minutes": 30,
            "mixed_precision": "bfloat16",
        },
        lab_specs,
    )
    with pytest.raises(ValueError, match="lab_in_graph.*'fast'"):
        notebook_params.check_params({"lab_in_graph": "fast"}, lab_specs)


def test_the_chain_names_what_a_plain_install_lacks(tmp_path, monkeypatch, capsys):
    from colored.cli import main

    monkeypatch.setattr(chain, "NOTEBOOK_DIR", tmp_path / "notebooks")
    for command in ("demo", "chain"):
        assert main([command]) == 2
        err = capsys.readouterr().err
        assert (
            err.count("\n") == 1 and "notebooks" in err and ".[lab]" in err and "git clone" in err
        ), err


# --------------------------------------------------------------------------------------------------
# what a newcomer runs first: the real chain, headless, compared with the committed outputs
# --------------------------------------------------------------------------------------------------

#: What nbval leaves out of the comparison (its defaults, without --nbdime: images are not compared).
NBVAL_SKIP = {
    "metadata",
    "traceback",
    "prompt_number",
    "output_type",
    "name",
    "execution_count",
    "application/vnd.jupyter.widget-view+json",
    "image/png",
    "image/jpeg",
}


def output_differences(
    executed, committed, replacements: Sequence[tuple[str, str]] = ()
) -> list[str]:
    """The code cells whose outputs differ between an executed notebook and the committed one, compared
    the way ``pytest --nbval`` (strict, ``--nbval-sanitize-with notebooks/sanitize.cfg``) compares a
    re-run with the committed outputs: streams coalesced, outputs grouped by kind, ``NBVAL_SKIP`` keys
    left out, text sanitized, cells tagged ``nbval-ignore-output``/``nbval-skip`` not compared.
    ``replacements`` are applied first (the run folder's absolute path → its reference value)."""
    import copy
    from collections import defaultdict

    from nbval.plugin import (
        coalesce_streams,
        get_sanitize_patterns,
        transform_streams_for_comparison,
    )

    patterns = get_sanitize_patterns((NOTEBOOK_DIR / "sanitize.cfg").read_text())

    def sanitize(value):
        if not isinstance(value, str):
            return value
        for old, new in replacements:
            value = value.replace(old, new)
        for regex, replace in patterns:
            value = re.sub(regex, replace, value)
        return value

    def grouped(outputs):
        groups = defaultdict(list)
        for output in transform_streams_for_comparison(coalesce_streams(copy.deepcopy(outputs))):
            for key, value in output.items():
                if key == "data":
                    for mime, data in value.items():
                        if mime not in NBVAL_SKIP:
                            groups[mime].append(sanitize(data))
                elif key not in NBVAL_SKIP:
                    groups[key].append(sanitize(value))
        return dict(groups)

    differences = []
    ran_cells = notebook_reference.clean_executed(
        executed, committed
    ).cells  # checks the sources are the committed ones
    for index, (ran, reference) in enumerate(zip(ran_cells, committed.cells)):
        tags = reference.metadata.get("tags", [])
        if reference.cell_type != "code" or {"nbval-ignore-output", "nbval-skip"} & set(tags):
            continue
        got, expected = grouped(ran.outputs), grouped(reference.outputs)
        if got != expected:
            differences.append(
                f"cell {index} (`{reference.source.splitlines()[0][:60]}`):\n"
                f"  committed: {expected}\n  this run:  {got}"
            )
    return differences


def test_output_differences_catches_what_nbval_catches(tmp_path):
    source = write_notebook(
        tmp_path / "a.ipynb", "n = 1", "print(f'{n} photos, loss ~0.{n}3')", "n"
    )
    chain.run_chain({"n": 1}, tmp_path / "ref", ["a.ipynb"], notebook_dir=tmp_path, log=None)
    committed = notebook_reference.clean_executed(
        nbformat.read(str(tmp_path / "ref" / "a.ipynb"), as_version=4),
        nbformat.read(str(source), as_version=4),
    )
    chain.run_chain({"n": 2}, tmp_path / "new", ["a.ipynb"], notebook_dir=tmp_path, log=None)
    executed = nbformat.read(str(tmp_path / "new" / "a.ipynb"), as_version=4)

    differences = output_differences(executed, committed)
    assert [d.split(" ", 2)[1] for d in differences] == ["2", "3"], (
        differences
    )  # "~0.23" alone would pass
    committed.cells[2].metadata["tags"] = ["nbval-ignore-output"]
    committed.cells[3].metadata["tags"] = ["nbval-ignore-output"]
    assert output_differences(executed, committed) == []


def _untracked(folder: Path) -> set[str]:
    return {str(p.relative_to(REPO)) for p in folder.rglob("*")} if folder.is_dir() else set()


@pytest.mark.slow
def test_the_newcomers_demo_runs_the_real_chain_and_reproduces_the_committed_outputs(tmp_path):
    """``make demo`` = ``colored demo``: the seven notebooks, papermill, the reference parameters, one run
    folder. This runs that chain through the command line (``cmd_demo`` only adds the defaults:
    test_demo_is_the_chain_with_the_reference_parameters) with the dataset in ``tmp_path`` too, so
    nothing lands in the repository, then checks the run folder the README promises and compares every
    notebook's outputs with the committed ones the way nbval does."""
    from colored.cli import main

    out, data = tmp_path / "run", tmp_path / "data"
    repo_before = _untracked(REPO / "runs") | _untracked(REPO / "data")

    code = main(["chain", "--out", str(out), "-p", "data_dir", str(data)])

    assert code == 0, f"the chain failed: see {out / 'kernels.log'}"
    record = json.loads((out / "chain.json").read_text())
    assert list(record["notebooks"]) == list(chain.NOTEBOOKS)
    for name in chain.NOTEBOOKS:
        executed = nbformat.read(str(out / name), as_version=4)
        errors = [
            o
            for c in executed.cells
            if c.cell_type == "code"
            for o in c.outputs
            if o.output_type == "error"
        ]
        assert not errors, f"{name}: {errors[0].ename}: {errors[0].evalue}"
        assert "failed" not in record["notebooks"][name]
    # the run folder the README promises
    for promised in (
        "model.keras",
        "best.keras",
        "config.json",
        "history.json",
        "history.csv",
        "metrics.json",
        "kernels.log",
        "colorized/chelsea_colorized.png",
        "figures/07_before_after.png",
    ):
        assert (out / promised).is_file(), f"{promised} missing from the run folder"
    assert sorted(p.name for p in (out / "figures").glob("epoch_*.png")), "no comparison figures"
    history = json.loads((out / "history.json").read_text())
    assert len(history["epoch"]) == 6, "the reference run trains 6 epochs"
    assert {"gray", "model"} <= set(json.loads((out / "metrics.json").read_text()))
    assert (data / "sample" / "train").is_dir()
    # the committed outputs, reproduced (what nbval would compare after re-running the notebooks)
    paths = [
        (str(out.resolve()), notebook_reference.REFERENCE_RUN_DIR),
        (str(data.resolve()), "data"),
    ]
    differences = {
        name: output_differences(
            nbformat.read(str(out / name), as_version=4),
            nbformat.read(str(NOTEBOOK_DIR / name), as_version=4),
            paths,
        )
        for name in chain.NOTEBOOKS
    }
    assert not any(differences.values()), (
        "outputs differ from the committed ones (after a deliberate change: "
        "`colored chain --save-outputs`, then review the diff):\n"
        + "\n".join(f"{name}: {d}" for name, found in differences.items() for d in found)
    )
    assert _untracked(REPO / "runs") | _untracked(REPO / "data") == repo_before, (
        "the run wrote into the repository"
    )


# --------------------------------------------------------------------------------------------------
# the lab notebooks, statically (nbval re-runs them)
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab():
    return {name: nbformat.read(str(NOTEBOOK_DIR / name), as_version=4) for name in chain.NOTEBOOKS}


def test_the_chain_lists_every_numbered_notebook():
    assert sorted(p.name for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb")) == list(chain.NOTEBOOKS)


def test_each_notebook_is_a_handout(lab):
    for name, nb in lab.items():
        title = nb.cells[0].source
        assert title.startswith("# "), f"{name}: no title"
        assert f"/notebooks/{name})" in title and "colab-badge.svg" in title, (
            f"{name}: no Colab badge to itself"
        )
        tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, (
            f"{name}: needs exactly one cell tagged parameters, found {len(tagged)}"
        )
        setup = next(c for c in nb.cells if c.cell_type == "code")
        assert "nbval-ignore-output" in setup.metadata.get("tags", []), (
            f"{name}: the setup prints this machine's devices"
        )
        setup = setup.source
        assert "google.colab" in setup and "colored.notebook.setup()" in setup, (
            f"{name}: first code cell is not the setup"
        )
        # colored.notebook quiets TensorFlow and albumentations: nothing may load keras before it.
        before = setup[: setup.index("import colored.notebook")]
        assert not re.search(
            r"import (keras|tensorflow|matplotlib|numpy)|from colored|import colored\b", before
        ), f"{name}: something is imported before colored.notebook: {before}"
        assert setup.index("import colored.notebook") < setup.index("colored.notebook.setup()"), (
            name
        )
        # short cells (issue 22): the plumbing lives in the library; a student reads what they change
        assert len(code_lines(setup)) <= 6, (
            f"{name}: the setup cell has {len(code_lines(setup))} code lines (at most 6)"
        )
        params = nb.cells[tagged[0]].source
        assert len(code_lines(params)) <= 8, (
            f"{name}: the parameters cell has {len(code_lines(params))} lines (at most 8: move the rest into its folded "
            f"{notebook_params.ADVANCED_TAG} cell, before it)"
        )
        for index, cell in enumerate(nb.cells):
            if notebook_params.ADVANCED_TAG in cell.metadata.get("tags", []):
                assert index < tagged[0], (
                    f"{name}: the advanced cell must come before the parameters cell "
                    "(papermill injects after the parameters cell, overriding both)"
                )
                assert cell.metadata.get("jupyter", {}).get("source_hidden"), (
                    f"{name}: fold the advanced cell"
                )


def code_lines(source: str) -> list[str]:
    return [
        line for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


def test_papermill_sees_every_line_of_each_parameters_cell(lab):
    """papermill's parser skips a line it cannot read (e.g. a comment holding "0 = off") with only a
    log message: that parameter would silently stop being one, and -p NAME would be refused."""
    for name, nb in lab.items():
        cells = [
            c.source
            for c in nb.cells
            if {"parameters", notebook_params.ADVANCED_TAG} & set(c.metadata.get("tags", []))
        ]
        assigned = [
            m.group(1)
            for source in cells
            for m in re.finditer(r"^(\w+)\s*(?::[^=]+)?=", source, re.MULTILINE)
        ]
        seen = list(notebook_params.notebook_parameter_specs(NOTEBOOK_DIR / name))
        assert sorted(seen) == sorted(assigned), (
            f"{name}: papermill reads parameters {seen}, the cell assigns {assigned}; "
            "reword the comment of the missing one (papermill's parser trips on '=' in a comment)"
        )


def test_shared_parameters_mean_the_same_everywhere(lab):
    defaults: dict[str, dict[str, str]] = {}
    for name in lab:
        for key, default in notebook_params.notebook_parameters(NOTEBOOK_DIR / name).items():
            defaults.setdefault(key, {})[name] = default
    for key, by_notebook in defaults.items():
        assert len(set(by_notebook.values())) == 1, (
            f"parameter {key} has different defaults: {by_notebook}"
        )
    assert set(defaults["run_dir"].values()) == {json.dumps(notebook_reference.REFERENCE_RUN_DIR)}
    assert {"05_training.ipynb", "06_analysis.ipynb"} <= set(defaults["run_dir"])


def test_committed_outputs_are_small_and_clean(lab):
    for name, nb in lab.items():
        size = (NOTEBOOK_DIR / name).stat().st_size
        assert size < 500_000, f"{name} is {size / 1e3:.0f} kB: keep figures small"
        assert "papermill" not in nb.metadata, (
            f"{name}: save outputs with `colored chain --save-outputs`"
        )
        for cell in nb.cells:
            assert "injected-parameters" not in cell.metadata.get("tags", []), (
                f"{name}: injected cell committed"
            )
            if cell.cell_type != "code":
                continue
            assert cell.execution_count is not None, (
                f"{name}: committed without outputs (cell never run)"
            )
            for output in cell.outputs:
                assert output.output_type != "error", f"{name}: committed with an error"
                text = output.get("text", "")
                assert output.get("name") != "stderr", f"{name}: stderr in outputs: {text[:200]}"
                assert not re.search(r"\d+/\d+ .*(━|=)|ETA|it/s", text), (
                    f"{name}: progress bar in outputs"
                )
                assert "I0000" not in text and "cuda" not in text.lower(), (
                    f"{name}: TF log lines leaked"
                )


def test_exempted_cells_say_why(lab):
    for name, nb in lab.items():
        for cell in nb.cells:
            if "nbval-ignore-output" in cell.metadata.get("tags", []):
                assert "not compared by the regression check" in cell.source, (
                    f"{name}: a cell exempted from nbval must say why in a comment:\n{cell.source[:200]}"
                )
