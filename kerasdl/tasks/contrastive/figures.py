"""Figures of the representation-learning task: the t-SNE map drawn with the images,
nearest-neighbour grids, the label-efficiency curve. One function each, a matplotlib
Figure out (saved by `Run.save_figure`); images come in scaled to [0, 1].
"""

import numpy as np
from matplotlib.offsetbox import AnnotationBbox, OffsetImage

from kerasdl.plots import plt


def _image(image):
    image = np.clip(np.asarray(image, np.float32), 0, 1)
    return image[..., 0] if image.shape[-1] == 1 else image


def tsne_map(points, labels, images, class_names, title=None, thumbnails=250, seed=0):
    """The 2-D t-SNE points coloured by class, with `thumbnails` of them drawn as their
    images (a frame in the class colour), chosen at random."""
    fig, ax = plt.subplots(figsize=(10, 9))
    cmap = plt.get_cmap("tab10" if len(class_names) <= 10 else "tab20")
    for c, name in enumerate(class_names):
        mine = labels == c
        ax.scatter(points[mine, 0], points[mine, 1], s=5, alpha=0.5, color=cmap(c % cmap.N),
                   label=name, rasterized=True)
    shown = np.random.default_rng(seed).choice(len(points), size=min(thumbnails, len(points)),
                                               replace=False)
    zoom = 0.9 * 32 / max(images.shape[1], 32)
    for k in shown:
        picture = OffsetImage(_image(images[k]), zoom=zoom,
                              cmap="gray" if images.shape[-1] == 1 else None)
        ax.add_artist(AnnotationBbox(picture, points[k], frameon=True, pad=0.1,
                                     bboxprops={"edgecolor": cmap(int(labels[k]) % cmap.N), "lw": 1.2}))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(markerscale=3, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def neighbour_grid(queries, query_labels, neighbours, neighbour_labels, class_names, title=None):
    """One row per query: the query image, then its nearest training images; a neighbour
    of another class gets a red title. `neighbours` (Q, K, H, W, C)."""
    q, k = neighbours.shape[:2]
    fig, axes = plt.subplots(q, k + 1, figsize=(1.2 * (k + 1), 1.35 * q + 0.5), squeeze=False)
    grey = queries.shape[-1] == 1
    for r in range(q):
        axes[r, 0].imshow(_image(queries[r]), cmap="gray" if grey else None, vmin=0, vmax=1)
        axes[r, 0].set_title(f"query: {class_names[query_labels[r]]}", fontsize=7, fontweight="bold")
        for j in range(k):
            ax = axes[r, j + 1]
            ax.imshow(_image(neighbours[r, j]), cmap="gray" if grey else None, vmin=0, vmax=1)
            same = neighbour_labels[r, j] == query_labels[r]
            ax.set_title(class_names[neighbour_labels[r, j]], fontsize=7,
                         color="black" if same else "red")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def label_efficiency(fractions, curves, title=None):
    """Test accuracy against the share of labels used, one line per encoder start
    (`curves`: {label: accuracies, one per fraction}), log-scaled share axis."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for label, accuracies in curves.items():
        ax.plot(np.asarray(fractions) * 100, np.asarray(accuracies) * 100, marker="o", label=label)
    ax.set_xscale("log")
    ax.set_xticks(np.asarray(fractions) * 100, [f"{100 * f:g}%" for f in fractions])
    ax.set_xlabel("labelled training images used")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
