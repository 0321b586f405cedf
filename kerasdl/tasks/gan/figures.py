"""Figures of the GAN tasks: losses per step and epoch, samples through training,
latent interpolations, the PCA of latent codes with their images, the z_dim
comparison, and the 2-D GAN's decision-map frames (and a GIF of them)."""

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.offsetbox import AnnotationBbox, OffsetImage  # noqa: E402

from kerasdl import plots  # noqa: E402


def _to_unit(images, value_range=(-1, 1)):
    """Images to [0, 1] floats for imshow; a single channel is dropped."""
    lo, hi = value_range
    images = np.clip((np.asarray(images, dtype=np.float32) - lo) / (hi - lo), 0, 1)
    return images[..., 0] if images.shape[-1] == 1 else images


def _moving_average(values, window):
    values = np.asarray(values, dtype=np.float64)
    if len(values) < window or window < 2:
        return values
    kernel = np.ones(window) / window
    smooth = np.convolve(values, kernel, mode="valid")
    return np.concatenate([np.full(window - 1, np.nan), smooth])


def loss_curves(steps, history, keys=("d_loss", "g_loss"), title=None):
    """Left: the losses of every training step (light) with a moving average;
    right: their means per epoch. `steps`/`history`: dicts of equal-length columns."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    n = len(steps.get(keys[0], []))
    window = max(1, n // 30)
    for key in keys:
        if key not in steps:
            continue
        values = np.asarray(steps[key], dtype=np.float64)
        line, = left.plot(np.arange(1, n + 1), values, alpha=0.25, lw=0.8)
        left.plot(np.arange(1, n + 1), _moving_average(values, window), color=line.get_color(),
                  label=f"{key} (mean of {window})" if window > 1 else key)
        if key in history:
            right.plot(np.arange(1, len(history[key]) + 1), history[key], "o-", label=key)
    left.set_xlabel("training step (generator update)")
    left.set_title("per step")
    right.set_xlabel("epoch")
    right.set_title("per epoch (mean)")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def samples_through_training(snapshots, value_range=(-1, 1), title="samples through training"):
    """One row per snapshot (epoch, images), the same latent codes in every row."""
    rows = len(snapshots)
    cols = max(len(images) for _, images in snapshots)
    unit = [_to_unit(images, value_range) for _, images in snapshots]
    blank = np.full_like(unit[0][:1], np.nan if unit[0].ndim == 3 else 1.0)
    images = np.concatenate([np.concatenate([u] + [blank] * (cols - len(u))) for u in unit])
    canvas, cell_h, _ = plots.mosaic(images, cols)
    fig, ax = plt.subplots(figsize=(1.2 * cols + 0.8, 1.25 * rows))
    plots.show_mosaic(ax, canvas)
    top = cell_h - images.shape[1]
    ax.set_yticks([r * cell_h + top + images.shape[1] / 2 for r in range(rows)],
                  [f"epoch {epoch}" for epoch, _ in snapshots], fontsize=8)
    ax.tick_params(length=0)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def interpolation(rows, value_range=(-1, 1), title="latent interpolation"):
    """`rows` (R, S, H, W, C): each row walks from one latent code to another in S steps."""
    rows = np.asarray(rows)
    r, s = rows.shape[:2]
    canvas, _, _ = plots.mosaic(_to_unit(rows.reshape((r * s,) + rows.shape[2:]), value_range), s)
    fig, ax = plt.subplots(figsize=(1.1 * s, 1.15 * r))
    plots.show_mosaic(ax, canvas)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def latent_pca(coords, images, explained, value_range=(-1, 1), zoom=0.4,
               title="PCA of latent codes, each drawn as its image"):
    """Generated images placed at the first two principal components of their z."""
    coords = np.asarray(coords)
    images = _to_unit(images, value_range)
    fig, ax = plt.subplots(figsize=(8, 7))
    ax.scatter(coords[:, 0], coords[:, 1], s=2, alpha=0)
    for (x, y), image in zip(coords, images):
        box = OffsetImage(image, zoom=zoom, cmap="gray" if image.ndim == 2 else None)
        ax.add_artist(AnnotationBbox(box, (x, y), frameon=False))
    ax.set_xlabel(f"PC 1 of z ({100 * explained[0]:.1f}% of variance)")
    ax.set_ylabel(f"PC 2 of z ({100 * explained[1]:.1f}% of variance)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def score_comparison(labels, frechet, scores, reference=None, title="sample quality"):
    """Bars of the Fréchet distance (lower is better) and the classifier score (higher is
    better) per run; `reference` (fd, score) of real images drawn as dashed lines."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    x = np.arange(len(labels))
    left.bar(x, frechet, color="tab:red")
    right.bar(x, scores, color="tab:blue")
    for ax, name, ref in ((left, "Fréchet distance (lower: better)", reference and reference[0]),
                          (right, "classifier score (higher: better)", reference and reference[1])):
        ax.set_xticks(x, labels)
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3, axis="y")
        if ref is not None:
            ax.axhline(ref, ls="--", color="k", lw=1, label="real images")
            ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- the 2-D GAN


def decision_frame(grid_x, grid_y, prob_real, real, fake, arrows, step, limits, ax=None):
    """D's probability of 'real' over the plane, real (black) and generated (red)
    points, and arrows: the direction the generator's loss pushes each fake point."""
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(5, 4.4))
    mesh = ax.contourf(grid_x, grid_y, prob_real, levels=np.linspace(0, 1, 11), cmap="RdBu_r",
                       alpha=0.55)
    ax.contour(grid_x, grid_y, prob_real, levels=[0.5], colors="k", linewidths=0.8)
    ax.scatter(real[:, 0], real[:, 1], s=5, c="k", label="real")
    ax.scatter(fake[:, 0], fake[:, 1], s=5, c="tab:red", label="generated")
    if arrows is not None and len(arrows):
        ax.quiver(fake[:, 0], fake[:, 1], arrows[:, 0], arrows[:, 1], color="tab:red", alpha=0.6,
                  angles="xy", scale_units="xy", scale=None, width=0.003)
    ax.set_xlim(limits[0])
    ax.set_ylim(limits[1])
    ax.set_title(f"step {step}", fontsize=9)
    ax.legend(loc="upper center", fontsize=7)
    if own:
        fig.colorbar(mesh, ax=ax, label="D(x) = P(real)")
        fig.tight_layout()
        return fig
    return mesh


def frame_sheet(frames, limits, ncols=4, title="the 2-D GAN through training"):
    """All frames (dicts of decision_frame's arguments) on one sheet."""
    n = len(frames)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.3 * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, frame in zip(axes.flat, frames):
        decision_frame(**frame, limits=limits, ax=ax)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def gif_bytes(figures, duration_ms=400, dpi=80):
    """Render matplotlib figures (closed afterwards) into one looping GIF (Pillow)."""
    from PIL import Image

    images = []
    for fig in figures:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        plt.close(fig)
        buf.seek(0)
        images.append(Image.open(buf).convert("P", palette=Image.ADAPTIVE))
    out = io.BytesIO()
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms,
                   loop=0)
    return out.getvalue()
