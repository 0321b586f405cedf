"""Figures of the clock task: error curves, error histograms, worst readings,
error against the true time. One function each, a matplotlib Figure out."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from kerasdl.tasks.clock.times import MINUTES, format_time  # noqa: E402


def error_curves(histories):
    """{name: history dict}: the common-sense error (train subset, validation) per
    epoch, one panel per formulation, on a log scale shared by all panels."""
    names = list(histories)
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.2), squeeze=False, sharey=True)
    for ax, name in zip(axes[0], names):
        history = histories[name]
        for key, label in (("error_min", "train (subset)"), ("val_error_min", "validation")):
            if key in history and len(history[key]):
                epochs = np.arange(1, len(history[key]) + 1)
                ax.plot(epochs, history[key], marker=".", label=label)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("mean common-sense error (min)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def error_histograms(errors):
    """{name: test errors in minutes}: a histogram each, on shared bins 0-360 min."""
    names = list(errors)
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.0), squeeze=False, sharey=True)
    bins = np.concatenate([np.arange(0, 10, 1), np.arange(10, 60, 5), np.arange(60, 361, 30)])
    for ax, name in zip(axes[0], names):
        e = np.asarray(errors[name])
        ax.hist(np.clip(e, 0, 360), bins=bins, color="tab:blue")
        ax.axvline(np.median(e), color="tab:orange", label=f"median {np.median(e):.1f}")
        ax.axvline(e.mean(), color="tab:red", ls="--", label=f"mean {e.mean():.1f}")
        ax.set_xscale("symlog", linthresh=10)
        ax.set_yscale("log")
        ax.set_xlim(0, 360)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("test error (min)")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("test images")
    fig.tight_layout()
    return fig


def _dial(ax, true_minutes, predicted_minutes):
    """A small dial with the true hands (green) and the read hands (red, dashed)."""
    ax.add_patch(plt.Circle((0, 0), 1, fill=True, color="white", alpha=0.85))
    for minutes, colour, style in ((true_minutes, "tab:green", "-"), (predicted_minutes, "tab:red", "--")):
        hour_angle = 2 * np.pi * (minutes % MINUTES) / MINUTES
        minute_angle = 2 * np.pi * (minutes % 60) / 60
        ax.plot([0, 0.5 * np.sin(hour_angle)], [0, 0.5 * np.cos(hour_angle)], color=colour, lw=2.2, ls=style)
        ax.plot([0, 0.85 * np.sin(minute_angle)], [0, 0.85 * np.cos(minute_angle)], color=colour, lw=1.2,
                ls=style)
    ax.set_xlim(-1.05, 1.05)
    ax.set_ylim(-1.05, 1.05)
    ax.set_aspect("equal")
    ax.axis("off")


def worst_readings(images, true_minutes, predicted_minutes, title=None, ncols=6):
    """The images with their true and read times, each with a small dial in the
    corner: true hands green, read hands red and dashed."""
    images = np.asarray(images)
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, int(np.ceil(n / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.1 * ncols, 2.6 * nrows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n:
            continue
        ax.imshow(images[k].reshape(images.shape[1], images.shape[2]), cmap="gray", vmin=0, vmax=255)
        t, p = true_minutes[k], predicted_minutes[k]
        error = float(np.minimum(abs(p - t) % MINUTES, MINUTES - abs(p - t) % MINUTES))
        ax.set_title(f"true {format_time(t)}  read {format_time(p)}\nerror {error:.0f} min", fontsize=7)
        inset = ax.inset_axes([0.68, 0.0, 0.32, 0.32])
        _dial(inset, t, p)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def error_by_time(true_minutes, errors):
    """Mean test error against the true hour (are some hours harder?) and against
    the true minute, in 5-minute bins (is it the hour boundary?)."""
    true_minutes = np.asarray(true_minutes)
    hours = (true_minutes // 60).astype(int)
    minute_bins = ((true_minutes % 60) // 5).astype(int)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for name, e in errors.items():
        e = np.asarray(e)
        by_hour = [e[hours == h].mean() if np.any(hours == h) else np.nan for h in range(12)]
        by_minute = [e[minute_bins == b].mean() if np.any(minute_bins == b) else np.nan for b in range(12)]
        axes[0].plot(range(12), by_hour, marker="o", label=name)
        axes[1].plot(np.arange(12) * 5 + 2.5, by_minute, marker="o", label=name)
    axes[0].set_xticks(range(12), ["12"] + [str(h) for h in range(1, 12)])
    axes[0].set_xlabel("true hour")
    axes[1].set_xticks(range(0, 61, 5))
    axes[1].set_xlabel("true minute (5-minute bins)")
    for ax in axes:
        ax.set_yscale("log")
        ax.set_ylabel("mean test error (min)")
        ax.grid(alpha=0.3, which="both")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig
