"""Colorize real photographs at full resolution: a Python API and the ``colored colorize`` command.

How a photo is colorized (richzhang's demo does the same):

1. decode it (:func:`colored.imageio.read_image`: any size, EXIF orientation, 8/16-bit, gray,
   palette, alpha, CMYK, first frame of a GIF);
2. compute its full-resolution Lab lightness ``L``;
3. resize ``L`` to the network's square training size ``S×S`` (bicubic, antialiased). A non-square
   photo is squashed, not cropped or padded: the network sees the whole scene, and its prediction is
   stretched back below;
4. the network predicts ``ab`` at ``S×S`` (:func:`colored.model.predict_ab`, several photos per call);
5. ``ab`` is upsampled bilinearly to the photo's full size (colour is smooth, bilinear does not
   overshoot) and joined with the photo's *own* full-resolution ``L``, then converted to RGB.

So the output has exactly the input's size and all of its detail: only the colour comes from the
low-resolution prediction. Alpha is carried over unchanged.

Python::

    from colored.colorize import load_model, colorize
    model = load_model("runs/default/model.keras")     # or load_model() for the packaged default
    rgb = colorize("grandma.jpg", model)               # (H, W, 3) uint8 at the photo's size

Command line::

    colored colorize old_photos/ scan.tif -o colorized/ --model runs/default/model.keras -r
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from colored import color
from colored.cli import positive_float, positive_int
from colored.color import lab_to_rgb_uint8, lightness  # noqa: F401  (part of this API)
from colored.imageio import (
    IMAGE_EXTENSIONS,
    WRITE_FORMATS,
    DecodedImage,
    ImageReadError,
    OutputDirError,
    OutputExistsError,
    decode_array,
    ensure_writable_dir,
    decode_pil,
    read_image,
    write_image,
)

#: Where ``load_model()`` looks when no path is given (shipped with the package once trained).
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "weights" / "default.keras"
#: Environment variable naming a model to use when none is given.
MODEL_ENV_VAR = "COLORED_MODEL"
#: Pixels per block in the Lab conversions: caps their float64 temporaries (~100 MB) on huge photos.
STAGES = ("decode", "preprocess", "model", "recombine", "encode")


class ModelNotFoundError(FileNotFoundError):
    """No usable model: none given and no default, a missing file, or a file Keras cannot load."""


class IncompatibleModelError(ModelNotFoundError):
    """A Keras model that loads but is not a colorization model (wrong inputs or outputs).

    Its message is one line: the file, the shapes found and the shapes expected.
    """


def _how_to_get_a_model() -> str:
    return (
        "To get a model, either\n"
        "  - pass --model PATH (Python: load_model(PATH)) with a .keras file saved by training, e.g. "
        "runs/default/model.keras;\n"
        "  - train one: `colored train` (or notebook 05), which writes RUN_DIR/model.keras;\n"
        f"  - or put a .keras model at {DEFAULT_MODEL_PATH} (or set {MODEL_ENV_VAR}=PATH) to make it "
        "the default."
    )


# ---------------------------------------------------------------------------------------------
# model


def resolve_model_path(path: str | Path | None = None) -> Path:
    """The model file to load: ``path``, else ``$COLORED_MODEL``, else the packaged default.

    Raises :class:`ModelNotFoundError` (with how to get a model) when it does not exist.
    """
    if path is None or str(path) == "":
        env = os.environ.get(MODEL_ENV_VAR)
        if env:
            path = Path(env)
        elif DEFAULT_MODEL_PATH.is_file():
            return DEFAULT_MODEL_PATH
        else:
            raise ModelNotFoundError(f"No model given and no default model at {DEFAULT_MODEL_PATH}.\n"
                                     + _how_to_get_a_model())
    path = Path(path).expanduser()
    if path.is_dir():
        raise ModelNotFoundError(f"model path {path} is a directory, not a .keras file.\n" + _how_to_get_a_model())
    if not path.is_file():
        raise ModelNotFoundError(f"model file {path} does not exist.\n" + _how_to_get_a_model())
    if path.suffix.lower() != ".keras":
        raise ModelNotFoundError(f"model file {path} is not a .keras file (weights-only .h5/.weights.h5 "
                                 "files do not describe the network).\n" + _how_to_get_a_model())
    return path


def load_model(path: str | Path | None = None):
    """Load a colorization model from a ``.keras`` file (safe mode, not compiled).

    ``path=None`` means ``$COLORED_MODEL`` or ``colored/weights/default.keras``. A missing, corrupt
    or non-colorization file raises :class:`ModelNotFoundError` naming the file and how to get one.
    """
    path = resolve_model_path(path)
    import keras

    try:
        import colored.model  # noqa: F401 - registers any custom layers before deserializing
    except ImportError:
        pass
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as error:  # noqa: BLE001 - Keras raises many types for a bad file
        raise ModelNotFoundError(f"could not load the model {path}: {type(error).__name__}: {error}\n"
                                 "The file is corrupt or not a Keras 3 model.\n" + _how_to_get_a_model()) from error
    check_model(model, path)
    return model


def _shape_text(tensor) -> str:
    dims = tuple(None if d is None else int(d) for d in tensor.shape)
    return "(" + ", ".join(str(d) for d in dims) + ")"


def _shapes_text(tensors) -> str:
    texts = [_shape_text(t) for t in tensors]
    return texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]" if texts else "none"


def _core_model(model):
    """The L-input network: ``model`` itself, or the one inside a ``lab_in_graph`` RGB training wrapper."""
    inputs = list(getattr(model, "inputs", None) or [])
    if inputs and len(inputs[0].shape) == 4 and inputs[0].shape[-1] == 3:
        import keras

        inner = [layer for layer in getattr(model, "layers", []) if isinstance(layer, keras.Model)]
        if len(inner) == 1:
            return inner[0]
    return model


def check_model(model, source: str | Path | None = None):
    """Refuse (:class:`IncompatibleModelError`, one line) a model colorize and evaluate cannot use.

    Expected: input ``(None, H, W, 1)`` (lightness L/100), optionally a second input
    ``(None, 1000)`` (the ImageNet embedding of fusion models); one output ``(None, h, w, 2)`` (ab
    regression) or ``(None, h, w, Q)`` with ``Q = colored.model.num_bins()`` (ab-bin logits).
    A ``lab_in_graph`` training wrapper (RGB input) is checked through the L-input network inside.
    ``source`` (the file) names the model in the message. Returns ``model``.
    """
    from colored.config import Config
    from colored.model import num_bins

    core = _core_model(model)
    name = f"model file {source}" if source is not None else f"model {getattr(model, 'name', type(model).__name__)!r}"
    inputs = list(getattr(core, "inputs", None) or [])
    outputs = list(getattr(core, "outputs", None) or [])
    embedding_dim = Config().embedding_dim
    problems = []
    if not inputs or len(inputs) > 2 or len(inputs[0].shape) != 4 or inputs[0].shape[-1] != 1:
        problems.append("input")
    elif len(inputs) == 2 and (len(inputs[1].shape) != 2 or inputs[1].shape[-1] != embedding_dim):
        problems.append("embedding input")
    channels = outputs[0].shape[-1] if len(outputs) == 1 and len(outputs[0].shape) == 4 else None
    if channels != 2 and channels != num_bins():  # num_bins() is computed once, only when needed
        problems.append("output")
    if problems:
        bins = num_bins()
        raise IncompatibleModelError(
            f"{name} is not a colorization model ({' and '.join(problems)} wrong): it takes "
            f"{_shapes_text(inputs)} and outputs {_shapes_text(outputs)}; expected input (None, H, W, 1) "
            f"(lightness), optionally plus (None, {embedding_dim}) (embedding), and output (None, H, W, 2) "
            f"(ab) or (None, H, W, {bins}) (ab-bin logits): use a model saved by `colored train`")
    return model


def model_input_size(model) -> tuple[int, int]:
    """``(height, width)`` the network runs at (its training size)."""
    height, width = tuple(model.inputs[0].shape[1:3])
    if height is None or width is None:  # a fully convolutional model built without a size
        from colored.config import Config

        return Config().image_size, Config().image_size
    return int(height), int(width)


# ---------------------------------------------------------------------------------------------
# the steps


def _resize_plane(plane: np.ndarray, size: tuple[int, int], resample: Image.Resampling) -> np.ndarray:
    """Resize a float32 ``(H, W)`` plane to ``size = (height, width)`` with Pillow's 'F' mode."""
    height, width = size
    if plane.shape == (height, width):
        return plane.astype(np.float32, copy=False)
    image = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32), mode="F")
    return np.asarray(image.resize((width, height), resample), dtype=np.float32)


def preprocess(image: DecodedImage, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """→ (full-resolution ``L`` ``(H, W)``, network input ``L/100`` ``(S, S, 1)``)."""
    full = lightness(image.rgb)
    small = np.clip(_resize_plane(full, size, Image.Resampling.BICUBIC), 0.0, color.L_SCALE)
    return full, color.normalize_l(small)[..., None]


def recombine(l_full: np.ndarray, ab_small: np.ndarray) -> np.ndarray:
    """Upsample ``ab`` (Lab units, ``(S, S, 2)``) bilinearly to ``L``'s size, join, → uint8 RGB."""
    height, width = l_full.shape
    ab = np.stack([_resize_plane(ab_small[..., c], (height, width), Image.Resampling.BILINEAR)
                   for c in range(2)], axis=-1)
    return lab_to_rgb_uint8(l_full, ab)


class _Embedding:
    """One lazily built embedder per run, for fusion models (predict_ab would build one per call)."""

    def __init__(self, embedder: Any = None) -> None:
        self.embedder = embedder

    def get(self, model) -> Any:
        from colored.model import needs_embedding

        if not needs_embedding(model):
            return None
        if self.embedder is None:
            from colored.embed import Embedder

            self.embedder = Embedder("imagenet")
        return self.embedder


def even_batch_size(count: int, batch_size: int) -> int:
    """The batch size that splits ``count`` images into as few, equal-sized calls as ``batch_size``
    allows (13 images, batch 8 → 7 + 6, not 8 + 5): with :func:`predict`'s padding, one shape."""
    batch_size = max(1, int(batch_size))
    if count <= 0:
        return batch_size
    calls = -(-count // batch_size)
    return -(-count // calls)


def predict(model, l_norm: np.ndarray, *, temperature: float | None = None, embedder: Any = None,
            pad_to: int | None = None) -> np.ndarray:
    """Network ``L/100`` ``(N, S, S, 1)`` → ``ab`` in Lab units ``(N, S, S, 2)``.

    ``pad_to``: repeat the last image up to that many before calling the model. Keras compiles
    (XLA) one function per batch shape — seconds each for the FullModel — so a smaller last batch
    costs more as a new compile than as a few padded images.
    """
    from colored.model import predict_ab

    count = len(l_norm)
    if pad_to is not None and count < pad_to:
        l_norm = np.concatenate([l_norm, np.repeat(l_norm[-1:], pad_to - count, axis=0)])
    ab = predict_ab(model, l_norm, temperature=temperature, embedder=embedder, batch_size=max(1, len(l_norm)))
    return np.asarray(ab, dtype=np.float32)[:count]


def colorize_batch(images: Sequence[DecodedImage], model, batch_size: int = 8, temperature: float | None = None,
                   *, embedder: Any = None, timings: dict[str, float] | None = None) -> list[np.ndarray]:
    """Colorize decoded images, ``batch_size`` per model call → uint8 RGB arrays at each one's size.

    ``timings``, when given, accumulates seconds per stage (``preprocess``, ``model``, ``recombine``).
    """
    size = model_input_size(model)
    embedding = _Embedding(embedder)
    batch_size = even_batch_size(len(images), batch_size)
    results: list[np.ndarray] = []
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        with _timer(timings, "preprocess"):
            prepared = [preprocess(image, size) for image in chunk]
        with _timer(timings, "model"):
            ab = predict(model, np.stack([small for _, small in prepared]), temperature=temperature,
                         embedder=embedding.get(model), pad_to=batch_size)
        with _timer(timings, "recombine"):
            results.extend(recombine(full, ab[i]) for i, (full, _) in enumerate(prepared))
    return results


def as_decoded(image_or_path: Any) -> DecodedImage:
    """A path, a :class:`DecodedImage`, a Pillow image or an array → :class:`DecodedImage`."""
    if isinstance(image_or_path, DecodedImage):
        return image_or_path
    if isinstance(image_or_path, (str, os.PathLike)):
        return read_image(image_or_path)
    if isinstance(image_or_path, Image.Image):
        return decode_pil(image_or_path)
    return decode_array(np.asarray(image_or_path))


def colorize(image_or_path: Any, model: Any = None, *, temperature: float | None = None,
             keep_alpha: bool = False) -> np.ndarray:
    """Colorize one photo at full resolution → ``(H, W, 3)`` uint8 RGB of the input's exact size.

    ``image_or_path``: a file path, a Pillow image, a :class:`~colored.imageio.DecodedImage`, or an
    array (``(H, W)`` gray, ``(H, W, 3)`` RGB, ``(H, W, 4)`` RGBA; uint8, uint16 or float in [0, 1]:
    an RGB input's own colours are ignored, only its lightness is used).
    ``model``: a Keras model, a path to a ``.keras`` file, or ``None`` for the default model.
    ``temperature``: annealed-mean temperature, classification models only (default 0.38).
    ``keep_alpha``: return ``(H, W, 4)`` RGBA when the input has transparency (alpha as uint8).
    """
    if model is None or isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    decoded = as_decoded(image_or_path)
    rgb = colorize_batch([decoded], model, temperature=temperature)[0]
    if keep_alpha and decoded.alpha is not None:
        return np.dstack([rgb, decoded.alpha_uint8()])
    return rgb


# ---------------------------------------------------------------------------------------------
# files and folders


@dataclass
class ColorizeReport:
    """What :func:`colorize_paths` did: ``done`` (input, output), ``failed`` and ``skipped``
    (path, reason), ``kept`` (input, output) whose output already existed and was left alone
    (``overwrite=False``), and ``timings``: seconds per stage summed over all images."""

    done: list[tuple[Path, Path]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    kept: list[tuple[Path, Path]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    @property
    def ok(self) -> bool:
        """No file failed (kept and skipped files are not failures)."""
        return not self.failed

    def summary(self, max_skipped: int = 10) -> str:
        """``N colorized, M failed[, K kept (...)][, S skipped]``, then every failure (path — reason),
        the first kept outputs and the first skipped files."""
        lines = [f"{len(self.done)} colorized, {len(self.failed)} failed"
                 + (f", {len(self.kept)} kept (output already exists; --overwrite replaces it)" if self.kept else "")
                 + (f", {len(self.skipped)} skipped" if self.skipped else "")]
        for path, reason in self.failed:
            lines.append(f"  FAILED {path} — {reason}")
        for source, target in self.kept[:max_skipped]:
            lines.append(f"  kept {target} — already exists (from {source})")
        if len(self.kept) > max_skipped:
            lines.append(f"  ... and {len(self.kept) - max_skipped} more kept")
        for path, reason in self.skipped[:max_skipped]:
            lines.append(f"  skipped {path} — {reason}")
        if len(self.skipped) > max_skipped:
            lines.append(f"  ... and {len(self.skipped) - max_skipped} more skipped")
        return "\n".join(lines)


@dataclass
class _Job:
    source: Path
    target: Path


@dataclass
class _Plan:
    jobs: list[_Job] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    kept: list[tuple[Path, Path]] = field(default_factory=list)  # (input, existing output) left alone


def _is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def _inside(path: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    try:
        path.resolve().relative_to(folder)
        return True
    except ValueError:
        return False


def expand_inputs(inputs: Iterable[str | Path], *, recursive: bool = False, exclude: Path | None = None
                  ) -> tuple[list[tuple[Path, Path]], list[tuple[Path, str]]]:
    """Files to colorize as ``(path, relative output path)``, and ``(path, reason)`` skipped.

    A file argument is always taken (whatever its extension; a missing one fails later, by name).
    A folder contributes its files with an image extension (:data:`IMAGE_EXTENSIONS`, any case),
    relative to the folder; with ``recursive`` its sub-folders too (symbolic links to folders are
    not followed). Hidden files and folders (``.name``: e.g. macOS ``._x.jpg`` files, which are not
    images) are skipped, so is the folder ``exclude`` (the output folder, if it is inside an input).
    A sub-folder named like an image (``x.jpg/``) is kept when not recursing, so that it is reported.
    """
    exclude = exclude.resolve() if exclude is not None else None
    files: list[tuple[Path, Path]] = []
    skipped: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for item in inputs:
        root = Path(item).expanduser()
        if not root.is_dir():
            files.append((root, Path(root.name)))
            continue
        # the output folder is left out when it lies *inside* this input (not when it is the input)
        inner = exclude if exclude is not None and exclude != root.resolve() and _inside(exclude, root.resolve()) \
            else None
        if recursive:
            for folder, dirs, names in os.walk(root):
                here = Path(folder)
                keep = []
                for name in sorted(dirs):
                    sub = here / name
                    if name.startswith("."):
                        continue  # hidden folders (.git, .ipynb_checkpoints...): silently
                    if _inside(sub, inner):
                        skipped.append((sub, "the output folder"))
                    elif sub.is_symlink():
                        skipped.append((sub, "symbolic link to a folder (not followed)"))
                    else:
                        keep.append(name)
                dirs[:] = keep
                for name in sorted(names):
                    _add_entry(here / name, root, files, skipped)
        else:
            for entry in sorted(root.iterdir()):
                if entry.is_dir() and not _is_image_name(entry):
                    if not entry.name.startswith(".") and not _inside(entry, inner):
                        skipped.append((entry, "a folder (pass --recursive to colorize the images in it)"))
                    continue
                _add_entry(entry, root, files, skipped)
    unique = []
    for source, relative in files:  # the same file named twice (or via two folders): once
        key = source.resolve() if source.exists() else source.absolute()
        if key not in seen:
            seen.add(key)
            unique.append((source, relative))
    return unique, skipped


def _add_entry(entry: Path, root: Path, files: list, skipped: list) -> None:
    if entry.name.startswith("."):
        if _is_image_name(entry):
            skipped.append((entry, "hidden file"))
    elif _is_image_name(entry):
        files.append((entry, entry.relative_to(root)))
    else:
        skipped.append((entry, f"not an image extension ({entry.suffix or 'none'})"))


def _output_suffix(source: Path, fmt: str | None) -> str:
    if fmt:
        return "." + fmt.lower().lstrip(".")
    suffix = source.suffix
    if suffix.lower() == ".gif" or suffix.lower() not in WRITE_FORMATS:
        return ".png"  # GIF's 256 colours would ruin a colorization; unknown formats → PNG
    return suffix


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_dev, info.st_ino


def plan_outputs(inputs: Iterable[str | Path], outdir: str | Path, *, recursive: bool = False,
                 format: str | None = None, overwrite: bool = False) -> _Plan:  # noqa: A002 - the CLI's word
    """Decide every output path (see :func:`colorize_paths` for the rules); without ``overwrite``
    an output that already exists goes to ``plan.kept`` instead of ``plan.jobs``."""
    if format is not None and "." + format.lower().lstrip(".") not in WRITE_FORMATS:
        raise ValueError(f"unknown output format {format!r}; choose one of "
                         + ", ".join(s[1:] for s in WRITE_FORMATS))
    outdir = Path(outdir).expanduser()
    inputs = [Path(p) for p in inputs]
    files, skipped = expand_inputs(inputs, recursive=recursive, exclude=outdir if outdir.is_dir() else None)
    single_file = (len(files) == 1 and len(inputs) == 1 and not inputs[0].is_dir()
                   and outdir.suffix.lower() in WRITE_FORMATS and not outdir.is_dir())
    input_ids = {ident for ident in (_identity(source) for source, _ in files) if ident is not None}
    input_paths = {source.resolve() for source, _ in files}
    taken: set[Path] = set()
    plan = _Plan(skipped=skipped)
    for source, relative in files:
        if single_file:
            target = outdir
        else:
            suffix = _output_suffix(source, format)
            target = outdir / relative.with_suffix(suffix) if relative.suffix else outdir / (relative.name + suffix)
        base, number = target, 1
        while (target.resolve() in taken or target.resolve() in input_paths
               or (_identity(target) is not None and _identity(target) in input_ids)):
            # never overwrite an input (same path, symlink or hard link), nor another output
            number += 1
            tag = "_colorized" if number == 2 else f"_colorized{number - 1}"
            target = base.with_name(base.stem + tag + base.suffix)
        taken.add(target.resolve())
        if not overwrite and os.path.lexists(target):
            plan.kept.append((source, target))
        else:
            plan.jobs.append(_Job(source, target))
    return plan


def colorize_paths(inputs: Sequence[str | Path], outdir: str | Path, model: Any = None, *, recursive: bool = False,
                   format: str | None = None, batch_size: int = 8,  # noqa: A002
                   temperature: float | None = None, progress: bool = True, embedder: Any = None,
                   overwrite: bool = False) -> ColorizeReport:
    """Colorize files and folders into ``outdir``; bad files are reported, never fatal.

    - Folders are expanded with :func:`expand_inputs` (``recursive`` for sub-folders); the relative
      folder structure is recreated under ``outdir``. A file argument lands at ``outdir/name``.
      If there is one input file and ``outdir`` itself ends in an image suffix, it is the output file.
    - Output format: ``format`` (``png``, ``jpg``, ``tif``, ``webp``, ``bmp``, ...) or else the
      input's own suffix; GIF and unknown suffixes become PNG.
    - An input is never overwritten: if an output path is an input (same path, symlink or hard
      link), or two inputs map to the same output (``a.jpg`` and ``a.png`` with ``format="png"``),
      ``_colorized`` (then ``_colorized2``...) is appended to the name.
    - Other existing files at an output path (e.g. a previous run's outputs) are kept, not
      colorized again, and listed in ``report.kept``; with ``overwrite=True`` they are replaced,
      atomically. (A file that appears there during the run is kept too.)
    - Files that cannot be decoded, colorized or written are listed in ``report.failed`` with the
      reason; every other file is still colorized. Several images go through the model per call.
    """
    if model is None or isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    else:
        check_model(model)
    plan = plan_outputs(inputs, outdir, recursive=recursive, format=format, overwrite=overwrite)
    report = ColorizeReport(skipped=list(plan.skipped), kept=list(plan.kept))
    size = model_input_size(model)
    embedding = _Embedding(embedder)
    batch_size = even_batch_size(len(plan.jobs), batch_size)
    from tqdm.auto import tqdm

    bar = tqdm(total=len(plan.jobs), desc="colorize", unit="img", disable=not progress, file=sys.stderr)
    try:
        for start in range(0, len(plan.jobs), batch_size):
            ready: list[tuple[_Job, np.ndarray | None, np.ndarray, np.ndarray]] = []  # job, alpha, L, L/100
            for job in plan.jobs[start:start + batch_size]:
                try:
                    with _timer(report.timings, "decode"):
                        image = read_image(job.source)
                    with _timer(report.timings, "preprocess"):
                        full, small = preprocess(image, size)
                    ready.append((job, image.alpha_uint8(), full, small))
                    del image  # only L and alpha are needed from here on (memory, big batches)
                except ImageReadError as error:
                    report.failed.append((job.source, _reason(error)))
                    bar.update(1)
                except Exception as error:  # noqa: BLE001 - e.g. MemoryError on a huge photo
                    report.failed.append((job.source, f"{type(error).__name__}: {error}"))
                    bar.update(1)
            if not ready:
                continue
            try:
                with _timer(report.timings, "model"):
                    ab = predict(model, np.stack([small for *_, small in ready]), temperature=temperature,
                                 embedder=embedding.get(model), pad_to=batch_size)
            except Exception as error:  # noqa: BLE001
                for job, *_ in ready:
                    report.failed.append((job.source, f"model failed: {type(error).__name__}: {error}"))
                bar.update(len(ready))
                continue
            for i, (job, alpha, full, _) in enumerate(ready):
                try:
                    with _timer(report.timings, "recombine"):
                        rgb = recombine(full, ab[i])
                    with _timer(report.timings, "encode"):
                        write_image(job.target, rgb, alpha, overwrite=overwrite)
                    report.done.append((job.source, job.target))
                except OutputExistsError:  # only raised without overwrite
                    report.kept.append((job.source, job.target))  # appeared since the plan: left alone
                except Exception as error:  # noqa: BLE001 - disk full, permissions...
                    report.failed.append((job.source, f"could not write {job.target}: {type(error).__name__}: {error}"))
                bar.update(1)
    finally:
        bar.close()
    return report


def _reason(error: ImageReadError) -> str:
    return error.reason + (f" ({error.hint})" if error.hint else "")


class _timer:
    """Add the elapsed seconds to ``timings[stage]`` (no-op when ``timings`` is None)."""

    def __init__(self, timings: dict[str, float] | None, stage: str) -> None:
        self.timings, self.stage = timings, stage

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc) -> None:
        if self.timings is not None:
            self.timings[self.stage] = self.timings.get(self.stage, 0.0) + time.perf_counter() - self.start


# ---------------------------------------------------------------------------------------------
# command line






def add_cli(subparsers) -> argparse.ArgumentParser:
    """Register ``colorize`` on an argparse subparsers object; ``args.func(args)`` runs it."""
    parser = subparsers.add_parser(
        "colorize", help="colorize black & white photos (files or folders) at full resolution",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Colorize photos with a trained model. The network runs at its training size; the\n"
            "predicted colour is upsampled and combined with each photo's own full-resolution\n"
            "lightness, so outputs have the input's exact size and detail.\n\n"
            "Inputs: files and folders of JPEG, PNG, TIFF, BMP, WebP, GIF (first frame), 8/16-bit,\n"
            "gray, palette, RGBA (alpha kept where the output format allows), CMYK; EXIF\n"
            "orientation is applied. Unreadable files are reported and skipped.\n\n"
            "Existing outputs (e.g. from an earlier run) are kept and listed, not colorized again:\n"
            "re-running after an interruption only does what is missing. --overwrite replaces them.\n"
            "Inputs are never overwritten, even with --overwrite.\n\n"
            "Exit status: 0 when all succeeded (kept outputs count as success), 1 when any file\n"
            "failed, 2 for usage errors, checked before any work (a missing input, no or an\n"
            "incompatible model, an output folder that cannot be written)."),
        epilog=(
            "examples:\n"
            "  colored colorize scan.jpg -o out/ --model runs/default/model.keras\n"
            "  colored colorize old_photos/ -o colorized/ --recursive --format png\n"
            "  colored colorize scan.tif -o scan_color.jpg   (one file: -o may name the output file)\n"
            "  colored colorize old_photos/ -o colorized/ --overwrite   (redo with another model)"))
    parser.add_argument("inputs", nargs="+", metavar="INPUT", type=Path, help="image files and/or folders")
    parser.add_argument("-o", "--outdir", required=True, type=Path, metavar="OUTDIR",
                        help="output folder (created); the relative folder structure is kept. "
                             "Inputs are never overwritten")
    parser.add_argument("--overwrite", action=argparse.BooleanOptionalAction, default=False,
                        help="replace output files that already exist (default: --no-overwrite: they are "
                             "kept, listed and counted as 'kept' in the summary)")
    parser.add_argument("--model", type=Path, default=None, metavar="PATH",
                        help=f"trained .keras model (default: ${MODEL_ENV_VAR}, else {DEFAULT_MODEL_PATH})")
    parser.add_argument("-r", "--recursive", action="store_true", help="also colorize images in sub-folders")
    parser.add_argument("--format", choices=sorted({s[1:] for s in WRITE_FORMATS}), default=None,
                        help="output format (default: the input's own; GIF inputs → PNG)")
    parser.add_argument("--batch-size", type=positive_int, default=8, metavar="N",
                        help="images per model call (default: 8)")
    parser.add_argument("--temperature", type=positive_float, default=None, metavar="T",
                        help="annealed-mean temperature for classification models (default 0.38)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_cli)
    return parser


def _missing_input(path: Path) -> str | None:
    """Why ``path`` (a command-line input) does not exist, or None when it does."""
    if path.exists():
        return None
    if path.is_symlink():
        return f"input {path} is a broken symbolic link (it points to {os.readlink(path)!r}): fix or remove it"
    return f"input {path} does not exist: check the path and its spelling"


def run_cli(args: argparse.Namespace) -> int:
    """Run ``colored colorize``: 0 all done, 1 some file failed, 2 usage error (nothing done)."""
    err = sys.stderr

    def usage_error(message: str) -> int:
        print(f"colored colorize: error: {message}", file=err)
        return 2

    for path in args.inputs:  # a mistyped path is a usage error, found before anything is loaded
        problem = _missing_input(Path(path).expanduser())
        if problem:
            return usage_error(problem)
    try:
        model_path = resolve_model_path(args.model)
    except ModelNotFoundError as error:
        return usage_error(str(error))
    outdir: Path = args.outdir.expanduser()
    if outdir.exists() and not outdir.is_dir() and not (len(args.inputs) == 1 and outdir.suffix.lower() in WRITE_FORMATS):
        return usage_error(f"cannot write to the output folder {outdir} (it exists and is a file): "
                           "choose another -o OUTDIR")
    try:
        plan = plan_outputs(args.inputs, outdir, recursive=args.recursive, format=args.format,
                            overwrite=args.overwrite)
    except OSError as error:  # e.g. an input folder that cannot be listed
        return usage_error(f"cannot read {error.filename or ', '.join(map(str, args.inputs))} "
                           f"({error.strerror or error}): check its permissions")
    if not plan.jobs and not plan.kept:
        print(f"colored colorize: error: no images found in {', '.join(map(str, args.inputs))} "
              f"(looked for {', '.join(IMAGE_EXTENSIONS)}"
              + ("" if args.recursive else "; pass --recursive for sub-folders") + ")", file=err)
        for path, reason in plan.skipped:
            print(f"  skipped {path} — {reason}", file=err)
        return 2
    if not plan.jobs:  # every output exists already: nothing to load, nothing to write
        print(ColorizeReport(skipped=list(plan.skipped), kept=list(plan.kept)).summary())
        return 0
    try:
        model = load_model(model_path)
    except ModelNotFoundError as error:
        return usage_error(str(error))
    embedder = None
    from colored.model import needs_embedding

    if needs_embedding(model):
        from colored.embed import BackboneWeightsError, Embedder

        embedder = Embedder("imagenet")
        try:
            embedder.backbone  # noqa: B018 - load it now: fail before any photo if it is offline
        except BackboneWeightsError as error:
            print(f"colored colorize: error: this model needs the fusion backbone. {error}", file=err)
            return 2
    # the last check before the work: the output folder (the one-file output's folder) takes files
    single_file = len(plan.jobs) == 1 and plan.jobs[0].target == outdir
    try:
        ensure_writable_dir(outdir.parent if single_file else outdir, "the output folder", "choose another -o OUTDIR")
    except OutputDirError as error:
        return usage_error(str(error))
    report = colorize_paths(args.inputs, outdir, model, recursive=args.recursive, format=args.format,
                            batch_size=args.batch_size, temperature=args.temperature,
                            progress=not args.quiet, embedder=embedder, overwrite=args.overwrite)
    print(report.summary())
    if report.done:
        print(f"output: {outdir}")
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m colored.colorize ...``: the same command, parser and error handling as ``colored colorize ...``."""
    from colored.cli import main as cli_main

    return cli_main(["colorize", *(argv if argv is not None else sys.argv[1:])])


if __name__ == "__main__":
    sys.exit(main())
