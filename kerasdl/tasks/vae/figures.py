"""Figures of the VAE and of the semi-supervised SVM on its latent features.

Images come in as arrays (N, H, W, C) in [0, 1]; each function returns a
matplotlib Figure for `Run.save_figure`.
"""

import numpy as np

from kerasdl import plots  # first: selects matplotlib's Agg backend

import matplotlib.pyplot as plt  # noqa: E402


def _show(ax, image):
    image = np.clip(np.asarray(image, dtype="float32"), 0, 1)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])


def elbo_curves(history, title=None):
    """Three panels per epoch: -ELBO (= reconstruction + KL), reconstruction, KL; train and test."""
    panels = [("-ELBO (nats / image)", None), ("reconstruction -log p(x|z)", "reconstruction_loss"),
              ("KL(q(z|x) || p(z))", "kl_loss")]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for ax, (label, key) in zip(axes, panels):
        for prefix, name in (("", "train"), ("val_", "test")):
            if f"{prefix}kl_loss" not in history:
                continue
            if key is None:  # the ELBO itself, whatever beta weighted the KL with in training
                values = (np.asarray(history[f"{prefix}reconstruction_loss"])
                          + np.asarray(history[f"{prefix}kl_loss"]))
            else:
                values = history[f"{prefix}{key}"]
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", ms=3, label=name)
        ax.set_xlabel("epoch")
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def reconstructions(originals, reconstructed):
    """Two rows: test images, and their reconstructions decoded from the latent means."""
    n = len(originals)
    fig, axes = plt.subplots(2, n, figsize=(1.3 * n, 2.9), squeeze=False)
    for k in range(n):
        _show(axes[0, k], originals[k])
        _show(axes[1, k], reconstructed[k])
    axes[0, 0].set_ylabel("test image", fontsize=8)
    axes[1, 0].set_ylabel("reconstruction", fontsize=8)
    fig.suptitle("reconstructions (decoder at the latent mean)", fontsize=10)
    fig.tight_layout()
    return fig


def interpolation(endpoints, decoded, steps):
    """One row per pair: image A, the decoded path from mean(A) to mean(B), image B.

    endpoints (P, 2, H, W, C), decoded (P, S, H, W, C), steps (S,) in [0, 1].
    """
    pairs, count = decoded.shape[0], decoded.shape[1]
    fig, axes = plt.subplots(pairs, count + 2, figsize=(1.15 * (count + 2), 1.25 * pairs + 0.6),
                             squeeze=False)
    for p in range(pairs):
        _show(axes[p, 0], endpoints[p, 0])
        for s in range(count):
            _show(axes[p, s + 1], decoded[p, s])
        _show(axes[p, -1], endpoints[p, 1])
    axes[0, 0].set_title("A", fontsize=8)
    axes[0, -1].set_title("B", fontsize=8)
    for s in range(count):
        axes[0, s + 1].set_title(f"t={steps[s]:.2f}", fontsize=7)
    fig.suptitle("decoded (1-t) mean(A) + t mean(B)", fontsize=10)
    fig.tight_layout()
    return fig


def latent_scatter(z_mean, labels, class_names, max_points=5000):
    """Test images' latent means coloured by class; the first two principal
    components when the latent space has more than two dimensions."""
    z = np.asarray(z_mean, dtype="float64")[:max_points]
    labels = np.asarray(labels)[:max_points]
    if z.shape[1] > 2:
        z, _ = plots.principal_components(z, 2)
        xlabel, ylabel = "principal component 1", "principal component 2"
    elif z.shape[1] == 1:
        z = np.concatenate([z, np.zeros_like(z)], axis=1)
        xlabel, ylabel = "z1", ""
    else:
        xlabel, ylabel = "z1", "z2"
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    cmap = plt.get_cmap("tab10" if len(class_names) <= 10 else "tab20")
    for c, name in enumerate(class_names):
        chosen = labels == c
        if chosen.any():
            ax.scatter(z[chosen, 0], z[chosen, 1], s=3, alpha=0.6, color=cmap(c % cmap.N), label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title("latent means of test images")
    if len(class_names) <= 20:
        ax.legend(markerscale=4, fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def latent_manifold(decode, n=15, limit=None):
    """The decoder on an n x n grid of a 2-D latent space, spaced by the quantiles of
    N(0, 1) (so equal areas hold equal prior mass), as in Kingma & Welling's Fig. 4."""
    from scipy.stats import norm

    values = norm.ppf(np.linspace(0.05, 0.95, n)) if limit is None else np.linspace(-limit, limit, n)
    grid = np.array([[x, y] for y in values[::-1] for x in values], dtype="float32")
    images = decode(grid)
    h, w = images.shape[1:3]
    canvas = np.zeros((n * h, n * w, images.shape[-1]), dtype="float32")
    for k, image in enumerate(images):
        r, c = divmod(k, n)
        canvas[r * h:(r + 1) * h, c * w:(c + 1) * w] = image
    fig, ax = plt.subplots(figsize=(7.5, 7.5))
    _show(ax, canvas)
    ticks = np.arange(n) * w + w / 2
    ax.set_xticks(ticks[::2], [f"{v:.1f}" for v in values[::2]], fontsize=7)
    ax.set_yticks(ticks[::2], [f"{v:.1f}" for v in values[::-1][::2]], fontsize=7)
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    ax.set_title("decoded latent grid (N(0,1) quantiles 5%-95%)")
    fig.tight_layout()
    return fig


def accuracy_vs_labels(summary, references=None, title=None):
    """Test accuracy against the number of labels, mean and std over seeds, one line per
    feature set. `summary`: rows with features, labels, accuracy_mean, accuracy_std.
    `references`: {name: {labels: accuracy}} drawn as dashed lines (published results)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for features in dict.fromkeys(row["features"] for row in summary):
        rows = [r for r in summary if r["features"] == features]
        n = [r["labels"] for r in rows]
        mean = np.array([r["accuracy_mean"] for r in rows]) * 100
        std = np.array([r["accuracy_std"] for r in rows]) * 100
        ax.errorbar(n, mean, yerr=std, marker="o", capsize=3, label=features)
    for name, points in (references or {}).items():
        n = sorted(points)
        ax.plot(n, [points[k] for k in n], "k--" if "Kingma" in name else "k:", marker="x", label=name)
    ax.set_xscale("log")
    counts = sorted({row["labels"] for row in summary})
    ax.set_xticks(counts, [str(n) for n in counts])
    ax.minorticks_off()
    ax.set_xlabel("labelled training images (balanced over classes)")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
