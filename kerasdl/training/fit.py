"""The pieces of a supervised `fit` that tasks share: optimizer schedule, compile
settings, batch norm's momentum for the run's length."""

import math

import keras


def jit_compile_default():
    """XLA off on TensorFlow's CPU path: for our CNNs it measured 2-4% slower in
    float32 and 2-7% faster in bfloat16 (reports/bench.md), not worth its compile
    time; elsewhere Keras's own "auto" choice stands."""
    from kerasdl.backend import device_kind

    if keras.backend.backend() == "tensorflow" and device_kind() == "cpu":
        return False
    return "auto"


def cosine_adamw(learning_rate, steps, warmup_fraction=0.05, weight_decay=5e-4):
    """AdamW with a linear warm-up to `learning_rate`, then cosine decay to zero over `steps`.
    (On TensorFlow the warm-up is evaluated without a conditional, which made every first
    training step slow to trace: training/backends/warmup_schedule.py.)"""
    warmup = max(1, int(warmup_fraction * steps))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=learning_rate / 10, decay_steps=max(1, steps - warmup),
        warmup_target=learning_rate, warmup_steps=warmup)
    return keras.optimizers.AdamW(learning_rate=schedule, weight_decay=weight_decay)


def bn_momentum(steps, usual=0.99):
    """Batch norm's moving-average momentum for a run of `steps` training steps.

    The moving variance starts at 1, while the conv outputs of our models have
    variances of 1e-3 to 1e-2 (measured on the classify CNN): with Keras's usual
    0.99, a run of a few hundred steps keeps enough of that start (0.99**200 =
    0.13) to make the saved model score at chance although it trained well.
    So the start must be forgotten within the run, momentum**steps <= 1e-6:
    long runs keep the usual 0.99, short ones average over their last steps.
    """
    return min(usual, math.exp(math.log(1e-6) / max(1, steps)))
