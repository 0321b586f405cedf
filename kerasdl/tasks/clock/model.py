"""Clock readers: one convolutional trunk, three heads.

`trunk` turns raw grey pixels (uint8, any size) into a feature vector:
rescale to [0, 1], shrink to `input_size` with an anti-aliased resize (inside
the model, so a saved model reads a 150x150 image as it is), then blocks of
3x3 conv -> batch norm -> ReLU -> 2x2 max-pool, and a dense layer. The trunk
flattens rather than pooling globally: where a hand points is *where* its
pixels are, which global pooling would throw away.

The heads are the task's three formulations (times.py):
`regression` (hours, or the (sin, cos) of the hour hand's angle),
`classification` (N slices of the dial), `multihead` (hour class + minute
(sin, cos)). `predict` reads a model's outputs in batches of one shape.
The KerasTuner search space is the task's `search_space` (tasks/clock/__init__.py).
"""

import keras
import numpy as np
from keras import layers

from kerasdl.errors import UserError
from kerasdl.tasks.clock import times


def trunk(inputs, input_size=64, widths=(16, 32, 64, 64), dense=128, dropout=0.2, seed=None,
          bn_momentum=0.99):
    """Pixels -> features; see the module docstring. Returns the feature tensor.

    `bn_momentum`: batch norm's moving-average momentum, from
    `kerasdl.training.fit.bn_momentum(steps)` for a run of `steps` steps."""
    if not widths or any(w <= 0 for w in widths):
        raise UserError(f"widths={widths!r}: expected positive filter counts, e.g. 16,32,64,64")
    if input_size < 2 ** len(widths):
        raise UserError(f"input_size={input_size} is too small for {len(widths)} pooling blocks: "
                        f"use at least {2 ** len(widths)} or fewer widths")
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    if tuple(inputs.shape[1:3]) != (input_size, input_size):
        # Anti-aliased: a plain bilinear shrink of 150 -> 64 would drop thin hands' pixels.
        x = layers.Resizing(input_size, input_size, antialias=True, name="resize")(x)
    for k, filters in enumerate(widths, 1):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"block{k}_conv")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"block{k}_bn")(x)
        x = layers.ReLU(name=f"block{k}_relu")(x)
        x = layers.MaxPooling2D(2, name=f"block{k}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense, use_bias=False, name="dense")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name="dense_bn")(x)
    x = layers.ReLU(name="dense_relu")(x)
    if dropout:
        x = layers.Dropout(dropout, seed=seed, name="dropout")(x)
    return x


def _inputs(input_shape):
    if len(input_shape) != 3 or input_shape[-1] != 1:
        raise UserError(f"clock models read grey images (H, W, 1); received input_shape={input_shape}")
    return keras.Input(shape=tuple(input_shape), name="pixels")


def regression(input_shape, cyclic=True, name=None, **trunk_args):
    """One time per image: (sin, cos) of the hour hand's angle (cyclic=True), else
    the number of hours 0-12 as a single linear output (for plain MSE)."""
    inputs = _inputs(input_shape)
    x = trunk(inputs, **trunk_args)
    if cyclic:
        outputs = layers.Dense(2, dtype="float32", name="angle")(x)
    else:
        outputs = layers.Dense(1, dtype="float32", name="hours")(x)
    return keras.Model(inputs, outputs, name=name or ("regression_cyclic" if cyclic else "regression_mse"))


def classification(input_shape, n_classes=72, name="classification", **trunk_args):
    """Softmax over `n_classes` equal slices of the 12-hour dial."""
    if n_classes < 2 or times.MINUTES % n_classes:
        raise UserError(f"n_classes={n_classes}: expected a divisor of 720 such as 24, 48, 72, 120, 240, 720")
    inputs = _inputs(input_shape)
    x = trunk(inputs, **trunk_args)
    outputs = layers.Dense(n_classes, activation="softmax", dtype="float32", name="time_class")(x)
    return keras.Model(inputs, outputs, name=name)


def multihead(input_shape, name="multihead", **trunk_args):
    """The hour as 12 classes and the minute as (sin, cos) of the minute hand, on one trunk."""
    inputs = _inputs(input_shape)
    x = trunk(inputs, **trunk_args)
    hour = layers.Dense(12, activation="softmax", dtype="float32", name="hour")(x)
    minute = layers.Dense(2, dtype="float32", name="minute")(x)
    return keras.Model(inputs, {"hour": hour, "minute": minute}, name=name)


def build(formulation, input_shape, n_classes=72, **trunk_args):
    """The uncompiled model of one formulation (see times.FORMULATIONS)."""
    if formulation == "regression_mse":
        return regression(input_shape, cyclic=False, **trunk_args)
    if formulation == "regression_cyclic":
        return regression(input_shape, cyclic=True, **trunk_args)
    if formulation == "classification":
        return classification(input_shape, n_classes, name=f"classification_{n_classes}", **trunk_args)
    if formulation == "multihead":
        return multihead(input_shape, **trunk_args)
    raise UserError(f"formulation {formulation!r}: choose from {', '.join(times.FORMULATIONS)}")


def compile_args(formulation, hour_weight=1.0, minute_weight=1.0):
    """loss, loss_weights and metrics for `model.compile` of one formulation."""
    if formulation == "regression_mse":
        return dict(loss="mse", metrics=[times.hours_error_min])
    if formulation == "regression_cyclic":
        return dict(loss=times.cyclic_loss, metrics=[times.error_min])
    if formulation == "classification":
        return dict(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    if formulation == "multihead":
        return dict(loss={"hour": "sparse_categorical_crossentropy", "minute": times.cyclic_loss},
                    loss_weights={"hour": hour_weight, "minute": minute_weight},
                    metrics={"hour": ["accuracy"], "minute": [times.minute_error_min]})
    raise UserError(f"formulation {formulation!r}: choose from {', '.join(times.FORMULATIONS)}")


def predict(model, images, batch_size=256):
    """The model's outputs for `images` (an array, or a dict of arrays for the multi-head).

    Every batch has one shape and dtype: the last one is padded to `batch_size`
    and its padding's outputs dropped. `model.predict` would trace the model's
    compiled function again for each set's last, smaller batch; a run that
    reads several sets with several readers did so often enough for
    TensorFlow to warn about retracing. Images are cast to float32 batch by
    batch (a whole test set in float32 would be gigabytes).
    """
    pieces = []
    for start in range(0, len(images), batch_size):
        batch = np.asarray(images[start:start + batch_size], np.float32)
        n = len(batch)
        if n < batch_size:
            batch = np.concatenate([batch, np.zeros((batch_size - n, *batch.shape[1:]), np.float32)])
        out = model.predict_on_batch(batch)
        pieces.append({k: v[:n] for k, v in out.items()} if isinstance(out, dict) else out[:n])
    if not pieces:
        raise ValueError("predict: no images")
    if isinstance(pieces[0], dict):
        return {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]}
    return np.concatenate(pieces)
