"""Training that runs out of memory: recognising each backend's out-of-memory error, and the one
error :func:`colored.train.train` raises instead, which says what to lower and what the run folder kept.

Told by class name and message, so that no backend is imported to ask.
"""

from __future__ import annotations

import re
from pathlib import Path

from colored.callbacks import backup_state
from colored.config import Config, size_multiple


class TrainingOutOfMemoryError(MemoryError, RuntimeError):
    """Training ran out of memory (the backend's error is the ``__cause__``). The message's first line
    says at which image_size and batch_size, on which device, and what to lower; the next says what
    the run folder kept and how to go on. A RuntimeError too, so that ``colored train`` reports it in
    one line (exit 2) as it does every other failure."""


#: How each backend says it ran out of memory: exception class names (any class in the MRO), and
#: texts (the first for JAX's XlaRuntimeError/JaxRuntimeError, the others torch's and TF's).
_OOM_NAMES = frozenset({"ResourceExhaustedError", "OutOfMemoryError"})
_OOM_TEXTS = ("RESOURCE_EXHAUSTED", "CUDA out of memory", "OOM when allocating")


def out_of_memory_cause(error: BaseException) -> BaseException | None:
    """The backend's out-of-memory error that ``error`` is or was caused by, else None: TensorFlow's
    ``ResourceExhaustedError``, JAX's ``XlaRuntimeError`` with ``RESOURCE_EXHAUSTED``, torch's
    ``OutOfMemoryError`` ("CUDA out of memory"), or Python's ``MemoryError`` (the machine's RAM). Told
    by class name and message, so that no backend is imported to ask."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, TrainingOutOfMemoryError):
            return None  # already translated
        names = {cls.__name__ for cls in type(error).__mro__}
        if names & _OOM_NAMES or isinstance(error, MemoryError):
            return error
        if any(marker in str(error) for marker in _OOM_TEXTS):
            return error
        error = error.__cause__ or error.__context__
    return None


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` (or one of its causes) is a backend running out of memory
    (:func:`out_of_memory_cause`)."""
    return out_of_memory_cause(error) is not None


def oom_device(error: BaseException) -> tuple[str, bool]:
    """The device a backend's out-of-memory error names (TF: ``…/device:GPU:0``; torch: ``GPU 0``),
    with the GPU's model when known, else this machine's GPU or the CPU; and whether the error itself
    named a GPU (then the machine's RAM is not what ran out)."""
    text = str(error)
    if isinstance(error, MemoryError) and not (
        {c.__name__ for c in type(error).__mro__} & _OOM_NAMES
    ):
        return "the CPU (the machine's RAM)", False
    match = re.search(r"device:(GPU|CPU):(\d+)", text) or re.search(r"\b(GPU) (\d+)\b", text)
    if match and match.group(1) == "CPU":
        return "the CPU", False
    try:
        from colored.devices import local_gpus

        gpus = local_gpus()
    except Exception:  # noqa: BLE001 - naming the device is a courtesy, never a second failure
        gpus = ()
    if match:
        index = int(match.group(2))
        return f"GPU:{index}" + (f" ({gpus[index].name})" if index < len(gpus) else ""), True
    if gpus:
        return (gpus[0].name if len(gpus) == 1 else f"{len(gpus)} GPUs ({gpus[0].name})"), False
    return "the CPU", False


def out_of_memory_message(config: Config, run_dir: Path, error: BaseException) -> str:
    """What :class:`TrainingOutOfMemoryError` says: the config and device, what to lower, what the
    run folder kept, and the backend's own first line."""
    error = out_of_memory_cause(error) or error

    size, batch = config.image_size, config.batch_size
    device, on_gpu = oom_device(error)
    multiple = size_multiple(config.architecture)
    smaller = max(multiple, size // 2 // multiple * multiple)
    lower = [f"batch_size (e.g. {max(1, batch // 2)})"] if batch > 1 else []
    if smaller < size:
        lower.append(f"image_size (e.g. {smaller})")
    fix = " or ".join(lower) if lower else "the model's size"
    # the views cache lives in the machine's RAM: only worth naming when that may be what ran out
    views = config.cache_views is True and not on_gpu
    ram = ", or set cache_views False (the augmented views cached in RAM)" if views else ""
    try:
        state = backup_state(run_dir / "backup")
    except RuntimeError:
        state = None
    ways_out = (
        "use a new run_dir (--run-dir), or fresh_start = True (--restart) to discard this run"
    )
    if state:
        kept = (
            f"The last finished epoch ({state['epoch']}) is kept in {run_dir / 'backup'}"
            + (" (a rerun with only cache_views changed resumes after it)" if views else "")
            + "; but a new batch_size or image_size is another config, which this run folder refuses: "
            + f"{ways_out}."
        )
    else:
        kept = (
            f"No epoch finished (nothing to resume), but {run_dir} already records this config, so it "
            f"refuses a new batch_size or image_size: {ways_out}."
        )
    original = (str(error).strip().splitlines() or [""])[0]
    if len(original) > 200:
        original = original[:200] + "…"
    return (
        f"training ran out of memory at image_size {size}, batch_size {batch} on {device}: "
        f"lower {fix}{ram}.\n"
        f"{kept} In a notebook, restart the kernel first (Colab: Runtime > Restart session): the "
        "failed run may still hold its memory.\n"
        f"({type(error).__name__}: {original})"
    )
