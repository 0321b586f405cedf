"""Figures of the distance classifiers: accuracy against k, a class-by-class
distance matrix, 2-D views coloured by class; one function each, a matplotlib
Figure out (saved by `Run.save_figure`).
"""

import numpy as np
from matplotlib.ticker import MaxNLocator

from kerasdl.plots import plt


def accuracy_vs_k(curves, chosen=None, title="k-NN accuracy on the validation split"):
    """`curves`: {label: (ks, accuracies)}; `chosen`: (label, k) marked with a ring."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for label, (ks, accuracies) in curves.items():
        ax.plot(ks, np.asarray(accuracies) * 100, marker="o", markersize=3, label=label)
    if chosen is not None:
        label, k = chosen
        ks, accuracies = curves[label]
        y = 100 * accuracies[list(ks).index(k)]
        ax.plot([k], [y], "o", markersize=11, markerfacecolor="none", markeredgecolor="black",
                label=f"chosen: {label}, k={k}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("k (neighbours voting)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def distance_matrix(distances, class_names, title="distances between class centroids"):
    """A symmetric (C, C) matrix with its values written in the cells."""
    distances = np.asarray(distances)
    n = len(class_names)
    size = max(4.0, 0.55 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    image = ax.imshow(distances, cmap="viridis")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="distance")
    if n <= 20:
        mid = (distances.min() + distances.max()) / 2
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{distances[i, j]:.1f}", ha="center", va="center", fontsize=7,
                        color="black" if distances[i, j] > mid else "white")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), class_names, fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def embeddings(views, class_names, subtitles=None, title=None):
    """One scatter panel per 2-D view, points coloured by class.

    `views`: {name: (points (N, 2), labels (N,))}; `subtitles`: {name: text}.
    """
    names = list(views)
    fig, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names), 4.6), squeeze=False)
    cmap = plt.get_cmap("tab10" if len(class_names) <= 10 else "tab20")
    for ax, name in zip(axes[0], names):
        points, labels = views[name]
        for c, class_name in enumerate(class_names):
            mine = labels == c
            ax.scatter(points[mine, 0], points[mine, 1], s=4, alpha=0.7, color=cmap(c % cmap.N),
                       label=class_name, rasterized=True)
        ax.set_title(name if not subtitles else f"{name}\n{subtitles.get(name, '')}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][-1].legend(markerscale=3, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
