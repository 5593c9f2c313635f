"""Issue 21: what the real ImageNet encoder adds — the ablation a student would ask for.

Three arms, trained the same way from the same start (``--init-weights``: default model v3 and its
ablation started from v2, the packaged network then), on
the training photos minus the fixed validation split, for the same number of steps:

- **encoder**: ``colored/recipes/v3_cpu.yaml`` — ColorED's fusion with MobileNetV2's ImageNet class
  probabilities of the gray photo (``colored/encoder.py``), tiled at the bottleneck; the fusion kernel
  starts at zero for them, so the arm starts out as v2;
- **spatial encoder**: ``colored/recipes/v3_cpu_spatial.yaml`` — MobileNetV2's 14×14 feature map
  instead of its class probabilities, resized onto the bottleneck (where things are, not only what);
- **no encoder**: ``colored/recipes/v3_cpu_nofusion.yaml`` — the same run without it.

Each arm's ``best.keras`` (best epoch on validation) is scored on the validation split and on every
evaluation set (``--eval-dir``, each photo once), beside ``--reference`` and the gray and mean-ab baselines, at
the default decoding; the training throughput of each arm (photos/s; embeddings computed once, on first use, then cached) is timed
in the same run. Steps, not minutes, make the budget, so the arms compare fairly on a shared
machine. Runs resume: an arm whose run folder is finished is not trained again.

Writes ``OUT/results.json`` and ``OUT/results.md``; prints the tables. Numbers only.

    git show ec60fa4:colored/weights/default.keras > v2.keras   # v2, the start of default model v3
    .venv/bin/python benchmarks/experiment_encoder.py --epochs 30 --arms "spatial encoder" "no encoder" \
        --init-weights v2.keras --reference v2.keras --out runs/v3   # default model v3 and its ablation
    .venv/bin/python benchmarks/experiment_encoder.py --init-weights v2.keras --out runs/all-arms   # all three
    .venv/bin/python benchmarks/experiment_encoder.py --init-weights v2.keras --rebalance 0.75 --out runs/r75  # an earlier run
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from experiment_confidence import COLUMNS, validation_set  # noqa: E402 - the same validation split and columns

from colored import Config  # noqa: E402
from colored.evaluate import load_set, score_set  # noqa: E402
from colored.report import markdown_table  # noqa: E402

PACKAGED = REPO / "colored" / "weights" / "default.keras"
ARMS = {
    "encoder": "colored/recipes/v3_cpu.yaml",
    "spatial encoder": "colored/recipes/v3_cpu_spatial.yaml",
    "no encoder": "colored/recipes/v3_cpu_nofusion.yaml",
}


def train_arm(name: str, recipe: str, args) -> dict:
    from colored.train import train

    config = Config.load(REPO / recipe).replace(
        dataset_dir=str(args.train_dir),
        run_dir=str(args.out / name.replace(" ", "-")),
        cache_dir=str(args.out / "cache"),
        init_weights=str(args.init_weights),
        steps_per_epoch=args.steps_per_epoch,
        **({"rebalance": args.rebalance} if args.rebalance is not None else {}),
        **({"epochs": args.epochs} if args.epochs is not None else {}),
    )
    started = time.monotonic()
    result = train(config, verbose=2, log=print)
    seconds = time.monotonic() - started
    photos = result.epochs_trained * config.steps_per_epoch * config.batch_size
    return {
        "recipe": recipe,
        "run_dir": config.run_dir,
        "epochs_trained": result.epochs_trained,
        "steps": result.epochs_trained * config.steps_per_epoch,
        "photos_seen": photos,
        "seconds": round(seconds, 1),
        "photos_per_second": round(photos / seconds, 2) if photos else None,
        "best": str(Path(config.run_dir) / "best.keras"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-dir", type=Path, default=REPO.parent / "shared" / "data" / "train")
    parser.add_argument("--eval-dir", type=Path, default=REPO.parent / "shared" / "data" / "eval")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "experiment_encoder")
    parser.add_argument(
        "--epochs", type=int, default=None, help="epochs per arm (default: the recipes' own, 20)"
    )
    parser.add_argument("--steps-per-epoch", type=int, default=30, help="(default %(default)s)")
    parser.add_argument(
        "--init-weights",
        type=Path,
        required=True,
        help="the model every arm starts from; default model v3 and its ablation started from v2: "
        "git show ec60fa4:colored/weights/default.keras > v2.keras",
    )
    parser.add_argument(
        "--reference",
        type=Path,
        default=PACKAGED,
        help="the model scored beside the arms (default: the packaged default)",
    )
    parser.add_argument("--skip-eval", action="store_true", help="validation only")
    parser.add_argument(
        "--arms",
        nargs="+",
        choices=list(ARMS),
        default=list(ARMS),
        help="which arms to train and score (default: all)",
    )
    parser.add_argument(
        "--rebalance",
        type=float,
        default=None,
        help="class-rebalancing λ for both arms (default: the recipes' own; 1 = none)",
    )
    args = parser.parse_args()
    for folder in (args.train_dir,) + (() if args.skip_eval else (args.eval_dir,)):
        if not folder.is_dir():
            sys.exit(
                f"{folder} not found: pass --train-dir / --eval-dir (the shared photos, ../shared/data)"
            )

    runs = {name: train_arm(name, ARMS[name], args) for name in args.arms}
    methods = {
        "gray": "gray",
        "mean-ab": "mean-ab",
        f"reference ({args.reference.name})": str(args.reference),
    }
    methods.update({f"v3 {name}": run["best"] for name, run in runs.items()})

    sets = {"validation": validation_set(args.train_dir)}
    if not args.skip_eval:
        sets.update(
            {
                folder.name: load_set(folder)
                for folder in sorted(args.eval_dir.iterdir())
                if folder.is_dir()
            }
        )
    scores: dict = {}
    for set_name, eval_set in sets.items():
        for label, method in methods.items():
            _, summary, _ = score_set(eval_set, method, progress=False)
            scores[(set_name, label)] = {k: v for k, v in summary.items() if k != "skipped"}
            print(
                f"{set_name:>10}  {label:<16} PSNR {summary['psnr']:.2f}  CF ratio {summary['colorfulness_ratio']:.2f}"
                f"  JS {summary['js_divergence']:.3f}  conf. wrong {summary['confidently_wrong']:.3f}",
                flush=True,
            )
    table = markdown_table(scores, COLUMNS, labels=("set", "method"))
    speed = "\n".join(
        f"| {name} | {r['steps']} | {r['photos_seen']} | {r['seconds']:.0f} | {r['photos_per_second']} |"
        for name, r in runs.items()
    )
    report = (
        f"# What the ImageNet encoder adds ({datetime.date.today()})\n\n{table}\n\n"
        "| arm | steps | photos seen | seconds | photos/s (training; each embedding computed once, on first use) |\n|---|---:|---:|---:|---:|\n"
        f"{speed}\n"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text(report)
    (args.out / "results.json").write_text(
        json.dumps(
            {"runs": runs, "scores": {f"{s} | {m}": v for (s, m), v in scores.items()}},
            indent=1,
            default=float,
        )
    )
    print("\n" + report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
