"""Figures of the adversarial task: accuracy against perturbation size, flipped examples."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def robustness_curve(epsilons, fgsm, pgd=None, clean=None, title="accuracy under attack"):
    """Test accuracy against eps, one line per training regime.

    fgsm: {regime: [accuracy per eps]}; pgd: {regime: (eps, accuracy)} drawn as
    markers; clean: {regime: accuracy} drawn at eps = 0.
    """
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (regime, accuracies) in enumerate(fgsm.items()):
        colour = colours[k % len(colours)]
        xs, ys = list(epsilons), list(accuracies)
        if clean and regime in clean:
            xs, ys = [0.0] + xs, [clean[regime]] + ys
        ax.plot(xs, ys, "o-", color=colour, label=f"{regime}: FGSM")
        if pgd and regime in pgd:
            eps, accuracy = pgd[regime]
            ax.plot([eps], [accuracy], "s", color=colour, markersize=9, markerfacecolor="none",
                    markeredgewidth=2, label=f"{regime}: PGD, eps {eps:g}")
    ax.set_xlabel("eps (L-infinity, pixel scale [0, 1])")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def _show(ax, image):
    image = np.clip(image, 0, 1)
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(image)
    ax.axis("off")


def flipped_examples(clean, adversarial, labels, clean_pred, adv_pred, class_names,
                     value_range=(0, 1), epsilon=None, title=None):
    """Columns of examples; rows: the clean image, the perturbation (grey = 0,
    scaled to +-eps), the adversarial image; titles carry both predictions."""
    lo, hi = value_range
    n = len(clean)
    fig, axes = plt.subplots(3, max(n, 1), figsize=(1.7 * max(n, 1), 5.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for k in range(n):
        to_unit = lambda a: (np.asarray(a, "float32") - lo) / float(hi - lo)  # noqa: E731
        delta = to_unit(adversarial[k]) - to_unit(clean[k])
        scale = epsilon or max(float(np.abs(delta).max()), 1e-12)
        _show(axes[0, k], to_unit(clean[k]))
        axes[0, k].set_title(f"true {class_names[labels[k]]}\npred {class_names[clean_pred[k]]}",
                             fontsize=7)
        _show(axes[1, k], 0.5 + 0.5 * delta / scale)
        _show(axes[2, k], to_unit(adversarial[k]))
        axes[2, k].set_title(f"adv pred\n{class_names[adv_pred[k]]}", fontsize=7, color="crimson")
    if n:
        axes[0, 0].text(-0.15, 0.5, "clean", rotation=90, transform=axes[0, 0].transAxes,
                        ha="right", va="center", fontsize=8)
        axes[1, 0].text(-0.15, 0.5, "perturbation", rotation=90, transform=axes[1, 0].transAxes,
                        ha="right", va="center", fontsize=8)
        axes[2, 0].text(-0.15, 0.5, "adversarial", rotation=90, transform=axes[2, 0].transAxes,
                        ha="right", va="center", fontsize=8)
    else:
        axes[0, 0].text(0.5, 0.5, "no flipped examples", ha="center", va="center")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
