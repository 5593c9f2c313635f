"""Why a file is not a readable image, in one line: the checks behind ``ImageReadError``'s messages.

:func:`colored.io.images.read_image` asks these before and after Pillow opens a file: is it a
regular, non-empty file; are its dimensions sane; what does an unidentified file look like (an HTML
page, a PDF, an archive...); is a decoding failure a truncation, a corruption or a bomb. Each answer
is a ``(reason, hint)`` pair, or ``None`` when all is well. Raising is left to
:mod:`colored.io.images`, which owns :class:`~colored.io.images.ImageReadError` and the size limits:
those are passed in, read at call time there, because tests and callers change
``colored.io.images.MAX_PIXELS`` and its siblings.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from colored.io.files import IMAGE_EXTENSIONS

#: A problem with a file, for the error message: ``(reason, hint)``.
Problem = tuple[str, str]


def file_problem(path: Path) -> Problem | None:
    """What makes ``path`` not a regular, non-empty file, checked before opening it (a FIFO would
    block); ``None`` when it is one."""
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            return (
                f"broken symbolic link (points to {os.readlink(path)!r}, which does not exist)",
                "fix or remove the link",
            )
        return "no such file", "check the path and its spelling"
    except PermissionError:
        return (
            "permission denied (cannot even look at the file)",
            "check the permissions of the folders above it",
        )
    except OSError as error:  # ELOOP, ENAMETOOLONG, ...
        return (
            f"cannot access the file ({error.strerror or error})",
            "check the path; a symbolic link may point to itself",
        )
    if stat.S_ISDIR(info.st_mode):
        return (
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
        return f"not a regular file ({kind})", "only image files can be decoded"
    if info.st_size == 0:
        return (
            "empty file (0 bytes)",
            "the copy or download did not finish; get the file again",
        )
    return None


def size_problem(
    size: tuple[int, int], max_pixels: int, max_side: int, max_aspect_ratio: float
) -> Problem | None:
    """What is wrong with the dimensions ``(width, height)`` of an image header, given the limits;
    ``None`` when they are fine."""
    width, height = size
    if width < 1 or height < 1:
        return (
            f"invalid dimensions {width}×{height}",
            "the file header is corrupt: get or export the image again",
        )
    if width * height > max_pixels:
        return bomb_problem(f"{width}×{height} = {width * height:,} pixels", max_pixels)
    if max(width, height) > max_side:
        return (
            f"absurd dimensions {width}×{height} (a side longer than {max_side:,} pixels)",
            "crop or resize the image first",
        )
    if max(width, height) > max_aspect_ratio * min(width, height):
        return (
            f"absurd dimensions {width}×{height} (aspect ratio beyond {max_aspect_ratio}:1)",
            "crop the image to a photo-like shape first",
        )
    return None


def pillow_bomb_size(message: str) -> str:
    """The pixel count in Pillow's ``DecompressionBombError`` message, for ours."""
    match = re.search(r"\((\d+) pixels\)", message)
    return f"{int(match.group(1)):,} pixels" if match else "the declared size"


def bomb_problem(detail: str, max_pixels: int) -> Problem:
    """A decompression bomb: ``detail`` is its size (e.g. ``"20000×20000 = 400,000,000 pixels"``)."""
    return (
        f"decompression bomb: {detail} is more than the limit of {max_pixels:,} pixels",
        "if the image is genuine, downscale it first, or raise colored.io.images.MAX_PIXELS",
    )


def corrupt_problem(error: BaseException, max_pixels: int) -> Problem:
    """What an exception raised while decoding says about the file: out of memory, a bomb,
    truncated data or otherwise corrupt data."""
    text = str(error) or type(error).__name__
    if isinstance(error, MemoryError):
        return "not enough memory to decode the image", "downscale it first or free memory"
    if isinstance(error, Image.DecompressionBombError):
        return bomb_problem(pillow_bomb_size(text), max_pixels)
    lowered = text.lower()
    if "truncated" in lowered or isinstance(error, EOFError) or "premature end" in lowered:
        return (
            f"truncated image data ({text})",
            "the file is incomplete: copy or download it again",
        )
    return (
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


def describe_unknown(path: Path, handle: BinaryIO) -> Problem:
    """Say what a file Pillow could not identify looks like, from its first bytes (``handle`` is
    the open file)."""
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
