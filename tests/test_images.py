"""colored.io.images (and the diagnose and files modules beside it): every supported mode / bit depth /
format decodes, EXIF orientation is applied, alpha survives, writes are atomic, and every kind of bad
file raises one clear ImageReadError."""

from __future__ import annotations

import io
import os
import stat
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from colored.io import files as fileio
from colored.io import images as imageio
from colored.io.files import write_image
from colored.io.images import DecodedImage, ImageReadError, read_image, read_rgb

RNG = np.random.default_rng(7)
PHOTO = (RNG.random((24, 40, 3)) * 255).astype(np.uint8)  # H=24, W=40: not square, on purpose


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_file(
    width: int, height: int, *, bit_depth: int = 8, color_type: int = 2, rows: bytes = b""
) -> bytes:
    """A hand-made PNG: any header (even a lying one) and raw scanlines."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(rows))
        + _png_chunk(b"IEND", b"")
    )


def encoded(array: np.ndarray, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **options)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# formats, modes, bit depths


@pytest.mark.parametrize(
    "suffix, lossless",
    [
        (".png", True),
        (".bmp", True),
        (".tif", True),
        (".tiff", True),
        (".webp", False),
        (".jpg", False),
        (".JPEG", False),
        (".gif", False),
    ],
)
def test_every_format_decodes_to_rgb_of_the_right_size(tmp_path, suffix, lossless):
    path = tmp_path / f"photo{suffix}"
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}.get(
        suffix.lower(), suffix[1:].upper()
    )
    Image.fromarray(PHOTO).save(path, format=fmt)
    decoded = read_image(path)
    assert decoded.rgb.shape == PHOTO.shape, (
        f"{suffix}: shape {decoded.rgb.shape}, expected {PHOTO.shape}"
    )
    assert decoded.rgb.dtype == np.uint8 and decoded.bit_depth == 8 and decoded.alpha is None
    if lossless:
        np.testing.assert_array_equal(
            decoded.rgb, PHOTO, err_msg=f"{suffix} is lossless but pixels changed"
        )
    assert read_rgb(path).shape == PHOTO.shape


def test_format_is_detected_by_content_not_by_extension(tmp_path):
    path = tmp_path / "really_a_png.jpg"
    path.write_bytes(encoded(PHOTO, "PNG"))
    decoded = read_image(path)
    assert decoded.format == "PNG"
    np.testing.assert_array_equal(decoded.rgb, PHOTO)


def _gray_reference(mode_image: Image.Image) -> np.ndarray:
    return np.asarray(mode_image.convert("L"))


@pytest.mark.parametrize(
    "mode, suffix",
    [
        ("1", ".png"),
        ("L", ".png"),
        ("P", ".png"),
        ("RGB", ".png"),
        ("CMYK", ".jpg"),
        ("CMYK", ".tif"),
        ("YCbCr", ".tif"),
        ("LAB", ".tif"),
    ],
)
def test_8bit_modes_become_rgb(tmp_path, mode, suffix):
    source = Image.fromarray(PHOTO).convert(mode)
    path = tmp_path / f"x{suffix}"
    source.save(path)
    decoded = read_image(path)
    assert decoded.mode == mode, f"source mode recorded as {decoded.mode}, expected {mode}"
    assert (
        decoded.rgb.shape == PHOTO.shape and decoded.rgb.dtype == np.uint8 and decoded.alpha is None
    )
    # Pillow's RGB of what the file holds: the source's own pixels where the format is lossless (Pillow < 13
    # cannot read the uncompressed YCbCr TIFF back itself, read_image can), the file's where it is not.
    reference = Image.open(path) if suffix == ".jpg" else source
    expected = np.asarray(reference.convert("RGB")).astype(int)
    assert np.abs(decoded.rgb.astype(int) - expected).max() <= 1, (
        f"mode {mode}: colours differ from Pillow's RGB"
    )
    if mode in ("1", "L"):
        assert decoded.is_gray and np.ptp(decoded.rgb, axis=-1).max() == 0, (
            "gray input must give R = G = B"
        )


@pytest.mark.parametrize("compression, opened_as", [("raw", "YCbCr"), ("tiff_lzw", "RGB")])
def test_ycbcr_tiff_decodes_alike_on_every_pillow(tmp_path, compression, opened_as):
    """Every Pillow writes the same YCbCr TIFF (photometric 6, subsampling 1, 1). Uncompressed, Pillow >= 13
    reads it as YCbCr and older ones fail (read_image makes them read it as 13 does); compressed, libtiff
    converts it to RGB on every version."""
    source = Image.fromarray(PHOTO).convert("YCbCr")
    path = tmp_path / "ycbcr.tif"
    source.save(path, compression=compression)
    with Image.open(path) as written:
        assert (written.tag_v2[262], tuple(written.tag_v2[530])) == (6, (1, 1)), (
            "not a 4:4:4 YCbCr TIFF"
        )
    decoded = read_image(path)
    assert decoded.mode == opened_as
    difference = np.abs(
        decoded.rgb.astype(int) - np.asarray(source.convert("RGB")).astype(int)
    ).max()
    assert difference <= 1, (
        f"{compression} YCbCr TIFF: colours differ from Pillow's YCbCr -> RGB by {difference}"
    )


def test_16bit_gray_png_keeps_16_bits(tmp_path):
    gray = (np.arange(24 * 40).reshape(24, 40) * 61).astype(np.uint16)  # values up to ~58 000
    path = tmp_path / "gray16.png"
    Image.fromarray(gray).save(path)
    assert Image.open(path).mode == "I;16"
    decoded = read_image(path)
    assert decoded.rgb.dtype == np.uint16 and decoded.bit_depth == 16
    for channel in range(3):
        np.testing.assert_array_equal(
            decoded.rgb[..., channel], gray, err_msg="16-bit values were not kept"
        )
    eight = read_rgb(path)  # the 8-bit view scales, it does not clip at 255 (Pillow's convert does)
    assert eight.dtype == np.uint8 and eight.max() == round(int(gray.max()) * 255 / 65535)


def test_16bit_big_endian_and_32bit_int_gray(tmp_path):
    gray = (np.arange(24 * 40).reshape(24, 40) * 50).astype(np.uint16)
    big = Image.frombytes("I;16B", (40, 24), gray.astype(">u2").tobytes())
    big.save(tmp_path / "be.tif")
    decoded = read_image(tmp_path / "be.tif")
    np.testing.assert_array_equal(
        decoded.rgb[..., 0], gray, err_msg="I;16B byte order was not handled"
    )
    Image.fromarray(gray.astype(np.int32)).save(
        tmp_path / "i32.tif"
    )  # mode I, values within 16 bits
    np.testing.assert_array_equal(read_image(tmp_path / "i32.tif").rgb[..., 1], gray)
    wide = Image.fromarray((gray.astype(np.int32) - 30_000) * 3)  # negative and > 65535: stretched
    wide.save(tmp_path / "wide.tif")
    stretched = read_image(tmp_path / "wide.tif").rgb[..., 0]
    assert stretched.min() == 0 and stretched.max() == 65535


@pytest.mark.parametrize("scale", [1.0, 255.0, 65535.0, -3.0])
def test_float_gray_is_mapped_to_unit_range(tmp_path, scale):
    values = np.linspace(0, 1, 24 * 40, dtype=np.float32).reshape(24, 40) * scale
    Image.fromarray(values, mode="F").save(tmp_path / "f.tif")
    rgb = read_image(tmp_path / "f.tif").rgb
    assert rgb.dtype == np.float32 and rgb.min() >= 0 and rgb.max() <= 1
    expected = np.linspace(0, 1, 24 * 40).reshape(24, 40)
    if scale < 0:  # out of every known range: stretched min..max
        expected = (values - values.min()) / (values.max() - values.min())
    np.testing.assert_allclose(rgb[..., 2], expected, atol=1e-5)


def test_16bit_rgb_tiff_keeps_16_bits_and_48bit_png_is_read(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    rgb16 = (RNG.random((24, 40, 3)) * 65535).astype(np.uint16)
    tifffile.imwrite(tmp_path / "rgb16.tif", rgb16, photometric="rgb")
    decoded = read_image(tmp_path / "rgb16.tif")
    assert decoded.bit_depth == 16 and decoded.rgb.dtype == np.uint16
    np.testing.assert_array_equal(decoded.rgb, rgb16, err_msg="16-bit RGB TIFF lost precision")
    rgba16 = (RNG.random((24, 40, 4)) * 65535).astype(np.uint16)
    tifffile.imwrite(tmp_path / "rgba16.tif", rgba16, photometric="rgb", extrasamples=[2])
    decoded = read_image(tmp_path / "rgba16.tif")
    np.testing.assert_array_equal(decoded.alpha, rgba16[..., 3], err_msg="16-bit alpha lost")
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in rgb16)
    (tmp_path / "rgb48.png").write_bytes(png_file(40, 24, bit_depth=16, color_type=2, rows=rows))
    decoded = read_image(
        tmp_path / "rgb48.png"
    )  # Pillow reads 48-bit PNG as 8-bit RGB (documented)
    assert decoded.rgb.shape == (24, 40, 3)
    assert np.abs(decoded.rgb.astype(int) - (rgb16 >> 8)).max() <= 1


# ---------------------------------------------------------------------------------------------
# transparency


def test_rgba_alpha_is_kept_and_written_back(tmp_path):
    alpha = np.tile(np.linspace(0, 255, 40).astype(np.uint8), (24, 1))
    Image.fromarray(np.dstack([PHOTO, alpha]), "RGBA").save(tmp_path / "a.png")
    decoded = read_image(tmp_path / "a.png")
    np.testing.assert_array_equal(decoded.alpha, alpha, err_msg="RGBA alpha was not returned")
    np.testing.assert_array_equal(decoded.rgb, PHOTO)
    for suffix in (".png", ".tif", ".webp"):
        out = write_image(tmp_path / f"out{suffix}", decoded.rgb, decoded.alpha)
        back = read_image(out)
        assert back.alpha is not None, f"{suffix} must keep alpha"
        assert np.abs(back.alpha.astype(int) - alpha).max() <= 2, f"{suffix} alpha changed"
    jpeg = read_image(write_image(tmp_path / "out.jpg", decoded.rgb, decoded.alpha))
    assert jpeg.alpha is None and jpeg.rgb.shape == PHOTO.shape, "JPEG gets RGB only"


def test_gray_alpha_and_palette_transparency(tmp_path):
    gray = np.asarray(Image.fromarray(PHOTO).convert("L"))
    alpha = np.full((24, 40), 128, np.uint8)
    Image.fromarray(np.dstack([gray, alpha]), "LA").save(tmp_path / "la.png")
    decoded = read_image(tmp_path / "la.png")
    np.testing.assert_array_equal(decoded.rgb[..., 0], gray)
    np.testing.assert_array_equal(decoded.alpha, alpha, err_msg="LA alpha lost")
    palette = Image.fromarray(PHOTO).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    index = np.asarray(palette)[0, 0]
    palette.save(tmp_path / "p.png", transparency=int(index))
    decoded = read_image(tmp_path / "p.png")
    assert decoded.mode == "P" and decoded.alpha is not None, (
        "palette transparency must become alpha"
    )
    assert decoded.alpha[0, 0] == 0 and (decoded.alpha == 255).any()
    palette.save(tmp_path / "opaque_p.png")
    assert read_image(tmp_path / "opaque_p.png").alpha is None


# ---------------------------------------------------------------------------------------------
# EXIF orientation, frames


def _with_orientation(path: Path, array: np.ndarray, orientation: int, fmt: str = "JPEG") -> None:
    image = Image.fromarray(array)
    exif = image.getexif()
    exif[0x0112] = orientation
    image.save(path, format=fmt, exif=exif, **({"quality": 100} if fmt == "JPEG" else {}))


def test_exif_orientation_6_rotates_to_portrait(tmp_path):
    marked = np.zeros((24, 40, 3), np.uint8)
    marked[:4, :4] = 255  # a white block at the stored top-left corner
    _with_orientation(tmp_path / "rot.png", marked, 6, "PNG")
    decoded = read_image(tmp_path / "rot.png")
    assert decoded.rgb.shape == (40, 24, 3), (
        f"orientation 6 must rotate to portrait, got {decoded.rgb.shape}"
    )
    assert decoded.rgb[:4, -4:].min() == 255, (
        "stored top-left must end up top-right after a 90° clockwise turn"
    )
    _with_orientation(tmp_path / "rot.jpg", marked, 6)
    assert read_image(tmp_path / "rot.jpg").rgb.shape == (40, 24, 3)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillow(tmp_path, orientation):
    path = tmp_path / f"o{orientation}.png"
    _with_orientation(path, PHOTO, orientation, "PNG")
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    np.testing.assert_array_equal(read_image(path).rgb, expected)
    # the numpy path used for 16-bit TIFFs must agree with Pillow as well
    np.testing.assert_array_equal(
        imageio._orient(PHOTO, orientation),
        expected,
        err_msg=f"_orient({orientation}) disagrees with ImageOps.exif_transpose",
    )


def test_animated_gif_gives_the_first_frame(tmp_path):
    frames = [
        Image.new("RGB", (40, 24), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))
    ]
    frames[0].save(
        tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=50, loop=0
    )
    decoded = read_image(tmp_path / "anim.gif")
    assert decoded.n_frames == 3
    assert tuple(decoded.rgb[5, 5]) == (255, 0, 0), "the first frame (red) must be decoded"


# ---------------------------------------------------------------------------------------------
# writing


def test_write_image_chooses_format_from_suffix(tmp_path):
    for suffix, fmt in (
        (".jpg", "JPEG"),
        (".JPEG", "JPEG"),
        (".png", "PNG"),
        (".tiff", "TIFF"),
        (".webp", "WEBP"),
        (".bmp", "BMP"),
        (".gif", "GIF"),
    ):
        path = write_image(tmp_path / "sub" / f"out{suffix}", PHOTO)
        with Image.open(path) as image:
            assert image.format == fmt, f"{suffix} was written as {image.format}"
            assert image.size == (40, 24)
    with pytest.raises(ValueError, match=r"\.xyz"):
        write_image(tmp_path / "out.xyz", PHOTO)
    uint16 = PHOTO.astype(np.uint16) * 257
    np.testing.assert_array_equal(
        read_rgb(write_image(tmp_path / "16.png", uint16)),
        PHOTO,
        err_msg="16-bit arrays are written as 8-bit",
    )
    np.testing.assert_array_equal(read_rgb(write_image(tmp_path / "f.png", PHOTO / 255.0)), PHOTO)


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path):
    target = tmp_path / "out.png"
    write_image(target, PHOTO)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"], (
        "a temporary file was left behind"
    )
    mode = stat.S_IMODE(target.stat().st_mode)
    assert mode & 0o044, (
        f"output must be readable like a normal file, got {oct(mode)} (mkstemp's 0600?)"
    )


def test_failed_write_keeps_the_old_file_intact(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    write_image(target, PHOTO)
    before = target.read_bytes()

    def broken_save(self, fp, format=None, **params):  # writes half a file, then dies
        fp.write(before[: len(before) // 2])
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        write_image(target, 255 - PHOTO)
    assert target.read_bytes() == before, "the existing file was damaged by a failed write"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"], (
        "the partial temporary file was left"
    )


def test_to_uint8_rounds_to_the_nearest_level_for_every_dtype():
    every16 = np.arange(65536, dtype=np.uint16)
    exact = np.floor(every16.astype(np.float64) / 257 + 0.5).astype(
        np.uint8
    )  # v * 255 / 65535 = v / 257
    assert np.array_equal(fileio.to_uint8(every16), exact), (
        "uint16 must round to the nearest 8-bit level"
    )
    every8 = np.arange(256, dtype=np.uint8)
    assert fileio.to_uint8(every8) is every8, "uint8 passes through untouched"
    assert np.array_equal(fileio.to_uint8(every8.astype(np.uint16) * 257), every8), (
        "8 → 16 → 8 bits must be exact"
    )
    assert np.array_equal(fileio.to_uint8(every8.astype(np.float32) / 255), every8), (
        "8 bits → float → 8 bits"
    )
    # float: clipped, NaN → 0, nearest level, exact halves to even (numpy's rint, like np.round)
    values = np.array([-0.5, 0.0, 0.3 / 255, 0.7 / 255, 0.5, 1.0, 7.0, np.nan], np.float32)
    assert fileio.to_uint8(values).tolist() == [0, 0, 0, 1, 128, 255, 255, 0]
    halves = (
        np.array([0.5, 1.5, 2.5, 253.5], np.float64) / 255
    )  # exact halves after * 255 in float32
    assert (
        fileio.to_uint8(halves).tolist()
        == np.rint(halves.astype(np.float32) * np.float32(255)).astype(np.uint8).tolist()
    )
    from colored import metrics

    assert metrics.to_uint8 is fileio.to_uint8, (
        "metrics must use the package's one 8-bit conversion"
    )


def test_atomic_write_bytes_and_text(tmp_path):
    target = tmp_path / "deep" / "file.bin"
    assert fileio.atomic_write_bytes(target, b"first") == target and target.read_bytes() == b"first"
    fileio.atomic_write_text(target, "second ✓")
    assert target.read_text(encoding="utf-8") == "second ✓"
    fileio.atomic_write_bytes(target, b"cache", sync=False)
    assert target.read_bytes() == b"cache"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.bin"], (
        "a temporary file was left behind"
    )


def test_decode_array_shapes():
    assert imageio.decode_array(PHOTO[..., 0]).rgb.shape == (24, 40, 3)
    rgba = imageio.decode_array(np.dstack([PHOTO, PHOTO[..., :1]]))
    assert rgba.alpha is not None and rgba.alpha.shape == (24, 40)
    assert imageio.decode_array(PHOTO / 255.0).rgb.dtype == np.float32
    with pytest.raises(ValueError, match="shape"):
        imageio.decode_array(np.zeros((4, 4, 5)))


# ---------------------------------------------------------------------------------------------
# bad input: each case builds its file and names a word the reason must contain


def _noise_bytes(fmt: str) -> bytes:
    return encoded((RNG.random((64, 64, 3)) * 255).astype(np.uint8), fmt)


def _symlink(path: Path, target: Path) -> Path:
    os.symlink(target, path)
    return path


def _fifo(path: Path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    os.mkfifo(path)
    return path


def _write(name: str, data: bytes):
    def build(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(data)
        return path

    return build


def _truncated(fmt: str, name: str):
    data = _noise_bytes(fmt)
    return _write(name, data[: len(data) // 2])


def _corrupt_png_data() -> bytes:
    data = _noise_bytes("PNG")
    return data[:200] + bytes(b ^ 0xFF for b in data[200:400]) + data[400:]


def _bad_bmp_header() -> bytes:
    data = bytearray(_noise_bytes("BMP"))
    data[14:18] = struct.pack("<I", 7)  # DIB header size 7: no such BMP variant
    return bytes(data)


def _real_image_over_the_limit(tmp: Path) -> Path:
    path = tmp / "big.png"
    Image.fromarray(PHOTO).save(path)
    imageio.MAX_PIXELS = 500  # restored by the autouse fixture below; the photo has 960 pixels
    return path


def _strip(tmp: Path) -> Path:
    path = tmp / "strip.png"
    Image.new("L", (100_000, 1)).save(path)
    return path


def _mkdir(tmp: Path) -> Path:
    (tmp / "x.jpg").mkdir()
    return tmp / "x.jpg"


BAD_INPUTS = {
    "missing file": (lambda tmp: tmp / "nowhere.jpg", "no such file"),
    "empty .jpg": (_write("empty.jpg", b""), "empty file"),
    "zero-byte .png": (_write("zero.png", b""), "empty file"),
    "truncated PNG": (_truncated("PNG", "cut.png"), "truncated"),
    "truncated JPEG": (_truncated("JPEG", "cut.jpg"), "truncated"),
    "truncated WebP": (_truncated("WEBP", "cut.webp"), ("corrupt", "truncated")),
    "truncated BMP": (_truncated("BMP", "cut.bmp"), "truncated"),
    "random bytes .jpg": (_write("noise.jpg", RNG.bytes(4000)), "not a recognised image format"),
    "text file .png": (_write("notes.png", b"shopping list:\n- milk\n- eggs\n" * 20), "text file"),
    "HTML page .jpg": (
        _write("download.jpg", b"<!DOCTYPE html>\n<html><body>404 Not Found</body></html>"),
        "HTML page",
    ),
    "PDF .jpg": (_write("scan.jpg", b"%PDF-1.7\n" + RNG.bytes(500)), "PDF"),
    "SVG .png": (
        _write("logo.png", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>'),
        "SVG",
    ),
    "zip .jpg": (_write("album.jpg", b"PK\x03\x04" + RNG.bytes(300)), "archive"),
    "HEIC .jpg": (_write("iphone.jpg", b"\x00\x00\x00\x18ftypheic" + RNG.bytes(300)), "HEIF"),
    "directory x.jpg": (_mkdir, "is a directory"),
    "broken symlink": (
        lambda tmp: _symlink(tmp / "link.jpg", tmp / "gone.jpg"),
        "broken symbolic link",
    ),
    "symlink loop": (
        lambda tmp: (
            _symlink(tmp / "a.jpg", tmp / "b.jpg"),
            _symlink(tmp / "b.jpg", tmp / "a.jpg"),
        )[0],
        "cannot access",
    ),
    "FIFO .png": (lambda tmp: _fifo(tmp / "pipe.png"), "not a regular file"),
    "corrupted GIF": (_write("bad.gif", b"GIF89a" + RNG.bytes(200)), "corrupt image header"),
    "TIFF header + garbage": (
        _write("bad.tif", b"II*\x00" + RNG.bytes(300)),
        "corrupt image header",
    ),
    "BMP bad header": (_write("bad.bmp", _bad_bmp_header()), "corrupt"),
    "BMP header + garbage": (_write("noise.bmp", b"BM" + RNG.bytes(300)), ("truncated", "corrupt")),
    "PNG signature only": (_write("sig.png", b"\x89PNG\r\n\x1a\n"), "corrupt image header"),
    "PNG corrupt pixel data": (_write("flipped.png", _corrupt_png_data()), "corrupt image data"),
    "PNG 0×0 header": (_write("zero_size.png", png_file(0, 0)), "corrupt image header"),
    "decompression bomb header": (
        _write("bomb.png", png_file(100_000, 100_000)),
        "decompression bomb",
    ),
    "image over MAX_PIXELS": (_real_image_over_the_limit, "decompression bomb"),
    "absurd size 100000×1": (_strip, "absurd dimensions"),
    "JPEG with garbage body": (
        _write("garbage.jpg", _noise_bytes("JPEG")[:2] + RNG.bytes(3000)),
        "corrupt",
    ),
}


@pytest.fixture(autouse=True)
def _restore_limits():
    saved = imageio.MAX_PIXELS, imageio.MAX_SIDE, imageio.MAX_ASPECT_RATIO
    yield
    imageio.MAX_PIXELS, imageio.MAX_SIDE, imageio.MAX_ASPECT_RATIO = saved


#: Every kind of failure read_image names (ImageReadError.reason), as the module docstring lists them.
FAILURE_KINDS = (
    "no such file",
    "empty file",
    "is a directory",
    "broken symbolic link",
    "cannot access",
    "not a regular file",
    "truncated",
    "corrupt",
    "corrupt image header",
    "corrupt image data",
    "not a recognised image format",
    "text file",
    "HTML page",
    "PDF",
    "SVG",
    "archive",
    "HEIF",
    "decompression bomb",
    "absurd dimensions",
)


def test_bad_inputs_cover_every_failure_kind():
    expected = {
        kind
        for _, reasons in BAD_INPUTS.values()
        for kind in ((reasons,) if isinstance(reasons, str) else reasons)
    }
    missing = sorted(set(FAILURE_KINDS) - expected)
    assert not missing, f"no BAD_INPUTS case expects these failure kinds: {missing}"
    unknown = sorted(expected - set(FAILURE_KINDS))
    assert not unknown, (
        f"BAD_INPUTS expects reasons that are not in FAILURE_KINDS (typo?): {unknown}"
    )


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_raises_one_clear_error(tmp_path, case):
    build, expected = BAD_INPUTS[case]
    path = build(tmp_path)
    with pytest.raises(ImageReadError) as caught:
        read_image(path)
    error = caught.value
    assert isinstance(error, ValueError), "ImageReadError must be a ValueError"
    assert error.path == path and str(path) in str(error), (
        f"{case}: the message must name the file: {error}"
    )
    expected = (expected,) if isinstance(expected, str) else expected
    assert any(word.lower() in error.reason.lower() for word in expected), (
        f"{case}: reason {error.reason!r} should mention {' or '.join(expected)!r}"
    )
    assert error.hint, f"{case}: the message should say what to do: {error}"
    with pytest.raises(ImageReadError):  # the training pipeline's reader fails the same way
        read_rgb(path)


def test_permission_denied_file(tmp_path):
    path = tmp_path / "secret.png"
    Image.fromarray(PHOTO).save(path)
    if os.geteuid() == 0:
        pytest.skip(
            "root reads any file: see test_permission_error_is_reported for the simulated case"
        )
    path.chmod(0)
    try:
        with pytest.raises(ImageReadError, match="permission denied"):
            read_image(path)
    finally:
        path.chmod(0o644)


def test_permission_error_is_reported(tmp_path, monkeypatch):
    path = tmp_path / "secret.png"
    Image.fromarray(PHOTO).save(path)

    def denied(_path):
        raise PermissionError(13, "Permission denied", str(_path))

    monkeypatch.setattr(imageio, "_open_binary", denied)
    with pytest.raises(ImageReadError, match="permission denied") as caught:
        read_image(path)
    assert "chmod" in str(caught.value), "the message should say how to fix it"


def test_limits_can_be_raised_and_messages_say_how(tmp_path):
    path = tmp_path / "big.png"
    Image.fromarray(PHOTO).save(path)
    imageio.MAX_PIXELS = 100
    with pytest.raises(ImageReadError, match="MAX_PIXELS"):
        read_image(path)
    imageio.MAX_PIXELS = 10_000
    assert isinstance(read_image(path), DecodedImage)


# ---------------------------------------------------------------------------------------------
# output folders: ensure_writable_dir, and write_image without overwrite


def _refuse_probe(monkeypatch, folder: Path, errno_: int, strerror: str) -> None:
    """Make the probe file in ``folder`` fail as a read-only folder would, even for root."""
    real = fileio.tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):  # noqa: A002 - tempfile's own name
        if dir is not None and Path(dir) == folder:
            raise OSError(errno_, strerror)
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(fileio.tempfile, "mkstemp", mkstemp)


def test_ensure_writable_dir_creates_the_folder_and_leaves_nothing(tmp_path):
    folder = fileio.ensure_writable_dir(
        tmp_path / "a" / "b", "the output folder", "choose another --out"
    )
    assert folder == tmp_path / "a" / "b" and folder.is_dir(), (
        "the folder (and its parents) must be created"
    )
    assert list(folder.iterdir()) == [], f"the probe file was left behind: {list(folder.iterdir())}"
    assert fileio.ensure_writable_dir(folder) == folder, "an existing writable folder is fine"


@pytest.mark.parametrize(
    "case", ["file in the way", "parent is a file", "permission denied", "read-only mount"]
)
def test_ensure_writable_dir_one_line_error_names_folder_reason_and_fix(
    tmp_path, monkeypatch, case
):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    if case == "file in the way":
        folder, reason = blocker, "it exists and is a file"
    elif case == "parent is a file":
        folder, reason = blocker / "out", f"{blocker} is a file, not a folder"
    else:
        folder = tmp_path / "out"
        number, reason = (
            (13, "Permission denied")
            if case == "permission denied"
            else (30, "Read-only file system")
        )
        _refuse_probe(monkeypatch, folder, number, reason)
    with pytest.raises(fileio.OutputDirError) as caught:
        fileio.ensure_writable_dir(folder, "the output folder", "choose another --out")
    message = str(caught.value)
    assert (
        message == f"cannot write to the output folder {folder} ({reason}): choose another --out"
    ), message
    assert isinstance(caught.value, ValueError), (
        "colored's CLI turns ValueError into a one-line exit-2 error"
    )
    assert caught.value.path == folder and caught.value.reason == reason
    assert blocker.read_text() == "a file, not a folder", "the file in the way must be left alone"


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0,
    reason="root writes into read-only folders: see the simulated cases above",
)
def test_ensure_writable_dir_real_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        for target in (folder, folder / "sub"):
            with pytest.raises(fileio.OutputDirError, match=r"\(Permission denied\): choose"):
                fileio.ensure_writable_dir(target, "the output folder", "choose")
    finally:
        folder.chmod(0o755)


def test_write_image_without_overwrite_keeps_what_is_there(tmp_path):
    target = tmp_path / "out.png"
    target.write_bytes(b"earlier work")
    with pytest.raises(fileio.OutputExistsError):
        write_image(target, PHOTO, overwrite=False)
    assert target.read_bytes() == b"earlier work", "overwrite=False replaced an existing file"
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(FileExistsError):
        write_image(tmp_path / "dir.png", PHOTO, overwrite=False)
    fresh = write_image(tmp_path / "new.png", PHOTO, overwrite=False)
    np.testing.assert_array_equal(read_rgb(fresh), PHOTO)
    assert stat.S_IMODE(fresh.stat().st_mode) & 0o044, (
        "a no-overwrite output must be readable like any file"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.png", "new.png", "out.png"], (
        "temporary file left"
    )
    assert write_image(target, PHOTO) == target and target.read_bytes() != b"earlier work", (
        "default replaces"
    )


@pytest.mark.parametrize("hard_links", [True, False])
def test_write_image_without_overwrite_does_not_clobber_a_file_that_appears_meanwhile(
    tmp_path, monkeypatch, hard_links
):
    target = tmp_path / "out.png"
    if not hard_links:  # e.g. FAT or a network share: the fallback checks, then renames

        def no_link(*args, **kwargs):
            raise PermissionError(1, "Operation not permitted")

        monkeypatch.setattr(fileio.os, "link", no_link)

    def save(handle):  # another process writes the same output while we encode
        target.write_bytes(b"the other writer's file")
        handle.write(b"ours")

    with pytest.raises(fileio.OutputExistsError):
        fileio.atomic_write(target, save, overwrite=False)
    assert target.read_bytes() == b"the other writer's file", (
        "a file that appeared during the write was clobbered"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"], "temporary file left behind"
    fileio.atomic_write(
        tmp_path / "free.png", lambda handle: handle.write(b"ours"), overwrite=False
    )
    assert (tmp_path / "free.png").read_bytes() == b"ours"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["free.png", "out.png"], (
        "temporary file left behind"
    )
