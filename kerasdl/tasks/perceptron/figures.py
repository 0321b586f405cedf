"""Figures of the perceptron: its weights drawn as images."""

import numpy as np

from kerasdl import plots


def signed_images(images, titles=None, title=None, ncols=10):
    """Weights as images: red positive, blue negative, white zero, one shared scale."""
    images = np.asarray(images)
    bound = float(np.abs(images).max()) or 1.0
    return plots.image_grid(images, titles, ncols=ncols, cmap="RdBu_r", title=title,
                            value_range=(-bound, bound))
