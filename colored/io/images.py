"""Reading photos: robust decoding of any image file into arrays, or one clear error.

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
(a side over :data:`MAX_SIDE`, or an aspect ratio beyond :data:`MAX_ASPECT_RATIO`:1). The checks
that word those refusals are :mod:`colored.io.diagnose`'s.

Writing (:func:`~colored.io.files.write_image`, atomic) and output folders are :mod:`colored.io.files`'s.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from colored.io.diagnose import (
    bomb_problem,
    corrupt_problem,
    describe_unknown,
    file_problem,
    pillow_bomb_size,
    size_problem,
)
from colored.io.files import to_uint8

# Limits of what read_image accepts (module attributes, so tests and callers may change them).
MAX_PIXELS = 100_000_000  # ~ a 12 000 × 8 000 photo: far beyond any camera; decoding needs > 1 GB
MAX_SIDE = 65_535  # JPEG's own limit; no real photo is longer on one side
MAX_ASPECT_RATIO = 100  # 100:1 (panoramas are ~10:1); beyond that the colorizer sees a line

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
    problem = file_problem(path)
    if problem:
        raise ImageReadError(path, *problem)
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
            detail = pillow_bomb_size(str(error))
            raise ImageReadError(path, *bomb_problem(detail, MAX_PIXELS)) from None
        except UnidentifiedImageError:
            raise ImageReadError(path, *describe_unknown(path, handle)) from None
        except Exception as error:  # noqa: BLE001 - Pillow raises anything on corrupt headers
            raise _corrupt_error(path, error) from None
        with image:
            # The limits are looked up here, at call time: tests and callers change them here.
            problem = size_problem(image.size, MAX_PIXELS, MAX_SIDE, MAX_ASPECT_RATIO)
            if problem:
                raise ImageReadError(path, *problem)
            try:
                decoded = decode_pil(image, path=path)
            except Exception as error:  # noqa: BLE001
                raise _corrupt_error(path, error) from None
        decoded.notes.extend(str(w.message) for w in caught)
        return decoded


def _open_binary(path: Path):
    """``open(path, "rb")``; a separate function so tests can simulate permission errors as root."""
    return open(path, "rb")


def _corrupt_error(path: Path, error: BaseException) -> ImageReadError:
    """The error for an exception raised while decoding (one of ours passes through as it is)."""
    if isinstance(error, ImageReadError):
        return error
    return ImageReadError(path, *corrupt_problem(error, MAX_PIXELS))


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
