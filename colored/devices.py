"""This machine's accelerators, and what the speed switches' ``"auto"`` means on it.

The one place that decides ``mixed_precision``, ``lab_in_graph`` and ``cache_views`` when a
:class:`colored.config.Config` leaves them ``"auto"``: fast settings on a GPU, ColorED's (off) on a CPU.
"""

from __future__ import annotations

import os
import typing
from dataclasses import dataclass
from typing import Any

from colored.config import Config

#: The fields whose "auto" :func:`resolve_speed` turns into a value (``jit_compile``'s "auto" is
#: Keras' own and stays as it is).
AUTO_SPEED_FIELDS = ("mixed_precision", "lab_in_graph", "cache_views")
#: ``cache_views="auto"`` caches on a GPU only when every augmented view fits in this share of the
#: machine's memory (on a 12.7 GB Colab, 5,000 photos × 8 views at 256² = 7.9 GB do not).
CACHE_VIEWS_MEMORY_SHARE = 0.4


@dataclass(frozen=True)
class Gpu:
    """One accelerator as :func:`local_gpus` sees it; ``compute_capability`` e.g. ``(8, 0)`` (None
    when the backend does not say)."""

    name: str
    compute_capability: tuple[int, int] | None = None

    def __str__(self) -> str:
        cc = self.compute_capability
        return self.name + (f" (compute capability {cc[0]}.{cc[1]})" if cc else "")


_GPUS: tuple[Gpu, ...] | None = None


def local_gpus() -> tuple[Gpu, ...]:
    """The GPUs the Keras backend sees (asked once per process; imports the backend)."""
    global _GPUS
    if _GPUS is None:
        _GPUS = _detect_gpus()
    return _GPUS


def _detect_gpus() -> tuple[Gpu, ...]:
    import keras

    backend = keras.backend.backend()
    found: list[Gpu] = []
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            for device in tf.config.list_physical_devices("GPU"):
                details = tf.config.experimental.get_device_details(device)
                cc = details.get("compute_capability")
                found.append(
                    Gpu(details.get("device_name", device.name), tuple(cc) if cc else None)
                )
        elif backend == "jax":
            import jax

            for device in jax.devices():
                if device.platform != "gpu":
                    continue
                cc = getattr(device, "compute_capability", None)
                major_minor = tuple(int(part) for part in str(cc).split(".")[:2]) if cc else None
                found.append(Gpu(device.device_kind, major_minor))
        elif backend == "torch":
            import torch

            for index in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
                found.append(
                    Gpu(
                        torch.cuda.get_device_name(index),
                        tuple(torch.cuda.get_device_capability(index)),
                    )
                )
        else:
            found = [Gpu(str(d)) for d in keras.distribution.list_devices("gpu")]
    except RuntimeError:  # e.g. jax.devices() on a machine without the GPU plugin's driver
        return ()
    return tuple(found)


def memory_bytes() -> int | None:
    """This machine's physical memory (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def views_cache_bytes(config: Config, photos: int) -> int:
    """What ``cache_views`` holds once every view of ``photos`` photos was drawn (uint8 RGB)."""
    views = config.augment_views if config.augment else 1
    return photos * views * config.image_size**2 * 3


def speed_choices(
    config: Config,
    gpus: typing.Sequence[Gpu] | None = None,
    photos: int | None = None,
    memory: int | None = None,
) -> dict[str, tuple[Any, str]]:
    """``{field: (value, why)}`` for each field of :data:`AUTO_SPEED_FIELDS` that is ``"auto"``.
    ``gpus``: default :func:`local_gpus`; ``photos`` (training photos) and ``memory`` (bytes, default
    :func:`memory_bytes`) decide whether ``cache_views`` fits."""
    autos = [name for name in AUTO_SPEED_FIELDS if getattr(config, name) == "auto"]
    if not autos:
        return {}
    gpus = tuple(local_gpus() if gpus is None else gpus)
    choices: dict[str, tuple[Any, str]] = {}
    if "mixed_precision" in autos:
        if not gpus:
            choices["mixed_precision"] = ("none", "CPU")
        elif all(g.compute_capability and g.compute_capability >= (8, 0) for g in gpus):
            choices["mixed_precision"] = ("bfloat16", "compute capability ≥ 8")
        else:
            choices["mixed_precision"] = ("float16", "compute capability < 8: no fast bfloat16")
    if "lab_in_graph" in autos:
        choices["lab_in_graph"] = (bool(gpus), "GPU" if gpus else "CPU")
    if "cache_views" in autos:
        if not gpus:
            choices["cache_views"] = (False, "CPU")
        elif photos is None:
            choices["cache_views"] = (True, "GPU")
        else:
            memory = memory_bytes() if memory is None else memory
            need = views_cache_bytes(config, photos)
            fits = memory is None or need <= CACHE_VIEWS_MEMORY_SHARE * memory
            share = (
                f"{CACHE_VIEWS_MEMORY_SHARE:.0%} of {memory / 2**30:.1f} GiB"
                if memory
                else "the memory"
            )
            choices["cache_views"] = (
                fits,
                f"the views of {photos:,} photos take {need / 2**30:.1f} GiB, "
                f"{'within' if fits else 'more than'} {share}",
            )
    return choices


def resolve_speed(
    config: Config,
    gpus: typing.Sequence[Gpu] | None = None,
    photos: int | None = None,
    memory: int | None = None,
) -> Config:
    """``config`` with every "auto" speed switch replaced by its value on this machine (the one place
    that decides it; see :func:`speed_choices`): on a GPU ``mixed_precision`` bfloat16 (compute
    capability ≥ 8: A100, L4, H100…) or float16 (T4, V100), ``lab_in_graph`` True, ``cache_views``
    True when the views fit in memory; on a CPU ColorED's settings (none, False, False). A config
    without "auto" comes back as it is (so calling it again is free)."""
    choices = speed_choices(config, gpus, photos, memory)
    return (
        config.replace(**{name: value for name, (value, _) in choices.items()})
        if choices
        else config
    )


def speed_summary(
    config: Config | None = None,
    gpus: typing.Sequence[Gpu] | None = None,
    photos: int | None = None,
    memory: int | None = None,
) -> str:
    """One line: what "auto" means here (the notebooks' setup cell and ``colored train`` print it)."""
    config = Config() if config is None else config
    gpus = tuple(local_gpus() if gpus is None else gpus)
    choices = speed_choices(config, gpus, photos, memory)
    if not choices:
        return "speed settings: none is auto"
    settings = ", ".join(f"{name} {value}" for name, (value, _) in choices.items())
    if not gpus:
        return f"speed settings: auto → {settings} (CPU: today's settings)"
    notes = "".join(
        f"; {name}: {why}" for name, (_, why) in choices.items() if name == "cache_views" and photos
    )
    return f"speed settings: auto → {settings} (GPU found: {', '.join(map(str, gpus))}{notes})"
