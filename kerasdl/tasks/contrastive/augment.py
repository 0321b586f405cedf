"""SimCLR's augmentations as Keras preprocessing layers: random resized crop, flip,
colour jitter, grayscale. Seeded, and active only in training (`training=True`).

Keras has no random resized crop, so `RandomResizedCrop` is here: one affine
transform per image (`keras.ops.image.affine_transform`) that samples a box of
`scale` x the image's area and an aspect ratio in `ratio`, at a random place
inside the image, and stretches it back to the full size. Every layer owns a
`SeedGenerator`: the same seed gives the same views on one backend.

The pipeline works on the data set's own pixel values (`value_range`), so the
encoder that follows it keeps taking raw pixels, as the saved encoder does.
"""

import math

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="kerasdl")
class RandomResizedCrop(layers.Layer):
    """A random box of `scale` (area share) and `ratio` (width / height), resized to the image."""

    def __init__(self, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3), seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(f"scale must satisfy 0 < low <= high <= 1. Received: scale={scale}")
        if not 0 < ratio[0] <= ratio[1]:
            raise ValueError(f"ratio must satisfy 0 < low <= high. Received: ratio={ratio}")
        self.scale, self.ratio, self.seed = tuple(scale), tuple(ratio), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=True):
        if not training:
            return images
        images = ops.convert_to_tensor(images)
        n = ops.shape(images)[0]
        height, width = images.shape[1], images.shape[2]
        area = keras.random.uniform((n,), *self.scale, seed=self.seed_generator)
        log_ratio = keras.random.uniform((n,), math.log(self.ratio[0]), math.log(self.ratio[1]),
                                         seed=self.seed_generator)
        ratio = ops.exp(log_ratio)
        # Box size as shares of the image's width and height, at most the whole image.
        box_w = ops.minimum(ops.sqrt(area * ratio), 1.0)
        box_h = ops.minimum(ops.sqrt(area / ratio), 1.0)
        corner = keras.random.uniform((n, 2), seed=self.seed_generator)
        x0 = corner[:, 0] * (1.0 - box_w) * width
        y0 = corner[:, 1] * (1.0 - box_h) * height
        zero = ops.zeros_like(box_w)
        # Output pixel (x, y) reads input pixel (box_w x + x0, box_h y + y0).
        transform = ops.stack([box_w, zero, x0, zero, box_h, y0, zero, zero], axis=1)
        out = ops.image.affine_transform(ops.cast(images, "float32"), transform,
                                         interpolation="bilinear", fill_mode="nearest")
        return ops.cast(out, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scale": list(self.scale), "ratio": list(self.ratio),
                "seed": self.seed}


def augmenter(channels, value_range=(0, 255), seed=None, strength=0.5, min_scale=0.2,
              name="augment"):
    """The SimCLR pipeline for images of `channels` channels in `value_range`.

    `strength` scales the colour jitter (SimCLR's s: 0.5 for CIFAR-10); grey images
    get brightness and contrast only, and no grayscale step."""
    seeds = [None if seed is None else seed + k for k in range(4)]
    steps = [RandomResizedCrop(scale=(min_scale, 1.0), seed=seeds[0], name=f"{name}_crop"),
             layers.RandomFlip("horizontal", seed=seeds[1], name=f"{name}_flip")]
    if strength:
        colour = dict(saturation_factor=(0.5 - 0.8 * strength / 2, 0.5 + 0.8 * strength / 2),
                      hue_factor=0.2 * strength) if channels == 3 else {}
        steps.append(layers.RandomColorJitter(value_range=tuple(value_range),
                                              brightness_factor=0.8 * strength,
                                              contrast_factor=0.8 * strength, seed=seeds[2],
                                              name=f"{name}_jitter", **colour))
    if channels == 3:
        steps.append(layers.RandomGrayscale(0.2, seed=seeds[3], name=f"{name}_grayscale"))
    return keras.Sequential(steps, name=name)
