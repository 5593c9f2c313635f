"""Reporting metric summaries: the Markdown tables every report and notebook prints, the JSON
record (``metrics.json``, NaN-safe), ``colored evaluate``'s report files and the baselines' table.
Reporting, not measuring: the numbers come from :mod:`colored.metrics` and :mod:`colored.evaluate`.
An ``evaluation`` argument is a :class:`colored.evaluate.Evaluation` (duck-typed: evaluate imports
this module, not the other way round).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from colored import baselines, metrics

# Default table columns (colored.report.markdown_table), their rounding (decimal places) and headers.
DEFAULT_COLUMNS: tuple[str, ...] = (
    "psnr",
    "ssim",
    "colorfulness",
    "colorfulness_ratio",
    "chroma_ratio",
    "auc",
    "auc_rebalanced",
    "ab_rmse",
    "js_divergence",
    "confidently_wrong",
)
DECIMALS: dict[str, int] = {
    "psnr": 2,
    "ssim": 3,
    "colorfulness": 1,
    "colorfulness_true": 1,
    "chroma": 1,
    "chroma_true": 1,
    "colorfulness_ratio": 2,
    "chroma_ratio": 2,
    "auc": 3,
    "auc_rebalanced": 3,
    "ab_rmse": 1,
    "js_divergence": 3,
    "confidently_wrong": 3,
}
HEADERS: dict[str, str] = {
    "psnr": "PSNR (dB) ↑",
    "ssim": "SSIM ↑",
    "colorfulness": "CF",
    "colorfulness_true": "CF (GT)",
    "chroma": "C*ab",
    "chroma_true": "C*ab (GT)",
    "colorfulness_ratio": "CF ratio →1",
    "chroma_ratio": "chroma ratio →1",
    "auc": "AuC ↑",
    "auc_rebalanced": "AuC rebal. ↑",
    "ab_rmse": "ab RMSE ↓",
    "js_divergence": "JS (bits) ↓",
    "confidently_wrong": "conf. wrong ↓",
}
TABLE_COLUMNS: tuple[str, ...] = ("n_images",) + DEFAULT_COLUMNS


def format_value(key: str, value: Any) -> str:
    """A metric value for a table: rounded as :data:`colored.DECIMALS` says; counts as
    integers; ``–`` when missing; ``nan`` / ``inf`` spelled out."""
    if value is None:
        return "–"
    if key in ("n_images", "n_skipped"):
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{DECIMALS.get(key, 3)}f}"


def markdown_table(
    rows: Mapping[Any, Mapping[str, Any]],
    columns: Sequence[str] = DEFAULT_COLUMNS,
    labels: Sequence[str] = ("method",),
) -> str:
    """A Markdown table of metric summaries: one row per entry of ``rows``, one column per metric.

    A row's key is its label (``"gray"``), or a tuple of labels, one per ``labels`` column
    (``("CBSD68", "gray")`` with ``labels=("set", "method")``). Rounding: PSNR 2 dp, SSIM 3,
    colourfulness / chroma 1, ratios 2, AuC 3, ab RMSE 1, JS 3 (:data:`colored.DECIMALS`);
    a metric a row lacks shows as "–". Columns no row has are left out.
    """
    cols = [c for c in columns if any(c in r for r in rows.values())]
    lines = [
        "| "
        + " | ".join(labels)
        + " | "
        + " | ".join(HEADERS.get(c, "n" if c == "n_images" else c) for c in cols)
        + " |",
        "|" + "---|" * len(labels) + "---:|" * len(cols),
    ]
    for key, summary in rows.items():
        keys = key if isinstance(key, tuple) else (key,)
        lines.append(
            "| "
            + " | ".join(map(str, keys))
            + " | "
            + " | ".join(format_value(c, summary.get(c)) for c in cols)
            + " |"
        )
    return "\n".join(lines) + "\n"


def results_table(
    results: Mapping[str, Mapping[str, Mapping[str, Any]]], columns: Sequence[str] = TABLE_COLUMNS
) -> str:
    """One Markdown table, one row per method per set: ``results[set][method] = summary``."""
    return markdown_table(
        {
            (set_name, label): summary
            for set_name, methods in results.items()
            for label, summary in methods.items()
        },
        columns,
        labels=("set", "method"),
    )


def _json_safe(value: Any) -> Any:
    """Non-finite floats → None (strict JSON has no inf / nan); numpy scalars → Python."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_json(path: str | Path, data: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_json_safe(data), indent=1, allow_nan=False) + "\n")
    return path


def write_reports(
    evaluation: Any, out: str | Path, written: list[Path] | None = None
) -> list[Path]:
    """Write ``out/metrics.json``, ``out/metrics.md`` and (when there are gallery rows)
    ``out/gallery.png``; each path is appended to ``written`` as soon as it is complete (so a
    caller still knows what was written when a later file raises ``OSError``)."""
    out = Path(out)
    written = [] if written is None else written
    written.append(write_json(out / "metrics.json", evaluation.report))
    (out / "metrics.md").write_text(markdown_report(evaluation))
    written.append(out / "metrics.md")
    if evaluation.gallery:
        import matplotlib.pyplot as plt

        from colored.viz import gallery_figure, save_figure

        fig = gallery_figure(evaluation.gallery, evaluation.titles)
        try:
            written.append(save_figure(fig, out / "gallery.png"))
        finally:
            plt.close(fig)
    return written


def protocol(size: int) -> dict[str, Any]:
    """The evaluation protocol, as recorded in ``metrics.json``."""
    return {
        "ground_truth": f"centre crop to square, {size}x{size} PIL bicubic, RGB uint8 (colored.metrics.prepare)",
        "models": "L of the prepared image resized (bicubic) to the network input; ab upsampled bilinearly "
        f"to {size}x{size} and joined with the prepared L",
        "psnr_cap_db": metrics.PSNR_CAP,
        "auc_thresholds": "0..150 ab units",
        "rebalancing_prior": "22x22 ab prior of the set being scored (its ground truths)",
        "js_histogram": "22x22 cells of 10 ab units over [-110, 110)^2, bits",
        "confidently_wrong": f"share of pixels with predicted C*ab >= {metrics.CONFIDENT_CHROMA:g} and ab error "
        f">= {metrics.WRONG_AB_ERROR:g}",
        "ratios": "ratio of means (mean prediction / mean ground truth)",
    }


def markdown_report(evaluation: Any) -> str:
    """``metrics.md``: the protocol in one line, the table, the skipped files."""
    lines = [
        "# colored evaluate\n",
        f"Protocol: `colored.metrics` at {evaluation.size}², rebalanced AuC with the "
        "prior of the set being scored; ratios are ratios of means. ↑ higher is better, ↓ lower, →1 closer to 1.\n",
        evaluation.table(),
    ]
    for set_name, entry in evaluation.report["sets"].items():
        for item in entry["skipped"]:
            lines.append(f"- skipped {set_name}/{item['name']}: {item['reason']}")
    return "\n".join(lines) + "\n"


def baselines_report(folder: str | Path, size: int = metrics.EVAL_SIZE) -> str:
    """The gray and mean-ab baselines on a folder's image files (:func:`colored.metrics.load_prepared`):
    a Markdown heading (images, size, the ground truth's colourfulness) and their table."""
    trues = metrics.load_prepared(folder, size)
    rows = baselines.evaluate_baselines(trues)
    cf_true = rows["gray"]["colorfulness_true"]
    return (
        f"### {Path(folder).name} ({len(trues)} images, {size}², ground-truth CF {cf_true:.1f})\n\n"
        + markdown_table(rows)
    )
