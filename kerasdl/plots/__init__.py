"""Figures shared by many tasks: one function each, a matplotlib Figure out.

Figures are drawn with the Agg backend (no screen needed) and saved by
`Run.save_figure`. A task with figures of its own keeps them in its package
(`tasks/clock/figures.py`, ...); sweeps.py holds the sweep figures of the
by-hand networks.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def principal_components(x, k=2):
    """(coordinates, explained): the rows of `x` on its first `k` principal components, and
    the share of the variance each explains. numpy's SVD, not scikit-learn's PCA, whose import
    alone adds about 2 s to a command that draws one such map (`gan --quick`)."""
    x = np.asarray(x, dtype="float64")
    centred = x - x.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    variance = singular ** 2
    explained = variance[:k] / variance.sum() if variance.sum() > 0 else np.zeros(min(k, len(variance)))
    return centred @ vt[:k].T, explained


def learning_curves(history, metrics=("loss", "accuracy"), title=None):
    """One panel per metric, training and `val_` curves over epochs.

    `history`: a Keras History, its `.history` dict, or a DataFrame/dict of columns.
    """
    history = getattr(history, "history", history)
    metrics = [m for m in metrics if m in history]
    fig, axes = plt.subplots(1, max(len(metrics), 1), figsize=(4.5 * max(len(metrics), 1), 3.4),
                             squeeze=False)
    for ax, name in zip(axes[0], metrics):
        epochs = np.arange(1, len(history[name]) + 1)
        ax.plot(epochs, history[name], label="train")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def epoch_curves(panels, title=None, percent=()):
    """One panel per entry of `panels` ({panel title: {line label: values per epoch}}).

    Panels named in `percent` show their values (shares in [0, 1]) as percentages.
    Lines named "<series> train" / "<series> test" share their series' colour,
    the test line dashed.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 3.5), squeeze=False)
    colours = {}
    for ax, (name, lines) in zip(axes[0], panels.items()):
        scale = 100 if name in percent else 1
        for label, values in lines.items():
            values = np.asarray(values, dtype=float)
            # One colour per series ("batch train" and "batch test" share one), test dashed.
            series = label.split()[0]
            colour = colours.setdefault(series, f"C{len(colours)}")
            ax.plot(np.arange(1, len(values) + 1), values * scale, label=label, color=colour,
                    linestyle="--" if label.endswith("test") and series != label else "-")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{name} (%)" if name in percent else name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_matrix(y_true, y_pred, class_names, title="confusion matrix", normalize=True):
    """Rows: true class, columns: predicted; cells show counts, colour the row share."""
    n = len(class_names)
    counts = np.zeros((n, n), dtype=np.int64)
    np.add.at(counts, (np.asarray(y_true), np.asarray(y_pred)), 1)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.55 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    image = ax.imshow(shares if normalize else counts, cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of true class" if normalize else "count")
    if n <= 20:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if shares[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), class_names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def mosaic(images, ncols, top=0):
    """Images in [0, 1] (N, H, W[, C]) side by side in one array, `ncols` a row, for one imshow:
    (canvas, cell height, cell width). Each cell holds `top` rows of background above its image,
    and a narrow gap to its right; the background is NaN for grey images (drawn as nothing by
    any colour map) and white for colour ones.

    One picture in one axes, instead of an axes per image: 32 grey images with their titles took
    1.5 s to lay out and save the old way, 0.33 s this way (reports/bench.md, "Figures")."""
    images = np.asarray(images, dtype="float32")
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    grey = images.ndim == 3
    n, h, w = images.shape[:3]
    gap = max(1, round(0.06 * w))
    top = max(gap, int(top))
    cell_h, cell_w = top + h, w + gap
    nrows = max(1, int(np.ceil(n / ncols)))
    canvas = np.full((nrows * cell_h, ncols * cell_w - gap) + (() if grey else images.shape[3:]),
                     np.nan if grey else 1.0, "float32")
    for k in range(n):
        r, c = divmod(k, ncols)
        canvas[r * cell_h + top:(r + 1) * cell_h, c * cell_w:c * cell_w + w] = images[k]
    return canvas, cell_h, cell_w


def show_mosaic(ax, canvas, cmap="gray"):
    """Draw `mosaic`'s canvas on `ax`, without axes lines or ticks."""
    ax.imshow(canvas, cmap=cmap if canvas.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def image_grid(images, titles=None, ncols=8, cmap="gray", title=None, value_range=None):
    """A grid of images (N, H, W[, C]); grey images drawn with `cmap`, each title above its
    image (one picture in one axes: `mosaic`)."""
    images = np.asarray(images)
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, int(np.ceil(n / ncols)))
    fig, ax = plt.subplots(figsize=(1.6 * ncols, 1.75 * nrows))
    ax.axis("off")
    if title:
        fig.suptitle(title)
    if not n:
        return fig
    lo, hi = value_range if value_range else (images.min(), images.max())
    scaled = np.clip((images.astype("float32") - lo) / max(float(hi - lo), 1e-12), 0, 1)
    # Room above each image for its title: about a quarter of the image's height per line.
    lines = max(str(t).count("\n") + 1 for t in titles) if titles is not None else 0
    canvas, cell_h, cell_w = mosaic(scaled, ncols, top=np.ceil(0.25 * scaled.shape[1] * lines))
    show_mosaic(ax, canvas, cmap)
    if titles is not None:
        top = cell_h - scaled.shape[1]
        for k in range(n):
            r, c = divmod(k, ncols)
            ax.text(c * cell_w + scaled.shape[2] / 2, r * cell_h + top - 0.5, titles[k], ha="center",
                    va="bottom", fontsize=7)
    fig.tight_layout()
    return fig
