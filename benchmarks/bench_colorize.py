"""Benchmark ``colored colorize`` on a folder of 768×512 photos.

Reports the model load time and, per image, the time of each stage (decode, preprocess, model,
recombine, encode) plus end-to-end images/s, measured through the real :func:`colorize_paths`
(the same code the CLI runs). Target on 2 CPU cores: ≤ 0.5 s per 768×512 photo end to end once the
model is loaded, model load ≤ 5 s.

Without ``--model`` it times a fresh, untrained FullModel without fusion at 256² (the real
architecture: weights do not change the time). Without ``--folder`` it synthesises ``--images``
photo-like 768×512 JPEGs in a temporary folder.

    python benchmarks/bench_colorize.py                       # synthetic photos, fresh FullModel
    python benchmarks/bench_colorize.py --model runs/default/model.keras --folder ~/old_photos
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

TARGET_SECONDS_PER_IMAGE = 0.5
TARGET_LOAD_SECONDS = 5.0


def synthetic_photo(rng: np.random.Generator, height: int = 512, width: int = 768) -> np.ndarray:
    """A photo-like uint8 image: smooth colour fields, a few objects with edges, sensor grain."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    image = np.stack(
        [
            0.5
            + 0.35
            * np.sin(
                rng.uniform(2, 6) * (rng.uniform(-1, 1) * x + rng.uniform(-1, 1) * y)
                + rng.uniform(0, 6)
            )
            for _ in range(3)
        ],
        -1,
    )
    for _ in range(8):
        cy, cx = (
            rng.uniform(0, height / max(height, width)),
            rng.uniform(0, width / max(height, width)),
        )
        radius = rng.uniform(0.03, 0.2)
        image[(y - cy) ** 2 + (x - cx) ** 2 < radius**2] = rng.uniform(0.1, 0.9, 3)
    image += rng.normal(0, 0.02, image.shape)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def make_folder(folder: Path, count: int, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"photo_{i:03d}.jpg"
        Image.fromarray(synthetic_photo(rng)).save(path, quality=90)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", type=Path, help=".keras model (default: a fresh FullModel, no fusion, 256²)"
    )
    parser.add_argument(
        "--size", type=int, default=256, help="image size of the fresh model (default 256)"
    )
    parser.add_argument(
        "--folder", type=Path, help="folder of photos (default: synthesise --images 768×512 JPEGs)"
    )
    parser.add_argument("--images", type=int, default=16, help="photos to synthesise (default 16)")
    parser.add_argument(
        "--batch-size", type=int, default=8, help="images per model call (default 8)"
    )
    parser.add_argument(
        "--format", default=None, help="output format (default: the input's, i.e. jpg)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("runs/bench_colorize.json"), help="JSON results"
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    import keras  # noqa: F401 - TensorFlow's import is part of a cold start; reported separately

    import colored
    from colored.colorize import STAGES, colorize_paths
    from colored.inference import even_batch_size, load_model
    from colored.io.files import IMAGE_EXTENSIONS

    import_seconds = time.perf_counter() - started

    with tempfile.TemporaryDirectory(prefix="bench_colorize_") as scratch:
        scratch = Path(scratch)
        model_path = args.model
        if model_path is None:
            from colored.model import build_model

            config = colored.Config(image_size=args.size, architecture="full", backbone="none")
            model_path = scratch / "full_nofusion.keras"
            build_model(config).save(model_path)
        started = time.perf_counter()
        model = load_model(model_path)
        load_seconds = time.perf_counter() - started

        if args.folder:
            folder = args.folder
            photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        else:
            folder = scratch / "photos"
            photos = make_folder(folder, args.images)
        if not photos:
            print(f"no photos in {folder}", file=sys.stderr)
            return 2

        # warm-up: compile the model for the one batch shape the run uses (see even_batch_size)
        warm = scratch / "warm"
        warm.mkdir()
        for photo in photos[: even_batch_size(len(photos), args.batch_size)]:
            (warm / photo.name).symlink_to(photo.resolve())
        colorize_paths(
            [warm], scratch / "warm_out", model, batch_size=args.batch_size, progress=False
        )

        sizes = set()
        for photo in photos[:50]:
            with Image.open(photo) as image:
                sizes.add(image.size)
        load_before = os.getloadavg()[0]
        cpu_started = time.process_time()
        started = time.perf_counter()
        report = colorize_paths(
            [folder],
            scratch / "out",
            model,
            batch_size=args.batch_size,
            format=args.format,
            progress=False,
        )
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_started

    done = len(report.done)
    if report.failed:
        print(report.summary(), file=sys.stderr)
    per_image = {stage: report.timings.get(stage, 0.0) / max(done, 1) for stage in STAGES}
    end_to_end = wall / max(done, 1)
    results = {
        "images": done,
        "failed": len(report.failed),
        "image_sizes": sorted(f"{w}x{h}" for w, h in sizes),
        "batch_size": args.batch_size,
        "model": str(args.model) if args.model else f"fresh FullModel, no fusion, {args.size}²",
        "model_input": list(model.inputs[0].shape[1:3]),
        "import_seconds": round(import_seconds, 3),
        "model_load_seconds": round(load_seconds, 3),
        "per_image_seconds": {stage: round(value, 4) for stage, value in per_image.items()},
        "end_to_end_seconds_per_image": round(end_to_end, 4),
        "images_per_second": round(done / wall, 3) if wall else None,
        "process_cpu_seconds_per_image": round(cpu / max(done, 1), 4),
        "target_seconds_per_image": TARGET_SECONDS_PER_IMAGE,
        "target_load_seconds": TARGET_LOAD_SECONDS,
        "meets_target": end_to_end <= TARGET_SECONDS_PER_IMAGE
        and load_seconds <= TARGET_LOAD_SECONDS,
        "load_average_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cpu_count": os.cpu_count(),
        "sched_affinity": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "keras_backend": keras.backend.backend(),
    }

    print(
        f"colorize benchmark: {done} photos {', '.join(results['image_sizes'])}, batch {args.batch_size}, "
        f"{results['model']} ({results['cpu_count']} CPUs)"
    )
    print(f"  import keras/TF   {import_seconds:7.2f} s (once per process)")
    print(f"  model load        {load_seconds:7.2f} s   (target ≤ {TARGET_LOAD_SECONDS:.0f} s)")
    print(f"  {'stage':<16} {'ms/image':>9} {'share':>7}")
    total = sum(per_image.values()) or 1.0
    for stage in STAGES:
        print(
            f"  {stage:<16} {1000 * per_image[stage]:9.1f} {100 * per_image[stage] / total:6.1f}%"
        )
    print(
        f"  {'end to end':<16} {1000 * end_to_end:9.1f}   → {results['images_per_second']} images/s "
        f"(target ≤ {1000 * TARGET_SECONDS_PER_IMAGE:.0f} ms) {'OK' if results['meets_target'] else 'MISSED'}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(
        f"  process CPU time  {1000 * results['process_cpu_seconds_per_image']:9.1f} ms/image (all threads; "
        "insensitive to other processes)"
    )
    print(
        f"  load average (1 min) before/after: {results['load_average_1min_before_after']} "
        "(other processes on the machine inflate the times)"
    )
    print(f"  results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
