"""`make test-colab` and `make test-oldest`: the lab on the stacks students have, checked here.

**Colab** (`--stack colab`). Colab's runtime is published by Google as a `pip freeze`
(../shared/reference/colab/pip-freeze.txt, the CPU runtime's; the GPU one differs only in CUDA
builds). This

1. finds a Python of Colab's minor version (3.13) and builds `.venv-colab` with Colab's exact
   versions of every package the lab and its test tools would install or touch (the preinstalled
   set: their dependency closure, resolved against Colab's pins, that Colab has);
2. installs the lab exactly as the notebooks' setup cell does on Colab (`pip install -q git+URL`,
   here `git+file://` of this checkout's last commit, since GitHub is out of reach) and checks that
   no preinstalled package changed version (the table: package, Colab, after the install);
3. installs the test tools Colab lacks (nbval, papermill) under Colab's pins, so they cannot move a
   preinstalled package either;
4. colorizes a photo with the shipped model (`colored colorize`); where the pinned environment
   (.venv) exists, trains a tiny run there and checks that its model files give the same output
   here and that the run resumes here (another Keras);
5. runs the quick tests (`pytest -m "not slow"`) and the whole chain 01 → 07 with papermill,
   failing on any error output.

**Oldest** (`--stack oldest`): the oldest Python and the lower bound of every dependency that
pyproject.toml allows (`>=X` taken as `==X`), in `.venv-oldest`: steps 4 and the model-file tests.

Stdlib only: it runs with whatever Python starts it. Exit 0 only if every stage passed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FREEZE = ROOT.parent / "shared" / "reference" / "colab" / "pip-freeze.txt"
PINNED_VENV = ROOT / ".venv"
COLAB_PYTHON = "3.13"
PYPROJECT = ROOT / "pyproject.toml"
#: The model-file tests, run on the oldest stack.
OLDEST_TESTS = ["tests/test_modelfile.py", "tests/test_default_model.py"]
#: What the tests and the chain need that Colab does not preinstall (installed under Colab's pins).
TEST_TOOLS = ["nbval>=0.11", "papermill>=2.6"]
#: Installer tooling: a venv brings its own (pip freeze leaves it out too).
TOOLING = {"pip", "setuptools", "wheel"}

STAGES: list[tuple[str, float]] = []


def say(text: str) -> None:
    print(f"== {text}", flush=True)


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("check", True)
    return subprocess.run([str(c) for c in command], **kwargs)


@contextlib.contextmanager
def stage(name: str):
    """Announces a stage and times it for the closing summary."""
    say(name)
    start = time.monotonic()
    try:
        yield
    finally:
        STAGES.append((name, time.monotonic() - start))


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_freeze(path: Path) -> dict[str, str]:
    """``{canonical name: version}`` of the ``name==version`` lines (URL installs are left out:
    they are CUDA/CPU builds of torch and friends, and Colab-only packages)."""
    pins = {}
    for line in path.read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line.strip())
        if match:
            pins[canonical(match[1])] = match[2]
    return pins


def find_python(minor: str) -> str:
    """A Python ``minor`` interpreter: on PATH, or one of pyenv's (without hard-coding its root)."""
    candidates = [shutil.which(f"python{minor}")]
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = run([pyenv, "root"], capture_output=True, text=True, check=False).stdout.strip()
        versions = sorted(
            Path(root, "versions").glob(f"{minor}.*"),
            key=lambda p: [int(x) for x in re.findall(r"\d+", p.name)],
        )
        candidates += [str(v / "bin" / f"python{minor}") for v in reversed(versions)]
    for candidate in filter(None, candidates):
        probe = run(
            [candidate, "-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYENV_VERSION": ""},
        )
        if probe.returncode == 0 and probe.stdout.strip() == minor:
            return candidate
    sys.exit(
        f"no Python {minor} found: looked for python{minor} on PATH and in pyenv's versions. "
        f"Install one (e.g. `pyenv install {minor}`) and run it again."
    )


def freeze(python: Path) -> dict[str, str]:
    out = run(
        [python, "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
    ).stdout
    return {canonical(p["name"]): p["version"] for p in json.loads(out)}


def resolve_closure(python: Path, constraints: Path, requirements: list[str]) -> dict[str, str]:
    """What pip would install for ``requirements`` under ``constraints``, without installing it."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        run(
            [
                python,
                "-m",
                "pip",
                "install",
                "-q",
                "--dry-run",
                "--ignore-installed",
                "--report",
                report,
                "-c",
                constraints,
                *requirements,
            ]
        )
        items = json.loads(report.read_text())["install"]
    return {canonical(i["metadata"]["name"]): i["metadata"]["version"] for i in items}


def new_venv(venv: Path, python_exe: str) -> Path:
    if venv.exists():
        shutil.rmtree(venv)
    run([python_exe, "-m", "venv", venv])
    python = venv / "bin" / "python"
    run([python, "-m", "pip", "install", "-q", "--upgrade", "pip"])
    return python


def write_constraints(path: Path, pins: dict[str, str]) -> Path:
    path.write_text(
        "".join(
            f"{name}=={version}\n" for name, version in sorted(pins.items()) if name not in TOOLING
        )
    )
    return path


def colab_environment(venv: Path, pins: dict[str, str], reuse: bool) -> tuple[Path, dict[str, str]]:
    """``venv`` with Colab's versions of what the lab and its tests touch; returns its python and
    the preinstalled set ``{name: Colab version}``."""
    python, record = venv / "bin" / "python", venv / "preinstalled.json"
    if reuse and python.exists() and record.exists():
        run([python, "-m", "pip", "uninstall", "-q", "-y", "colored-lab"])
        return python, json.loads(record.read_text())
    python = new_venv(venv, find_python(COLAB_PYTHON))
    constraints = write_constraints(venv / "constraints.txt", pins)
    # Everything the lab (and the test tools) would pull in, resolved against Colab's pins; of that,
    # what Colab has is preinstalled there: install exactly those first, as Colab's image has them.
    closure = resolve_closure(python, constraints, [f"{ROOT}", *TEST_TOOLS])
    preinstalled = {name: pins[name] for name in closure if name in pins and name not in TOOLING}
    preinstalled["ipywidgets"] = pins[
        "ipywidgets"
    ]  # not a dependency, but notebook 07 uses Colab's
    run(
        [
            python,
            "-m",
            "pip",
            "install",
            "-q",
            "-c",
            constraints,
            *[f"{name}=={version}" for name, version in sorted(preinstalled.items())],
        ]
    )
    record.write_text(json.dumps(preinstalled, indent=1))
    return python, preinstalled


def lower_bounds(pyproject: Path = PYPROJECT) -> tuple[str, dict[str, str]]:
    """The oldest Python and ``{dependency: lowest version}`` that pyproject.toml allows."""
    text = pyproject.read_text()
    python = re.search(r'requires-python\s*=\s*">=\s*(\d+\.\d+)', text)[1]
    block = re.search(r"^dependencies\s*=\s*\[(.*?)^\]", text, re.S | re.M)[1]
    bounds = dict(re.findall(r'"([A-Za-z0-9._-]+)\s*>=\s*([0-9][^",;\s]*)"', block))
    return python, {canonical(name): version for name, version in bounds.items()}


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0])[:4])


def lowest_releases(python: Path, bounds: dict[str, str]) -> dict[str, str]:
    """``{name: the oldest release >= its bound}`` that pip offers this interpreter (a bound like
    ``2.16`` may name no release: TensorFlow's first 2.16 is 2.16.1)."""
    lowest = {}
    for name, bound in bounds.items():
        listing = run(
            [python, "-m", "pip", "index", "versions", name, "--disable-pip-version-check"],
            capture_output=True,
            text=True,
        ).stdout
        available = re.search(r"Available versions: (.*)", listing)[1].split(", ")
        allowed = [
            v
            for v in available
            if version_key(v) >= version_key(bound) and re.fullmatch(r"[\d.]+", v)
        ]
        if not allowed:
            sys.exit(
                f"no release of {name} >= {bound} for this Python: pyproject.toml's bound cannot be installed"
            )
        lowest[name] = min(allowed, key=version_key)
    return lowest


def setup_cell_install() -> list[str]:
    """The notebooks' Colab install, read from notebook 01's setup cell: pip's arguments."""
    notebook = json.loads((ROOT / "notebooks" / "01_data_download.ipynb").read_text())
    source = next(
        "".join(c["source"]) for c in notebook["cells"] if "LAB_REPOSITORY" in "".join(c["source"])
    )
    match = re.search(
        r"^\s*%pip (.+?) git\+https://github\.com/\{LAB_REPOSITORY\}\s*$", source, re.MULTILINE
    )
    if not match:
        sys.exit(
            "notebook 01's setup cell no longer installs with "
            "%pip ... git+https://github.com/{LAB_REPOSITORY}: update "
            "tools/test_stack.py to install the lab the way the setup cell now does"
        )
    return match[1].split()


def check_unchanged(preinstalled: dict[str, str], after: dict[str, dict[str, str]]) -> bool:
    """Print the table; True when every preinstalled package kept Colab's version."""
    columns = list(after)
    rows = [
        [name, version] + [after[c].get(name, "(removed)") for c in columns]
        for name, version in sorted(preinstalled.items())
    ]
    header = ["package", "Colab"] + columns
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    changed = []
    for row in rows:
        mark = "" if all(v == row[1] for v in row[2:]) else "   <-- changed"
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)) + mark)
        if mark:
            changed.append(row[0])
    if changed:
        print(
            f"CHANGED: {', '.join(changed)}: installing the lab on Colab would change its runtime"
        )
    else:
        print(f"all {len(rows)} preinstalled packages unchanged")
    return not changed


def shipped_model(venv: Path) -> None:
    """``colored colorize`` with the packaged default model (the installed command: the checkout's
    package is not on its path)."""
    with tempfile.TemporaryDirectory() as folder:
        photo = Path(folder) / "coffee.png"
        run(
            [
                venv / "bin" / "python",
                "-c",
                "import sys; from skimage import data, color; from PIL import Image; "
                "Image.fromarray((color.rgb2gray(data.coffee()) * 255).astype('uint8')).save(sys.argv[1])",
                photo,
            ]
        )
        run(
            [venv / "bin" / "colored", "colorize", photo, "--out", Path(folder) / "out"], cwd=folder
        )
        if not (Path(folder) / "out" / "coffee.png").is_file():
            sys.exit("colored colorize wrote no coffee.png")


PHOTOS = """import sys; from pathlib import Path; from skimage import data; from PIL import Image
out = Path(sys.argv[1])
for split, names in (("train", ["chelsea", "coffee", "astronaut", "rocket"]), ("test", ["chelsea"])):
    (out / split).mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.fromarray(getattr(data, name)()).resize((64, 64)).save(out / split / f"{name}.png")
"""
PREDICT = """import sys, json, numpy as np, keras
from colored.inference import load_model
from colored.predict import predict_output  # fusion models (the shipped v3) get their embedding too
rng = np.random.default_rng(0)
inputs = {"model.keras": rng.random((2, 64, 64, 1)), "best.keras": rng.random((2, 64, 64, 1)),
          "the shipped default.keras": rng.random((1, 128, 128, 1))}
out = {}
for name, x in inputs.items():
    model = load_model(None if name.startswith("the shipped") else sys.argv[1] + "/" + name)
    out[name] = predict_output(model, x.astype("float32")).ravel().tolist()
json.dump({"keras": keras.__version__, "out": out}, open(sys.argv[2], "w"))
"""


def cross_version(venv: Path) -> None:
    """A run written by the pinned Keras: its model files give the same output on ``venv``'s Keras,
    and the run resumes there. Says so and returns without the pinned .venv."""
    pinned = PINNED_VENV / "bin" / "python"
    if not pinned.exists():
        say(
            f"no pinned environment at {PINNED_VENV}: the cross-version checks need it (make setup); skipped"
        )
        return
    python = venv / "bin" / "python"
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        run([pinned, "-c", PHOTOS, work / "photos"])
        train = [
            "-m",
            "colored",
            "train",
            "--dataset-dir",
            work / "photos",
            "--run-dir",
            work / "run",
            "--cache-dir",
            work / "cache",
            "--architecture",
            "simplified",
            "--image-size",
            "64",
            "--batch-size",
            "2",
            "--backbone",
            "none",
            "--loss",
            "classification",
            "--batch-norm",
            "true",
            "--augment",
            "false",
        ]
        run([pinned, *train, "--epochs", "1"], cwd=work)
        run([pinned, "-c", PREDICT, work / "run", work / "pinned.json"], cwd=work)
        run([python, "-c", PREDICT, work / "run", work / "here.json"], cwd=work)
        a, b = (json.loads((work / name).read_text()) for name in ("pinned.json", "here.json"))
        for name in a[
            "out"
        ]:  # logits up to ~20: float32 round-off between TensorFlow builds is ~1e-6
            worst = max(abs(x - y) for x, y in zip(a["out"][name], b["out"][name]))
            print(
                f"{name}: output on Keras {b['keras']} vs Keras {a['keras']}: largest difference {worst:.1e}"
            )
            if not worst <= 1e-3:
                sys.exit(
                    f"{name} gives another output on Keras {b['keras']} than on Keras {a['keras']}"
                )
        run([python, *train, "--epochs", "2"], cwd=work)  # resumes the pinned run on this Keras
        epochs = json.loads((work / "run" / "history.json").read_text()).get("epoch")
        if epochs != [0, 1]:
            sys.exit(f"resuming on Keras {b['keras']} did not continue the run: epochs {epochs}")
        print(f"the run of Keras {a['keras']} resumed on Keras {b['keras']}: epochs {epochs}")


def model_files(venv: Path) -> None:
    """The checks every stack gets: the shipped model colorizes, a run of the pinned Keras loads with
    the same output and resumes."""
    with stage("the shipped model: colored colorize"):
        shipped_model(venv)
    with stage("cross-version: a run of the pinned Keras, loaded and resumed here"):
        cross_version(venv)


def chain_errors(folder: Path) -> list[str]:
    """Error outputs, and stderr that reports an error, in the executed notebooks."""
    found = []
    for path in sorted(folder.glob("*.ipynb")):
        for index, cell in enumerate(json.loads(path.read_text())["cells"]):
            for output in cell.get("outputs", []):
                text = (
                    "".join(output.get("text", "")) if output.get("output_type") == "stream" else ""
                )
                if output.get("output_type") == "error" or (
                    output.get("name") == "stderr" and re.search(r"Error|Traceback|Exception", text)
                ):
                    found.append(
                        f"{path.name} cell {index}: {output.get('ename', '')} {text[:300]}"
                    )
    return found


def test_colab(args) -> int:
    if not args.freeze.is_file():
        sys.exit(
            f"Colab's pip freeze not found at {args.freeze}: it comes with ../shared "
            "(shared/reference/colab/pip-freeze.txt); pass --freeze PATH"
        )
    venv = ROOT / ".venv-colab"
    pins = read_freeze(args.freeze)
    with stage(f"Python {COLAB_PYTHON} and Colab's preinstalled packages ({args.freeze})"):
        python, preinstalled = colab_environment(venv, pins, args.reuse)
        before = freeze(python)
        wrong = {n: (v, before.get(n)) for n, v in preinstalled.items() if before.get(n) != v}
        if wrong:
            sys.exit(
                f"the environment does not have Colab's versions (name: (Colab, here)): {wrong}"
            )

    with stage("install the lab as the notebooks' Colab setup cell does"):
        arguments = setup_cell_install()
        url = (
            f"git+file://{ROOT}"  # the setup cell's git+https://github.com/OWNER/NAME@REF, offline
        )
        print(
            f"pip {' '.join(arguments)} {url}   (the setup cell: pip {' '.join(arguments)} "
            "git+https://github.com/{LAB_REPOSITORY})"
        )
        run([python, "-m", "pip", *arguments, url])
        after_lab = freeze(python)

    with stage("the test tools Colab lacks, under Colab's pins"):
        run([python, "-m", "pip", "install", "-q", "-c", venv / "constraints.txt", *TEST_TOOLS])
        run([python, "-m", "colored.notebook.kernel", "--install"])
        after_tools = freeze(python)
        if not check_unchanged(
            preinstalled, {"after lab install": after_lab, "after test tools": after_tools}
        ):
            return 1

    model_files(venv)
    if args.skip_tests:
        return 0
    # From the checkout (its tests and notebooks are not in the wheel): the same code as the installed
    # lab, which was built from this commit, on Colab's packages.
    with stage("quick tests (pytest -m 'not slow')"):
        if run(
            [python, "-m", "pytest", "-m", "not slow", "-q", "-p", "no:cacheprovider"],
            cwd=ROOT,
            check=False,
        ).returncode:
            print("quick tests failed on Colab's stack")
            return 1
    with stage("the chain 01 → 07 with papermill"), tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "chain"
        chain = run([python, "-m", "colored", "chain", "--out", out], cwd=ROOT, check=False)
        errors = chain_errors(out) if out.exists() else ["no notebooks were written"]
        for line in errors:
            print("ERROR OUTPUT:", line)
        if chain.returncode or errors:
            print(f"the chain failed on Colab's stack (exit {chain.returncode})")
            return 1
    return 0


def test_oldest(args) -> int:
    venv = ROOT / ".venv-oldest"
    minor, bounds = lower_bounds()
    with stage(f"Python {minor} and the lower bounds of pyproject.toml"):
        python = new_venv(venv, find_python(minor))
        lowest = lowest_releases(python, bounds)
        constraints = write_constraints(venv / "constraints.txt", lowest)
        print(
            "the lowest releases: "
            + " ".join(f"{name}=={version}" for name, version in sorted(lowest.items()))
        )
        run([python, "-m", "pip", "install", "-q", "-c", constraints, ROOT, "pytest"])
        versions = freeze(python)
        wrong = {n: (v, versions.get(n)) for n, v in lowest.items() if versions.get(n) != v}
        if wrong:
            sys.exit(f"pip did not install the lower bounds (name: (bound, installed)): {wrong}")
        print(
            "installed: "
            + ", ".join(f"{n} {versions[n]}" for n in ("tensorflow", "keras", "numpy"))
        )
    model_files(venv)
    if args.skip_tests:
        return 0
    with stage(f"the model-file tests: {' '.join(OLDEST_TESTS)}"):
        # addopts emptied: the lower bounds have no test extra (nbval); these files need none of it
        if run(
            [
                python,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-o",
                "addopts=-ra",
                *OLDEST_TESTS,
            ],
            cwd=ROOT,
            check=False,
        ).returncode:
            print("the model-file tests failed on the oldest stack")
            return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", choices=("colab", "oldest"), default="colab")
    parser.add_argument(
        "--freeze", type=Path, default=FREEZE, help="Colab's pip freeze (default: %(default)s)"
    )
    parser.add_argument(
        "--skip-tests", action="store_true", help="build and check the environment only"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="colab: keep .venv-colab (the lab reinstalled): for iterating, not for CI",
    )
    args = parser.parse_args()
    os.environ.update(
        {
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "NO_ALBUMENTATIONS_UPDATE": "1",
            "MPLBACKEND": "Agg",
            "KERAS_BACKEND": "tensorflow",
            "PYENV_VERSION": "",
        }
    )
    started = time.monotonic()
    code = (test_colab if args.stack == "colab" else test_oldest)(args)
    print(f"\nmake test-{args.stack} {'passed' if code == 0 else 'FAILED'}. Stage times:")
    for name, seconds in STAGES:
        print(f"  {seconds:7.1f} s  {name}")
    print(f"  {time.monotonic() - started:7.1f} s  in all")
    return code


if __name__ == "__main__":
    sys.exit(main())
