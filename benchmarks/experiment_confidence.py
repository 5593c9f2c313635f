"""Issue "default model v2": confidence-aware decoding, flip averaging, settings chosen on validation.

1. **Validation split**: the photos of ``--train-dir`` (``../shared/data/train``) for which
   :func:`colored.data.is_validation` holds (SHA-1 of the path relative to the folder, 33 ‰: 310 of
   9,133 photos), prepared under the :mod:`colored.metrics` protocol (256² centre crop). Never the
   evaluation sets.
2. **Sweep** on validation, through the one inference path (:func:`colored.evaluate.score_set` →
   :func:`colored.inference.colorize_stream`): temperature T × confidence c × prior correction τ
   (decoding of :func:`colored.bins.decode_logits`; ``--prior`` gives the training prior to a model
   file that does not record one), without flip averaging; then flip averaging at the best
   settings. Baselines gray and mean-ab.
3. **Choice rule** (fixed before looking at the evaluation sets): among the settings whose
   confidently-wrong share is ≤ the mean-ab oracle's and whose PSNR is ≥ gray's, the one with the
   highest colourfulness ratio (vivid where the model is sure); if none qualifies, the lowest
   confidently-wrong share among the settings that keep at least :data:`KEEP_COLOUR` (90 %) of the
   old setting's colourfulness ratio (give up at most a tenth of the colour to remove wrong colour).
   ``--setting T C FLIP`` skips the sweep and uses that setting.
4. **Report** every evaluation set (sub-folders of ``--eval-dir``) once: gray, mean-ab, the model at
   the old default (T = 0.38, c = 0, no flip) and at the chosen setting; pooled "all sets" row.
5. Optional ``--candidate LABEL PATH`` models (e.g. a fine-tuned run's ``best.keras``) scored on
   validation at the chosen setting and at the old one, next to the model.
6. Optional ``--gallery PATH``: scikit-image's bundled photos (chelsea, coffee, astronaut, rocket;
   the only photos the project may show), original | gray | old setting | chosen setting, at each
   photo's own aspect ratio; ``--gallery-beside MODEL``: that model (at its file's decoding) in the
   third column instead, e.g. the shipped default beside its successor.

Writes ``OUT/results.json`` and ``OUT/results.md`` (``OUT`` defaults to ``runs/experiment_confidence``,
git-ignored); prints the tables. Numbers only: no evaluation or training photo is written.

    .venv/bin/python benchmarks/experiment_confidence.py
    .venv/bin/python benchmarks/experiment_confidence.py --candidate finetuned runs/finetune-cpu/best.keras \\
        --gallery colored/weights/gallery.jpg
    .venv/bin/python benchmarks/experiment_confidence.py --model runs/experiment_encoder-r100/spatial-encoder/best.keras \\
        --prior runs/experiment_encoder-r100/cache/ab_prior_*.npy --prior-corrections 0 0.1 0.2 0.3 \\
        --temperatures 0.38 0.5 0.7 --confidences 0 --out runs/confidence-spatial   # issue 21
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from colored import baselines, metrics  # noqa: E402
from colored.config import Decoding  # noqa: E402
from colored.evaluate import EvalSet, load_set, score_set  # noqa: E402
from colored.methods import resolve_method  # noqa: E402
from colored.modelfile import DECODING_FIELDS  # noqa: E402
from colored.report import markdown_table, write_json  # noqa: E402

TEMPERATURES = (0.2, 0.38, 0.7, 1.0)
CONFIDENCES = (0.0, 0.2, 0.5, 1.0, 2.0, 5.0)
OLD = {
    "temperature": 0.38,
    "confidence": 0.0,
    "flip": False,
}  # the shipped model's setting before this issue
COLUMNS = (
    "n_images",
    "psnr",
    "ssim",
    "colorfulness_ratio",
    "chroma_ratio",
    "auc",
    "ab_rmse",
    "js_divergence",
    "confidently_wrong",
)
GALLERY_PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")


def validation_set(train_dir: Path) -> EvalSet:
    from colored.data import split_validation
    from colored.io.images import read_image

    _, paths = split_validation(train_dir)
    trues = [metrics.prepare(read_image(p).rgb) for p in paths]
    names = [p.relative_to(train_dir).as_posix() for p in paths]
    return EvalSet(train_dir, names, trues, [], metrics.EVAL_SIZE, metrics.ab_cell_prior(trues))


def setting_label(s: dict) -> str:
    tau = s.get("prior_correction", 0.0)
    return (
        f"T={s['temperature']:g} c={s['confidence']:g}"
        + (f" τ={tau:g}" if tau else "")
        + (" flip" if s["flip"] else "")
    )


def decoding_of(setting: dict) -> Decoding:
    return Decoding(**{k: v for k, v in setting.items() if k in DECODING_FIELDS})


def score(eval_set: EvalSet, model, setting: dict, quiet: bool, name: str) -> tuple[dict, list]:
    rows, summary, _ = score_set(
        eval_set,
        model,
        decoding=decoding_of(setting),
        progress=not quiet,
        desc=f"{name}: {setting_label(setting)}",
    )
    return {k: v for k, v in summary.items() if k != "skipped"}, rows


class CachedOutputs:
    """The validation sweep's shortcut: the network's raw outputs for every photo are computed once
    per flip mode (:func:`colored.predict.predict_output`), then each setting only decodes
    (:func:`colored.predict.decode_output`) and recombines (:func:`colored.predict.recombine`):
    the same three functions, in the same order, as :func:`colored.inference.colorize_stream`, so
    the numbers equal :func:`colored.evaluate.score_set`'s (checked on one setting at start-up)."""

    def __init__(self, model, eval_set: EvalSet, batch_size: int = 16) -> None:
        import numpy as np

        from colored.inference import as_decoded
        from colored.predict import network_size, preprocess

        self.model, self.eval_set, self.batch_size = model, eval_set, batch_size
        pairs = [
            preprocess(as_decoded(t), network_size(model, *t.shape[:2])) for t in eval_set.trues
        ]
        self.fulls = [full for full, _ in pairs]
        self.smalls = np.stack([small for _, small in pairs])
        self.outputs: dict[bool, object] = {}

    def output(self, flip: bool):
        import numpy as np

        from colored.predict import predict_output

        if flip not in self.outputs:
            parts = [
                predict_output(
                    self.model,
                    self.smalls[i : i + self.batch_size],
                    batch_size=self.batch_size,
                    flip=flip,
                ).astype(np.float16)
                for i in range(0, len(self.smalls), self.batch_size)
            ]
            self.outputs[flip] = np.concatenate(parts)
        return self.outputs[flip]

    def score(self, setting: dict) -> tuple[dict, list]:
        import numpy as np

        from colored.predict import decode_output, recombine

        out = self.output(setting["flip"])
        rows = []
        for i in range(0, len(out), self.batch_size):
            ab = decode_output(
                self.model,
                out[i : i + self.batch_size].astype(np.float32),
                self.smalls.shape[1:3],
                decoding_of(setting),
            )
            for k, one in enumerate(ab):
                pred = recombine(self.fulls[i + k], one)
                rows.append(
                    metrics.image_metrics(pred, self.eval_set.trues[i + k], self.eval_set.prior)
                )
        return metrics.summarize(rows), rows


KEEP_COLOUR = 0.9


def choose(sweep: dict, gray: dict, mean_ab: dict) -> str:
    """The choice rule of the module docstring, on validation summaries ``{label: summary}``."""
    ok = [
        k
        for k, s in sweep.items()
        if s["confidently_wrong"] <= mean_ab["confidently_wrong"] and s["psnr"] >= gray["psnr"]
    ]
    if ok:
        return max(ok, key=lambda k: sweep[k]["colorfulness_ratio"])
    floor = KEEP_COLOUR * sweep[setting_label(OLD)]["colorfulness_ratio"]
    vivid = [k for k, s in sweep.items() if s["colorfulness_ratio"] >= floor]
    return min(vivid, key=lambda k: sweep[k]["confidently_wrong"])


def gallery(model, old: dict, new: dict, path: Path, beside=None) -> None:
    """original | gray | ``model`` at the ``old`` setting (or the ``beside`` model at its file's
    decoding: e.g. the shipped model next to its successor) | ``model`` at the ``new`` setting."""
    import numpy as np
    import skimage.data
    from PIL import Image

    from colored.inference import colorize_batch

    photos = [getattr(skimage.data, name)() for name in GALLERY_PHOTOS]
    height = 180
    rows = []
    for rgb in photos:
        before = (
            colorize_batch([rgb], beside)[0]
            if beside is not None
            else colorize_batch([rgb], model, decoding=decoding_of(old))[0]
        )
        after = colorize_batch([rgb], model, decoding=decoding_of(new))[0]
        gray = baselines.gray_prediction(rgb)
        width = int(round(rgb.shape[1] * height / rgb.shape[0]))
        cells = [
            np.asarray(Image.fromarray(x).resize((width, height), Image.Resampling.LANCZOS))
            for x in (rgb, gray, before, after)
        ]
        rows.append(
            np.concatenate(
                [np.pad(c, ((2, 2), (2, 2), (0, 0)), constant_values=255) for c in cells], 1
            )
        )
    width = max(r.shape[1] for r in rows)
    grid = np.concatenate(
        [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(
        path, quality=70, optimize=True
    )  # under the project's 150 kB limit for committed images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-dir", type=Path, default=REPO.parent / "shared" / "data" / "train")
    parser.add_argument("--eval-dir", type=Path, default=REPO.parent / "shared" / "data" / "eval")
    parser.add_argument(
        "--model", type=Path, default=REPO / "colored" / "weights" / "default.keras"
    )
    parser.add_argument(
        "--candidate", nargs=2, action="append", default=[], metavar=("LABEL", "PATH")
    )
    parser.add_argument("--temperatures", nargs="+", type=float, default=list(TEMPERATURES))
    parser.add_argument("--confidences", nargs="+", type=float, default=list(CONFIDENCES))
    parser.add_argument(
        "--flip-top", type=int, default=3, help="settings re-scored with flip averaging"
    )
    parser.add_argument(
        "--setting",
        nargs=3,
        metavar=("T", "C", "FLIP"),
        default=None,
        help="no sweep: score the old setting and this one (FLIP: 0 or 1)",
    )
    parser.add_argument(
        "--gallery", type=Path, default=None, help="write the scikit-image gallery here (JPEG)"
    )
    parser.add_argument(
        "--gallery-beside",
        type=Path,
        default=None,
        help="the gallery's third column: this model at its file's decoding (default: --model at "
        "the old setting)",
    )
    parser.add_argument(
        "--prior-corrections",
        nargs="+",
        type=float,
        default=[0.0],
        help="prior correction strengths τ to sweep (Decoding.prior_correction; default: 0 only)",
    )
    parser.add_argument(
        "--prior",
        type=Path,
        default=None,
        help="the training set's ab prior (.npy, colored.bins.cached_prior) for a model file that "
        "does not record one",
    )
    parser.add_argument("--skip-eval", action="store_true", help="validation only")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "experiment_confidence")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    model = resolve_method(str(args.model))
    if args.prior is not None:
        from colored.modelfile import record_prior

        record_prior(model, np.load(args.prior))

    val = validation_set(args.train_dir)
    print(f"validation: {len(val)} photos of {args.train_dir}", file=sys.stderr)
    baselines = {name: score_set(val, name, progress=False)[1] for name in ("gray", "mean-ab")}
    baselines = {k: {m: v for m, v in s.items() if m != "skipped"} for k, s in baselines.items()}
    settings = {}
    sweep = {}
    cached = CachedOutputs(model, val)
    check = {"temperature": 0.38, "confidence": 0.1, "flip": False}
    direct = score(
        EvalSet(val.folder, val.names[:8], val.trues[:8], [], val.size, val.prior),
        model,
        check,
        True,
        "check",
    )[0]
    via_cache = CachedOutputs(
        model, EvalSet(val.folder, val.names[:8], val.trues[:8], [], val.size, val.prior)
    )
    difference = abs(via_cache.score(check)[0]["psnr"] - direct["psnr"])
    print(
        f"cached path vs colorize_stream on 8 photos: PSNR differs by {difference:.4f} dB",
        file=sys.stderr,
    )
    grid = [
        (t, c, False, tau)
        for tau in args.prior_corrections
        for t in args.temperatures
        for c in args.confidences
    ]
    if args.setting:
        grid = [
            (OLD["temperature"], OLD["confidence"], False, 0.0),
            (
                float(args.setting[0]),
                float(args.setting[1]),
                bool(int(args.setting[2])),
                args.prior_corrections[-1],
            ),
        ]
        args.flip_top = 0
    for t, c, f, tau in grid:
        if True:
            s = {"temperature": t, "confidence": c, "flip": f, "prior_correction": tau}
            settings[setting_label(s)] = s
            sweep[setting_label(s)] = cached.score(s)[0]
            print(
                f"validation {setting_label(s)}: {sweep[setting_label(s)]['psnr']:.2f} dB, CF ratio "
                f"{sweep[setting_label(s)]['colorfulness_ratio']:.2f}, wrong {sweep[setting_label(s)]['confidently_wrong']:.3f}",
                file=sys.stderr,
            )
    floor = KEEP_COLOUR * sweep[setting_label(OLD)]["colorfulness_ratio"]
    ranked = sorted(
        (k for k in sweep if sweep[k]["colorfulness_ratio"] >= floor),
        key=lambda k: sweep[k]["confidently_wrong"],
    )
    for key in [] if args.setting else ranked[: args.flip_top] + [setting_label(OLD)]:
        s = dict(settings[key], flip=True)
        if setting_label(s) not in sweep:
            settings[setting_label(s)] = s
            sweep[setting_label(s)] = cached.score(s)[0]
    chosen_label = (
        setting_label(settings[list(settings)[-1]])
        if args.setting
        else choose(sweep, baselines["gray"], baselines["mean-ab"])
    )
    chosen = settings[chosen_label]
    print(f"chosen on validation: {chosen_label}", file=sys.stderr)

    candidates = {}
    for label, path in args.candidate:
        candidate = resolve_method(path)
        if args.prior is not None:
            from colored.modelfile import record_prior

            record_prior(candidate, np.load(args.prior))
        cand = CachedOutputs(candidate, val)
        for s in (OLD, chosen):
            candidates.setdefault(label, {})[setting_label(s)] = cand.score(s)[0]
    validation_rows = {("gray", ""): baselines["gray"], ("mean-ab", ""): baselines["mean-ab"]}
    validation_rows.update({(args.model.name, k): v for k, v in sweep.items()})
    validation_rows.update(
        {(label, k): v for label, by in candidates.items() for k, v in by.items()}
    )
    val_table = markdown_table(validation_rows, COLUMNS, labels=("method", "setting"))

    evaluation = {}
    if not args.skip_eval:
        pooled_rows: dict[str, list] = {}
        for folder in sorted(p for p in args.eval_dir.iterdir() if p.is_dir()):
            eval_set = load_set(folder)
            evaluation[eval_set.name] = {}
            for name in ("gray", "mean-ab"):
                rows, summary, _ = score_set(eval_set, name, progress=False)
                evaluation[eval_set.name][name] = {
                    k: v for k, v in summary.items() if k != "skipped"
                }
                pooled_rows.setdefault(name, []).extend(rows)
            for tag, s in (
                ("old setting " + setting_label(OLD), OLD),
                ("chosen " + chosen_label, chosen),
            ):
                summary, rows = score(eval_set, model, s, args.quiet, eval_set.name)
                evaluation[eval_set.name][tag] = summary
                pooled_rows.setdefault(tag, []).extend(rows)
        evaluation["all sets"] = {
            k: metrics.summarize([{m: v for m, v in r.items() if m != "name"} for r in rows])
            for k, rows in pooled_rows.items()
        }
    eval_table = (
        markdown_table(
            {(s, k): v for s, by in evaluation.items() for k, v in by.items()},
            COLUMNS,
            labels=("set", "method"),
        )
        if evaluation
        else ""
    )
    targets = {}
    if evaluation:
        a = evaluation["all sets"]
        g, mab, new = a["gray"], a["mean-ab"], a["chosen " + chosen_label]
        targets = {
            "psnr>=gray+1.0": [new["psnr"], g["psnr"] + 1.0, new["psnr"] >= g["psnr"] + 1.0],
            "cf_ratio>=0.75": [new["colorfulness_ratio"], 0.75, new["colorfulness_ratio"] >= 0.75],
            "js<=0.6*gray": [
                new["js_divergence"],
                0.6 * g["js_divergence"],
                new["js_divergence"] <= 0.6 * g["js_divergence"],
            ],
            "confidently_wrong<=mean-ab": [
                new["confidently_wrong"],
                mab["confidently_wrong"],
                new["confidently_wrong"] <= mab["confidently_wrong"],
            ],
        }
    if args.gallery:
        beside = resolve_method(str(args.gallery_beside)) if args.gallery_beside else None
        gallery(model, OLD, chosen, args.gallery, beside=beside)
    wall = time.perf_counter() - start
    results = {
        "started_utc": started,
        "wall_seconds": wall,
        "model": str(args.model),
        "validation": {
            "folder": str(args.train_dir),
            "n_images": len(val),
            "rule": "colored.data.is_validation",
            "baselines": baselines,
            "sweep": sweep,
            "candidates": candidates,
        },
        "settings": settings,
        "chosen": chosen,
        "old": OLD,
        "choice_rule": "confidently_wrong <= mean-ab's and psnr >= gray's on validation; then max colourfulness ratio",
        "evaluation": evaluation,
        "targets": targets,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "results.json", results)
    md = [
        f'# Experiment "confidence" ({started}, wall {wall:.0f} s)\n',
        f"## Validation ({len(val)} photos of {args.train_dir.name}), chosen: {chosen_label}\n",
        val_table,
        "## Evaluation sets\n",
        eval_table,
        "## Targets (all sets)\n",
        "\n".join(
            f"- {k}: {v[0]:.3f} vs {v[1]:.3f}: {'met' if v[2] else 'missed'}"
            for k, v in targets.items()
        ),
    ]
    (args.out / "results.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    print(f"wrote {args.out / 'results.json'}; wall {wall:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
