"""Figures: original | gray | predicted comparisons, image grids, training curves, ab histograms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

if (
    not matplotlib.get_backend()
    .lower()
    .startswith(("module://matplotlib_inline", "module://ipykernel"))
):
    matplotlib.use("Agg")  # headless everywhere except inside a notebook kernel
import matplotlib.pyplot as plt
import numpy as np

from colored import color
from colored.color import AbStatistics


def gallery_figure(
    rows: Mapping[str, Sequence[np.ndarray]] | Sequence[Sequence[np.ndarray]],
    titles: Sequence[str],
    cell: float = 2.0,
    *,
    title: str | None = None,
    fontsize: int = 8,
) -> plt.Figure:
    """A grid of images: one row per entry of ``rows``, one column per image in it (``titles``
    label the columns), e.g. ground truth | gray | method A | method B. ``rows`` is a mapping (its
    keys label the rows) or a plain sequence of rows (no labels: the axes are hidden entirely).
    ``title``: a title above the whole figure."""
    labelled = isinstance(rows, Mapping)
    items = list(rows.items()) if labelled else [(None, row) for row in rows]
    n_rows = max(1, len(items))
    n_cols = max([len(titles)] + [len(images) for _, images in items])
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(n_cols * cell, n_rows * cell), squeeze=False)
    for r, (label, images) in enumerate(items):
        for c in range(n_cols):
            ax = axes[r, c]
            if c < len(images):
                ax.imshow(color.to_float_rgb(np.asarray(images[c])))
            if labelled:
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_visible(False)
                if c == 0:
                    ax.set_ylabel(label, fontsize=7)
            else:
                ax.set_axis_off()
            if r == 0 and c < len(titles):
                ax.set_title(titles[c], fontsize=fontsize)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def comparison_figure(
    originals: Sequence[np.ndarray],
    predictions: Sequence[np.ndarray],
    title: str | None = None,
    cell: float = 2.2,
) -> plt.Figure:
    """Rows of original | gray | predicted (ColorED's callback figure, for several images)."""
    rows = [
        (original, color.rgb_to_gray(original), predicted)
        for original, predicted in zip(originals, predictions)
    ]
    return gallery_figure(
        rows, ("original", "gray (input)", "predicted"), cell, title=title, fontsize=9
    )


def image_grid(
    images: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    columns: int = 6,
    cell: float = 1.6,
    *,
    min_cell: float = 1.5,
    max_width: float = 10.0,
) -> plt.Figure:
    """Images in a grid, ``cell`` inches per image (titles above them get their own room).

    Readable by default in JupyterLab and Colab: a cell is at least ``min_cell`` inches (a 64² view at
    1.1 in renders as a thumbnail), and when ``columns`` cells would make the figure wider than
    ``max_width`` inches (Colab shrinks wider figures to its output width) the images wrap onto more,
    evenly filled rows (8 images: 4 + 4, not 6 + 2)."""
    count = max(1, len(images))
    cell = max(cell, min_cell)
    columns = max(1, min(columns, count))
    fit = max(1, int(max_width // cell))
    if columns > fit:
        columns = int(np.ceil(count / np.ceil(count / fit)))  # fewest rows that fit, filled evenly
    rows = int(np.ceil(count / columns))
    title_room = (
        0.3 if titles else 0.05
    )  # inches per row for an 8-pt title, so the image keeps ``cell``
    fig, axes = plt.subplots(
        rows, columns, figsize=(columns * cell, rows * (cell + title_room)), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < len(images):
            ax.imshow(color.to_float_rgb(np.asarray(images[i])), cmap="gray")
            if titles:
                ax.set_title(titles[i], fontsize=8)
    fig.tight_layout(pad=0.3)
    return fig


#: history.json's one key that is not a per-epoch list: the epochs done before each resume (1-based,
#: ascending): ``"resumed_after": [2]`` = epochs 1-2 ran, then a rerun went on from 3. Written by
#: colored.callbacks.HistoryJSON, drawn by history_figure.
RESUMED_AFTER = "resumed_after"
#: history.json keys that are not per-epoch metrics: the epoch numbers, the learning rate (a setting,
#: drawn only when asked for) and the resume record.
NOT_METRICS = frozenset({"epoch", "learning_rate", "lr", RESUMED_AFTER})


def metric_labels(key: str, loss: str | None = None) -> tuple[str, str]:
    """``(title, y label)`` in words for a history key (``val_`` prefix ignored). ``loss`` is the
    config's loss (``"mse"`` or ``"classification"``): what the ``loss`` curve measures."""
    key = key.removeprefix("val_")
    if key == "loss":
        if loss == "mse":
            return "loss: mean squared error of ab/128", "MSE, (ab/128)²"
        if loss == "classification":
            return (
                "loss: cross-entropy over the ab bins (rebalanced)",
                "weighted cross-entropy (nats/pixel)",
            )
        return "loss (the training objective)", "loss"
    if key.startswith("ab_acc_"):
        threshold = key.removeprefix("ab_acc_")
        return f"pixels within {threshold} Lab units of the true colour", "share of pixels"
    if key in ("learning_rate", "lr"):
        return "learning rate (Adam)", "learning rate"
    return key.replace("_", " "), key


def _epoch_ticks(last: int) -> list[int]:
    """Integer epoch ticks from 1: every epoch for short runs, else 1 and round multiples."""
    if last <= 15:
        return list(range(1, last + 1))
    step = int(
        np.diff(matplotlib.ticker.MaxNLocator(nbins=6, integer=True).tick_values(1, last))[0]
    )
    return [1] + [t for t in range(step, last + 1, step) if t - 1 >= step / 2]


def history_figure(
    history: Mapping[str, Sequence[float]],
    keys: Sequence[str] | None = None,
    *,
    loss: str | None = None,
    width: float = 9.0,
) -> plt.Figure:
    """Training curves from a run's ``history.json``: one panel per metric (default: every per-epoch
    metric, e.g. the loss and the ab accuracy), training and validation together.

    Epochs are counted from 1 on the x axis (history.json stores Keras' 0-based ``epoch``); titles and
    y labels say what is measured (``loss``: the config's loss, ``"mse"`` or ``"classification"``);
    each resume recorded in ``history["resumed_after"]`` (epochs done before a rerun continued the
    run) is a dashed vertical line: the rerun goes on from the backup's weights but starts its
    callbacks (the learning-rate plateau's patience) and random state afresh, so a jump in the curves
    there can come from the interruption. ``width`` in inches (about 9 fits JupyterLab and Colab)."""
    epochs = list(history.get("epoch", []))
    if keys is None:
        keys = [
            k
            for k, v in history.items()
            if not k.startswith("val_")
            and k not in NOT_METRICS
            and isinstance(v, (list, tuple))
            and (not epochs or len(v) == len(epochs))
        ]
    keys = sorted(keys, key=lambda k: k != "loss") or [
        "loss"
    ]  # the objective first, then the metrics
    count = len(next((history[k] for k in keys if k in history), epochs))
    x = [int(e) + 1 for e in epochs] if len(epochs) == count else list(range(1, count + 1))
    fig, axes = plt.subplots(
        1, len(keys), figsize=(width if len(keys) > 1 else width / 1.8, 3.4), squeeze=False
    )
    for ax, key in zip(axes[0], keys):
        title, ylabel = metric_labels(key, loss)
        marker = "o" if len(x) <= 30 else None  # a few epochs: show the measured points
        if key in history:
            ax.plot(x, history[key], marker=marker, markersize=4, label="training")
        if f"val_{key}" in history:
            ax.plot(x, history[f"val_{key}"], marker=marker, markersize=4, label="validation")
        resumed = [int(done) for done in history.get(RESUMED_AFTER, [])]
        for i, done in enumerate(
            resumed
        ):  # between epoch `done` and the next one; one legend entry
            label = (
                f"resumed after epoch {', '.join(map(str, resumed))}" if i == 0 else "_nolegend_"
            )
            ax.axvline(done + 0.5, color="0.4", linestyle="--", linewidth=1, label=label)
        if key.startswith("ab_acc_"):
            ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
        if x:
            ax.set_xticks(_epoch_ticks(max(x)))
            ax.set_xlim(0.5, max(x) + 0.5)
        ax.set_xlabel("epoch", fontsize=9)
        ax.set_ylabel(ylabel, fontsize=9)
        ax.set_title(title, fontsize=10)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def ab_histogram_figure(
    ab_sets: Mapping[str, np.ndarray | AbStatistics], bins: int = 44, *, cell: float = 3.6
) -> plt.Figure:
    """2-D histograms of ab values, one panel per named set: arrays of ab values or
    :class:`~colored.color.AbStatistics` accumulations on a grid (whose own grid is drawn). Colour: pixels per bin on a log
    scale, with one normalisation and one colour bar for all panels, so the same colour means the
    same count in every panel (true vs predicted compare by eye). ``cell``: inches per panel."""
    histograms = [
        ab if isinstance(ab, AbStatistics) else AbStatistics(bins).add(ab)
        for ab in ab_sets.values()
    ]
    top = max([int(h.counts.max()) for h in histograms] + [1])
    norm = matplotlib.colors.LogNorm(
        vmin=1, vmax=max(top, 10)
    )  # shared: counts of 1 up to the fullest bin
    fig, axes = plt.subplots(
        1,
        len(histograms),
        figsize=(cell * len(histograms) + 1.2, cell),
        squeeze=False,
        layout="constrained",
    )  # constrained: room for the colour bar
    for ax, name, histogram in zip(axes[0], ab_sets, histograms):
        edges = np.linspace(*histogram.range, histogram.bins + 1)
        counts = np.ma.masked_equal(
            histogram.counts, 0
        )  # empty cells: background, as hist2d draws them
        mesh = ax.pcolormesh(edges, edges, counts, cmap="magma", norm=norm)
        ax.axhline(0, color="0.6", linewidth=0.5)  # a = b = 0: neutral gray
        ax.axvline(0, color="0.6", linewidth=0.5)
        ax.set_aspect("equal")
        ax.set_xlabel("b (blue ← → yellow)", fontsize=9)
        ax.set_ylabel("a (green ← → red)", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.set_title(name, fontsize=10)
    bar = fig.colorbar(mesh, ax=list(axes[0]), shrink=0.9)
    bar.set_label("pixels per bin (log scale)", fontsize=9)
    bar.ax.yaxis.set_major_formatter(
        matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}")
    )  # 1, 10, 100
    bar.ax.tick_params(labelsize=8)
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


def lab_channels_figure(rgb: np.ndarray, cell: float = 2.4) -> plt.Figure:
    """One photo as the network sees it: RGB | L (input) | a (green–red) | b (blue–yellow), Lab units."""
    lab = color.rgb_to_lab(np.asarray(rgb))
    panels = [
        (color.to_float_rgb(np.asarray(rgb)), None, None, "RGB"),
        (lab[..., 0], "gray", (0, 100), "L (input, 0..100)"),
        (lab[..., 1], "RdYlGn_r", (-100, 100), "a (target: green ← → red)"),
        (lab[..., 2], "RdYlBu_r", (-100, 100), "b (target: blue ← → yellow)"),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(len(panels) * cell, cell + 0.3))
    for ax, (image, cmap, limits, title) in zip(axes, panels):
        shown = ax.imshow(
            image, cmap=cmap, vmin=limits[0] if limits else None, vmax=limits[1] if limits else None
        )
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
        if cmap:
            fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.03).ax.tick_params(labelsize=8)
    fig.tight_layout()
    return fig


def parameter_table(model) -> str:
    """Parameters per block of a colorization model (layer-name prefixes encoder / fusion / decoder /
    ab head), as aligned text with the total: the numbers to compare with ColorED's design."""
    blocks: dict[str, int] = {}
    names = {"encoder": "encoder", "fusion": "fusion", "decoder": "decoder", "ab": "head (ab)"}
    for layer in model.layers:
        block = names.get(layer.name.split("_")[0], "other")
        blocks[block] = blocks.get(block, 0) + int(layer.count_params())
    total = int(model.count_params())
    lines = [
        f"{block:<10} {count:>10,}  {100 * count / max(total, 1):5.1f} %"
        for block, count in blocks.items()
        if count or block != "other"
    ]
    return "\n".join(lines + [f"{'total':<10} {total:>10,}"])


def photo_row_figure(
    images: Sequence[np.ndarray], titles: Sequence[str], cell: float = 3.0
) -> plt.Figure:
    """Photos of one size side by side, ``cell`` inches wide each, at their own aspect ratio (e.g.
    before | after)."""
    height, width = np.asarray(images[0]).shape[:2]
    fig, axes = plt.subplots(
        1, len(images), figsize=(len(images) * cell, cell * height / width + 0.4), squeeze=False
    )
    for ax, image, title in zip(axes[0], images, titles):
        ax.imshow(image)
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def temperature_label(temperature: float) -> str:
    """What the annealed mean's temperature does, for a figure title: ``"T = 0.01 (≈ the mode)"``,
    ``"T = 0.38 (vivid)"``, ``"T = 1.0 (the mean)"``, ``"T = 4.0 (flatter: grayer)"``."""
    from colored.config import DEFAULT_TEMPERATURE

    if temperature <= 0.05:
        kind = "≈ the mode"
    elif temperature == DEFAULT_TEMPERATURE:
        kind = "the default"
    elif temperature < 1:
        kind = "vivid"
    elif temperature == 1:
        kind = "the mean"
    else:
        kind = "flatter: grayer"
    return f"T = {temperature} ({kind})"


def temperature_figure(
    images: Sequence[np.ndarray], temperatures: Sequence[float], cell: float = 3.0
) -> plt.Figure:
    """One photo colorized at several decoding temperatures, side by side, each titled with
    :func:`temperature_label`."""
    return photo_row_figure(images, [temperature_label(t) for t in temperatures], cell=cell)


BACKBONE_NAMES = {"inception_resnet_v2": "InceptionResNetV2", "mobilenet_v2": "MobileNetV2"}


def embedding_figure(
    embedding: np.ndarray, trained: bool, top: int = 5, backbone: str = "inception_resnet_v2"
) -> plt.Figure:
    """The 1,000 ImageNet class probabilities of one image as a bar chart, the ``top`` largest
    marked: peaked for a trained backbone, flat (every class ≈ 1/1000) for random weights."""
    probabilities = np.asarray(embedding, np.float64).ravel()
    fig, ax = plt.subplots(figsize=(8, 2.6))
    # One filled step curve, not 1,000 bar patches (seconds to draw, the same picture).
    ax.fill_between(
        np.arange(len(probabilities)), probabilities, step="mid", color="0.35", linewidth=0
    )
    best = np.argsort(probabilities)[::-1][:top]
    ax.plot(best, probabilities[best], "v", color="tab:red", label=f"top {top}")
    ax.axhline(
        1 / len(probabilities),
        color="tab:blue",
        linestyle=":",
        linewidth=1,
        label=f"uniform (1/{len(probabilities):,})",
    )
    ax.set_xlim(-5, len(probabilities) + 5)
    ax.set_ylim(0, max(probabilities.max() * 1.15, 1.5 / len(probabilities)))
    ax.set_xlabel("ImageNet class index")
    ax.set_ylabel("probability")
    ax.set_title(
        f"the embedding: {BACKBONE_NAMES.get(backbone, backbone)}'s class probabilities "
        + ("(ImageNet weights)" if trained else "(random weights: meaningless)"),
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def uncertainty_figure(photo: np.ndarray, sigma: np.ndarray, cell: float = 4.0) -> plt.Figure:
    """A photo beside a map of how unsure the model is of each pixel's colour (σ of the predicted
    colour distribution, Lab units; :func:`colored.inference.colour_uncertainty`), with a colour bar."""
    height, width = sigma.shape
    fig, axes = plt.subplots(1, 2, figsize=(2 * cell + 0.8, cell * height / width + 0.5))
    axes[0].imshow(np.asarray(photo), cmap="gray")
    axes[0].set_title("the photo", fontsize=9)
    shown = axes[1].imshow(sigma, cmap="viridis", vmin=0)
    axes[1].set_title("colour uncertainty σ (brighter: less sure)", fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    bar = fig.colorbar(shown, ax=axes[1], fraction=0.046, pad=0.03)
    bar.set_label("σ of the predicted colour (Lab units)", fontsize=8)
    bar.ax.tick_params(labelsize=8)
    fig.tight_layout()
    return fig
