"""`make test-colab`: the lab on Google Colab's own stack, checked here.

Colab's runtime is published by Google as a `pip freeze` (../shared/reference/colab/pip-freeze.txt,
the CPU runtime's; the GPU one differs only in CUDA builds). This script

1. finds a Python of Colab's minor version (3.13) and builds a virtual environment with Colab's
   exact versions of every package the lab and its test tools would install or touch (the
   preinstalled set: the lab's dependency closure that Colab has, resolved against its pins);
2. installs the lab exactly as the notebooks' setup cell does on Colab (`pip install -q git+URL`,
   here the committed checkout, since GitHub is out of reach) and checks that no preinstalled
   package changed version (the table: package, Colab, after the install);
3. installs the test tools Colab lacks (nbval, papermill) under Colab's pins, so they cannot move
   a preinstalled package either;
4. loads the shipped model and colorizes a photo with `colored colorize`; where the pinned
   environment (.venv) exists, trains a tiny run there and resumes it here (another Keras), and
   checks that its model files give the same output here;
5. runs the quick tests (`pytest -m "not slow"`) and the whole chain 01 → 07 with papermill,
   failing on any error output.

Stdlib only: it runs with whatever Python starts it. Exit 0 only if every stage passed.
"""
from __future__ import annotations

import argparse
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
VENV = ROOT / ".venv-colab"
PINNED_VENV = ROOT / ".venv"
COLAB_PYTHON = "3.13"
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


def stage(name: str):
    """Times a stage for the closing summary."""
    class _Stage:
        def __enter__(self):
            say(name)
            self.start = time.monotonic()

        def __exit__(self, *exc):
            STAGES.append((name, time.monotonic() - self.start))
    return _Stage()


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


def find_python(minor: str = COLAB_PYTHON) -> str:
    """A Python ``minor`` interpreter: on PATH, or one of pyenv's (without hard-coding its root)."""
    candidates = [shutil.which(f"python{minor}")]
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = run([pyenv, "root"], capture_output=True, text=True, check=False).stdout.strip()
        versions = sorted(Path(root, "versions").glob(f"{minor}.*"), key=lambda p: [int(x) for x in re.findall(r"\d+", p.name)])
        candidates += [str(v / "bin" / f"python{minor}") for v in reversed(versions)]
    for candidate in filter(None, candidates):
        probe = run([candidate, "-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"],
                    capture_output=True, text=True, check=False, env={**os.environ, "PYENV_VERSION": ""})
        if probe.returncode == 0 and probe.stdout.strip() == minor:
            return candidate
    sys.exit(f"make test-colab: no Python {minor} found (Colab runs {minor}): looked for python{minor} on PATH "
             f"and in pyenv's versions. Install one (e.g. `pyenv install {minor}`) and run it again.")


def freeze(python: Path) -> dict[str, str]:
    out = run([python, "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
              capture_output=True, text=True).stdout
    return {canonical(p["name"]): p["version"] for p in json.loads(out)}


def resolve_closure(python: Path, constraints: Path, requirements: list[str]) -> dict[str, str]:
    """What pip would install for ``requirements`` under ``constraints``, without installing it."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        run([python, "-m", "pip", "install", "-q", "--dry-run", "--ignore-installed", "--report", report,
             "-c", constraints, *requirements])
        items = json.loads(report.read_text())["install"]
    return {canonical(i["metadata"]["name"]): i["metadata"]["version"] for i in items}


def build_environment(python_exe: str, pins: dict[str, str], reuse: bool = False) -> tuple[Path, dict[str, str]]:
    """The venv with Colab's versions of what the lab and its tests touch; returns its python and
    the preinstalled set ``{name: Colab version}``."""
    python = VENV / "bin" / "python"
    constraints = VENV / "colab-constraints.txt"
    if reuse and python.exists() and (VENV / "preinstalled.json").exists():
        run([python, "-m", "pip", "uninstall", "-q", "-y", "colored-lab"])
        return python, json.loads((VENV / "preinstalled.json").read_text())
    if VENV.exists():
        shutil.rmtree(VENV)
    run([python_exe, "-m", "venv", VENV])
    run([python, "-m", "pip", "install", "-q", "--upgrade", "pip"])
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in sorted(pins.items())
                                   if name not in TOOLING))
    # Everything the lab (and the test tools) would pull in, resolved against Colab's pins; of that,
    # what Colab has is preinstalled there: install exactly those first, as Colab's image has them.
    closure = resolve_closure(python, constraints, [f"{ROOT}", *TEST_TOOLS])
    preinstalled = {name: pins[name] for name in closure if name in pins and name not in TOOLING}
    preinstalled["ipywidgets"] = pins["ipywidgets"]  # not a dependency, but notebook 07 uses Colab's
    run([python, "-m", "pip", "install", "-q", "-c", constraints,
         *[f"{name}=={version}" for name, version in sorted(preinstalled.items())]])
    (VENV / "preinstalled.json").write_text(json.dumps(preinstalled, indent=1))
    return python, preinstalled


def setup_cell_install() -> list[str]:
    """The notebooks' Colab install, read from notebook 01's setup cell: pip's arguments."""
    notebook = json.loads((ROOT / "notebooks" / "01_data_download.ipynb").read_text())
    source = next("".join(c["source"]) for c in notebook["cells"] if "LAB_REPOSITORY" in "".join(c["source"]))
    match = re.search(r'\[sys\.executable, "-m", "pip", ((?:"[^"]*", )+)f"git\+https://github\.com/\{LAB_REPOSITORY\}"\]',
                      source)
    if not match:
        sys.exit("make test-colab: notebook 01's setup cell no longer installs with "
                 '[sys.executable, "-m", "pip", ..., f"git+https://github.com/{LAB_REPOSITORY}"]: update '
                 "tools/colab_env.py to install the lab the way the setup cell now does")
    return re.findall(r'"([^"]*)"', match[1])


def check_unchanged(preinstalled: dict[str, str], after: dict[str, dict[str, str]]) -> bool:
    """Print the table; True when every preinstalled package kept Colab's version."""
    columns = list(after)
    rows = [[name, version] + [after[c].get(name, "(removed)") for c in columns]
            for name, version in sorted(preinstalled.items())]
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
        print(f"CHANGED: {', '.join(changed)}: installing the lab on Colab would change its runtime")
    else:
        print(f"all {len(rows)} preinstalled packages unchanged")
    return not changed


def cross_version(python: Path, work: Path) -> None:
    """A run written by the pinned Keras: its model files load here with the same output, and it
    resumes here. Skipped (said so) without the pinned .venv."""
    pinned = PINNED_VENV / "bin" / "python"
    if not pinned.exists():
        say(f"no pinned environment at {PINNED_VENV}: the cross-version checks need it (make setup); skipped")
        return
    photos = work / "photos"
    make_photos = ("import sys; from pathlib import Path; from skimage import data; from PIL import Image\n"
                   "out = Path(sys.argv[1])\n"
                   "for split, names in (('train', ['chelsea', 'coffee', 'astronaut', 'rocket']), ('test', ['chelsea'])):\n"
                   "    (out / split).mkdir(parents=True, exist_ok=True)\n"
                   "    for n in names: Image.fromarray(getattr(data, n)()).resize((64, 64)).save(out / split / f'{n}.png')\n")
    run([pinned, "-c", make_photos, photos])
    run_dir = work / "run"
    train = ["-m", "colored", "train", "--data-dir", photos, "--run-dir", run_dir, "--cache-dir", work / "cache",
             "--model", "simplified", "--image-size", "64", "--batch-size", "2", "--backbone", "none",
             "--loss", "classification", "--batch-norm", "true", "--augment", "false"]
    run([pinned, *train, "--epochs", "1"])
    compare = ("import sys, json, numpy as np, keras\nfrom colored.inference import load_model\n"
               "x = np.random.default_rng(0).random((2, 64, 64, 1)).astype('float32')\n"
               "out = {n: load_model(sys.argv[1] + '/' + n).predict(x, verbose=0).tolist() for n in ('model.keras', 'best.keras')}\n"
               "json.dump({'keras': keras.__version__, 'out': out}, open(sys.argv[2], 'w'))\n")
    run([pinned, "-c", compare, run_dir, work / "pinned.json"])
    run([python, "-c", compare, run_dir, work / "colab.json"])
    a, b = (json.loads((work / f).read_text()) for f in ("pinned.json", "colab.json"))
    import math
    worst = max(abs(x - y) for name in a["out"] for x, y in zip(_flat(a["out"][name]), _flat(b["out"][name])))
    print(f"model files written by Keras {a['keras']}, loaded by Keras {b['keras']}: largest output difference "
          f"{worst:.2e}")
    if not math.isfinite(worst) or worst > 1e-4:
        sys.exit("make test-colab: a model file gives another output on Colab's Keras")
    run([python, *train, "--epochs", "2"])  # resumes the pinned run on Colab's Keras
    history = json.loads((run_dir / "history.json").read_text())
    if history.get("epoch") != [0, 1]:
        sys.exit(f"make test-colab: resuming on Colab's Keras did not continue the run: {history.get('epoch')}")
    print(f"run written by Keras {a['keras']} resumed by Keras {b['keras']}: epochs {history['epoch']}")


def _flat(values):
    for v in values:
        if isinstance(v, list):
            yield from _flat(v)
        else:
            yield v


def chain_errors(folder: Path) -> list[str]:
    """Error outputs, and stderr that reports an error, in the executed notebooks."""
    found = []
    for path in sorted(folder.glob("*.ipynb")):
        for index, cell in enumerate(json.loads(path.read_text())["cells"]):
            for output in cell.get("outputs", []):
                text = "".join(output.get("text", "")) if output.get("output_type") == "stream" else ""
                if output.get("output_type") == "error" or (
                        output.get("name") == "stderr" and re.search(r"Error|Traceback|Exception", text)):
                    found.append(f"{path.name} cell {index}: {output.get('ename', '')} {text[:300]}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--freeze", type=Path, default=FREEZE, help="Colab's pip freeze (default: %(default)s)")
    parser.add_argument("--skip-tests", action="store_true", help="build and check the environment only")
    parser.add_argument("--reuse", action="store_true",
                        help=f"keep an existing {VENV.name} (reinstalling the lab only): for iterating, not for CI")
    args = parser.parse_args()
    if not args.freeze.is_file():
        sys.exit(f"make test-colab: Colab's pip freeze not found at {args.freeze}: it comes with ../shared "
                 "(shared/reference/colab/pip-freeze.txt); pass --freeze PATH")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "NO_ALBUMENTATIONS_UPDATE": "1", "MPLBACKEND": "Agg",
           "KERAS_BACKEND": "tensorflow", "PYENV_VERSION": ""}
    os.environ.update(env)
    pins = read_freeze(args.freeze)
    started = time.monotonic()

    with stage(f"Python {COLAB_PYTHON} and Colab's preinstalled packages ({args.freeze})"):
        python_exe = find_python()
        print(f"Python: {python_exe}")
        python, preinstalled = build_environment(python_exe, pins, args.reuse)
        before = freeze(python)
        wrong = {n: (v, before.get(n)) for n, v in preinstalled.items() if before.get(n) != v}
        if wrong:
            sys.exit(f"make test-colab: the environment does not have Colab's versions: {wrong}")

    with stage("install the lab as the notebooks' Colab setup cell does"):
        arguments = setup_cell_install()
        url = f"git+file://{ROOT}"  # the setup cell's git+https://github.com/OWNER/NAME@REF, offline
        print(f"pip {' '.join(arguments)} {url}   (setup cell: pip {' '.join(arguments)} git+https://github.com/…)")
        run([python, "-m", "pip", *arguments, url])
        after_lab = freeze(python)

    with stage("the test tools Colab lacks, under Colab's pins"):
        run([python, "-m", "pip", "install", "-q", "-c", VENV / "colab-constraints.txt", *TEST_TOOLS])
        run([python, "-m", "colored.kernel", "--install"])
        after_tools = freeze(python)
        unchanged = check_unchanged(preinstalled, {"after lab install": after_lab, "after test tools": after_tools})
        if not unchanged:
            return 1

    with stage("the shipped model: colored colorize"), tempfile.TemporaryDirectory() as folder:
        photo = Path(folder) / "coffee.png"
        run([python, "-c", f"from skimage import data, color; from PIL import Image; "
                           f"Image.fromarray((color.rgb2gray(data.coffee()) * 255).astype('uint8')).save('{photo}')"])
        run([python, "-m", "colored", "colorize", photo, "--out", Path(folder) / "out"])
        print("colorized:", sorted(p.name for p in (Path(folder) / "out").iterdir()))

    with stage("cross-version: a run of the pinned Keras, loaded and resumed here"), \
            tempfile.TemporaryDirectory() as folder:
        cross_version(python, Path(folder))

    if args.skip_tests:
        return 0
    # From the checkout (its tests and notebooks are not in the wheel): the same code as the installed
    # lab, which was built from this commit, run on Colab's packages.
    with stage("quick tests (pytest -m 'not slow')"):
        tests = run([python, "-m", "pytest", "-m", "not slow", "-q", "-p", "no:cacheprovider"], cwd=ROOT, check=False)
        if tests.returncode != 0:
            print("make test-colab: quick tests failed on Colab's stack")
            return 1

    with stage("the chain 01 → 07 with papermill"), tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "chain"
        chain = run([python, "-m", "colored", "chain", "--out", out], cwd=ROOT, check=False)
        errors = chain_errors(out) if out.exists() else ["no notebooks were written"]
        for line in errors:
            print("ERROR OUTPUT:", line)
        if chain.returncode != 0 or errors:
            print(f"make test-colab: the chain failed on Colab's stack (exit {chain.returncode})")
            return 1

    print("\nmake test-colab passed. Stage times:")
    for name, seconds in STAGES:
        print(f"  {seconds:7.1f} s  {name}")
    print(f"  {time.monotonic() - started:7.1f} s  in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
