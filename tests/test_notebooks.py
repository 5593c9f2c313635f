"""The papermill chain (colored.chain) and the lab notebooks' structure.

The notebooks themselves are re-run and compared with their committed outputs by nbval (pytest
collects ``notebooks/*.ipynb``, see pyproject.toml); these tests cover the runner with tiny throwaway
notebooks, and check statically what nbval cannot (one parameters cell, badges, sizes, ...).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from colored import chain

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"


def write_notebook(path: Path, parameters: str, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"), params]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
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

    executed = chain.run_chain({"x": 5, "y": 7}, out, ["a.ipynb", "b.ipynb"], notebook_dir=src, log=None)

    assert executed == [out / "a.ipynb", out / "b.ipynb"]
    names = {nb: re.findall(r"^(\w+) =", injected(out / nb), re.MULTILINE) for nb in ("a.ipynb", "b.ipynb")}
    assert names == {"a.ipynb": ["x", "run_dir"], "b.ipynb": ["y"]}, "b declares no run_dir: it gets none"
    # run_dir defaults to the output folder, for the notebooks that declare it
    assert stdout(out / "a.ipynb").split() == ["a", "5", str(out.resolve())]
    assert stdout(out / "b.ipynb").split() == ["b", "7"]
    record = json.loads((out / "chain.json").read_text())
    assert record["notebooks"]["b.ipynb"]["parameters"] == {"y": 7}


def test_an_undeclared_parameter_is_an_error_not_ignored(tmp_path):
    write_notebook(tmp_path / "a.ipynb", "epochs = 1")
    with pytest.raises(ValueError, match="epocs.*not declared.*epochs"):
        chain.run_chain({"epocs": 200}, tmp_path / "out", ["a.ipynb"], notebook_dir=tmp_path, log=None)


def test_a_failing_notebook_stops_the_chain_naming_notebook_and_cell(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    write_notebook(src / "ok.ipynb", "n = 1", "print(n)")
    write_notebook(src / "broken.ipynb", "n = 1", "print('fine')", "raise ValueError(f'boom {n}')", "print('never')")
    write_notebook(src / "after.ipynb", "n = 1", "print('after')")
    out = tmp_path / "out"

    with pytest.raises(chain.ChainError) as caught:
        chain.run_chain({"n": 3}, out, ["ok.ipynb", "broken.ipynb", "after.ipynb"], notebook_dir=src, log=None)

    error = caught.value
    assert (error.notebook, error.cell_index, error.ename, error.evalue) == ("broken.ipynb", 3, "ValueError", "boom 3")
    message = str(error)
    assert "broken.ipynb" in message and "cell 3" in message and "ValueError: boom 3" in message
    assert "raise ValueError" in message, "the failing cell's first line helps find it"
    assert error.output == out / "broken.ipynb" and error.output.is_file()
    assert not (out / "after.ipynb").exists(), "the chain must stop at the first failing notebook"
    assert json.loads((out / "chain.json").read_text())["notebooks"]["broken.ipynb"]["failed"] is True


def test_cli_reports_the_failing_notebook_and_exits_nonzero(tmp_path, monkeypatch, capsys):
    from colored.cli import main

    write_notebook(tmp_path / "05_training.ipynb", "epochs = 1", "assert epochs < 100, 'too many epochs'")
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

    clean = chain.clean_executed(executed, nbformat.read(str(source), as_version=4))

    assert [c.source for c in clean.cells] == [c.source for c in nbformat.read(str(source), as_version=4).cells]
    assert "papermill" not in clean.metadata and all("papermill" not in c.metadata for c in clean.cells)
    code = [c for c in clean.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == [1, 2, 3]
    assert code[1].outputs[0].text == "42\n" and code[2].outputs[0].data["text/plain"] == "21"
    assert code[2].outputs[0].execution_count == 3
    nbformat.validate(clean)

    # how the kernel splits printed text into pieces is timing noise: pieces are merged
    stream = nbformat.v4.new_output
    executed.cells[3].outputs = [stream("stream", name="stdout", text="4"), stream("stream", name="stdout", text="2\n"),
                                 stream("stream", name="stderr", text="!\n"), stream("stream", name="stdout", text="x\n")]
    outputs = chain.clean_executed(executed, nbformat.read(str(source), as_version=4)).cells[2].outputs
    assert [(o.name, o.text) for o in outputs] == [("stdout", "42\n"), ("stderr", "!\n"), ("stdout", "x\n")]


# --------------------------------------------------------------------------------------------------
# parameters from the command line and files
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, value", [
    ("200", 200), ("1e-3", 1e-3), ("0.5", 0.5), ("true", True), ("False", False), ("null", None),
    ("none", "none"), ("kaggle", "kaggle"), ("inception_resnet_v2", "inception_resnet_v2"),
    ("runs/colab", "runs/colab"), ("data/my.photos", "data/my.photos"),
])
def test_command_line_values_are_parsed_like_yaml(text, value):
    assert chain.parse_value(text) == value and type(chain.parse_value(text)) is type(value)


def test_params_file_then_command_line_overrides(tmp_path):
    params_file = tmp_path / "colab.yaml"
    params_file.write_text("# Colab GPU run\ndata_source: kaggle\nepochs: 200\nimage_size: 256\n"
                           "backbone: inception_resnet_v2\nlearning_rate: 1.0e-3\n")
    params = chain.chain_params(params_file, [("epochs", "50"), ("batch_size", "32")])
    assert params == {"data_source": "kaggle", "epochs": 50, "image_size": 256,
                      "backbone": "inception_resnet_v2", "learning_rate": 1e-3, "batch_size": 32}
    (tmp_path / "bad.yaml").write_text("- epochs\n- 200\n")
    with pytest.raises(ValueError, match="mapping"):
        chain.load_params_file(tmp_path / "bad.yaml")


@pytest.mark.parametrize("only, expected", [
    (None, list(chain.NOTEBOOKS)),
    ("04,05", ["04_memorization.ipynb", "05_training.ipynb"]),
    ("6, 1", ["01_data_download.ipynb", "06_analysis.ipynb"]),
    (["03_model"], ["03_model.ipynb"]),
])
def test_select_notebooks(only, expected):
    assert chain.select_notebooks(only) == expected


def test_select_notebooks_rejects_unknown():
    with pytest.raises(ValueError, match="no notebook '99'"):
        chain.select_notebooks("99")


def test_cli_registers_demo_and_chain():
    # cli.py skips modules whose import fails: make sure chain's commands really are there.
    from colored.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    assert {"demo", "chain"} <= set(commands)


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
        assert f"/notebooks/{name})" in title and "colab-badge.svg" in title, f"{name}: no Colab badge to itself"
        tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{name}: needs exactly one cell tagged parameters, found {len(tagged)}"
        setup = next(c.source for c in nb.cells if c.cell_type == "code")
        assert "google.colab" in setup and "set_random_seed" in setup, f"{name}: first code cell is not the setup"
        assert setup.index("TF_CPP_MIN_LOG_LEVEL") < setup.index("import keras"), f"{name}: TF logs not quieted first"
        assert setup.index("NO_ALBUMENTATIONS_UPDATE") < setup.index("import colored")


def test_shared_parameters_mean_the_same_everywhere(lab):
    defaults: dict[str, dict[str, str]] = {}
    for name in lab:
        for key, default in chain.notebook_parameters(NOTEBOOK_DIR / name).items():
            defaults.setdefault(key, {})[name] = default
    for key, by_notebook in defaults.items():
        assert len(set(by_notebook.values())) == 1, f"parameter {key} has different defaults: {by_notebook}"
    assert set(defaults["run_dir"].values()) == {json.dumps(chain.REFERENCE_RUN_DIR)}
    assert {"05_training.ipynb", "06_analysis.ipynb"} <= set(defaults["run_dir"])


def test_committed_outputs_are_small_and_clean(lab):
    for name, nb in lab.items():
        size = (NOTEBOOK_DIR / name).stat().st_size
        assert size < 500_000, f"{name} is {size / 1e3:.0f} kB: keep figures small"
        assert "papermill" not in nb.metadata, f"{name}: save outputs with `colored chain --save-outputs`"
        for cell in nb.cells:
            assert "injected-parameters" not in cell.metadata.get("tags", []), f"{name}: injected cell committed"
            if cell.cell_type != "code":
                continue
            assert cell.execution_count is not None, f"{name}: committed without outputs (cell never run)"
            for output in cell.outputs:
                assert output.output_type != "error", f"{name}: committed with an error"
                text = output.get("text", "")
                assert output.get("name") != "stderr", f"{name}: stderr in outputs: {text[:200]}"
                assert not re.search(r"\d+/\d+ .*(━|=)|ETA|it/s", text), f"{name}: progress bar in outputs"
                assert "I0000" not in text and "cuda" not in text.lower(), f"{name}: TF log lines leaked"


def test_exempted_cells_say_why(lab):
    for name, nb in lab.items():
        for cell in nb.cells:
            if "nbval-ignore-output" in cell.metadata.get("tags", []):
                assert "not compared by the regression check" in cell.source, \
                    f"{name}: a cell exempted from nbval must say why in a comment:\n{cell.source[:200]}"
