"""Figures: original | gray | predicted comparisons, image grids, training curves, ab histograms."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

if not matplotlib.get_backend().lower().startswith(("module://matplotlib_inline", "module://ipykernel")):
    matplotlib.use("Agg")  # headless everywhere except inside a notebook kernel
import matplotlib.pyplot as plt
import numpy as np

from colored import color


def comparison_figure(originals: Sequence[np.ndarray], predictions: Sequence[np.ndarray],
                      title: str | None = None, cell: float = 2.2) -> plt.Figure:
    """Rows of original | gray | predicted (the seed's callback figure, for several images)."""
    rows = len(originals)
    fig, axes = plt.subplots(rows, 3, figsize=(3 * cell, rows * cell), squeeze=False)
    for row, (original, predicted) in enumerate(zip(originals, predictions)):
        for ax, image, label in zip(axes[row], (original, color.rgb_to_gray(original), predicted),
                                    ("original", "gray (input)", "predicted")):
            ax.imshow(color.to_float_rgb(np.asarray(image)))
            ax.set_axis_off()
            if row == 0:
                ax.set_title(label, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def image_grid(images: Sequence[np.ndarray], titles: Sequence[str] | None = None, columns: int = 6,
               cell: float = 1.6) -> plt.Figure:
    rows = max(1, int(np.ceil(len(images) / columns)))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * cell, rows * cell), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < len(images):
            ax.imshow(color.to_float_rgb(np.asarray(images[i])), cmap="gray")
            if titles:
                ax.set_title(titles[i], fontsize=7)
    fig.tight_layout()
    return fig


def history_figure(history: dict[str, list[float]], keys: Sequence[str] | None = None) -> plt.Figure:
    """One panel per metric (loss, ab accuracy, …), training and validation together."""
    keys = keys or [k for k in history if not k.startswith("val_") and k not in ("epoch", "learning_rate")]
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3), squeeze=False)
    for ax, key in zip(axes[0], keys):
        ax.plot(history[key], label="train")
        if f"val_{key}" in history:
            ax.plot(history[f"val_{key}"], label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def ab_histogram_figure(ab_sets: dict[str, np.ndarray], bins: int = 44) -> plt.Figure:
    """2-D histograms (log density) of ab values, one panel per named set."""
    fig, axes = plt.subplots(1, len(ab_sets), figsize=(3.2 * len(ab_sets), 3), squeeze=False)
    for ax, (name, ab) in zip(axes[0], ab_sets.items()):
        flat = np.asarray(ab).reshape(-1, 2)
        ax.hist2d(flat[:, 1], flat[:, 0], bins=bins, range=[[-110, 110], [-110, 110]], cmap="magma",
                  norm=matplotlib.colors.LogNorm())
        ax.set_xlabel("b (blue ← → yellow)")
        ax.set_ylabel("a (green ← → red)")
        ax.set_title(name, fontsize=9)
    fig.tight_layout()
    return fig


def save_figure(fig: plt.Figure, path: str | Path, dpi: int = 80) -> Path:
    """Save as PNG (modest dpi keeps committed notebook outputs and run folders small)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def in_notebook() -> bool:
    try:
        from IPython import get_ipython

        return get_ipython() is not None and "IPKernelApp" in get_ipython().config
    except ImportError:
        return False


def show_or_close(fig: plt.Figure) -> None:
    """Show inline in a notebook, otherwise just free the figure."""
    if in_notebook():
        from IPython.display import display

        display(fig)
    plt.close(fig)
