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


def image_grid(images, titles=None, ncols=8, cmap="gray", title=None, value_range=None):
    """A grid of images (N, H, W[, C]); grey images drawn with `cmap`."""
    images = np.asarray(images)
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, int(np.ceil(n / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.6 * ncols, 1.75 * nrows), squeeze=False)
    lo, hi = value_range if value_range else (images.min(), images.max()) if n else (0, 1)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n:
            continue
        image = (images[k].astype("float32") - lo) / max(float(hi - lo), 1e-12)
        image = np.clip(image, 0, 1)
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        ax.imshow(image, cmap=cmap if image.ndim == 2 else None, vmin=0, vmax=1)
        if titles is not None:
            ax.set_title(titles[k], fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
