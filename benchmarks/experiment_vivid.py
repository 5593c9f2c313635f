"""Issue "vivid colour": is a classification head (Zhang et al. 2016) more vivid than MSE, at equal budget?

For each evaluation set (sub-folders of ``--eval-dir``: CBSD68, McMaster, Set14) it scores, under the
:mod:`colored.metrics` protocol (256² centre crop; models colorize the prepared image's L at their own
input size, ab upsampled; rebalanced AuC with the prior of the set being scored):

- the baselines ``gray`` (a = b = 0) and ``mean-ab`` (each image's own true mean ab: a flat oracle);
- the MSE arm and the classification arm of the experiment (same budget: 25 min CPU each, 64²,
  FullModel without fusion, BatchNorm; ``colored/recipes/experiment_*.yaml``), the classification
  one decoded by annealed mean at T = 0.38;
- the GPU-trained default candidate (classification, 128², 3.2 min on an H200) at T = 0.38;

then a temperature sweep T ∈ {0.2, 0.3, 0.38, 0.5, 0.7, 1.0} for the classification models, and
checks the issue's targets (all at one T): colourfulness ratio ≥ 0.8, ab-histogram JS ≤ 0.75× the
all-gray baseline's and below the MSE model's, PSNR ≥ all-gray.

Writes ``OUT/results.json`` (every summary, per-image rows, the sweep, the targets, timings),
``OUT/results.md`` (the tables) and gallery PNGs ``OUT/gallery_<set>.png`` and ``OUT/sweep.png``.
``OUT`` defaults to ``runs/experiment_vivid`` (git-ignored): the galleries show the shared evaluation
photos, whose licence forbids committing them. Commit numbers only.

    .venv/bin/python benchmarks/experiment_vivid.py
    .venv/bin/python benchmarks/experiment_vivid.py --eval-dir ../shared/data/eval --out runs/experiment_vivid
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")


from colored import metrics  # noqa: E402
from colored.evaluate import load_set, score_methods, score_set  # noqa: E402
from colored.methods import Method, resolve_method  # noqa: E402
from colored.model import input_size, is_classification  # noqa: E402
from colored.predict import decoding_for  # noqa: E402
from colored.report import markdown_table, results_table, write_json  # noqa: E402
from colored.viz import gallery_figure  # noqa: E402

TEMPERATURES = (0.2, 0.3, 0.38, 0.5, 0.7, 1.0)
MAIN_T = 0.38
TARGET_CF_RATIO = 0.8
TARGET_JS_FRACTION = 0.75  # of the all-gray baseline's JS
GALLERY_ROWS = 4
DEFAULT_MODELS = {  # label → path (relative to the repository); budgets and epochs go to results.json
    "MSE (64², CPU)": "runs/experiment-mse/model.keras",
    "cls (64², CPU)": "runs/experiment-classification/model.keras",
    "default cls (128², GPU)": ".cache/gpu/model.keras",
}
MSE_LABEL = "MSE (64², CPU)"
SWEEP_COLUMNS = (
    "colorfulness_ratio",
    "chroma_ratio",
    "js_divergence",
    "psnr",
    "ssim",
    "auc",
    "auc_rebalanced",
)


def model_info(path: Path, model) -> dict:
    info = {
        "path": str(path),
        "input_size": list(input_size(model)),
        "params": int(model.count_params()),
        "classification": is_classification(model),
        "name": model.name,
        "modified_utc": datetime.datetime.fromtimestamp(
            path.stat().st_mtime, datetime.UTC
        ).isoformat(),
    }
    for candidate in (path.parent / "history.csv", path.parent / "history.json"):
        if candidate.is_file() and candidate.suffix == ".csv":
            lines = [ln for ln in candidate.read_text().splitlines() if ln.strip()]
            if len(lines) > 1:
                header = lines[0].split(",")
                info["epochs_trained"] = len(lines) - 1
                info["last_epoch"] = dict(zip(header, lines[-1].split(",")))
            break
        if candidate.is_file() and candidate.suffix == ".json":
            history = json.loads(candidate.read_text())
            loss = history.get("loss") or []
            info["epochs_trained"] = len(loss)
            info["last_epoch"] = {k: v[-1] for k, v in history.items() if isinstance(v, list) and v}
            break
    return info


def check_targets(summaries: dict, sweep: dict, cls_label: str) -> dict:
    """Per T: which of the issue's targets the classification model meets on this set."""
    gray, mse = summaries["gray"], summaries.get(MSE_LABEL)
    rows = {}
    for t, s in sweep[cls_label].items():
        checks = {
            "cf_ratio>=0.8": s["colorfulness_ratio"] >= TARGET_CF_RATIO,
            "js<=0.75*gray": s["js_divergence"] <= TARGET_JS_FRACTION * gray["js_divergence"],
            "js<mse": None if mse is None else s["js_divergence"] < mse["js_divergence"],
            "psnr>=gray": s["psnr"] >= gray["psnr"],
        }
        rows[t] = {"checks": checks, "all": all(v is not False for v in checks.values())}
    return rows


def sweep_table(sweeps: dict) -> str:
    return markdown_table(
        {
            (set_name, label, f"{t:g}"): s
            for set_name, by_model in sweeps.items()
            for label, by_t in by_model.items()
            for t, s in by_t.items()
        },
        SWEEP_COLUMNS,
        labels=("set", "model", "T"),
    )


def targets_table(targets: dict, summaries: dict) -> str:
    lines = [
        "| set | model | T | CF ratio ≥ 0.8 | JS ≤ 0.75× gray | JS < MSE | PSNR ≥ gray | all four |",
        "|---|---|---:|:-:|:-:|:-:|:-:|:-:|",
    ]
    mark = {True: "yes", False: "no", None: "–"}
    for set_name, by_model in targets.items():
        gray_js = summaries[set_name]["gray"]["js_divergence"]
        mse_js = summaries[set_name].get(MSE_LABEL, {}).get("js_divergence", float("nan"))
        for label, by_t in by_model.items():
            for t, row in by_t.items():
                c = row["checks"]
                lines.append(
                    f"| {set_name} | {label} | {t:g} | {mark[c['cf_ratio>=0.8']]} | {mark[c['js<=0.75*gray']]} | "
                    f"{mark[c['js<mse']]} | {mark[c['psnr>=gray']]} | **{mark[row['all']]}** |"
                )
        lines.append(
            f"| {set_name} | (thresholds) | | 0.80 | ≤ {TARGET_JS_FRACTION * gray_js:.3f} | < {mse_js:.3f} | "
            f"≥ {summaries[set_name]['gray']['psnr']:.2f} | |"
        )
    return "\n".join(lines) + "\n"


def _pool(row_lists) -> dict:
    rows = [{k: v for k, v in row.items() if k != "name"} for rows in row_lists for row in rows]
    return metrics.summarize(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--eval-dir",
        type=Path,
        default=REPO.parent / "shared" / "data" / "eval",
        help="folder whose sub-folders are the evaluation sets (default ../shared/data/eval)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "experiment_vivid")
    parser.add_argument(
        "--model",
        nargs=2,
        action="append",
        metavar=("LABEL", "PATH"),
        help="replace the default models (repeat); MSE label must stay for the JS target",
    )
    parser.add_argument("--temperatures", nargs="+", type=float, default=list(TEMPERATURES))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--skip-missing", action="store_true", help="leave out models whose file is absent"
    )
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")

    specs = (
        dict(args.model) if args.model else {k: str(REPO / v) for k, v in DEFAULT_MODELS.items()}
    )
    models, infos, missing = {}, {}, []
    for label, path in specs.items():
        if not Path(path).is_file():
            if args.skip_missing:
                print(f"warning: {label}: {path} is missing, left out", file=sys.stderr)
                missing.append({"label": label, "path": path})
                continue
            print(
                f"error: {label}: model file {path} does not exist (use --skip-missing to leave it out)",
                file=sys.stderr,
            )
            return 2
        models[label] = resolve_method(path)
        infos[label] = model_info(Path(path), models[label])
    cls_labels = [label for label, m in models.items() if is_classification(m)]
    load_seconds = time.perf_counter() - start

    sets = sorted(p for p in args.eval_dir.iterdir() if p.is_dir())
    if not sets:
        print(f"error: no evaluation sets (sub-folders) in {args.eval_dir}", file=sys.stderr)
        return 2
    summaries: dict = {}
    sweep_rows: dict = {}  # label → T → per-image rows of every set (for the pooled "all" row)
    per_image: dict = {}
    sweeps: dict = {}
    targets: dict = {}
    timings: dict = {"load_models_s": load_seconds}
    args.out.mkdir(parents=True, exist_ok=True)
    import matplotlib.pyplot as plt

    from colored.viz import save_figure

    for folder in sets:
        t0 = time.perf_counter()
        eval_set = load_set(folder)
        name = eval_set.name
        methods = [Method("gray", "gray"), Method("mean-ab", "mean-ab")]
        methods += [
            Method(label, m, decoding_for(m, temperature=MAIN_T), f"{label} T={MAIN_T:g}")
            if label in cls_labels
            else Method(label, m)
            for label, m in models.items()
        ]
        scores = score_methods(
            eval_set,
            methods,
            batch_size=args.batch_size,
            progress=not args.quiet,
            keep=GALLERY_ROWS,
        )
        summaries[name], per_image[name], sweeps[name] = scores.summaries, scores.per_image, {}
        first_at_main_t = {
            label: scores.kept[label][0] for label in cls_labels if scores.kept[label]
        }
        fig = gallery_figure(scores.gallery, scores.titles, cell=2.2)
        save_figure(fig, args.out / f"gallery_{name}.png")
        plt.close(fig)

        sweep_panels = {}
        for label in cls_labels:
            sweeps[name][label] = {}
            for t in args.temperatures:
                if t == MAIN_T:
                    summary = summaries[name][label]
                    kept = [first_at_main_t[label]]
                    rows = per_image[name][label]
                else:
                    rows, summary, kept = score_set(
                        eval_set,
                        models[label],
                        temperature=t,
                        batch_size=args.batch_size,
                        progress=not args.quiet,
                        keep=1,
                        desc=f"{name}: {label} T={t:g}",
                    )
                sweeps[name][label][t] = {k: v for k, v in summary.items() if k != "skipped"}
                sweep_rows.setdefault(label, {}).setdefault(t, []).extend(rows)
                sweep_panels.setdefault(label, {})[t] = kept[0] if kept else None
        targets[name] = {
            label: check_targets(summaries[name], sweeps[name], label) for label in cls_labels
        }
        timings[f"{name}_s"] = time.perf_counter() - t0
        print(f"{name}: {len(eval_set)} images, {timings[f'{name}_s']:.1f} s", file=sys.stderr)

        if (
            name == sets[0].name and cls_labels
        ):  # one photo across temperatures, per classification model
            first = eval_set.trues[0]
            rows = {}
            for label in cls_labels:
                rows[label] = [first] + [sweep_panels[label][t] for t in args.temperatures]
            fig = gallery_figure(
                rows, ["ground truth"] + [f"T={t:g}" for t in args.temperatures], cell=2.2
            )
            save_figure(fig, args.out / "sweep.png")
            plt.close(fig)

    # Pooled over every image of every set (each image weighs the same; its rebalanced AuC keeps its own
    # set's prior). Its targets are judged against the pooled baselines.
    pooled = "all sets"
    summaries[pooled] = {
        label: _pool([per_image[s][label] for s in per_image]) for label in summaries[sets[0].name]
    }
    sweeps[pooled] = {
        label: {t: _pool([rows]) for t, rows in by_t.items()} for label, by_t in sweep_rows.items()
    }
    targets[pooled] = {
        label: check_targets(summaries[pooled], sweeps[pooled], label) for label in cls_labels
    }
    wall = time.perf_counter() - start
    timings["total_s"] = wall
    import keras

    results = {
        "started_utc": started,
        "wall_seconds": wall,
        "timings": timings,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "keras": keras.__version__,
            "backend": keras.backend.backend(),
            "note": "CPU evaluation",
        },
        "protocol": "colored.metrics: 256² centre-crop bicubic ground truth; models colorize the prepared L at their "
        "input size, ab bilinear to 256²; rebalanced AuC prior = the set being scored; ratios of means",
        "models": infos,
        "missing": missing,
        "main_temperature": MAIN_T,
        "temperatures": list(args.temperatures),
        "targets_definition": {
            "colorfulness_ratio": f">= {TARGET_CF_RATIO}",
            "js_divergence": f"<= {TARGET_JS_FRACTION} x gray's and < MSE model's",
            "psnr": ">= gray's",
            "at": "one temperature, per set",
        },
        "summaries": summaries,
        "sweep": {
            s: {m: {str(t): v for t, v in by_t.items()} for m, by_t in by_m.items()}
            for s, by_m in sweeps.items()
        },
        "targets": {
            s: {m: {str(t): v for t, v in by_t.items()} for m, by_t in by_m.items()}
            for s, by_m in targets.items()
        },
        "per_image": per_image,
    }
    write_json(args.out / "results.json", results)
    md = [
        f'# Experiment "vivid colour" ({started}, wall {wall:.0f} s)\n',
        "## All methods (classification models at T = 0.38)\n",
        results_table(summaries),
        "## Temperature sweep\n",
        sweep_table(sweeps),
        "## Targets (per set, per T)\n",
        targets_table(targets, summaries),
    ]
    (args.out / "results.md").write_text("\n".join(md))
    print("\n".join(md))
    print(
        f"wrote {args.out / 'results.json'}, {args.out / 'results.md'} and galleries; wall {wall:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
