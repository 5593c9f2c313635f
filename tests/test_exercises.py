"""The notebooks' exercises never touch the reference run (issue 22, item 2).

``notebooks/exercises.yaml`` lists every exercise that changes a parameter (or a line of a cell). The
quick tests check that the exercise text in the notebooks says exactly what the list says, and that
each exercise writing into a run folder gets one of its own. The slow test does every offline
exercise headless, as a student would (papermill, at tiny sizes), after a tiny reference chain, and
checks that ``runs/reference`` is byte-identical afterwards.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
import yaml

from colored.notebook import chain
from colored.notebook import params as notebook_params
from colored.notebook import reference as notebook_reference

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
EXERCISES = yaml.safe_load((NOTEBOOK_DIR / "exercises.yaml").read_text())
#: What makes a headless run tiny; these win over an exercise's own values (time, not the lesson).
TINY = {
    "image_size": 32,
    "epochs": 2,
    "batch_size": 8,
    "max_epochs": 1,
    "steps_per_epoch": 2,
    "loss_threshold": 1.0,
    "gallery_size": 2,
}
#: Tiny reference run (01 and 05: the notebooks whose files an exercise could overwrite).
TINY_REFERENCE = {**TINY, "interrupt_after_epoch": 1}


def notebook_file(number: str) -> Path:
    return next(NOTEBOOK_DIR.glob(f"{number}_*.ipynb"))


def exercise_items(number: str) -> dict[int, str]:
    """The numbered items of a notebook's **Exercises.** list: ``{number: text}``."""
    nb = nbformat.read(str(notebook_file(number)), as_version=4)
    cell = next(
        c.source for c in nb.cells if c.cell_type == "markdown" and "**Exercises." in c.source
    )
    text = cell[cell.index("**Exercises.") :]
    parts = re.split(r"^(\d+)\. ", text, flags=re.MULTILINE)
    return {int(parts[i]): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def settings_in(text: str, names: set[str]) -> dict[str, list]:
    """The values each parameter is given (`` `name = literal` ``) in an exercise's text."""
    found: dict[str, list] = {}
    for match in re.finditer(r"`(\w+) = ([^`]+)`", text):
        if match.group(1) in names:
            found.setdefault(match.group(1), []).append(ast.literal_eval(match.group(2)))
    return found


def declared(numbers) -> dict[str, str]:
    names: dict[str, str] = {}
    for number in numbers:
        names.update(notebook_params.notebook_parameters(notebook_file(number)))
    return names


ALL_PARAMETERS = set(declared(f"{i:02d}" for i in range(1, 8)))


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_the_text_says_what_the_list_says(key):
    number, item = key.split("-")
    entry = EXERCISES[key]
    items = exercise_items(number)
    assert int(item) in items, f"exercises.yaml has {key}, notebook {number} has no exercise {item}"
    text = items[int(item)]
    said = settings_in(text, ALL_PARAMETERS)
    for name, value in entry["parameters"].items():
        assert name in said, (
            f"exercise {key}: the text never says `{name} = ...` (exercises.yaml: {value!r})"
        )
        assert value in said[name], (
            f"exercise {key}: the text says {name} = {said[name]!r}, exercises.yaml {value!r}"
        )
    if "edit" in entry:
        old, new = entry["edit"]
        assert f"`{old}`" in text and f"`{new}`" in text, (
            f"exercise {key}: the text does not name the edit {old} → {new}"
        )
        assert any(
            old in c.source
            for c in nbformat.read(str(notebook_file(number)), as_version=4).cells
            if c.cell_type == "code"
        ), f"exercise {key}: no code cell holds {old!r}"
    unknown = set(entry["parameters"]) - set(declared(entry["notebooks"]))
    assert not unknown, (
        f"exercise {key}: {sorted(unknown)} are not parameters of notebooks {entry['notebooks']}"
    )


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_an_exercise_that_writes_a_run_folder_has_its_own(key):
    entry = EXERCISES[key]
    if "run_dir" not in declared(entry["notebooks"]):
        return  # e.g. notebook 03: it writes nothing
    run_dir = entry["parameters"].get("run_dir")
    assert run_dir == f"runs/exercise-{key}", (
        f"exercise {key} writes into {run_dir or notebook_reference.REFERENCE_RUN_DIR!r}; give it runs/exercise-{key}"
    )


def test_every_exercise_that_sets_a_parameter_is_listed():
    for number in (f"{i:02d}" for i in range(1, 8)):
        for item, text in exercise_items(number).items():
            if settings_in(text, ALL_PARAMETERS):
                assert f"{number}-{item}" in EXERCISES, (
                    f"notebook {number}, exercise {item} sets {settings_in(text, ALL_PARAMETERS)}: add it to exercises.yaml"
                )


def test_the_check_catches_a_wrong_value():
    assert settings_in(
        'Set `run_dir = "runs/reference"` and `epochs = 30`, then `epochs = 3`.',
        {"run_dir", "epochs"},
    ) == {"run_dir": ["runs/reference"], "epochs": [30, 3]}


# --------------------------------------------------------------------------------------------------
# every offline exercise, headless: runs/reference stays byte-identical
# --------------------------------------------------------------------------------------------------


def folder_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A copy of the lab (notebooks/ beside a pyproject.toml, so the setup cell makes it the working
    folder) with a tiny reference run in runs/reference and a folder of one's own photos."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(NOTEBOOK_DIR, root / "notebooks")
    (root / "pyproject.toml").write_text("# the lab's root for colored.notebook.setup()\n")
    # 01 builds the sample and writes figures, 05 a trained model: what the exercises could overwrite
    reference = ["01", "05"]
    params = {k: v for k, v in TINY_REFERENCE.items() if k in declared(reference)}
    chain.run_chain(
        params,
        root / notebook_reference.REFERENCE_RUN_DIR,
        [notebook_file(n).name for n in reference],
        notebook_dir=root / "notebooks",
        log=None,
    )
    sample = root / "data" / "sample"
    mine = root / "data" / "mine"
    for split in ("train", "test"):
        (mine / split).mkdir(parents=True)
        for photo in sorted((sample / split).glob("*.png"))[::4]:
            shutil.copy(photo, mine / split / photo.name)
    shutil.copy(sample / "test" / "chelsea_00.png", mine / "photo.png")
    shutil.copy(sample / "train" / "astronaut_00.png", mine / "astronaut.png")
    return root


def writes_nothing(number: str) -> bool:
    """A notebook with no run_dir parameter whose code saves no file (03): its exercises cannot touch a run."""
    nb = nbformat.read(str(notebook_file(number)), as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    return "run_dir" not in declared([number]) and not re.search(
        r"save_figure|write_image|write_text|\.save\(", code
    )


def test_notebook_03_writes_nothing():
    assert writes_nothing("03"), (
        "notebook 03 now writes files: give its exercises run folders and run them below"
    )


OFFLINE = sorted(
    key
    for key, entry in EXERCISES.items()
    if entry.get("offline", True) and not all(writes_nothing(n) for n in entry["notebooks"])
)


@pytest.mark.slow
@pytest.mark.parametrize("key", OFFLINE)
def test_the_exercise_leaves_the_reference_run_as_it_was(workspace, key, monkeypatch):
    entry = EXERCISES[key]
    monkeypatch.setenv(
        "KAGGLE_CONFIG_DIR", str(workspace / "no-kaggle")
    )  # "auto" must not find a token
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    reference = workspace / notebook_reference.REFERENCE_RUN_DIR
    before = folder_digest(reference)
    names = [notebook_file(n).name for n in entry["notebooks"]]
    params = {
        **entry["parameters"],
        **{k: v for k, v in TINY.items() if k in declared(entry["notebooks"])},
    }
    edited = workspace / "notebooks" / names[0]
    original = edited.read_text()
    if "edit" in entry:
        old, new = entry["edit"]
        edited.write_text(original.replace(old, new))
    try:
        chain.run_chain(
            params,
            workspace / "executed" / key,
            names,
            notebook_dir=workspace / "notebooks",
            log=None,
        )
    finally:
        edited.write_text(original)
    after = folder_digest(reference)
    changed = sorted(
        name for name in set(before) | set(after) if before.get(name) != after.get(name)
    )
    assert not changed, f"exercise {key} changed runs/reference: {changed[:5]}"
    run_dir = entry["parameters"].get("run_dir")
    if run_dir:
        assert (workspace / run_dir).is_dir(), (
            f"exercise {key} wrote nothing into its own folder {run_dir}"
        )
    record = json.loads((workspace / "executed" / key / "chain.json").read_text())
    assert list(record["notebooks"]) == names
