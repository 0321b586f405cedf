"""Figures of sweeps over settings: loss curves per run, solved shares, decision surfaces,
and training curves of several settings side by side (with the early-stopping epoch).

Plain arrays in, a matplotlib Figure out; nothing here knows a model.
"""

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

SOLVED, FAILED = "tab:green", "tab:red"


def loss_curve_grid(curves, row_labels, col_labels, solved=None, steps=None, ylabel="loss", title=None):
    """A panel per (row, column) setting with the loss curve of every run in it.

    `curves[i][j]`: array (runs, points); `solved[i][j]`: bool per run, drawn
    green (solved) or red (not); `steps`: the x value of each point.
    """
    nrows, ncols = len(row_labels), len(col_labels)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols + 0.6, 2.3 * nrows + 0.6),
                             sharex=True, sharey=True, squeeze=False)
    for i, row in enumerate(row_labels):
        for j, col in enumerate(col_labels):
            ax = axes[i, j]
            runs = np.asarray(curves[i][j])
            x = steps if steps is not None else np.arange(1, runs.shape[1] + 1)
            ok = np.ones(len(runs), bool) if solved is None else np.asarray(solved[i][j])
            for curve, good in zip(runs, ok):
                ax.plot(x, curve, color=SOLVED if good else FAILED, alpha=0.5, lw=0.8)
            ax.set_yscale("log")
            ax.grid(alpha=0.3)
            ax.set_title(f"{row}, {col}" + (f": {ok.sum()}/{len(ok)} solved" if solved is not None else ""),
                         fontsize=8)
            if j == 0:
                ax.set_ylabel(ylabel)
            if i == nrows - 1:
                ax.set_xlabel("step")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def share_bars(shares, x_labels, group_labels, xlabel="setting", ylabel="share of runs", title=None):
    """Grouped bars: `shares[g][k]` is the share for group g (one colour each) at x position k."""
    shares = np.asarray(shares, dtype=float)
    groups, positions = shares.shape
    width = 0.8 / groups
    fig, ax = plt.subplots(figsize=(max(4.5, 0.9 * positions + 2), 3.4))
    x = np.arange(positions)
    for g, label in enumerate(group_labels):
        bars = ax.bar(x + (g - (groups - 1) / 2) * width, shares[g], width, label=label)
        ax.bar_label(bars, labels=[f"{s:.0%}" for s in shares[g]], fontsize=7)
    ax.set_xticks(x, [str(v) for v in x_labels])
    ax.set_ylim(0, 1.12)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def decision_surfaces(surfaces, extent, points, labels, titles, lines=None, ncols=4, title=None):
    """One panel per 2-D decision surface, with the data points and the 0.5 contour.

    `surfaces[k]`: the output on a grid (rows along y) covering `extent`
    (x0, x1, y0, y1); `points` (N, 2) with 0/1 `labels`; `lines[k]`: optional
    rows (a, b, c) of lines a x + b y + c = 0 (e.g. the hidden units' boundaries).
    """
    n = len(surfaces)
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.1 * ncols, 2.9 * nrows), squeeze=False)
    x0, x1, y0, y1 = extent
    points, labels = np.asarray(points), np.asarray(labels).ravel()
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.axis("off")
            continue
        surface = np.asarray(surfaces[k])
        image = ax.imshow(surface, origin="lower", extent=extent, cmap="RdBu_r", vmin=0, vmax=1, aspect="auto")
        xs, ys = np.linspace(x0, x1, surface.shape[1]), np.linspace(y0, y1, surface.shape[0])
        ax.contour(xs, ys, surface, levels=[0.5], colors="k", linewidths=1.2)
        for a, b, c in (lines[k] if lines is not None else []):
            if abs(b) > 1e-9:
                ax.plot([x0, x1], [-(a * x0 + c) / b, -(a * x1 + c) / b], "k--", lw=0.8, alpha=0.7)
            elif abs(a) > 1e-9:
                ax.axvline(-c / a, color="k", ls="--", lw=0.8, alpha=0.7)
        ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="RdBu_r", vmin=0, vmax=1, s=90,
                   edgecolors="k", zorder=3)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_title(titles[k], fontsize=8)
    fig.colorbar(image, ax=axes.ravel().tolist(), fraction=0.03, pad=0.02, label="network output")
    if title:
        fig.suptitle(title, y=1.02)
    return fig


def curves_by_setting(histories, metrics=("loss", "accuracy"), other="test", stops=None, best=None,
                      title=None, log_loss=True):
    """Training curves of several settings side by side, a panel per metric.

    `histories`: {label: columns} with `epoch`, each metric and `<other>_<metric>`
    (e.g. test_accuracy); a colour per label, training solid and `other` dashed.
    `stops`: {label: epoch} drawn as a dotted vertical line (where early
    stopping ended the run); `best`: {label: epoch} a dot on the `other` curve
    (the evaluation whose weights were kept).
    """
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.0 * len(metrics), 3.6), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes[0], metrics):
        for k, (label, h) in enumerate(histories.items()):
            colour = colours[k % len(colours)]
            epochs = np.asarray(h["epoch"])
            ax.plot(epochs, h[metric], color=colour, label=f"{label} train")
            if f"{other}_{metric}" in h:
                ax.plot(epochs, h[f"{other}_{metric}"], color=colour, ls="--", label=f"{label} {other}")
            if stops and label in stops:
                ax.axvline(stops[label], color=colour, ls=":", lw=1)
            if best and label in best:
                values = np.asarray(h[f"{other}_{metric}"] if f"{other}_{metric}" in h else h[metric])
                hit = np.flatnonzero(epochs == best[label])
                if hit.size:
                    ax.plot(best[label], values[hit[0]], "o", color=colour, ms=5)
        if metric.endswith("loss") and log_loss:
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
