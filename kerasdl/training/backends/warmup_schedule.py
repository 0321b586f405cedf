"""Keras's warm-up + cosine learning rate without a conditional in TensorFlow's training graph.

Every `fit` in kerasdl trains with `keras.optimizers.schedules.CosineDecay` and a linear
warm-up (`training.fit.cosine_adamw`). Keras picks between warm-up and decay with
`ops.cond`, and the optimizer evaluates the schedule once per variable (AdamW's weight
decay reads the learning rate for each one): the classify CNN's training step holds 42
copies of that conditional, each traced as two branch graphs. Its first training step (the
trace) took 4.42 s with Keras's schedule and 3.89 s with this one (medians of 6 alternating
fits, TensorFlow 2.21, AMD EPYC Zen 3; reports/bench.md, "The first training step"). Every
fit pays it once, so the short runs most: `--quick`, tests, tune trials.

So on TensorFlow kerasdl computes both branches (a few scalar operations) and selects with
`ops.where`. The values are Keras's own (its `_warmup_function` and `_decay_function`,
the same clipping of the step); the schedule is still a `CosineDecay`, so saved models load
anywhere. JAX compiles the conditional, PyTorch runs it eagerly: nothing to do there.
"""

import keras
from keras import ops

from kerasdl.training.backends import patching


def prepare():
    """Evaluate CosineDecay's warm-up without `ops.cond` (TensorFlow only). Idempotent;
    Keras's own method is kept as `__wrapped__`. Returns whether it applied."""
    if keras.backend.backend() != "tensorflow":
        return False
    schedule = keras.optimizers.schedules.CosineDecay
    if not all(hasattr(schedule, name) for name in ("_warmup_function", "_decay_function")):
        return False  # a later Keras changed its internals: keep its own (slower to trace) schedule

    def make(original):
        def __call__(self, step):
            if self.warmup_target is None:  # no warm-up: Keras's path has no conditional
                return original(self, step)
            with keras.name_scope(self.name):
                initial = ops.convert_to_tensor(self.initial_learning_rate)
                dtype = initial.dtype
                decay_steps = ops.cast(self.decay_steps, dtype)
                target = ops.cast(self.warmup_target, dtype)
                warmup_steps = ops.cast(self.warmup_steps, dtype)
                step = ops.minimum(ops.cast(step, dtype), decay_steps + warmup_steps)
                # max(.., 1): with no warm-up steps the branch is never chosen; keep it finite
                warm = self._warmup_function(step, ops.maximum(warmup_steps, 1.0), target, initial)
                decay = self._decay_function(step - warmup_steps, decay_steps, target, dtype)
                return ops.where(step < warmup_steps, warm, decay)
        return __call__

    return patching.wrap_method(schedule, "__call__", make)
