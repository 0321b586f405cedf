"""Image classifiers: an MLP and a VGG-style CNN with batch normalisation.

Both take raw pixels (uint8 or the data set's own range) and rescale inside
the model, so a saved model predicts from the same arrays it was trained on.
Augmentation layers, when asked for, are part of the model too: Keras runs
them only in training.
"""

import keras
from keras import layers

from kerasdl.errors import UserError


def inputs_and_preprocessing(input_shape, value_range, augment, seed, name):
    """Input -> (augmentation) -> rescale to [0, 1]; returns (inputs, tensor)."""
    lo, hi = value_range
    inputs = keras.Input(shape=tuple(input_shape), name="pixels")
    x = inputs
    if augment:
        x = augmentation(augment, seed=seed, name=f"{name}_augment")(x)
    x = layers.Rescaling(1.0 / (hi - lo), offset=-lo / (hi - lo), name="rescale")(x)
    return inputs, x


def augmentation(kind, seed=None, name="augment"):
    """'flip+shift': horizontal flips and shifts of up to 1/8 of the image (CIFAR-style);
    'shift': shifts only (no flips: digits and Fashion-MNIST are not mirror-symmetric
    in every class)."""
    kinds = {"shift", "flip+shift"}
    if kind not in kinds:
        raise UserError(f"augment={kind!r}: choose one of {', '.join(sorted(kinds))} or none")
    steps = []
    if kind == "flip+shift":
        steps.append(layers.RandomFlip("horizontal", seed=seed, name=f"{name}_flip"))
    shift = layers.RandomTranslation(0.125, 0.125, fill_mode="reflect", seed=seed, name=f"{name}_shift")
    if keras.backend.backend() == "jax":
        # Keras marks this layer unfit for XLA (TensorFlow has no XLA kernel for it), so
        # jit_compile="auto" ran the whole train step eagerly on JAX: every op compiled
        # on its own, for every batch shape. JAX's version traces, same results under jit.
        shift.supports_jit = True
    steps.append(shift)
    return keras.Sequential(steps, name=name)


def mlp(input_shape, num_classes, hidden=(512, 256), dropout=0.2, value_range=(0, 255),
        augment=None, seed=None, bn_momentum=0.99, name="mlp"):
    """Dense -> BatchNorm -> ReLU -> Dropout blocks, then a softmax layer.

    `bn_momentum`: batch norm's moving statistics forget their start (variance 1)
    as momentum**steps; runs of only a few hundred steps want ~0.9."""
    if not hidden or any(h <= 0 for h in hidden):
        raise UserError(f"hidden={hidden!r}: expected positive layer widths, e.g. 512,256")
    # === Layers and functional model ===
    inputs, x = inputs_and_preprocessing(input_shape, value_range, augment, seed, name)
    x = layers.Flatten(name="flatten")(x)
    for k, width in enumerate(hidden, 1):
        x = layers.Dense(width, use_bias=False, name=f"dense{k}")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"dense{k}_bn")(x)
        x = layers.ReLU(name=f"dense{k}_relu")(x)
        if dropout:
            x = layers.Dropout(dropout, seed=seed, name=f"dense{k}_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def conv_block(x, filters, convs, name, dropout=0.0, seed=None, bn_momentum=0.99):
    """`convs` x (3x3 conv -> BN -> ReLU), then 2x2 max-pool (and dropout)."""
    for k in range(1, convs + 1):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{k}")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn{k}")(x)
        x = layers.ReLU(name=f"{name}_relu{k}")(x)
    x = layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    if dropout:
        x = layers.Dropout(dropout, seed=seed, name=f"{name}_dropout")(x)
    return x


HEADS = ("gap", "flatten")


def cnn(input_shape, num_classes, widths=(32, 64, 128), convs_per_block=2, dropout=0.2,
        head_dropout=0.3, head="gap", value_range=(0, 255), augment=None, seed=None,
        bn_momentum=0.99, name="cnn"):
    """VGG-style: blocks of 3x3 convs with batch norm, max-pooling between them, and a
    softmax layer that reads the last block's maps either averaged over the image
    (`head="gap"`: global average pooling, the layer "pool" whose features the GAN's
    Fréchet scorer takes) or all of them (`"flatten"`: where each feature is on the image
    matters, as on centred, aligned Fashion-MNIST; reports/classify.md). `bn_momentum` as
    in `mlp`."""
    if not widths or any(w <= 0 for w in widths):
        raise UserError(f"widths={widths!r}: expected positive filter counts, e.g. 32,64,128")
    if head not in HEADS:
        raise UserError(f"head={head!r}: choose one of {', '.join(HEADS)}")
    if min(input_shape[0], input_shape[1]) < 2 ** len(widths):
        raise UserError(f"images of {input_shape[0]}x{input_shape[1]} are too small for "
                        f"{len(widths)} pooling blocks: use fewer widths")
    # === Layers and functional model ===
    inputs, x = inputs_and_preprocessing(input_shape, value_range, augment, seed, name)
    for k, filters in enumerate(widths, 1):
        x = conv_block(x, filters, convs_per_block, name=f"block{k}", dropout=dropout, seed=seed,
                       bn_momentum=bn_momentum)
    if head == "gap":
        x = layers.GlobalAveragePooling2D(name="pool")(x)
    else:
        x = layers.Flatten(name="flatten")(x)
    if head_dropout:
        x = layers.Dropout(head_dropout, seed=seed, name="head_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


BUILDERS = {"mlp": mlp, "cnn": cnn}
