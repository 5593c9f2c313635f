"""The Kaggle dataset: credentials (found, never printed), a safe download, one rename into place.

``aayush9753/image-colorization-dataset`` (5,000 train / 739 test colour photos) lands in
``data/kaggle/{train_color,test_color}/`` (:func:`download_kaggle`; ``get_dataset("kaggle")`` and
``get_dataset("auto")`` in :mod:`colored.data` call it). What this module guarantees:

* credentials are looked for where the kaggle library looks (:func:`find_kaggle_credentials`, from
  :mod:`colored.io.kaggle_credentials`), and a missing or broken set-up is one
  :class:`KaggleCredentialsError` explaining every way to fix it, raised before ``kaggle`` is even
  imported;
* nothing printed or raised contains a credential (the library's own output is scrubbed, with
  :mod:`colored.io.kaggle_credentials`' redaction);
* the zip is checked member by member before anything is extracted (no path escapes, no links), and
  the colour folders move into place with one rename each, so an interrupted or refused download
  leaves the existing data untouched.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from colored.io.files import ensure_writable_dir, image_files
from colored.io.kaggle_credentials import (
    find_kaggle_credentials,  # re-exported: part of this module's public API (__all__)
    known_secrets,
    redact,
    scan_credentials,
    scrubbed_output,
    token_files,
)

#: The fix named when a dataset folder cannot be written (OutputDirError's message). Here, not in
#: colored.data, because data imports this module (get_dataset dispatches to it), not the reverse.
DATA_DIR_FIX = "choose another --data-dir (Python: data_dir=...)"
#: How to get photos without network or account, named in the errors of a missing dataset.
SAMPLE_HINT = "`colored download --source sample` builds a small offline sample dataset"

__all__ = [
    "KAGGLE_DATASET",
    "KAGGLE_EXPECTED_COUNTS",
    "KaggleCredentialsError",
    "download_kaggle",
    "find_kaggle_credentials",
]


# --------------------------------------------------------------------------------------------------
# The dataset, missing credentials, and the kaggle library
# --------------------------------------------------------------------------------------------------

KAGGLE_DATASET = "aayush9753/image-colorization-dataset"
#: Colour photos per folder in the Kaggle dataset; a download is complete when these counts match.
KAGGLE_EXPECTED_COUNTS: dict[str, int] = {"train_color": 5000, "test_color": 739}


class KaggleCredentialsError(RuntimeError):
    """No Kaggle credentials were found; the message explains every way to set them up.

    Here rather than in colored.io.kaggle_credentials: it is the download's refusal, and its message
    names the dataset."""

    def __init__(self, notes: list[str] | None = None) -> None:
        problems = "".join(f"\n  - {note}" for note in notes or [])
        super().__init__(
            f"No Kaggle credentials found, so {KAGGLE_DATASET} cannot be downloaded."
            + (f"\nProblems seen:{problems}" if problems else "")
            + '\n\nCreate a token at https://www.kaggle.com/settings/api ("Generate New Token"), '
            "then use ONE of:\n"
            "  1. KAGGLE_API_TOKEN environment variable: the token, or a path to a file holding it\n"
            "       export KAGGLE_API_TOKEN=<your token>\n"
            "  2. Token file ~/.kaggle/access_token (chmod 600 ~/.kaggle/access_token)\n"
            '  3. Legacy key file ~/.kaggle/kaggle.json: {"username": "...", "key": "..."}\n'
            '       ("Create Legacy API Key"; chmod 600 ~/.kaggle/kaggle.json)\n'
            "  4. KAGGLE_USERNAME and KAGGLE_KEY environment variables\n"
            "  Set KAGGLE_CONFIG_DIR to use a folder other than ~/.kaggle for the files.\n"
            "On Google Colab: open the Secrets panel (key icon, left sidebar), add KAGGLE_API_TOKEN "
            "(or KAGGLE_USERNAME and KAGGLE_KEY), enable notebook access, then run the notebook's setup "
            "cell again (colored.notebook.setup() copies them into the environment), or by hand:\n"
            "       import os\n"
            "       from google.colab import userdata\n"
            '       os.environ["KAGGLE_USERNAME"] = userdata.get("KAGGLE_USERNAME")\n'
            '       os.environ["KAGGLE_KEY"] = userdata.get("KAGGLE_KEY")\n'
            '       # or: os.environ["KAGGLE_API_TOKEN"] = userdata.get("KAGGLE_API_TOKEN")\n'
            "No account or no network? `colored download --source sample` works offline "
            '(get_dataset("sample") in Python).'
        )


def _import_kaggle_api() -> Any:
    """Import kaggle (which authenticates at import and prints a banner) with its output swallowed."""
    sink = io.StringIO()  # discarded: the banner is noise and might echo configuration
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            import kaggle  # noqa: PLC0415 - lazy: importing kaggle authenticates and prints
    except ImportError as error:
        raise ImportError(
            "the `kaggle` package is needed for --source kaggle: pip install kaggle. "
            f"Offline alternative: {SAMPLE_HINT}."
        ) from error
    return kaggle.api


def _ensure_authenticated(api: Any) -> None:
    # kaggle authenticates once, at import, and swallows failures (e.g. offline, or credentials set
    # later from Colab secrets): try again. authenticate() calls exit(1) on failure, so callers
    # must catch SystemExit too.
    if getattr(api, "_authenticated", True) is False:
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            api.authenticate()


# --------------------------------------------------------------------------------------------------
# Kaggle download
# --------------------------------------------------------------------------------------------------


def _count_images(folder: Path) -> int:
    try:
        return len(image_files(folder))
    except OSError:
        return 0


def _kaggle_counts(target: Path) -> dict[str, int]:
    return {name: _count_images(target / name) for name in KAGGLE_EXPECTED_COUNTS}


def _member_problem(info: zipfile.ZipInfo, dest: Path) -> str | None:
    """Why extracting this zip member could write outside ``dest`` (resolved; None when safe)."""
    name = info.filename
    if name.startswith(("/", "\\")) or PureWindowsPath(name).drive or "\x00" in name:
        return "absolute path"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link"  # a link could point anywhere and redirect later writes through it
    resolved = (dest / name.replace("\\", "/")).resolve()
    if not resolved.is_relative_to(dest):
        return "path escapes the target folder"
    return None


def _extract_kaggle_zip(zip_path: Path, staging: Path) -> dict[str, Path]:
    """Extract the ``train_color``/``test_color`` folders of ``zip_path`` into ``staging``.

    Every member is checked before anything is written (ValueError naming the first unsafe one).
    The folders may sit at any depth in the archive (e.g. ``data/train_color/...``); they land
    directly under ``staging``. Other folders (``train_black``...) are skipped to save disk.
    """
    with zipfile.ZipFile(zip_path) as archive:
        members = archive.infolist()
        root = staging.resolve()
        for info in members:
            problem = _member_problem(info, root)
            if problem:
                raise ValueError(
                    f"refusing to extract {zip_path.name}: member {info.filename!r} is unsafe "
                    f"({problem}); nothing was extracted"
                )
        # Where each wanted folder sits in the archive: the shallowest occurrence wins.
        prefixes: dict[str, tuple[str, ...]] = {}
        for info in members:
            parts = PurePosixPath(info.filename.replace("\\", "/")).parts
            for depth, part in enumerate(parts[:-1] if not info.is_dir() else parts):
                if part in KAGGLE_EXPECTED_COUNTS:
                    prefix = parts[: depth + 1]
                    if part not in prefixes or (len(prefix), prefix) < (
                        len(prefixes[part]),
                        prefixes[part],
                    ):
                        prefixes[part] = prefix
                    break
        for info in members:
            if info.is_dir():
                continue
            parts = PurePosixPath(info.filename.replace("\\", "/")).parts
            for name, prefix in prefixes.items():
                if parts[: len(prefix)] == prefix:
                    out = staging.joinpath(name, *parts[len(prefix) :])
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(info) as src, open(out, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                    break
    return {name: staging / name for name in prefixes}


#: Where a Kaggle token is made (named in the messages of refused credentials).
KAGGLE_TOKEN_PAGE = "https://www.kaggle.com/settings/api"


def _http_status(error: BaseException) -> int | None:
    """The HTTP status of a failed request (requests' HTTPError: ``error.response.status_code``), looked
    for along the chain of causes; None for a failure without an answer (offline, refused connection)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        status = getattr(getattr(error, "response", None), "status_code", None)
        if isinstance(status, int):
            return status
        match = re.match(
            r"(\d{3}) (?:Client|Server) Error", str(error)
        )  # requests' wording, no response kept
        if match:
            return int(match.group(1))
        error = error.__cause__ or error.__context__
    return None


def _short_source(source: str, home: Path) -> str:
    """A credential source's description with the home folder written ``~`` (as the docs name it)."""
    return (
        source.replace(f"{home}{os.sep}", f"~{os.sep}") if str(home) not in ("", os.sep) else source
    )


def _offline_message(
    target: Path, error: BaseException, secrets: list[str], source: str | None = None
) -> str:
    """One line for a failed download: credentials Kaggle rejected (HTTP 401/403; ``source`` names
    where they came from, when known), another answer from Kaggle, or no answer at all (offline)."""
    detail = redact(f"{type(error).__name__}: {error}", secrets)
    if len(detail) > 300:  # urllib3 errors nest the whole retry chain; the cause keeps the rest
        detail = detail[:300] + "…"
    status = _http_status(error)
    unchanged = f"Nothing in {target} was changed."
    if status in (401, 403):
        reason = getattr(getattr(error, "response", None), "reason", None) or (
            "Unauthorized" if status == 401 else "Forbidden"
        )
        used = f"; used: {redact(source, secrets)}" if source else ""
        return (
            f"could not download {KAGGLE_DATASET}: Kaggle rejected the credentials (HTTP {status} "
            f"{reason}{used}). Generate a new token at {KAGGLE_TOKEN_PAGE} and put it in place of the old one "
            "(on Colab: update the secret KAGGLE_API_TOKEN, then Runtime > Restart session and run the "
            f"setup cell again). {unchanged}"
        )
    if isinstance(error, SystemExit):  # kaggle's authenticate() exits when it finds no credentials
        used = f" in {redact(source, secrets)}" if source else ""
        return (
            f"could not download {KAGGLE_DATASET}: the kaggle library could not use the credentials{used}. "
            f"Check them (a new token: {KAGGLE_TOKEN_PAGE}) and retry. {unchanged}"
        )
    if status is not None:
        return (
            f"could not download {KAGGLE_DATASET}: Kaggle refused the request ({detail}). {unchanged} "
            "Retry later, or use `colored download --source sample` (works offline)."
        )
    return (
        f"could not download {KAGGLE_DATASET}: could not reach Kaggle (offline?) ({detail}). {unchanged} "
        "Check the network and retry, or use `colored download --source sample` (works offline)."
    )


def download_kaggle(
    target: str | Path = "data/kaggle", api: Any = None, quiet: bool = True
) -> Path:
    """Download :data:`KAGGLE_DATASET` into ``target/train_color`` and ``target/test_color``.

    Idempotent: a ``target`` with the expected image counts returns at once, without credentials or
    network. ``api``: an authenticated ``kaggle`` API object; None finds credentials first
    (:class:`KaggleCredentialsError` before kaggle is imported). The zip lands in a temporary folder
    beside ``target``, every member is checked (ValueError for one that would escape), and only the
    colour folders are moved into place. No message contains a credential. Unwritable ``target``:
    :class:`colored.io.files.OutputDirError` before anything else; Kaggle unreachable, credentials
    or request refused, or wrong counts: RuntimeError naming the cause and the fix.
    """
    target = Path(target).expanduser()
    if _kaggle_counts(target) == KAGGLE_EXPECTED_COUNTS:
        return target
    # The download goes to a temporary folder in target's parent, then into target: both must take
    # files. Checked now, not after a download of hundreds of MB.
    ensure_writable_dir(target.parent, "the data folder", DATA_DIR_FIX)
    if os.path.lexists(target):
        ensure_writable_dir(target, "the data folder", DATA_DIR_FIX)

    home = Path.home()
    secrets = known_secrets(os.environ, home)
    token_env_set = False
    source = None  # where the credentials come from, named if Kaggle rejects them
    if api is None:
        found, notes = scan_credentials(os.environ, home)
        if found is None:
            raise KaggleCredentialsError(notes)
        source = _short_source(found, home)
        if found.startswith("access token file") and not os.environ.get("KAGGLE_API_TOKEN"):
            # kagglesdk only reads ~/.kaggle/access_token; a token file in KAGGLE_CONFIG_DIR is
            # handed over by path (a path, not the secret) for the duration of the download.
            token_file = next(token_files(os.environ, home))
            os.environ["KAGGLE_API_TOKEN"] = str(token_file)
            token_env_set = True

    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        # The temporary folder sits next to target (same filesystem) so that moving into place is a
        # rename; its leading dot hides it from image_files.
        with tempfile.TemporaryDirectory(
            prefix=f".{target.name}-download-", dir=target.parent
        ) as tmp:
            tmp_dir = Path(tmp)
            zip_dir = tmp_dir / "zip"
            zip_dir.mkdir()
            if api is None:
                api = _import_kaggle_api()
            try:
                with scrubbed_output(secrets):
                    _ensure_authenticated(api)
                    api.dataset_download_files(
                        KAGGLE_DATASET, path=str(zip_dir), unzip=False, quiet=quiet
                    )
            except (Exception, SystemExit) as error:  # SystemExit: kaggle exits on failed auth
                raise RuntimeError(_offline_message(target, error, secrets, source)) from error

            zips = sorted(zip_dir.rglob("*.zip"))
            if not zips:
                raise RuntimeError(
                    f"the Kaggle download of {KAGGLE_DATASET} produced no zip file; "
                    f"nothing in {target} was changed. Retry, or use `colored download --source sample`."
                )
            staging = tmp_dir / "staging"
            staging.mkdir()
            extracted = _extract_kaggle_zip(zips[0], staging)
            missing = sorted(set(KAGGLE_EXPECTED_COUNTS) - set(extracted))
            if missing:
                raise RuntimeError(
                    f"the archive of {KAGGLE_DATASET} has no {', '.join(missing)} folder; "
                    f"nothing in {target} was changed."
                )
            target.mkdir(parents=True, exist_ok=True)
            for name, folder in extracted.items():
                dest = target / name
                old = tmp_dir / f"old-{name}"
                if dest.exists():
                    os.replace(dest, old)  # set aside; deleted with tmp once the new one is in
                try:
                    os.replace(folder, dest)
                except OSError:
                    if old.exists():
                        os.replace(old, dest)
                    raise
    finally:
        if token_env_set:
            os.environ.pop("KAGGLE_API_TOKEN", None)

    counts = _kaggle_counts(target)
    for name, expected in KAGGLE_EXPECTED_COUNTS.items():
        if counts[name] != expected:
            raise RuntimeError(
                f"{target / name} holds {counts[name]} images after the download, expected {expected}: "
                f"the download is incomplete or the dataset changed. Delete {target} and retry, "
                "or use `colored download --source sample`."
            )
    return target
