"""Training throughput benchmark (images/s), all measured in one run:

  (a) the seed's design, re-implemented faithfully: a Python generator that reads, augments, converts
      and runs InceptionResNetV2 on every batch of every epoch, fed to ``model.fit``;
  (b) our input pipeline alone (``ColorizationDataset``, steady state: views and embeddings cached);
  (c) the bare model train step on in-memory tensors (``train_on_batch`` on one prepared batch);
  (d) our end-to-end ``model.fit`` over ``ColorizationDataset``.

Prints a table and writes JSON. Ratios: (d)/(c) shows how well the pipeline hides behind the model
step; (d)/(a) the speed-up over the seed. Backbone weights are random (``backbone_weights=None``):
the compute is identical to ImageNet weights, which cannot be downloaded here.

A shared 2-core machine drifts by ±15 % over minutes, so (c) and (d) are each measured several
times and compared by their medians: (c) in blocks of ``--steps`` steps, half before and half after
(d); (d) as one ``fit`` over ``--epochs`` epochs (as training runs it), timed per epoch from one
epoch end to the next, so every epoch boundary (iterator teardown, worker restart) is included.
The one-off cache fill (decoding, augmenting and embedding every view once) is reported apart: it
is paid once per dataset, not per epoch.

    python benchmarks/bench_training.py --sizes 64 256 --data ../shared/data/train --out runs/bench_training.json
    KERAS_BACKEND=jax python benchmarks/bench_training.py --sizes 256 --mixed-precision bfloat16 ...
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from colored import Config, color  # noqa: E402
from colored.augment import augment, build_augmenter  # noqa: E402
from colored.data import find_images, make_sample_dataset  # noqa: E402
from colored.embed import Embedder, preprocess_gray  # noqa: E402
from colored.model import build_model, training_model  # noqa: E402
from colored.pipeline import ColorizationDataset, load_resized  # noqa: E402
from colored.train import compile_model, make_loss  # noqa: E402


def seed_generator(paths, config: Config, backbone):
    """The seed's generator (FACTS.md), minus nothing: it recomputes the embedding every batch and
    keeps its batch-size-plus-one quirk, since that is what the seed trained with."""
    augmenter = build_augmenter(config.augment, seed=config.seed)
    while True:
        batch_rgb, batch_gray = [], []
        for path in paths:
            rgb = color.to_float_rgb(load_resized(path, config.image_size))  # 1–2
            batch_gray.append(color.rgb_to_gray(rgb))  # the seed embedded the NON-augmented image
            batch_rgb.append(augment(augmenter, rgb))  # 3
            if len(batch_rgb) > config.batch_size:  # the seed's off-by-one: batches of size + 1
                rgb_batch = np.stack(batch_rgb)
                embedding = backbone.predict(
                    preprocess_gray(np.stack(batch_gray)), verbose=0
                )  # 4–5
                lightness, ab = color.rgb_to_model_input(rgb_batch)  # 6–8
                yield (lightness, embedding), ab
                batch_rgb, batch_gray = [], []


def timed_fit(model, data, steps: int, warmup: int = 2) -> float:
    """Seconds of ``model.fit`` over ``steps`` steps, after ``warmup`` steps (compilation)."""
    model.fit(data, steps_per_epoch=warmup, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    return time.perf_counter() - start


class EpochClock(keras.callbacks.Callback):
    """Wall-clock seconds of each epoch, end to end: from the previous epoch's end (or the start of
    training), so time spent between epochs counts too."""

    def on_train_begin(self, logs=None) -> None:
        self.seconds: list[float] = []
        self.last = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        now = time.perf_counter()
        self.seconds.append(now - self.last)
        self.last = now


def train_step_rates(model, x, y, steps: int, blocks: int) -> list[float]:
    """Images/s of ``blocks`` runs of ``steps`` back-to-back ``train_on_batch`` calls."""
    rates = []
    for _ in range(blocks):
        start = time.perf_counter()
        for _ in range(steps):
            loss = model.train_on_batch(x, y)
        float(keras.ops.convert_to_numpy(loss[0]))  # waits for the device
        rates.append(steps * len(y) / (time.perf_counter() - start))
    return rates


def bench_size(size: int, paths, args, steps: int, epochs: int, seed_steps: int) -> dict:
    config = Config(
        image_size=size,
        batch_size=args.batch_size,
        backbone="inception_resnet_v2",
        backbone_weights=None,
        augment_views=args.views,
        cache_dir=args.cache,
        workers=args.workers,
        cache_views=True,
        lab_in_graph=args.lab_in_graph,
        jit_compile=args.jit_compile,
        mixed_precision=args.mixed_precision,
        steps_per_execution=args.steps_per_execution,
        seed=0,
    )
    seed_config = Config(
        image_size=size,
        batch_size=args.batch_size,
        backbone_weights=None,
        jit_compile=args.jit_compile,
        seed=0,
    )
    batch = config.batch_size
    result = {
        "size": size,
        "batch_size": batch,
        "images": len(paths),
        "steps_per_epoch": len(paths) // batch,
        "epochs": epochs,
    }
    embedder = Embedder(None, cache_dir=args.cache, batch_size=64)

    # (a) the seed
    if seed_steps:
        seed_model = compile_model(build_model(seed_config), seed_config, "mse")
        generator = seed_generator(paths, seed_config, embedder.backbone)
        seconds = timed_fit(seed_model, generator, seed_steps, warmup=1)
        result["a_seed_fit"] = seed_steps * (batch + 1) / seconds

    # (b) our pipeline alone, steady state (the cache fill first decodes and embeds every view once)
    data = ColorizationDataset(paths, config, embedder=embedder)
    start = time.perf_counter()
    data.precompute()
    result["cache_fill_s"] = time.perf_counter() - start
    result["cache_fill_views"] = len(paths) * data.views
    start = time.perf_counter()
    count = 0
    while count < steps * batch:
        for i in range(len(data)):
            data[i]
            count += batch
        data.on_epoch_end()
    result["b_pipeline"] = count / (time.perf_counter() - start)

    # (c) bare train step on one prepared in-memory batch, in blocks before and after (d)
    model = compile_model(
        training_model(build_model(config), config), config, make_loss(config, paths)
    )
    x, y = data[0]
    x = tuple(keras.ops.convert_to_tensor(v) for v in x)
    y = keras.ops.convert_to_tensor(y)
    train_step_rates(model, x, y, steps=3, blocks=1)  # compile
    step_rates = train_step_rates(model, x, y, steps, blocks=max(1, args.repeats // 2))

    # (d) end-to-end fit over the dataset, several full epochs in one fit call
    model.fit(data, steps_per_epoch=2, epochs=1, verbose=0)  # compile fit's own step function
    clock = EpochClock()
    start = time.perf_counter()
    model.fit(data, epochs=epochs, verbose=0, callbacks=[clock])
    fit_seconds = time.perf_counter() - start
    step_rates += train_step_rates(
        model, x, y, steps, blocks=max(1, args.repeats - args.repeats // 2)
    )

    epoch_rates = [len(data) * batch / s for s in clock.seconds]
    result["c_train_step_runs"] = step_rates
    result["c_train_step"] = float(np.median(step_rates))
    result["d_fit_epochs"] = epoch_rates
    result["d_fit"] = float(np.median(epoch_rates))
    result["d_fit_whole_call"] = epochs * len(data) * batch / fit_seconds
    result["d_over_c"] = result["d_fit"] / result["c_train_step"]
    if "a_seed_fit" in result:
        result["d_over_a"] = result["d_fit"] / result["a_seed_fit"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--steps",
        type=int,
        nargs="+",
        default=[20, 6],
        help="timed steps for (b) and each block of (c): one value, or one per size",
    )
    parser.add_argument("--repeats", type=int, default=4, help="timed blocks of (c)")
    parser.add_argument(
        "--epochs",
        type=int,
        nargs="+",
        default=[3, 2],
        help="timed epochs of (d), in one fit call: one value, or one per size",
    )
    parser.add_argument(
        "--seed-steps",
        type=int,
        nargs="+",
        default=[4, 3],
        help="timed steps for (a), one value or one per size; 0 skips it",
    )
    parser.add_argument(
        "--images",
        type=int,
        nargs="+",
        default=[480, 160],
        help="photos used (images / batch = steps per epoch of (d)): one value, or one per size",
    )
    parser.add_argument("--views", type=int, default=2, help="augmentation views per photo")
    parser.add_argument("--data", type=Path, help="photo folder (default: the offline sample set)")
    parser.add_argument(
        "--workers",
        type=int,
        default=Config.workers,
        help="PyDataset worker threads (Config default)",
    )
    parser.add_argument(
        "--lab-in-graph",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="(d) feeds uint8 RGB and converts to Lab in the graph (our fast path)",
    )
    parser.add_argument("--jit-compile", default="auto")
    parser.add_argument(
        "--mixed-precision", default="none", choices=["none", "float16", "bfloat16"]
    )
    parser.add_argument("--steps-per-execution", type=int, default=1)
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="embedding cache to reuse across runs (default: a fresh "
        "temporary one, so the cache fill is measured)",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/bench_training.json"))
    args = parser.parse_args()
    args.jit_compile = {"true": True, "false": False}.get(str(args.jit_compile).lower(), "auto")
    tmp = Path(tempfile.mkdtemp(prefix="bench_"))
    args.cache = str(args.cache_dir or tmp / "cache")
    folder = args.data or make_sample_dataset(tmp / "sample", size=256) / "train"
    photos = find_images(folder)

    def per_size(values: list[int], i: int) -> int:  # one value for all sizes, or one per size
        return values[min(i, len(values) - 1)]

    rows = [
        bench_size(
            size,
            photos[: per_size(args.images, i)],
            args,
            per_size(args.steps, i),
            per_size(args.epochs, i),
            per_size(args.seed_steps, i),
        )
        for i, size in enumerate(args.sizes)
    ]
    header = (
        f"{'size':>5} {'(a) seed':>10} {'(b) pipeline':>13} {'(c) step':>10} {'(d) fit':>10} {'d/c':>6} "
        f"{'d/a':>6}   {'(c) runs':<24} {'(d) epochs':<24} {'cache fill':>10}"
    )
    print(
        f"backend {keras.backend.backend()}, batch {args.batch_size}, workers {args.workers}, images/s "
        f"((c), (d): medians of the runs listed):"
    )
    print(header)
    for r in rows:
        runs = " ".join(f"{v:.1f}" for v in r["c_train_step_runs"])
        epochs = " ".join(f"{v:.1f}" for v in r["d_fit_epochs"])
        print(
            f"{r['size']:>5} {r.get('a_seed_fit', float('nan')):>10.1f} {r['b_pipeline']:>13.1f} "
            f"{r['c_train_step']:>10.1f} {r['d_fit']:>10.1f} {r['d_over_c']:>6.2f} {r.get('d_over_a', float('nan')):>6.1f}"
            f"   {runs:<24} {epochs:<24} {r['cache_fill_s']:>9.0f}s"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "backend": keras.backend.backend(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    try:
        import jax

        meta["devices"] = [str(d) for d in jax.devices()]
    except Exception:
        pass
    args.out.write_text(json.dumps({"meta": meta, "results": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
