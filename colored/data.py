"""Find and download datasets: a folder of photos, the offline sample, or the Kaggle dataset.

Three sources, all ending as a folder of colour photos on disk (grayscale inputs are always computed
from the colour photos, so only colour images are kept):

* ``"sample"`` (default, works offline): crops of scikit-image's bundled colour photos, built by
  :func:`make_sample_dataset` into ``data/sample/{train,test}/``.
* ``"kaggle"``: ``aayush9753/image-colorization-dataset`` (5,000 train / 739 test photos), fetched
  by :func:`download_kaggle` into ``data/kaggle/{train_color,test_color}/``. Needs credentials.
* any existing folder of images: used as is (see :func:`dataset_splits` for the layouts understood).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np

__all__ = [
    "IMAGE_EXTENSIONS",
    "KAGGLE_DATASET",
    "KAGGLE_EXPECTED_COUNTS",
    "KaggleCredentialsError",
    "SAMPLE_TEST_PHOTOS",
    "SAMPLE_TRAIN_PHOTOS",
    "dataset_splits",
    "download_kaggle",
    "find_images",
    "find_kaggle_credentials",
    "get_dataset",
    "make_sample_dataset",
]

from colored.imageio import IMAGE_EXTENSIONS  # noqa: E402  (one list for training and colorize)
from colored.imageio import ensure_writable_dir  # noqa: E402

#: The fix named when a dataset folder cannot be written (OutputDirError's message).
_DATA_DIR_FIX = "choose another --data-dir (Python: data_dir=...)"

SOURCES = ("sample", "kaggle")

_SAMPLE_HINT = "`colored download --source sample` builds a small offline sample dataset"


# --------------------------------------------------------------------------------------------------
# Finding images and splits
# --------------------------------------------------------------------------------------------------


def _is_hidden(path: Path, root: Path) -> bool:
    # Dot-files are never photos we want: macOS "._x.jpg" AppleDouble files have image extensions
    # but are not images, ".ipynb_checkpoints/" holds copies, and our own temp files start with ".".
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def find_images(folder: str | Path, recursive: bool = True) -> list[Path]:
    """Return the image files in ``folder`` (sub-folders too when ``recursive``), sorted.

    Files are recognised by extension (:data:`IMAGE_EXTENSIONS`, case-insensitive); hidden files and
    folders (names starting with ``.``) are skipped.

    Raises:
        FileNotFoundError: ``folder`` does not exist.
        NotADirectoryError: ``folder`` is a file.
        ValueError: ``folder`` holds no images.
    """
    root = Path(folder).expanduser()
    if not root.exists():
        raise FileNotFoundError(
            f"image folder {str(folder)!r} does not exist (resolved: {root.resolve()}). "
            f"Point to a folder of photos, or run {_SAMPLE_HINT} (then use data/sample)."
        )
    if not root.is_dir():
        raise NotADirectoryError(f"{str(folder)!r} is a file, not a folder of images")
    candidates = root.rglob("*") if recursive else root.iterdir()
    images = sorted(
        path
        for path in candidates
        if path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file() and not _is_hidden(path, root)
    )
    if not images:
        where = "or its sub-folders " if recursive else ""
        raise ValueError(
            f"no images found in {str(folder)!r} {where}(looked for "
            f"{', '.join(sorted(IMAGE_EXTENSIONS))}, any case). {_SAMPLE_HINT}."
        )
    return images


def _find_subdir(root: Path, name: str, max_depth: int = 2) -> Path | None:
    """The shallowest folder called ``name`` within ``max_depth`` levels of ``root`` (ties: sorted)."""
    level = [root]
    for _ in range(max_depth):
        found = sorted(d / name for d in level if (d / name).is_dir())
        if found:
            return found[0]
        level = sorted(
            child for d in level for child in d.iterdir() if child.is_dir() and not child.name.startswith(".")
        )
    return None


def dataset_splits(root: str | Path) -> dict[str, Path]:
    """Map split names to folders for the dataset at ``root``.

    Layouts understood, first match wins:

    1. Kaggle: ``train_color/`` and optional ``test_color/`` (also one level down, e.g. when the zip
       was extracted by hand to ``root/data/train_color``). ``train_black/``, ``test_black/`` are
       ignored: grayscale inputs are computed from the colour photos.
    2. Ours (the sample dataset): ``train/`` and optional ``test/``.
    3. Anything else: ``root`` itself is the train split.

    Returns e.g. ``{"train": root/"train_color", "test": root/"test_color"}``; ``"test"`` only when
    that folder exists.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(
            f"dataset folder {str(root)!r} does not exist. Run {_SAMPLE_HINT}, "
            "or `colored download --source kaggle` for the full dataset."
        )
    kaggle_train = _find_subdir(root, "train_color")
    if kaggle_train is not None:
        splits = {"train": kaggle_train}
        # Pair test_color with the train folder found (same parent), not some other copy.
        if (kaggle_train.parent / "test_color").is_dir():
            splits["test"] = kaggle_train.parent / "test_color"
        return splits
    if (root / "train").is_dir():
        splits = {"train": root / "train"}
        if (root / "test").is_dir():
            splits["test"] = root / "test"
        return splits
    return {"train": root}


# --------------------------------------------------------------------------------------------------
# Kaggle credentials
# --------------------------------------------------------------------------------------------------

KAGGLE_DATASET = "aayush9753/image-colorization-dataset"
#: Colour photos per folder in the Kaggle dataset; a download is complete when these counts match.
KAGGLE_EXPECTED_COUNTS: dict[str, int] = {"train_color": 5000, "test_color": 739}

_TOKEN_FILES = ("access_token", "access_token.txt")  # kagglesdk accepts both names


def _config_dirs(env: Mapping[str, str], home: Path) -> list[Path]:
    """Folders where the kaggle library looks for credential files, in its order."""
    dirs: list[Path] = []
    if env.get("KAGGLE_CONFIG_DIR"):
        dirs.append(Path(env["KAGGLE_CONFIG_DIR"]).expanduser())
    dot_kaggle = home / ".kaggle"
    dirs.append(dot_kaggle)
    if not env.get("KAGGLE_CONFIG_DIR") and not dot_kaggle.exists():
        # kaggle >= 1.7 on Linux falls back to the XDG folder when ~/.kaggle does not exist.
        xdg = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"
        dirs.append(xdg / "kaggle")
    return dirs


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def _is_file(value: str) -> bool:
    # A 100+ character token passed to Path.exists() can raise "File name too long" with the token
    # in the message: never let that escape.
    try:
        return Path(value).expanduser().is_file()
    except (OSError, ValueError):
        return False


def _scan_credentials(env: Mapping[str, str], home: Path) -> tuple[str | None, list[str]]:
    """(description of the first credential source found or None, notes about broken sources)."""
    notes: list[str] = []
    token = env.get("KAGGLE_API_TOKEN", "").strip()
    if token:
        if _is_file(token):
            if _read_text(Path(token).expanduser()):
                return f"KAGGLE_API_TOKEN environment variable (token file {token})", notes
            notes.append(f"KAGGLE_API_TOKEN points to an empty or unreadable file ({token})")
        else:
            return "KAGGLE_API_TOKEN environment variable (token)", notes

    dirs = _config_dirs(env, home)
    for folder in dirs:
        for name in _TOKEN_FILES:
            path = folder / name
            if path.is_file():
                if _read_text(path):
                    return f"access token file {path}", notes
                notes.append(f"{path} is empty or unreadable")

    for folder in dirs:
        path = folder / "kaggle.json"
        if path.is_file():
            try:
                values = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                values = None  # the parse error is not quoted: it could echo the file's content
            if isinstance(values, dict) and values.get("username") and values.get("key"):
                return f"API key file {path}", notes
            notes.append(f"{path} exists but is not JSON with non-empty 'username' and 'key'")

    if env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY"):
        return "KAGGLE_USERNAME and KAGGLE_KEY environment variables", notes
    if env.get("KAGGLE_USERNAME") or env.get("KAGGLE_KEY"):
        missing = "KAGGLE_KEY" if env.get("KAGGLE_USERNAME") else "KAGGLE_USERNAME"
        notes.append(f"KAGGLE_USERNAME/KAGGLE_KEY: {missing} is not set (both are needed)")

    # `kaggle auth login` (OAuth) stores its credentials here; kagglesdk always reads ~/.kaggle.
    oauth = home / ".kaggle" / "credentials.json"
    if oauth.is_file():
        return f"OAuth credentials from `kaggle auth login` ({oauth})", notes
    return None, notes


def find_kaggle_credentials(
    env: Mapping[str, str] | None = None, home: str | Path | None = None
) -> str | None:
    """Describe where Kaggle credentials were found, or return ``None``. Never returns a secret.

    Checked in the kaggle library's order (``env`` defaults to ``os.environ``, ``home`` to the
    user's home folder, both read at call time):

    1. ``KAGGLE_API_TOKEN``: the token itself, or a path to a file holding it;
    2. ``access_token`` (or ``access_token.txt``) in ``$KAGGLE_CONFIG_DIR`` or ``~/.kaggle``;
    3. ``kaggle.json`` (``{"username": ..., "key": ...}``) in ``$KAGGLE_CONFIG_DIR`` or
       ``~/.kaggle`` (or ``~/.config/kaggle`` when ``~/.kaggle`` does not exist);
    4. ``KAGGLE_USERNAME`` and ``KAGGLE_KEY`` together;
    5. OAuth credentials saved by ``kaggle auth login`` (``~/.kaggle/credentials.json``).
    """
    env = os.environ if env is None else env
    home = Path.home() if home is None else Path(home)
    return _scan_credentials(env, home)[0]


class KaggleCredentialsError(RuntimeError):
    """No Kaggle credentials were found; the message explains every way to set them up."""

    def __init__(self, notes: list[str] | None = None) -> None:
        problems = "".join(f"\n  - {note}" for note in notes or [])
        super().__init__(
            f"No Kaggle credentials found, so {KAGGLE_DATASET} cannot be downloaded."
            + (f"\nProblems seen:{problems}" if problems else "")
            + "\n\nCreate a token at https://www.kaggle.com/settings/api (\"Generate New Token\"), "
            "then use ONE of:\n"
            "  1. KAGGLE_API_TOKEN environment variable: the token, or a path to a file holding it\n"
            "       export KAGGLE_API_TOKEN=<your token>\n"
            "  2. Token file ~/.kaggle/access_token (chmod 600 ~/.kaggle/access_token)\n"
            "  3. Legacy key file ~/.kaggle/kaggle.json: {\"username\": \"...\", \"key\": \"...\"}\n"
            "       (\"Create Legacy API Key\"; chmod 600 ~/.kaggle/kaggle.json)\n"
            "  4. KAGGLE_USERNAME and KAGGLE_KEY environment variables\n"
            "  Set KAGGLE_CONFIG_DIR to use a folder other than ~/.kaggle for the files.\n"
            "On Google Colab: open the Secrets panel (key icon, left sidebar), add KAGGLE_USERNAME "
            "and KAGGLE_KEY (or KAGGLE_API_TOKEN), enable notebook access, then run:\n"
            "       import os\n"
            "       from google.colab import userdata\n"
            "       os.environ[\"KAGGLE_USERNAME\"] = userdata.get(\"KAGGLE_USERNAME\")\n"
            "       os.environ[\"KAGGLE_KEY\"] = userdata.get(\"KAGGLE_KEY\")\n"
            "       # or: os.environ[\"KAGGLE_API_TOKEN\"] = userdata.get(\"KAGGLE_API_TOKEN\")\n"
            "No account or no network? `colored download --source sample` works offline "
            "(get_dataset(\"sample\") in Python)."
        )


def _known_secrets(env: Mapping[str, str], home: Path) -> list[str]:
    """Every credential value we can see, so that output and messages can be scrubbed of them."""
    secrets = [env.get("KAGGLE_KEY", ""), env.get("KAGGLE_API_TOKEN", "")]
    token = env.get("KAGGLE_API_TOKEN", "").strip()
    if token and _is_file(token):
        secrets.append(_read_text(Path(token).expanduser()) or "")
    for folder in [*_config_dirs(env, home), home / ".kaggle"]:
        for name in _TOKEN_FILES:
            secrets.append(_read_text(folder / name) or "")
        for name in ("kaggle.json", "credentials.json"):
            try:
                values = json.loads((folder / name).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(values, dict):
                secrets += [str(v) for k, v in values.items() if k != "username" and isinstance(v, str)]
    # Longest first so that a secret containing another is scrubbed whole; short values are not
    # secrets worth scrubbing and would mangle ordinary output.
    return sorted({s.strip() for s in secrets if len(s.strip()) >= 6}, key=len, reverse=True)


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


class _RedactingStream:
    """A text stream wrapper that scrubs known secrets from whatever the kaggle library prints."""

    def __init__(self, stream: Any, secrets: list[str]) -> None:
        self._stream = stream
        self._secrets = secrets

    def write(self, text: str) -> int:
        self._stream.write(_redact(text, self._secrets))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def _scrubbed_output(secrets: list[str]) -> Iterator[None]:
    import sys

    with contextlib.redirect_stdout(_RedactingStream(sys.stdout, secrets)), contextlib.redirect_stderr(
        _RedactingStream(sys.stderr, secrets)
    ):
        yield


def _import_kaggle_api() -> Any:
    """Import kaggle (which authenticates at import and prints a banner) with its output swallowed."""
    sink = io.StringIO()  # discarded: the banner is noise and might echo configuration
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            import kaggle  # noqa: PLC0415 - lazy: importing kaggle authenticates and prints
    except ImportError as error:
        raise ImportError(
            "the `kaggle` package is needed for --source kaggle: pip install kaggle. "
            f"Offline alternative: {_SAMPLE_HINT}."
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
        return len(find_images(folder))
    except (OSError, ValueError):
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
                    if part not in prefixes or (len(prefix), prefix) < (len(prefixes[part]), prefixes[part]):
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


def _offline_message(target: Path, error: BaseException, secrets: list[str]) -> str:
    detail = _redact(f"{type(error).__name__}: {error}", secrets)
    if len(detail) > 300:  # urllib3 errors nest the whole retry chain; the cause keeps the rest
        detail = detail[:300] + "…"
    return (
        f"could not download {KAGGLE_DATASET}: could not reach Kaggle (offline?) or it refused the "
        f"request ({detail}). Nothing in {target} was changed. Check the network and your "
        "credentials and retry, or use `colored download --source sample` (works offline)."
    )


def download_kaggle(target: str | Path = "data/kaggle", api: Any = None, quiet: bool = True) -> Path:
    """Download :data:`KAGGLE_DATASET` into ``target/train_color`` and ``target/test_color``.

    Idempotent: when ``target`` already holds the expected number of images
    (:data:`KAGGLE_EXPECTED_COUNTS`) it returns at once, without credentials or network.

    ``api`` is an authenticated ``kaggle`` API object (anything with ``dataset_download_files``);
    ``None`` checks for credentials first (:class:`KaggleCredentialsError` if there are none, before
    kaggle is even imported), then imports kaggle with its banner suppressed. The zip is downloaded
    into a temporary folder next to ``target``, checked member by member (ValueError for paths that
    would escape), and only the colour folders are moved into place, one rename each; the black
    folders are skipped (grayscale is computed from colour). Nothing printed or raised contains a
    credential.

    Raises:
        colored.imageio.OutputDirError: ``target`` (or its parent) cannot be written: checked
            first, before credentials or network (a complete ``target`` needs no writing).
        KaggleCredentialsError: no credentials (only when ``api`` is None).
        RuntimeError: Kaggle unreachable or refused (existing data left untouched), the archive
            lacks the expected folders, or the image counts differ from the expected ones.
        ValueError: the archive holds a member that would land outside ``target``.
    """
    target = Path(target).expanduser()
    if _kaggle_counts(target) == KAGGLE_EXPECTED_COUNTS:
        return target
    # The download goes to a temporary folder in target's parent, then into target: both must take
    # files. Checked now, not after a download of hundreds of MB.
    ensure_writable_dir(target.parent, "the data folder", _DATA_DIR_FIX)
    if os.path.lexists(target):
        ensure_writable_dir(target, "the data folder", _DATA_DIR_FIX)

    home = Path.home()
    secrets = _known_secrets(os.environ, home)
    token_env_set = False
    if api is None:
        found, notes = _scan_credentials(os.environ, home)
        if found is None:
            raise KaggleCredentialsError(notes)
        if found.startswith("access token file") and not os.environ.get("KAGGLE_API_TOKEN"):
            # kagglesdk only reads ~/.kaggle/access_token; a token file in KAGGLE_CONFIG_DIR is
            # handed over by path (a path, not the secret) for the duration of the download.
            token_file = next(
                d / n for d in _config_dirs(os.environ, home) for n in _TOKEN_FILES if _read_text(d / n)
            )
            os.environ["KAGGLE_API_TOKEN"] = str(token_file)
            token_env_set = True

    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        # The temporary folder sits next to target (same filesystem) so that moving into place is a
        # rename; its leading dot hides it from find_images.
        with tempfile.TemporaryDirectory(prefix=f".{target.name}-download-", dir=target.parent) as tmp:
            tmp_dir = Path(tmp)
            zip_dir = tmp_dir / "zip"
            zip_dir.mkdir()
            if api is None:
                api = _import_kaggle_api()
            try:
                with _scrubbed_output(secrets):
                    _ensure_authenticated(api)
                    api.dataset_download_files(KAGGLE_DATASET, path=str(zip_dir), unzip=False, quiet=quiet)
            except (Exception, SystemExit) as error:  # SystemExit: kaggle exits on failed auth
                raise RuntimeError(_offline_message(target, error, secrets)) from error

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


# --------------------------------------------------------------------------------------------------
# Sample dataset (offline)
# --------------------------------------------------------------------------------------------------

#: scikit-image photos (bundled in its wheel, so available offline) used for the train split.
#: ``stereo_motorcycle`` gives two views of one scene: both are used.
SAMPLE_TRAIN_PHOTOS: tuple[str, ...] = (
    "astronaut",
    "colorwheel",
    "hubble_deep_field",
    "immunohistochemistry",
    "motorcycle_left",
    "motorcycle_right",
    "retina",
    "rocket",
)
#: Whole photos held out for the test split, so no test image is a crop of a training photo.
SAMPLE_TEST_PHOTOS: tuple[str, ...] = ("chelsea", "coffee")
_SAMPLE_VERSION = 1  # bump when the recipe changes so existing sample folders are rebuilt
_SAMPLE_MARKER = ".sample-complete.json"
_CROPS_PER_PHOTO = 10


def _load_photo(name: str) -> np.ndarray:
    from skimage import data as skdata  # lazy: only the sample source needs scikit-image

    try:
        if name.startswith("motorcycle_"):
            left, right, _disparity = skdata.stereo_motorcycle()
            image = left if name == "motorcycle_left" else right
        else:
            image = getattr(skdata, name)()
    except Exception as error:
        raise RuntimeError(
            f"scikit-image's bundled photo {name!r} could not be loaded ({error}); reinstall "
            "scikit-image (pip install --force-reinstall scikit-image)"
        ) from error
    return np.ascontiguousarray(np.asarray(image)[..., :3], dtype=np.uint8)


def _crop_boxes(height: int, width: int, name: str) -> list[tuple[int, int, int]]:
    """Ten square crops ``(top, left, side)``: the largest centred square, four corners and the
    centre at 60 % of the short side, and four seeded random crops (two at 75 %, two at 50 %)."""
    short = min(height, width)
    boxes = [((height - short) // 2, (width - short) // 2, short)]
    side = round(0.6 * short)
    for top, left in [
        (0, 0),
        (0, width - side),
        (height - side, 0),
        (height - side, width - side),
        ((height - side) // 2, (width - side) // 2),
    ]:
        boxes.append((top, left, side))
    # Seeded per photo (crc32 of its name, stable across runs and Python versions) so that the
    # dataset is identical everywhere and adding a photo does not move the others' crops.
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    for scale in (0.75, 0.75, 0.5, 0.5):
        side = round(scale * short)
        top = int(rng.integers(0, height - side + 1))
        left = int(rng.integers(0, width - side + 1))
        boxes.append((top, left, side))
    return boxes


def _write_png_atomically(array: np.ndarray, path: Path) -> None:
    """Write to a hidden temp file in the same folder, then rename: readers never see half a PNG."""
    from PIL import Image

    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            Image.fromarray(array).save(handle, format="PNG")
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


def _sample_plan() -> dict[str, list[str]]:
    return {
        split: [f"{photo}_{i:02d}.png" for photo in sorted(photos) for i in range(_CROPS_PER_PHOTO)]
        for split, photos in (("train", SAMPLE_TRAIN_PHOTOS), ("test", SAMPLE_TEST_PHOTOS))
    }


def _sample_complete(target: Path, size: int, plan: dict[str, list[str]]) -> bool:
    try:
        marker = json.loads((target / _SAMPLE_MARKER).read_text())
    except (OSError, ValueError):
        return False
    if marker != {"version": _SAMPLE_VERSION, "size": size, "counts": {k: len(v) for k, v in plan.items()}}:
        return False
    return all((target / split / name).is_file() for split, names in plan.items() for name in names)


def make_sample_dataset(target: str | Path = "data/sample", size: int = 256) -> Path:
    """Build the offline sample dataset from scikit-image's bundled colour photos; return ``target``.

    Contents (``size``×``size`` RGB PNGs, resized with PIL's LANCZOS filter): ten square crops of
    each photo (the largest centred square, four corners and the centre at 60 % of the short side,
    four seeded random crops at 75 % and 50 %), named ``<photo>_<nn>.png``.

    * ``train/``: 80 images from 8 photos: astronaut, colorwheel, hubble_deep_field,
      immunohistochemistry, both views of stereo_motorcycle, retina, rocket.
      ``astronaut_00.png`` (the whole astronaut photo, colourful) sorts first.
    * ``test/``: 20 images from 2 whole photos held out of training: chelsea (a cat) and coffee.
      Honest but small: test photos are never crops of training photos, yet the crops of one test
      photo overlap each other, and 2 photos say little about generalisation. Use it to check the
      pipeline, and the Kaggle dataset (or your own photos) to measure quality.

    Deterministic and idempotent: a marker file (written last) records the recipe version and
    ``size``; a complete folder is left untouched, an interrupted or different-size one is rebuilt.
    Each PNG is written to a temp file and renamed, so no half-written image is ever visible.
    The folder is managed by this function: stray ``*.png`` files in its splits are removed on rebuild.
    A folder that cannot be written raises :class:`colored.imageio.OutputDirError` (a ``ValueError``,
    one line naming it) before anything is built.
    """
    if not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an integer >= 8 pixels, got {size!r}")
    from PIL import Image

    target = Path(target).expanduser()
    plan = _sample_plan()
    if _sample_complete(target, size, plan):
        return target  # complete: usable even from a read-only folder
    ensure_writable_dir(target, "the data folder", _DATA_DIR_FIX)
    (target / _SAMPLE_MARKER).unlink(missing_ok=True)  # whatever happens next, it is not complete

    for split, photos in (("train", SAMPLE_TRAIN_PHOTOS), ("test", SAMPLE_TEST_PHOTOS)):
        folder = target / split
        folder.mkdir(parents=True, exist_ok=True)
        for photo in sorted(photos):
            image = _load_photo(photo)
            height, width = image.shape[:2]
            for index, (top, left, side) in enumerate(_crop_boxes(height, width, photo)):
                crop = Image.fromarray(image[top : top + side, left : left + side])
                resized = np.asarray(crop.resize((size, size), Image.Resampling.LANCZOS))
                _write_png_atomically(resized, folder / f"{photo}_{index:02d}.png")
        expected = set(plan[split])
        for stray in folder.glob("*.png"):
            if stray.name not in expected:
                stray.unlink()

    marker = {"version": _SAMPLE_VERSION, "size": size, "counts": {k: len(v) for k, v in plan.items()}}
    marker_tmp = target / f"{_SAMPLE_MARKER}.tmp"
    marker_tmp.write_text(json.dumps(marker, indent=2))
    os.replace(marker_tmp, target / _SAMPLE_MARKER)
    return target


# --------------------------------------------------------------------------------------------------
# One entry point
# --------------------------------------------------------------------------------------------------


def get_dataset(source: str | Path = "sample", data_dir: str | Path = "data", **kw: Any) -> Path:
    """Return the root folder of a dataset, building or downloading it when needed.

    ``source``: ``"sample"`` (offline, :func:`make_sample_dataset` into ``data_dir/sample``; ``kw``
    e.g. ``size=``), ``"kaggle"`` (:func:`download_kaggle` into ``data_dir/kaggle``; ``kw`` e.g.
    ``api=``, ``quiet=``), or the path of an existing folder of images (checked, used as is).
    Pass the result to :func:`dataset_splits` for the train/test folders.
    """
    if source == "sample":
        return make_sample_dataset(Path(data_dir) / "sample", **kw)
    if source == "kaggle":
        return download_kaggle(Path(data_dir) / "kaggle", **kw)
    path = Path(source).expanduser()
    if path.is_dir():
        if kw:
            raise TypeError(f"options {sorted(kw)} only apply to the 'sample' and 'kaggle' sources")
        find_images(dataset_splits(path)["train"])  # fail now, clearly, if it holds no images
        return path
    raise ValueError(
        f"unknown dataset source {str(source)!r}: choose 'sample' (offline, built from "
        "scikit-image photos), 'kaggle' (aayush9753/image-colorization-dataset, needs credentials) "
        "or the path of an existing folder of images"
    )
