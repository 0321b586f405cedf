"""The emotion task's own figures: class balance, the models side by side, their confusion matrices."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def class_balance(counts, class_names, title="class balance"):
    """Grouped bars: {split: counts per class}, each bar labelled with its share of the split."""
    fig, ax = plt.subplots(figsize=(1.6 + 1.5 * len(class_names), 3.4))
    width = 0.8 / max(len(counts), 1)
    positions = np.arange(len(class_names))
    for k, (split, values) in enumerate(counts.items()):
        values = np.asarray(values, dtype=float)
        bars = ax.bar(positions + (k - (len(counts) - 1) / 2) * width, values, width, label=split)
        for bar, share in zip(bars, values / max(values.sum(), 1)):
            ax.annotate(f"{share:.0%}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=7)
    ax.set_xticks(positions, class_names)
    ax.set_ylabel("texts")
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def model_comparison(rows, references=(), title="test accuracy and macro-F1"):
    """Horizontal bars of each model's test accuracy and macro-F1 (rows: dicts with
    "model", "test_accuracy", "test_macro_f1"), with vertical reference lines
    ((label, value), ...), e.g. the course's result."""
    names = [r["model"] for r in rows]
    positions = np.arange(len(rows))[::-1]
    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 0.42 * len(rows)))
    for k, (key, label) in enumerate((("test_accuracy", "accuracy"), ("test_macro_f1", "macro-F1"))):
        values = [100 * (r.get(key) or 0) for r in rows]
        bars = ax.barh(positions + (0.2 - 0.4 * k), values, 0.4, label=label)
        for bar, value in zip(bars, values):
            ax.annotate(f"{value:.1f}", (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                        xytext=(2, 0), textcoords="offset points", va="center", fontsize=7)
    for k, (label, value) in enumerate(references):
        ax.axvline(100 * value, color="0.3", linestyle=("--", ":", "-.")[k % 3], linewidth=1, label=label)
    ax.set_yticks(positions, names)
    ax.set_xlabel("test score (%)")
    low = min([100 * (r.get(key) or 0) for r in rows for key in ("test_accuracy", "test_macro_f1")]
              + [100 * v for _, v in references])
    ax.set_xlim(max(0, 5 * np.floor(low / 5) - 5), None)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title(title)
    fig.tight_layout()
    return fig


def confusion_matrices(matrices, class_names, title="confusion matrices (test; rows true, columns predicted)"):
    """One panel per model ({model: counts (true x predicted)}), cells coloured by the
    share of their true class and labelled with the count."""
    n = len(matrices)
    columns = min(n, 3)
    rows = -(-n // columns)
    size = 1.0 + 0.75 * len(class_names)
    fig, axes = plt.subplots(rows, columns, figsize=(size * columns, size * rows * 0.95), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, (name, counts) in zip(axes.flat, matrices.items()):
        counts = np.asarray(counts)
        shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(class_names)):
            for j in range(len(class_names)):
                ax.text(j, i, f"{counts[i, j]}", ha="center", va="center", fontsize=7,
                        color="white" if shares[i, j] > 0.5 else "black")
        ticks = np.arange(len(class_names))
        ax.set_xticks(ticks, class_names, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(ticks, class_names, fontsize=7)
        accuracy = np.trace(counts) / max(counts.sum(), 1)
        ax.set_title(f"{name}\naccuracy {accuracy:.1%}", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
