"""Photos and files out: the one 8-bit conversion, image encoding by suffix, atomic writes, folders.

:func:`write_image` picks the format from the file's suffix and writes atomically: a temporary file
in the same folder is written, flushed, fsynced and then renamed over the target, so a crash or an
encoder error never leaves a half-written file, and never damages a file already there. Output is
always 8 bits per channel (Pillow cannot write 16-bit RGB, and the colorized result is 8-bit):
:func:`to_uint8` is the package's one rounding to 8 bits, here because writing needs it and this
module stands below :mod:`colored.io.images` (which imports it from here). :func:`atomic_write` and
its wrappers serve every other file the package writes (settings, weights, caches);
:func:`ensure_writable_dir` proves an output folder writable before long work; :func:`image_files`
lists the photos in a folder.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

#: File extensions (lower case, with the dot) that folder expansion treats as images.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif")

#: Writable suffix → (Pillow format, whether alpha is kept).
WRITE_FORMATS: dict[str, tuple[str, bool]] = {
    ".jpg": ("JPEG", False),
    ".jpeg": ("JPEG", False),
    ".png": ("PNG", True),
    ".tif": ("TIFF", True),
    ".tiff": ("TIFF", True),
    ".webp": ("WEBP", True),
    ".bmp": ("BMP", False),
    ".gif": ("GIF", False),
}

JPEG_QUALITY = 95
WEBP_QUALITY = 95


def to_uint8(values: np.ndarray) -> np.ndarray:
    """uint8 / uint16 / float in [0, 1] → uint8, rounded to the nearest level (never truncated).

    The one conversion to 8 bits in the package (files written, metrics, figures):

    * uint8: returned as is;
    * uint16: ``v * 255 / 65535 = v / 257`` rounded to nearest, in exact integer arithmetic. ``v / 257``
      is never exactly halfway between two levels, so there are no ties to break, and the 8-bit →
      16-bit scaling ``v * 257`` (what Pillow and TIFF use) comes back exactly;
    * float: clipped to [0, 1] (NaN → 0), times 255, rounded half to even (:func:`numpy.rint`, what
      ``np.round`` does), so uint8 → float32 → uint8 is exact.
    """
    values = np.asarray(values)
    if values.dtype == np.uint8:
        return values
    if values.dtype == np.uint16:
        return ((values.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    unit = np.clip(np.nan_to_num(values.astype(np.float32), nan=0.0), 0.0, 1.0)
    return np.rint(unit * np.float32(255.0)).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# writing


def output_format(path: str | Path) -> tuple[str, bool]:
    """``(Pillow format, keeps alpha)`` for a file name, from its suffix (case-insensitive)."""
    suffix = Path(path).suffix.lower()
    try:
        return WRITE_FORMATS[suffix]
    except KeyError:
        raise ValueError(
            f"{path}: cannot choose an image format from the suffix {suffix!r}; use one of "
            + ", ".join(WRITE_FORMATS)
        ) from None


def write_image(
    path: str | Path, rgb: np.ndarray, alpha: np.ndarray | None = None, *, overwrite: bool = True
) -> Path:
    """Write ``rgb`` (``(H, W, 3)``, uint8 / uint16 / float in [0, 1]) atomically to ``path``.

    The format comes from the suffix: ``.jpg``/``.jpeg`` (quality 95, alpha dropped), ``.png``,
    ``.tif``/``.tiff`` (deflate) and ``.webp`` (quality 95) keep ``alpha``; ``.bmp`` and ``.gif``
    (256 colours) drop it. Always 8 bits per channel. Parent folders are created. The data go to
    a temporary file next to the target which is fsynced and renamed over it, so readers see either
    the old file or the complete new one, never a partial one. Returns the path.

    ``overwrite=False``: an existing ``path`` (a file, a folder, even a broken link) is left alone
    and :class:`OutputExistsError` (a ``FileExistsError``) is raised; the final step is then a hard
    link, which fails if something appeared there meanwhile: a concurrent writer is not clobbered.
    """
    path = Path(path)
    fmt, keeps_alpha = output_format(path)
    if not overwrite and os.path.lexists(path):
        raise _exists_error(path)
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"write_image expects an (H, W, 3) RGB array, got shape {rgb.shape}")
    pixels = to_uint8(rgb)
    if alpha is not None and keeps_alpha:
        alpha = np.asarray(alpha)
        if alpha.shape != rgb.shape[:2]:
            raise ValueError(f"alpha shape {alpha.shape} does not match the image {rgb.shape[:2]}")
        image = Image.fromarray(np.dstack([pixels, to_uint8(alpha)]), "RGBA")
    else:
        image = Image.fromarray(pixels, "RGB")
    options: dict = {}
    if fmt == "JPEG":
        options = {"quality": JPEG_QUALITY, "subsampling": 0}
    elif fmt == "WEBP":
        options = {"quality": WEBP_QUALITY, "method": 4}
    elif fmt == "TIFF":
        options = {"compression": "tiff_adobe_deflate"}
    elif fmt == "PNG":
        options = {"compress_level": 3}  # ~3x faster than the default 6, a few % larger
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(
        path, lambda handle: image.save(handle, format=fmt, **options), overwrite=overwrite
    )
    return path


def atomic_write_bytes(path: str | Path, data: bytes, *, sync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (:func:`atomic_write`); parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda handle: handle.write(data), sync=sync)


def image_files(folder: str | Path, recursive: bool = True) -> list[Path]:
    """The image files in ``folder`` (by suffix, :data:`IMAGE_EXTENSIONS`, any case), sorted; hidden
    files and folders are skipped. Dot-files are never photos we want: macOS "._x.jpg" AppleDouble
    files have image suffixes but are not images, ".ipynb_checkpoints/" holds copies, and temporary
    files start with ".". :func:`colored.data.find_images` adds the errors for a missing or empty folder."""
    root = Path(folder).expanduser()
    candidates = root.rglob("*") if recursive else root.iterdir()
    return sorted(
        path
        for path in candidates
        if path.suffix.lower() in IMAGE_EXTENSIONS
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    )


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically: a kill leaves the old file or the new one, never half."""
    return atomic_write_bytes(path, text.encode())


def atomic_save_to(path: str | Path, save: Callable[[Path], Any]) -> Path:
    """Atomic write for savers that take a file *name* (Keras picks the format from the suffix):
    ``save`` writes a temporary file with the same suffix beside ``path``, which then replaces it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes) or ".tmp"  # "latest.weights.h5" → ".weights.h5"
    descriptor, name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name.split('.')[0]}.partial-", suffix=suffix
    )
    os.close(descriptor)
    temporary = Path(name)
    try:
        temporary.unlink()  # Keras refuses to overwrite without asking; it creates the file itself
        save(temporary)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


class OutputExistsError(FileExistsError):
    """:func:`write_image` with ``overwrite=False`` found something at the output path."""


def _exists_error(path: Path) -> OutputExistsError:
    return OutputExistsError(errno.EEXIST, "already exists (not overwritten)", str(path))


def atomic_write(
    path: str | Path, write: Callable[[BinaryIO], Any], *, overwrite: bool = True, sync: bool = True
) -> Path:
    """The one atomic write of the package: ``write(handle)`` fills a hidden temporary file beside
    ``path`` (``.<name>.<random>.tmp``), which then replaces ``path`` in one rename. A kill, a full disk
    or an exception in ``write`` leaves the old file (or none), never half a new one, and no temporary
    file. ``sync``: fsync the file and the rename (durable across a power cut; ``False`` for caches).
    ``overwrite=False``: :class:`OutputExistsError` when ``path`` exists, even if it appears meanwhile.
    The file gets the permissions a plain ``open(path, "w")`` would give. The folder must exist."""
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(temporary, _file_mode(path))
        if overwrite:
            os.replace(temporary, path)
        else:
            _move_no_replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    if sync:
        try:  # make the rename itself durable
            directory = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError:
            pass
    return path


def _move_no_replace(temporary: str, path: Path) -> None:
    """Rename ``temporary`` to ``path`` unless ``path`` exists (atomically where hard links work)."""
    try:
        os.link(temporary, path)  # fails with EEXIST if anything is at path, even a broken link
    except FileExistsError:
        raise _exists_error(path) from None
    except OSError:  # no hard links here (FAT, some network shares): check, then rename
        if os.path.lexists(path):
            raise _exists_error(path) from None
        os.replace(temporary, path)
        return
    os.unlink(temporary)


# ---------------------------------------------------------------------------------------------
# output folders


class OutputDirError(ValueError):
    """A folder that must receive files cannot be created or written to.

    ``str()`` is one line: the folder, why (``Permission denied``, ``Read-only file system``, ``it is
    a file``...) and the fix. A ``ValueError``, so ``colored``'s command line reports it as a usage
    error (exit status 2) without a traceback.
    """

    def __init__(self, path: str | Path, what: str, reason: str, fix: str) -> None:
        self.path = Path(path)
        self.what = what
        self.reason = reason
        self.fix = fix
        super().__init__(f"cannot write to {what} {self.path} ({reason}): {fix}")

    def __reduce__(self):  # keep it picklable (worker processes)
        return type(self), (self.path, self.what, self.reason, self.fix)


def _blocking_file(path: Path) -> Path | None:
    """The first existing non-folder on the way to ``path`` (``path`` itself or a parent), if any."""
    for candidate in [*reversed(path.parents), path]:
        if os.path.lexists(candidate) and not candidate.is_dir():
            return candidate
    return None


def ensure_writable_dir(
    path: str | Path, what: str = "the output folder", fix: str = "choose another folder"
) -> Path:
    """Create folder ``path`` (and its parents) if needed and prove it writable; return it.

    The proof is a hidden probe file created and removed in it, so it holds for read-only mounts,
    permissions, ACLs and root alike. Call it *before* long work whose results go there. Raises
    :class:`OutputDirError` naming ``what`` (e.g. ``"the output folder"``), the path, the reason
    and ``fix`` (e.g. ``"choose another --out"``)::

        cannot write to the output folder runs/eval (Permission denied): choose another --out
    """
    path = Path(path).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        descriptor, probe = tempfile.mkstemp(dir=path, prefix=".colored-write-test-", suffix=".tmp")
        os.close(descriptor)
        os.unlink(probe)
    except (FileExistsError, NotADirectoryError) as error:
        blocker = _blocking_file(path)
        if blocker is None:
            reason = error.strerror or type(error).__name__
        elif blocker == path:
            reason = (
                "it exists and is a file"
                if path.exists()
                else "a broken symbolic link is in the way"
            )
        else:
            reason = f"{blocker} is a file, not a folder"
        raise OutputDirError(path, what, reason, fix) from None
    except OSError as error:  # PermissionError, EROFS, ENOSPC, EDQUOT, ...
        raise OutputDirError(
            path, what, error.strerror or f"{type(error).__name__}: {error}", fix
        ) from None
    return path


def _file_mode(path: Path) -> int:
    """The permissions a plain ``open(path, "w")`` would give (mkstemp makes files 0600)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        pass
    umask = 0o022
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                umask = int(line.split()[1], 8)
                break
    except (OSError, ValueError):
        pass
    return 0o666 & ~umask
