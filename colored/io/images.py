"""Reading and writing photos: robust decoding into arrays, atomic encoding back to files.

:func:`read_image` turns *any* file a user may point the colorizer at into a :class:`DecodedImage`,
or raises one exception type, :class:`ImageReadError`, whose message names the file, says what is
wrong with it and what to do about it. Nothing else escapes (except ``KeyboardInterrupt`` and the
like), so a batch job can report a bad file and go on with the next one.

What is accepted (everything Pillow decodes, by content, not by extension):

- JPEG, PNG, TIFF, BMP, WebP, GIF, MPO, ... ; animated GIF / PNG / WebP and multi-page TIFF → the
  first frame;
- EXIF orientation is applied (a portrait photo shot with a rotated camera comes out upright); a
  corrupt EXIF block is ignored rather than fatal;
- modes ``1``, ``L``, ``LA``/``La``, ``P`` (with or without transparency), ``PA``, ``RGB``,
  ``RGBA``/``RGBa``, ``RGBX``, ``CMYK`` (naive conversion, ICC profiles are not applied: only the
  lightness matters for colorization), ``YCbCr``, ``LAB``, ``HSV``;
- 16-bit gray (``I;16``, ``I;16B``, ``I;16L``) keeps its 16 bits; 32-bit ``I`` whose values fit
  0..65535 is taken as 16-bit, anything else is stretched min..max to 16 bits; ``F`` (float) is
  taken as [0, 1], [0, 255] or [0, 65535] by its range, else stretched min..max;
- 16-bit RGB(A) TIFF keeps its 16 bits when ``tifffile`` (a scikit-image dependency) is present;
  Pillow itself reduces 16-bit RGB (TIFF and 48-bit PNG) to 8 bits, which is what happens to
  48-bit PNGs: 8 bits of lightness (steps of ~0.4 L) are plenty for colorization;
- transparency (alpha channel, palette transparency, ``tRNS``) is returned as ``alpha``.

What is refused, with the reason: missing files, broken symbolic links, directories, FIFOs and
other non-regular files, unreadable files (permissions), empty files, files that are not images
(text, HTML pages saved as ``.jpg``, PDF, SVG, HEIC without a plugin, random bytes), truncated or
corrupt image data, decompression bombs (more than :data:`MAX_PIXELS` pixels), absurd dimensions
(a side over :data:`MAX_SIDE`, or an aspect ratio beyond :data:`MAX_ASPECT_RATIO`:1).

:func:`write_image` picks the format from the file's suffix and writes atomically: a temporary file
in the same folder is written, flushed, fsynced and then renamed over the target, so a crash or an
encoder error never leaves a half-written file, and never damages a file already there. Output is
always 8 bits per channel (Pillow cannot write 16-bit RGB, and the colorized result is 8-bit).
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Limits of what read_image accepts (module attributes, so tests and callers may change them).
MAX_PIXELS = 100_000_000  # ~ a 12 000 × 8 000 photo: far beyond any camera; decoding needs > 1 GB
MAX_SIDE = 65_535  # JPEG's own limit; no real photo is longer on one side
MAX_ASPECT_RATIO = 100  # 100:1 (panoramas are ~10:1); beyond that the colorizer sees a line

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

_GRAY_16_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
_ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")
_ORIENTATION_TAG = 0x0112


class ImageReadError(ValueError):
    """A file could not be decoded as an image. ``str()`` names the file, the reason and the fix."""

    def __init__(self, path: str | Path, reason: str, hint: str | None = None) -> None:
        self.path = Path(path)
        self.reason = reason
        self.hint = hint
        message = f"{self.path}: {reason}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)

    def __reduce__(self):  # keep it picklable (worker processes)
        return type(self), (self.path, self.reason, self.hint)


@dataclass
class DecodedImage:
    """A decoded photo, upright (EXIF orientation applied).

    ``rgb`` is ``(H, W, 3)`` uint8, uint16 (16-bit sources) or float32 in [0, 1] (float sources):
    every form :func:`colored.color.to_float_rgb` accepts. ``alpha`` is ``(H, W)`` of the same
    dtype, or ``None`` when the image is opaque.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    bit_depth: int = 8  # bits per channel of the source: 1, 8, 16 or 32 (float / int32)
    mode: str = "RGB"  # Pillow mode of the source, before conversion
    format: str | None = None  # Pillow format name (``"JPEG"``, ``"PNG"``...), None for arrays
    path: Path | None = None
    n_frames: int = 1  # frames / pages in the source; only the first is decoded
    notes: list[str] = field(default_factory=list)  # harmless oddities (e.g. a corrupt EXIF block)

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``, Pillow's order."""
        return self.width, self.height

    @property
    def is_gray(self) -> bool:
        """Whether the source had no colour channels at all."""
        return self.mode in ("1", "L", "LA", "La", "I", "F") + _GRAY_16_MODES

    def float_rgb(self) -> np.ndarray:
        from colored.color import to_float_rgb

        return to_float_rgb(self.rgb)

    def alpha_uint8(self) -> np.ndarray | None:
        """Alpha as uint8 (what the 8-bit writers want), or None."""
        return None if self.alpha is None else to_uint8(self.alpha)


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
# reading


def read_rgb(path: str | Path) -> np.ndarray:
    """Decode an image file to an ``(H, W, 3)`` uint8 RGB array, honouring EXIF orientation.

    Alpha is dropped (not composited), 16-bit sources are rounded to 8 bits. Raises
    :class:`ImageReadError` for anything that is not a readable image.
    """
    return to_uint8(read_image(path).rgb)


def read_image(path: str | Path) -> DecodedImage:
    """Decode the first frame of an image file, upright, with its alpha and bit depth.

    Raises :class:`ImageReadError` (a ``ValueError``) for every kind of failure; see the module
    docstring for what is accepted and refused.
    """
    path = Path(path)
    _check_file(path)
    try:
        handle = _open_binary(path)
    except PermissionError:
        raise ImageReadError(
            path,
            "permission denied",
            "make the file readable, e.g. chmod u+r, or copy it somewhere readable",
        ) from None
    except OSError as error:
        raise ImageReadError(
            path,
            f"cannot open the file ({error.strerror or error})",
            "check that the file is readable and the disk is mounted",
        ) from None
    with handle, warnings.catch_warnings(record=True) as caught:
        # Pillow warns about corrupt EXIF etc.: keep those as notes, not console noise. Our own
        # MAX_PIXELS check replaces its DecompressionBombWarning; its hard error still applies.
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(handle)
        except Image.DecompressionBombError as error:
            raise _bomb_error(path, _pillow_bomb_size(str(error))) from None
        except UnidentifiedImageError:
            reason, hint = _describe_unknown(path, handle)
            raise ImageReadError(path, reason, hint) from None
        except Exception as error:  # noqa: BLE001 - Pillow raises anything on corrupt headers
            raise _corrupt_error(path, error) from None
        with image:
            _check_size(path, image.size)
            try:
                decoded = decode_pil(image, path=path)
            except Exception as error:  # noqa: BLE001
                raise _corrupt_error(path, error) from None
        decoded.notes.extend(str(w.message) for w in caught)
        return decoded


def _open_binary(path: Path):
    """``open(path, "rb")``; a separate function so tests can simulate permission errors as root."""
    return open(path, "rb")


def _check_file(path: Path) -> None:
    """Refuse what is not a regular, non-empty file before opening it (a FIFO would block)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise ImageReadError(
                path,
                f"broken symbolic link (points to {os.readlink(path)!r}, which does not exist)",
                "fix or remove the link",
            ) from None
        raise ImageReadError(path, "no such file", "check the path and its spelling") from None
    except PermissionError:
        raise ImageReadError(
            path,
            "permission denied (cannot even look at the file)",
            "check the permissions of the folders above it",
        ) from None
    except OSError as error:  # ELOOP, ENAMETOOLONG, ...
        raise ImageReadError(
            path,
            f"cannot access the file ({error.strerror or error})",
            "check the path; a symbolic link may point to itself",
        ) from None
    if stat.S_ISDIR(info.st_mode):
        raise ImageReadError(
            path,
            "is a directory, not an image file",
            "pass the folder itself to process the images inside it",
        )
    if not stat.S_ISREG(info.st_mode):
        kind = (
            "a FIFO (named pipe)"
            if stat.S_ISFIFO(info.st_mode)
            else "a socket"
            if stat.S_ISSOCK(info.st_mode)
            else "a device"
            if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
            else "a special file"
        )
        raise ImageReadError(
            path, f"not a regular file ({kind})", "only image files can be decoded"
        )
    if info.st_size == 0:
        raise ImageReadError(
            path, "empty file (0 bytes)", "the copy or download did not finish; get the file again"
        )


def _check_size(path: Path, size: tuple[int, int]) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise ImageReadError(
            path,
            f"invalid dimensions {width}×{height}",
            "the file header is corrupt: get or export the image again",
        )
    if width * height > MAX_PIXELS:
        raise _bomb_error(path, f"{width}×{height} = {width * height:,} pixels")
    if max(width, height) > MAX_SIDE:
        raise ImageReadError(
            path,
            f"absurd dimensions {width}×{height} (a side longer than {MAX_SIDE:,} pixels)",
            "crop or resize the image first",
        )
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise ImageReadError(
            path,
            f"absurd dimensions {width}×{height} (aspect ratio beyond {MAX_ASPECT_RATIO}:1)",
            "crop the image to a photo-like shape first",
        )


def _pillow_bomb_size(message: str) -> str:
    match = re.search(r"\((\d+) pixels\)", message)
    return f"{int(match.group(1)):,} pixels" if match else "the declared size"


def _bomb_error(path: Path, detail: str) -> ImageReadError:
    return ImageReadError(
        path,
        f"decompression bomb: {detail} is more than the limit of {MAX_PIXELS:,} pixels",
        "if the image is genuine, downscale it first, or raise colored.io.images.MAX_PIXELS",
    )


def _corrupt_error(path: Path, error: BaseException) -> ImageReadError:
    text = str(error) or type(error).__name__
    if isinstance(error, MemoryError):
        return ImageReadError(
            path, "not enough memory to decode the image", "downscale it first or free memory"
        )
    if isinstance(error, ImageReadError):
        return error
    if isinstance(error, Image.DecompressionBombError):
        return _bomb_error(path, _pillow_bomb_size(text))
    lowered = text.lower()
    if "truncated" in lowered or isinstance(error, EOFError) or "premature end" in lowered:
        return ImageReadError(
            path,
            f"truncated image data ({text})",
            "the file is incomplete: copy or download it again",
        )
    return ImageReadError(
        path,
        f"corrupt image data ({type(error).__name__}: {text})",
        "the file is damaged; re-export it or get it again",
    )


_SIGNATURES = (
    (b"\x89PNG", "PNG"),
    (b"\xff\xd8", "JPEG"),
    (b"GIF8", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"RIFF", "RIFF/WebP"),
)


def _describe_unknown(path: Path, handle) -> tuple[str, str]:
    """Say what an unidentified file looks like: ``(reason, hint)`` for the error message."""
    try:
        handle.seek(0)
        head = handle.read(1024)
    except OSError:
        head = b""
    named = f"named {path.suffix} but " if path.suffix else ""
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    convert = "convert it to PNG or JPEG first"
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return (
                f"corrupt image header (starts like a {kind} file but cannot be parsed)",
                "the file is damaged or truncated: get or export it again",
            )
    if stripped.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return (
            named + "an HTML page, not an image",
            "often a failed or redirected download: download it again",
        )
    if stripped.startswith(b"<?xml") or b"<svg" in stripped[:256]:
        return named + "an SVG/XML file: vector images are not supported", convert
    if head.startswith(b"%PDF"):
        return named + "a PDF document, not an image", "export the page to PNG or JPEG first"
    if head[4:8] == b"ftyp" and head[8:12] in (
        b"heic",
        b"heix",
        b"hevc",
        b"heim",
        b"heis",
        b"mif1",
        b"msf1",
        b"avif",
    ):
        return (
            named + f"a {head[8:12].decode()} (HEIF/AVIF) file, which this Pillow cannot decode",
            convert,
        )
    if head.startswith((b"PK\x03\x04", b"\x1f\x8b", b"7z\xbc\xaf", b"Rar!")):
        return named + "an archive (zip/gzip/7z/rar), not an image", "extract it first"
    if head and _looks_like_text(head):
        return named + "a text file, not an image", "point to the photo itself"
    return (
        named
        + f"not a recognised image format (starts with bytes {head[:8].hex(' ') or 'nothing'})",
        "supported: "
        + ", ".join(e[1:] for e in IMAGE_EXTENSIONS)
        + " and other formats Pillow reads",
    )


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return printable >= 0.95 * len(text)


def decode_pil(image: Image.Image, *, path: str | Path | None = None) -> DecodedImage:
    """Convert an opened Pillow image (its first frame, upright) to a :class:`DecodedImage`.

    Errors from Pillow propagate as they are; :func:`read_image` wraps them.
    """
    n_frames = int(getattr(image, "n_frames", 1) or 1)
    if n_frames > 1:
        image.seek(0)
    fmt = image.format
    _unpack_raw_ycbcr_tiff(image)
    source_mode = image.mode
    image.load()  # decode now: truncated or corrupt data fails here
    notes: list[str] = []
    orientation = 1
    try:
        orientation = int(image.getexif().get(_ORIENTATION_TAG, 1) or 1)
    except Exception as error:  # noqa: BLE001 - a corrupt EXIF block must not lose the photo
        notes.append(f"EXIF ignored ({error})")

    tiff16 = _read_tiff16(image, path) if fmt == "TIFF" and path is not None else None
    if tiff16 is not None:
        rgb, alpha = tiff16
        return DecodedImage(
            _orient(rgb, orientation),
            None if alpha is None else _orient(alpha, orientation),
            16,
            source_mode,
            fmt,
            Path(path) if path else None,
            n_frames,
            notes,
        )

    if orientation != 1:
        try:
            image = ImageOps.exif_transpose(image)
        except Exception as error:  # noqa: BLE001
            notes.append(f"EXIF orientation ignored ({error})")
    mode = image.mode
    alpha = None
    if mode in _GRAY_16_MODES:
        gray = np.asarray(image).astype(np.uint16)  # big-endian modes → native uint16
        rgb, depth = _gray3(gray), 16
    elif mode == "I":
        gray, depth = _int_to_uint16(np.asarray(image)), 32
        rgb = _gray3(gray)
    elif mode == "F":
        rgb, depth = _gray3(_float_to_unit(np.asarray(image))), 32
    else:
        depth = 1 if mode == "1" else 8
        has_alpha = mode in _ALPHA_MODES or "transparency" in image.info
        if has_alpha:
            if mode == "La":
                image = image.convert("LA")
            rgba = np.asarray(image.convert("RGBA"))
            rgb, alpha = rgba[..., :3], rgba[..., 3]
            if alpha.min() == 255 and mode not in _ALPHA_MODES:
                alpha = None  # a tRNS colour that no pixel uses
        else:
            rgb = np.asarray(image.convert("RGB"))
    return DecodedImage(
        np.ascontiguousarray(rgb),
        None if alpha is None else np.ascontiguousarray(alpha),
        depth,
        source_mode,
        fmt,
        Path(path) if path else None,
        n_frames,
        notes,
    )


def _unpack_raw_ycbcr_tiff(image: Image.Image) -> None:
    """Make Pillow < 13 read an uncompressed YCbCr TIFF as Pillow 13 does.

    Pillow < 13 opens one as RGB and unpacks its 3-byte Y, Cb, Cr pixels as 4-byte RGBX, so a valid
    file (one Pillow itself wrote) fails with "image file is truncated". Pillow 13 opens it as YCbCr
    and unpacks it as such (python-pillow/Pillow#9779): do the same to the unloaded image. Compressed
    YCbCr TIFFs go through libtiff, which converts them to RGB on every version: left alone.
    """
    if image.format != "TIFF" or image.mode != "RGB" or getattr(image, "use_load_libtiff", True):
        return
    tags = image.tag_v2
    # Only the layout Pillow's "YCbCr" unpacker reads: 8-bit, interleaved, not subsampled (the TIFF
    # default for YCbCrSubSampling is 2, 2).
    if (
        tags.get(262) != 6
        or tags.get(277) != 3
        or tuple(tags.get(258, ())) != (8, 8, 8)
        or tags.get(284, 1) != 1
        or tuple(tags.get(530, (2, 2))) != (1, 1)
    ):
        return
    if not image.tile or any(tile[0] != "raw" or tile[3][0] != "RGBX" for tile in image.tile):
        return
    image.tile = [
        tile._replace(args=("YCbCr", *tile[3][1:]))
        if hasattr(tile, "_replace")  # Pillow >= 11
        else (*tile[:3], ("YCbCr", *tile[3][1:]))
        for tile in image.tile
    ]
    if isinstance(getattr(type(image), "mode", None), property):
        image._mode = "YCbCr"  # Pillow >= 10.1: a read-only property over _mode
    else:
        image.mode = "YCbCr"


def decode_array(array: np.ndarray) -> DecodedImage:
    """An in-memory image → :class:`DecodedImage`: ``(H, W)`` gray, ``(H, W, 1|2)`` gray (+ alpha),
    ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA; uint8, uint16 or float in [0, 1]."""
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    elif array.dtype not in (np.uint8, np.uint16):
        if not np.issubdtype(array.dtype, np.number):
            raise ValueError(f"expected a numeric image array, got dtype {array.dtype}")
        array = np.clip(np.nan_to_num(array.astype(np.float32)), 0.0, 1.0)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4) or 0 in array.shape:
        raise ValueError(
            f"expected an (H, W), (H, W, 1), (H, W, 2), (H, W, 3) or (H, W, 4) image array, "
            f"got shape {array.shape}"
        )
    channels = array.shape[-1]
    color = array[..., :3] if channels >= 3 else np.repeat(array[..., :1], 3, axis=-1)
    alpha = array[..., -1] if channels in (2, 4) else None
    depth = 8 if array.dtype == np.uint8 else 16 if array.dtype == np.uint16 else 32
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels]
    return DecodedImage(
        np.ascontiguousarray(color),
        None if alpha is None else np.ascontiguousarray(alpha),
        depth,
        mode,
        None,
    )


def _gray3(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=-1)


def _int_to_uint16(values: np.ndarray) -> np.ndarray:
    low, high = int(values.min()), int(values.max())
    if low >= 0 and high <= 65535:
        return values.astype(np.uint16)
    scaled = (values.astype(np.float64) - low) / max(high - low, 1) * 65535.0
    return np.round(scaled).astype(np.uint16)


def _float_to_unit(values: np.ndarray) -> np.ndarray:
    values = np.nan_to_num(values.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(values.min()), float(values.max())
    if low >= 0.0:
        for top in (1.0, 255.0, 65535.0):
            if high <= top:
                return values / np.float32(top)
    return (values - low) / np.float32(max(high - low, 1e-12))


def _read_tiff16(image: Image.Image, path) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Full 16-bit RGB(A) from a TIFF Pillow would cut to 8 bits, via tifffile; None otherwise."""
    if image.mode not in ("RGB", "RGBA"):
        return None
    try:
        bits = image.tag_v2.get(258)  # BitsPerSample
        bits = tuple(bits) if isinstance(bits, (tuple, list)) else (bits,)
        if not bits or any(b != 16 for b in bits):
            return None
        import tifffile

        data = tifffile.imread(path, key=0)
    except Exception:  # noqa: BLE001 - no tifffile, odd layout: fall back to Pillow's 8 bits
        return None
    if (
        data.dtype != np.uint16
        or data.ndim != 3
        or data.shape[-1] not in (3, 4)
        or data.shape[:2] != (image.size[1], image.size[0])
    ):
        return None
    return np.ascontiguousarray(data[..., :3]), (
        data[..., 3].copy() if data.shape[-1] == 4 else None
    )


def _orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) to an ``(H, W, ...)`` array, like ImageOps.exif_transpose."""
    if orientation in (2, 4, 5, 7):  # mirrored variants
        array = array[:, ::-1] if orientation in (2, 5, 7) else array[::-1]
        orientation = {2: 1, 4: 1, 5: 8, 7: 6}[orientation]
        if orientation == 1:
            return np.ascontiguousarray(array)
    if orientation == 3:
        array = array[::-1, ::-1]
    elif orientation == 6:
        array = np.rot90(array, k=-1)
    elif orientation == 8:
        array = np.rot90(array, k=1)
    return np.ascontiguousarray(array)


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
