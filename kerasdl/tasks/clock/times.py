"""Clock arithmetic: the common-sense error, label encodings, cyclic losses.

A time is a number of minutes on the 12-hour dial, 0-719 (hour 0 is 12
o'clock). The *common-sense error* between two times is the shorter way
around the dial, so 11:55 and 0:05 are 10 minutes apart and no error exceeds
360 minutes (6 hours).

The three formulations of the `clock` task encode a time differently:

- regression, plain: the number of hours, 0 <= h < 12, with MSE. The wrap
  (11:59 is next to 0:00) is invisible to it;
- regression, cyclic: the point (sin, cos) of the hour hand's angle on the unit
  circle, with a squared-chord loss |p - t|^2 = 2 - 2 cos(angle between) when p
  is on the circle: zero at the truth, largest 6 hours away, smooth everywhere,
  so 11:55 and 0:05 are as close as they look;
- classification into N equal slices of the dial (`encode_class`), read back
  at the slice's centre;
- multi-head: the hour as one of 12 classes and the minute as (sin, cos) of
  the minute hand's angle, with the same cyclic loss.

Numpy functions turn labels into targets and outputs into minutes; the loss
and metrics use keras.ops so every backend trains with them.
"""

import keras
import numpy as np
from keras import ops

MINUTES = 720  # one turn of the hour hand

FORMULATIONS = ("regression_mse", "regression_cyclic", "classification", "multihead")


# --------------------------------------------------------------------------- times


def to_minutes(labels):
    """(N, 2) rows of (hour, minute) -> minutes past 12 o'clock, 0-719."""
    labels = np.asarray(labels)
    return (labels[..., 0] % 12) * 60 + labels[..., 1]


def common_sense_error(true_minutes, predicted_minutes):
    """Minutes between two times the shorter way round the dial (0-360)."""
    d = np.abs(np.asarray(predicted_minutes, np.float64) - np.asarray(true_minutes, np.float64)) % MINUTES
    return np.minimum(d, MINUTES - d)


def format_time(minutes):
    """Minutes past 12 -> "HH:MM" as a clock shows it (0:05 reads "12:05")."""
    total = int(np.rint(minutes)) % MINUTES
    hour, minute = divmod(total, 60)
    return f"{hour or 12:02d}:{minute:02d}"


# --------------------------------------------------------------------------- encodings


def encode_hours(minutes):
    """Plain regression target: hours as a number, 12:30 -> 0.5, 11:45 -> 11.75."""
    return (np.asarray(minutes, np.float32) / 60.0).reshape(-1, 1)


def encode_angle(minutes, period=MINUTES):
    """(sin, cos) of the angle of a hand that turns once per `period` minutes."""
    angle = 2 * np.pi * (np.asarray(minutes, np.float64) % period) / period
    return np.stack([np.sin(angle), np.cos(angle)], axis=-1).astype(np.float32)


def encode_class(minutes, n_classes):
    """Index of the slice of the dial, of width 720 / n_classes minutes, holding each time."""
    return (np.asarray(minutes, np.int64) * n_classes // MINUTES).astype(np.int64)


def class_centres(n_classes):
    """The time (minutes) at the centre of every class: its prediction."""
    return (np.arange(n_classes) + 0.5) * (MINUTES / n_classes)


def encode(formulation, labels, n_classes=None):
    """The training target(s) of a formulation for (N, 2) labels."""
    minutes = to_minutes(labels)
    if formulation == "regression_mse":
        return encode_hours(minutes)
    if formulation == "regression_cyclic":
        return encode_angle(minutes)
    if formulation == "classification":
        return encode_class(minutes, n_classes)
    if formulation == "multihead":
        labels = np.asarray(labels)
        return {"hour": (labels[:, 0] % 12).astype(np.int64), "minute": encode_angle(labels[:, 1], 60)}
    raise ValueError(f"unknown formulation {formulation!r}; expected one of {FORMULATIONS}")


def angle_to_minutes(sin_cos, period=MINUTES):
    """(N, 2) points (sin, cos) -> minutes in [0, period)."""
    sin_cos = np.asarray(sin_cos, np.float64)
    angle = np.arctan2(sin_cos[..., 0], sin_cos[..., 1])
    return (angle / (2 * np.pi) * period) % period


def decode(formulation, outputs, n_classes=None, whole_minutes=True):
    """Model outputs -> predicted minutes past 12, 0-719.

    Continuous readings are rounded to whole minutes, as a reader says "HH:MM"
    (`whole_minutes=False` keeps the fraction); a class reads as its centre.
    """
    if formulation == "classification":
        return class_centres(n_classes)[np.argmax(np.asarray(outputs), axis=-1)]
    if formulation == "regression_mse":
        minutes = np.asarray(outputs, np.float64).reshape(-1) * 60.0
    elif formulation == "regression_cyclic":
        minutes = angle_to_minutes(outputs)
    elif formulation == "multihead":
        if isinstance(outputs, (list, tuple)):
            outputs = {"hour": outputs[0], "minute": outputs[1]}
        hour = np.argmax(np.asarray(outputs["hour"]), axis=-1)
        minute = angle_to_minutes(outputs["minute"], 60)
        if whole_minutes:
            # 59.6 rounds to 60, which is the next hour's 0: keep it in this hour.
            minute = np.minimum(np.rint(minute), 59)
        minutes = hour * 60 + minute
    else:
        raise ValueError(f"unknown formulation {formulation!r}; expected one of {FORMULATIONS}")
    if whole_minutes:
        minutes = np.rint(minutes)
    return minutes % MINUTES


# --------------------------------------------------------------------------- losses, metrics


@keras.saving.register_keras_serializable(package="kerasdl")
def cyclic_loss(y_true, y_pred):
    """Squared chord between the predicted and true (sin, cos) points: 2 - 2 cos(angle
    between them) on the circle. It has no wrap to jump over, so its gradient is
    finite and continuous at 11:59 -> 0:00 as anywhere else."""
    y_pred = ops.convert_to_tensor(y_pred)
    return ops.sum(ops.square(y_pred - ops.cast(y_true, y_pred.dtype)), axis=-1)


def _angle_error(y_true, y_pred, period):
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    dot = ops.sum(y_true * y_pred, axis=-1)
    cross = y_true[..., 1] * y_pred[..., 0] - y_true[..., 0] * y_pred[..., 1]
    return ops.abs(ops.arctan2(cross, dot)) * (period / (2 * np.pi))


# Metrics are module-level and registered at import, so a saved model reloads
# in any process that has imported this module.
@keras.saving.register_keras_serializable(package="kerasdl")
def error_min(y_true, y_pred):
    """The angle between true and predicted (sin, cos) of the hour hand, in minutes (0-360)."""
    return _angle_error(y_true, y_pred, MINUTES)


@keras.saving.register_keras_serializable(package="kerasdl")
def minute_error_min(y_true, y_pred):
    """The angle between true and predicted (sin, cos) of the minute hand, in minutes (0-30)."""
    return _angle_error(y_true, y_pred, 60)


@keras.saving.register_keras_serializable(package="kerasdl")
def hours_error_min(y_true, y_pred):
    """For the plain regression: its prediction's common-sense error in minutes."""
    y_pred = ops.convert_to_tensor(y_pred)
    d = ops.abs(ops.cast(y_true, y_pred.dtype) - y_pred) * 60.0
    d = ops.mod(d, float(MINUTES))
    return ops.minimum(d, MINUTES - d)
