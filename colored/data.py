"""Datasets as folders of colour photos: find the photos and their splits, get a dataset.

Every source ends as a folder of colour photos on disk (grayscale inputs are always computed from
the colour photos, so only colour images are kept); :func:`get_dataset` is the one entry point:

* ``"sample"`` (default, works offline): crops of scikit-image's bundled colour photos, built by
  :func:`make_sample_dataset` into ``data/sample/{train,test}/``.
* ``"kaggle"``: ``aayush9753/image-colorization-dataset`` (5,000 train / 739 test photos), fetched
  by :func:`colored.io.kaggle.download_kaggle` into ``data/kaggle/{train_color,test_color}/``. Needs
  credentials (:mod:`colored.io.kaggle_credentials` finds them and keeps them out of every message).
* ``"auto"``: ``"kaggle"`` when Kaggle credentials are found, otherwise ``"sample"``.
* any existing folder of images: used as is (see :func:`dataset_splits` for the layouts understood).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from colored.io.files import (
    IMAGE_EXTENSIONS,
    atomic_write_text,
    ensure_writable_dir,
    image_files,
    write_image,
)
from colored.io.kaggle import DATA_DIR_FIX, SAMPLE_HINT

__all__ = [
    "DATA_DIR_FIX",
    "SAMPLE_HINT",
    "SAMPLE_TEST_PHOTOS",
    "SAMPLE_TRAIN_PHOTOS",
    "SOURCES",
    "dataset_splits",
    "find_images",
    "get_dataset",
    "load_photo",
    "make_sample_dataset",
    "resolve_source",
    "split_validation",
    "is_validation",
]

#: The named sources of :func:`get_dataset` (any other value is a folder of images).
SOURCES = ("sample", "kaggle", "auto")

# DATA_DIR_FIX (the fix named when a dataset folder cannot be written) and SAMPLE_HINT (how to get
# photos without network or account) are defined in colored.io.kaggle, which this module imports.


# --------------------------------------------------------------------------------------------------
# Finding images and splits
# --------------------------------------------------------------------------------------------------


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
            f"Point to a folder of photos; {SAMPLE_HINT} (then use data/sample)."
        )
    if not root.is_dir():
        raise NotADirectoryError(f"{str(folder)!r} is a file, not a folder of images")
    images = image_files(root, recursive)
    if not images:
        where = "or its sub-folders " if recursive else ""
        raise ValueError(
            f"no images found in {str(folder)!r} {where}(looked for "
            f"{', '.join(sorted(IMAGE_EXTENSIONS))}, any case). {SAMPLE_HINT}."
        )
    return images


#: Share of photos (per mille) held out for validation by :func:`is_validation`: 33 ‰ of the 9,133
#: photos of ``../shared/data/train`` is ~300 photos.
VALIDATION_PER_MILLE = 33


def is_validation(name: str, per_mille: int = VALIDATION_PER_MILLE) -> bool:
    """Whether the photo called ``name`` (its path relative to the dataset folder, POSIX style, e.g.
    ``"BSDS500/100007.jpg"``) is in the validation split: the first 8 hex digits of its SHA-1, mod
    1000, are below ``per_mille``. Fixed by the name alone: no seed, no file list, no state."""
    return int(hashlib.sha1(name.encode("utf-8")).hexdigest()[:8], 16) % 1000 < per_mille


def split_validation(
    folder: str | Path, per_mille: int = VALIDATION_PER_MILLE
) -> tuple[list[Path], list[Path]]:
    """``(train, validation)`` image paths under ``folder`` (recursive, sorted) by :func:`is_validation`
    of each path relative to ``folder``. Used to choose settings (decoding, checkpoints) without the
    evaluation sets, and by ``Config(exclude_validation=True)`` to train without those photos."""
    root = Path(folder).expanduser()
    train: list[Path] = []
    validation: list[Path] = []
    for path in find_images(root, recursive=True):
        (
            validation if is_validation(path.relative_to(root).as_posix(), per_mille) else train
        ).append(path)
    return train, validation


def _find_subdir(root: Path, name: str, max_depth: int = 2) -> Path | None:
    """The shallowest folder called ``name`` within ``max_depth`` levels of ``root`` (ties: sorted)."""
    level = [root]
    for _ in range(max_depth):
        found = sorted(d / name for d in level if (d / name).is_dir())
        if found:
            return found[0]
        level = sorted(
            child
            for d in level
            for child in d.iterdir()
            if child.is_dir() and not child.name.startswith(".")
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
            f"dataset folder {str(root)!r} does not exist: point to a folder of photos; {SAMPLE_HINT}, "
            "and `colored download --source kaggle` fetches the full dataset."
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
# Sample dataset (offline)
# --------------------------------------------------------------------------------------------------

#: Photos for the train split, from scikit-image's wheel (offline): ten crops of each.
SAMPLE_TRAIN_PHOTOS: tuple[str, ...] = (
    "astronaut",
    "colorwheel",
    "hubble_deep_field",
    "immunohistochemistry",
)
#: Eight distinct scenes held out for the test split (one centred square of each), none of them in a
#: training crop: scikit-image's (chelsea, coffee, motorcycle_left, retina, rocket), matplotlib's
#: (grace_hopper) and two that the package ships (colored/scenes/: china, flower; CC BY 2.0).
SAMPLE_TEST_PHOTOS: tuple[str, ...] = (
    "chelsea",
    "china",
    "coffee",
    "flower",
    "grace_hopper",
    "motorcycle_left",
    "retina",
    "rocket",
)
_SAMPLE_VERSION = 3  # bump when the recipe changes so existing sample folders are rebuilt
_SAMPLE_MARKER = ".sample-complete.json"
_CROPS_PER_PHOTO = {"train": 10, "test": 1}
_SCENES = Path(__file__).resolve().parent / "scenes"


def load_photo(name: str) -> np.ndarray:
    """A bundled colour photo by name: scikit-image's, matplotlib's ``grace_hopper``, or the package's
    own (``colored/scenes/<name>.jpg``)."""
    from PIL import Image

    try:
        if (_SCENES / f"{name}.jpg").is_file():
            image = Image.open(_SCENES / f"{name}.jpg").convert("RGB")
        elif name == "grace_hopper":
            from matplotlib import cbook

            image = Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB")
        else:
            from skimage import data as skdata  # lazy: only the sample source needs scikit-image

            if name.startswith("motorcycle_"):
                left, right, _disparity = skdata.stereo_motorcycle()
                image = left if name == "motorcycle_left" else right
            else:
                image = getattr(skdata, name)()
    except Exception as error:
        raise RuntimeError(
            f"the bundled photo {name!r} could not be loaded ({error}); reinstall the lab and its "
            "dependencies (pip install --force-reinstall colored-lab scikit-image matplotlib)"
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


def _sample_plan() -> dict[str, list[str]]:
    return {
        split: [
            f"{photo}_{i:02d}.png"
            for photo in sorted(photos)
            for i in range(_CROPS_PER_PHOTO[split])
        ]
        for split, photos in (("train", SAMPLE_TRAIN_PHOTOS), ("test", SAMPLE_TEST_PHOTOS))
    }


def _sample_complete(target: Path, size: int, plan: dict[str, list[str]]) -> bool:
    try:
        marker = json.loads((target / _SAMPLE_MARKER).read_text())
    except (OSError, ValueError):
        return False
    if marker != {
        "version": _SAMPLE_VERSION,
        "size": size,
        "counts": {k: len(v) for k, v in plan.items()},
    }:
        return False
    return all((target / split / name).is_file() for split, names in plan.items() for name in names)


def make_sample_dataset(target: str | Path = "data/sample", size: int = 256) -> Path:
    """Build the offline sample dataset from scikit-image's bundled colour photos; return ``target``.

    ``train/``: 40 ``size``² PNG crops, ten of each of :data:`SAMPLE_TRAIN_PHOTOS` (the whole
    ``astronaut_00.png`` first); ``test/``: the centred square of each of the eight
    :data:`SAMPLE_TEST_PHOTOS`, scenes no training crop shows. Small: for checking the pipeline and
    reading a gallery, not for measuring quality.

    Idempotent: a marker written last records the recipe version and ``size``, so a complete folder
    is kept and an interrupted or other-size one rebuilt (stray PNGs removed); every PNG is written
    atomically. An unwritable folder raises :class:`colored.io.files.OutputDirError` first.
    """
    if not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an integer >= 8 pixels, got {size!r}")
    from PIL import Image

    target = Path(target).expanduser()
    plan = _sample_plan()
    if _sample_complete(target, size, plan):
        return target  # complete: usable even from a read-only folder
    ensure_writable_dir(target, "the data folder", DATA_DIR_FIX)
    (target / _SAMPLE_MARKER).unlink(missing_ok=True)  # whatever happens next, it is not complete

    for split, photos in (("train", SAMPLE_TRAIN_PHOTOS), ("test", SAMPLE_TEST_PHOTOS)):
        folder = target / split
        folder.mkdir(parents=True, exist_ok=True)
        for photo in sorted(photos):
            image = load_photo(photo)
            height, width = image.shape[:2]
            for index, (top, left, side) in enumerate(
                _crop_boxes(height, width, photo)[: _CROPS_PER_PHOTO[split]]
            ):
                crop = Image.fromarray(image[top : top + side, left : left + side])
                resized = np.asarray(crop.resize((size, size), Image.Resampling.LANCZOS))
                write_image(
                    folder / f"{photo}_{index:02d}.png", resized
                )  # atomic: never half a PNG
        expected = set(plan[split])
        for stray in folder.glob("*.png"):
            if stray.name not in expected:
                stray.unlink()

    marker = {
        "version": _SAMPLE_VERSION,
        "size": size,
        "counts": {k: len(v) for k, v in plan.items()},
    }
    atomic_write_text(target / _SAMPLE_MARKER, json.dumps(marker, indent=2))
    return target


# --------------------------------------------------------------------------------------------------
# One entry point
# --------------------------------------------------------------------------------------------------


def resolve_source(source: str | Path) -> str | Path:
    """``"auto"`` → ``"kaggle"`` when Kaggle credentials are found
    (:func:`colored.io.kaggle_credentials.find_kaggle_credentials`), otherwise ``"sample"``; any other source as is."""
    if source != "auto":
        return source
    from colored.io.kaggle_credentials import find_kaggle_credentials

    return "kaggle" if find_kaggle_credentials() else "sample"


def get_dataset(source: str | Path = "sample", data_dir: str | Path = "data", **kw: Any) -> Path:
    """Return the root folder of a dataset, building or downloading it when needed.

    ``source``: ``"sample"`` (offline, :func:`make_sample_dataset` into ``data_dir/sample``; ``kw``
    e.g. ``size=``), ``"kaggle"`` (:func:`colored.io.kaggle.download_kaggle` into ``data_dir/kaggle``;
    ``kw`` e.g. ``api=``, ``quiet=``), ``"auto"`` (``"kaggle"`` when credentials are found, otherwise
    ``"sample"``: :func:`resolve_source`), or the path of an existing folder of images (checked, used
    as is). Pass the result to :func:`dataset_splits` for the train/test folders.
    """
    source = resolve_source(source)
    if source == "sample":
        return make_sample_dataset(Path(data_dir) / "sample", **kw)
    if source == "kaggle":
        from colored.io.kaggle import download_kaggle  # colored.io.kaggle imports this module

        return download_kaggle(Path(data_dir) / "kaggle", **kw)
    path = Path(source).expanduser()
    if path.is_dir():
        if kw:
            raise TypeError(f"options {sorted(kw)} only apply to the 'sample' and 'kaggle' sources")
        find_images(dataset_splits(path)["train"])  # fail now, clearly, if it holds no images
        return path
    raise ValueError(
        f"unknown dataset source {str(source)!r}: choose 'sample' (offline, built from "
        "scikit-image photos), 'kaggle' (aayush9753/image-colorization-dataset, needs credentials), "
        "'auto' (kaggle when credentials are found, otherwise sample) "
        "or the path of an existing folder of images"
    )
