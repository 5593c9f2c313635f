"""The lab in a real browser: JupyterLab on loopback, driven by Playwright in Debian's ``chromium``.

For each notebook 01 → 07, in order: open it in JupyterLab, *Run → Run All Cells* from the menu, wait
until the kernel is idle and no cell is queued or running, then check what a student sees: every code
cell ran (Run All stops at an error), no output is a traceback, and the notebook saved from the browser
holds no ``error`` output either. The last figure of each notebook is saved as a screenshot; in 07 the
upload button (ipywidgets' ``FileUpload``) must be rendered and visible.

The notebooks run at the reference parameters (the lab's own, small enough for a CPU), from a
temporary copy in which papermill has already injected ``run_dir`` and ``data_dir`` (``prepare_only``:
nothing executed), so the UI's Run All writes into a temporary run folder, never into the
repository's ``runs/reference`` or ``data/``. JupyterLab gets its own configuration, settings,
workspace and runtime folders: ``~/.jupyter`` is neither read nor written.

The browser is Debian's (``apt-get install chromium``: ``/usr/bin/chromium``), never one Playwright
downloads; the test skips, saying so, without it (``.ci/run`` installs it). Only this file:
``.venv/bin/python -m pytest tests/test_browser.py``. The run folder's ``browser/`` (its path is printed
in pytest's summary; ``COLORED_BROWSER_OUT=DIR``: ``DIR/<timestamp>/`` instead) keeps the screenshots,
``summary.json`` (timings per notebook), the notebooks as the browser saved them and JupyterLab's log.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import nbformat
import pytest

from colored.notebook import chain
from colored.notebook import params as notebook_params

CHROMIUM = Path(
    "/usr/bin/chromium"
)  # Debian's package; Playwright's own download does not work offline
# --headless and no sandbox (root in CI); no GPU; and nothing that phones home: on a closed network the
# refused background connections (QUIC, component updates, sync...) otherwise disturb the page.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Per notebook, from Run All to idle (the headless chain takes 10-45 s each on a 2-core CPU).
RUN_TIMEOUT_S = 600
#: The notebook shown in JupyterLab's main area (the one just opened; ``?reset`` closes the others).
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
#: How JupyterLab shows an ``error`` output: as stderr (no mime type or class of its own) holding
#: IPython's traceback (a SyntaxError's has no "Traceback" line, only "Cell In[N], line M"); a warning
#: or a log line on stderr is not an error.
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s*Cell In\[\d+\], line \d+", re.M)


def _missing() -> str | None:
    if not os.access(CHROMIUM, os.X_OK):
        return (
            f"Debian's chromium is not installed ({CHROMIUM} missing): `apt-get install chromium` "
            "(.ci/run installs it); a browser Playwright downloads is not used"
        )
    for module, package in (
        ("playwright", "playwright"),
        ("jupyterlab", "jupyterlab"),
        ("papermill", "papermill"),
    ):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed: `pip install -e '.[test]' -c constraints.txt` (make setup)"
    return None


MISSING = _missing()
needs_browser = pytest.mark.skipif(MISSING is not None, reason=str(MISSING))


# --------------------------------------------------------------------------------------------------
# the notebooks to serve, JupyterLab, the browser
# --------------------------------------------------------------------------------------------------


def prepare_notebooks(
    folder: Path,
    parameters: dict[str, str],
    notebooks=chain.NOTEBOOKS,
    notebook_dir: Path = chain.NOTEBOOK_DIR,
) -> list[Path]:
    """Copies of the lab's notebooks in ``folder``, each with papermill's injected-parameters cell for
    the ``parameters`` it declares (as ``colored chain`` passes them), not executed, outputs cleared (so
    that the browser can only show what this run produced)."""
    import papermill

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in notebooks:
        source, target = notebook_dir / name, folder / name
        declared = notebook_params.notebook_parameters(source)
        given = {key: value for key, value in parameters.items() if key in declared}
        papermill.execute_notebook(
            str(source), str(target), parameters=given, prepare_only=True, progress_bar=False
        )
        nb = nbformat.read(str(target), as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nbformat.write(nb, str(target))
        written.append(target)
    return written


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server on 127.0.0.1 serving ``root``, with its own config, settings and workspaces."""

    def __init__(self, root: Path, home: Path, log: Path) -> None:
        self.root, self.port, self.token = root, _free_port(), uuid.uuid4().hex
        self.url = f"http://127.0.0.1:{self.port}"
        settings = home / "settings"
        # every cell in the DOM (no virtual scrolling: the checks read all outputs); no news, no update check
        for plugin, values in (
            ("notebook-extension/tracker", {"windowingMode": "none"}),
            ("apputils-extension/notification", {"fetchNews": "false", "checkForUpdates": False}),
        ):
            path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = dict(
            os.environ,
            JUPYTER_CONFIG_DIR=str(home / "config"),
            JUPYTER_RUNTIME_DIR=str(home / "runtime"),
            JUPYTERLAB_SETTINGS_DIR=str(settings),
            JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        )
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter",
                "lab",
                "--no-browser",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={self.port}",
                "--ServerApp.port_retries=0",
                f"--ServerApp.token={self.token}",
                f"--ServerApp.root_dir={root}",
                "--ServerApp.open_browser=False",
                "--ServerApp.allow_root=True",
            ],
            env=env,
            cwd=root,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                self.api("status")
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError(
                        f"JupyterLab did not start (exit {self.process.returncode}): see {log}"
                    ) from None
                time.sleep(0.5)

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(
            f"{self.url}/api/{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def session(self, name: str) -> dict | None:
        return next((s for s in self.api("sessions") if s["path"] == name), None)

    def page_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/{name}?reset&token={self.token}"

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # the server, which shuts its kernels down
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """``{lab: the served folder, run: the notebooks' run_dir, data: their data_dir, out: run/browser}``,
    in pytest's temporary folder (pytest keeps the last three runs'). ``$COLORED_BROWSER_OUT``: ``out``
    (screenshots, summary.json, the saved notebooks, JupyterLab's log) is a new ``<timestamp>/`` there,
    to keep them."""
    base = tmp_path_factory.mktemp("browser")
    folders = {
        "lab": base / "lab",
        "run": base / "run",
        "data": base / "data",
        "jupyter": base / "jupyter",
    }
    keep = os.environ.get("COLORED_BROWSER_OUT")
    folders["out"] = (
        chain.timestamped_run_dir(Path(keep).resolve()) if keep else folders["run"] / "browser"
    )
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    return folders


@pytest.fixture(scope="module")
def lab(workspace):
    chain.ensure_kernel(chain.KERNEL_NAME)  # the notebooks' kernel, as `make setup` installs it
    server = Lab(workspace["lab"], workspace["jupyter"], workspace["out"] / "jupyterlab.log")
    yield server
    server.close()


@pytest.fixture(scope="module")
def browser(workspace):
    """A Playwright browser context of Debian's chromium, with a fresh profile."""
    from playwright.sync_api import sync_playwright

    with (
        sync_playwright() as playwright,
        tempfile.TemporaryDirectory(prefix="chromium-") as profile,
    ):
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        context.set_default_timeout(120_000)
        yield context
        context.close()


# --------------------------------------------------------------------------------------------------
# Run All in the UI, and what it shows
# --------------------------------------------------------------------------------------------------


def open_notebook(page, lab: Lab, name: str) -> dict:
    """Open ``name`` alone in JupyterLab and wait for its kernel to be started and idle; its session."""
    page.goto(lab.page_url(name))
    page.wait_for_selector(f"{PANEL} .jp-Notebook .jp-Cell")
    deadline = time.monotonic() + 120
    while (session := lab.session(name)) is None or session["kernel"]["execution_state"] != "idle":
        assert time.monotonic() < deadline, (
            f"{name}: no idle kernel 120 s after opening it: {session}"
        )
        time.sleep(0.5)
    assert session["kernel"]["name"] == chain.KERNEL_NAME, (
        f"{name}: JupyterLab started the {session['kernel']['name']!r} kernel, not {chain.KERNEL_NAME!r}"
    )
    page.wait_for_selector(f"{PANEL} .jp-Notebook-ExecutionIndicator[data-status='idle']")
    return session


def menu(page, bar: str, command: str) -> None:
    """Click ``bar`` in the menu bar, then the item of ``command`` (e.g. Run → Run All Cells)."""
    page.get_by_role("menuitem", name=bar, exact=True).click()
    page.locator(f".lm-Menu-item[data-command='{command}']").click()


def prompts(page) -> list[str]:
    return page.eval_on_selector_all(
        f"{PANEL} .jp-CodeCell .jp-InputArea-prompt", "els => els.map(e => e.innerText.trim())"
    )


def wait_until_idle(
    page, lab: Lab, session: dict, name: str, timeout: float = RUN_TIMEOUT_S
) -> list[str]:
    """After Run All: wait until the kernel is idle (the server's and the toolbar's view) and no cell is
    queued or running (``[*]``), twice in a row a second apart; the code cells' prompts."""
    deadline, quiet = time.monotonic() + timeout, 0
    while quiet < 2:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{name}: still running after {timeout} s of Run All; prompts: {prompts(page)}"
            )
        time.sleep(1)
        shown = prompts(page)
        kernel = next((s["kernel"] for s in lab.api("sessions") if s["id"] == session["id"]), {})
        indicator = page.get_attribute(f"{PANEL} .jp-Notebook-ExecutionIndicator", "data-status")
        started = any(re.fullmatch(r"\[\d+\]:", p) for p in shown)
        busy = (
            any("*" in p for p in shown)
            or kernel.get("execution_state") != "idle"
            or indicator != "idle"
        )
        quiet = quiet + 1 if started and not busy else 0
    return shown


def shown_errors(page) -> list[str]:
    """Tracebacks among the outputs on the page: ``cell N: first lines``."""
    found = page.eval_on_selector_all(
        f"{PANEL} {STDERR}",
        """els => els.map(e => {
             const cell = e.closest('.jp-Cell');
             return [Array.from(cell.parentElement.children).indexOf(cell), e.innerText];
           })""",
    )
    return [
        f"cell {index}: "
        + " | ".join([line for line in text.strip().splitlines() if line.strip("-")][:5])[:600]
        for index, text in found
        if TRACEBACK.search(text)
    ]


def saved_errors(notebook: dict) -> list[str]:
    return [
        f"cell {index}: {output.get('ename')}: {output.get('evalue')}"
        for index, cell in enumerate(notebook["cells"])
        if cell["cell_type"] == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]


def save_from_the_browser(page, lab: Lab, name: str) -> dict:
    """File → Save Notebook; the notebook as saved, once the server has answered the save (reading it
    while it is being written would race the server's atomic write)."""
    with page.expect_response(
        lambda r: (
            r.request.method == "PUT" and r.url.split("?")[0].endswith(f"/api/contents/{name}")
        ),
        timeout=60_000,
    ) as response:
        menu(page, "File", "docmanager:save")
    assert response.value.ok, f"{name}: File → Save Notebook failed: HTTP {response.value.status}"
    return json.loads((lab.root / name).read_text())


def screenshot_last_figure(page, out: Path, stem: str) -> Path | None:
    """The notebook's last figure (an ``<img>`` output: matplotlib's inline JPEG/PNG), else its last
    output (03 draws no figure), as a PNG in ``out``."""
    figures = page.locator(f"{PANEL} .jp-OutputArea-output img")
    if figures.count():
        target, path = figures.last, out / f"{stem}-last-figure.png"
    else:
        outputs = page.locator(f"{PANEL} .jp-OutputArea-output")
        if not outputs.count():
            return None
        target, path = outputs.last, out / f"{stem}-last-output.png"
    target.scroll_into_view_if_needed()
    target.screenshot(path=str(path))
    return path


def committed_has_figure(name: str) -> bool:
    nb = nbformat.read(str(chain.NOTEBOOK_DIR / name), as_version=4)
    return any(
        mime.startswith("image/")
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        for mime in output.get("data", {})
    )


def run_all(page, lab: Lab, name: str, out: Path) -> dict:
    """Open ``name``, Run All from the menu, wait, check; what was seen (errors are lists, empty when fine)."""
    started = time.monotonic()
    session = open_notebook(page, lab, name)
    opened = time.monotonic()
    menu(page, "Run", "runmenu:run-all")
    shown = wait_until_idle(page, lab, session, name)
    ran = time.monotonic()
    stem = Path(name).stem
    result = {
        "seconds_open": round(opened - started, 1),
        "seconds_run_all": round(ran - opened, 1),
        "code_cells": len(shown),
        "not_run": [
            i for i, p in enumerate(shown) if not re.fullmatch(r"\[\d+\]:", p)
        ],  # Nth code cell
        "tracebacks_shown": shown_errors(page),
        "figures_shown": page.locator(f"{PANEL} .jp-OutputArea-output img").count(),
    }
    saved = save_from_the_browser(page, lab, name)
    (out / name).write_text(json.dumps(saved, indent=1))
    result["errors_saved"] = saved_errors(saved)
    result["not_run_saved"] = [
        index
        for index, cell in enumerate(saved["cells"])
        if cell["cell_type"] == "code" and cell.get("execution_count") is None
    ]
    screenshot = screenshot_last_figure(page, out, stem)
    result["screenshot"] = screenshot.name if screenshot else None
    if name.startswith("07_"):
        upload = page.locator(f"{PANEL} .jupyter-widgets.widget-upload")
        result["upload_button"] = {
            "count": upload.count(),
            "visible": upload.count() == 1 and upload.first.is_visible(),
            "tag": upload.first.evaluate("e => e.tagName") if upload.count() else None,
            "text": upload.first.inner_text().strip() if upload.count() else None,
        }
        if result["upload_button"]["visible"]:
            upload.first.scroll_into_view_if_needed()
            upload.first.screenshot(path=str(out / f"{stem}-upload-button.png"))
            result["upload_screenshot"] = f"{stem}-upload-button.png"
    lab.api(
        f"sessions/{session['id']}", method="DELETE"
    )  # its kernel's memory, before the next one
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


# --------------------------------------------------------------------------------------------------
# the tests
# --------------------------------------------------------------------------------------------------


def test_the_served_copies_write_into_the_temporary_run_folder(tmp_path):
    run, data = tmp_path / "run", tmp_path / "data"
    copies = prepare_notebooks(tmp_path / "lab", {"run_dir": str(run), "data_dir": str(data)})
    assert [p.name for p in copies] == list(chain.NOTEBOOKS)
    for path in copies:
        nb = nbformat.read(str(path), as_version=4)
        injected = [
            c.source for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])
        ]
        declared = notebook_params.notebook_parameters(chain.NOTEBOOK_DIR / path.name)
        wanted = {"run_dir", "data_dir"} & set(declared)  # 03 declares neither: nothing to inject
        assert len(injected) == (1 if wanted else 0), f"{path.name}: {injected}"
        for key, value in (("run_dir", run), ("data_dir", data)):
            assert (f"{key} = {json.dumps(str(value))}" in "".join(injected)) == (key in wanted), (
                path.name
            )
        assert all(
            not c.outputs and c.execution_count is None for c in nb.cells if c.cell_type == "code"
        ), (
            f"{path.name}: committed outputs left in the copy (the browser would show them as if they were this run's)"
        )


@needs_browser
@pytest.mark.slow
def test_the_check_sees_an_error_in_the_browser(lab, browser, workspace, tmp_path):
    """The checks below are real: a notebook whose cell raises fails them (Run All stops there)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import sys\nprint('a warning, not an error', file=sys.stderr)"),
        nbformat.v4.new_code_cell("raise ValueError('on purpose')"),
        nbformat.v4.new_code_cell("print('never reached')"),
    ]
    nb.metadata["kernelspec"] = {
        "name": chain.KERNEL_NAME,
        "display_name": "Python 3 (colored)",
        "language": "python",
    }
    nbformat.write(nb, str(workspace["lab"] / "scratch_error.ipynb"))
    page = browser.new_page()
    try:
        result = run_all(page, lab, "scratch_error.ipynb", tmp_path)
    finally:
        page.close()
        (workspace["lab"] / "scratch_error.ipynb").unlink()
    assert [line.split(":")[0] for line in result["tracebacks_shown"]] == ["cell 1"], result
    assert (
        "ValueError" in result["tracebacks_shown"][0]
        and "on purpose" in result["tracebacks_shown"][0]
    )
    assert result["errors_saved"] == ["cell 1: ValueError: on purpose"], result
    assert result["not_run"] == [2] and result["not_run_saved"] == [2], result


@needs_browser
@pytest.mark.slow
def test_run_all_in_jupyterlab_for_each_notebook(lab, browser, workspace, record_property):
    out, run = workspace["out"], workspace["run"]
    prepare_notebooks(workspace["lab"], {"run_dir": str(run), "data_dir": str(workspace["data"])})
    summary = {"run_dir": str(run), "chromium": str(CHROMIUM), "notebooks": {}}
    started = time.monotonic()
    record_property(
        "report_line",
        f"browser test (tests/test_browser.py): screenshots and summary.json in {out}",
    )
    try:
        for name in chain.NOTEBOOKS:
            page = browser.new_page()
            try:
                result = summary["notebooks"][name] = run_all(page, lab, name, out)
            finally:
                page.close()
                summary["seconds"] = round(time.monotonic() - started, 1)
                (out / "summary.json").write_text(json.dumps(summary, indent=1))
            print(
                f"{name:<32} {result['seconds']:6.1f} s (Run All {result['seconds_run_all']:.1f} s)  "
                f"{result['screenshot']}"
            )
            problems = [f"traceback shown in {line}" for line in result["tracebacks_shown"]] + [
                f"error output saved in {line}" for line in result["errors_saved"]
            ]
            if result["not_run"] or result["not_run_saved"]:
                problems.append(
                    f"{len(result['not_run'])} of {result['code_cells']} code cells not run (Run All "
                    f"stops at an error); in the notebook as saved, cells {result['not_run_saved']}"
                )
            assert not problems, (
                f"{name} in the browser: "
                + "\n".join(problems)
                + f"\n(notebook as saved: {out / name})"
            )
            if committed_has_figure(name):
                assert result["figures_shown"], f"{name}: no figure shown in the browser"
            assert result["screenshot"] and (out / result["screenshot"]).stat().st_size > 0, (
                f"{name}: no screenshot"
            )
            if name.startswith("07_"):
                button = result["upload_button"]
                assert (
                    button["visible"] and button["tag"] == "BUTTON" and "Upload" in button["text"]
                ), f"07: the upload widget is not rendered as a visible button: {button}"
    finally:
        summary["seconds"] = round(time.monotonic() - started, 1)
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
    # run_dir was injected (test_the_served_copies_write_into_the_temporary_run_folder): 05's model and
    # 07's photo are here, not in the repository's runs/reference
    assert (run / "model.keras").is_file() and (
        run / "colorized" / "chelsea_colorized.png"
    ).is_file(), "the notebooks did not write into the temporary run folder"
