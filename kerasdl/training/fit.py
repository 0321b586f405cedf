"""The pieces of a supervised `fit` that tasks share: optimizer schedule and compile."""

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
    """AdamW with a linear warm-up to `learning_rate`, then cosine decay to zero over `steps`."""
    warmup = max(1, int(warmup_fraction * steps))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=learning_rate / 10, decay_steps=max(1, steps - warmup),
        warmup_target=learning_rate, warmup_steps=warmup)
    return keras.optimizers.AdamW(learning_rate=schedule, weight_decay=weight_decay)
