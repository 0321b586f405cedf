"""Stop a run whose loss stops being a number, with a message that says why.

A NaN or infinite loss never recovers: every later weight is NaN, and a run
that goes on to the end reports meaningless numbers. `fit_options()` adds
`StopOnNonFiniteLoss` to every task's `fit`, so such a run ends at once with
one line naming the epoch and step and the usual causes; its status.json says
"failed" with that line.
"""

import math

import keras

from kerasdl.errors import UserError, raise_if_signalled

# How often (in steps) the loss is read: reading it waits for the step to finish,
# and the logged loss is a running mean, so a NaN stays visible until it is read.
EVERY_STEPS = 10


class TrainingDiverged(UserError):
    """The loss became NaN or infinite: usually a learning rate too high for the data's scale."""


def _losses(logs):
    """(name, value) of every loss in the logs: `loss`, or a GAN's `d_loss` and `g_loss`."""
    for name, value in (logs or {}).items():
        if name.endswith("loss") and not name.startswith("val_"):
            try:
                yield name, float(value)
            except (TypeError, ValueError):
                continue


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raise TrainingDiverged when the training loss is NaN or infinite (checked every
    `every` steps and at the end of each epoch)."""

    def __init__(self, every=EVERY_STEPS):
        super().__init__()
        self.every = every
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        raise_if_signalled()  # a SIGTERM whose KeyboardInterrupt the garbage collector swallowed
        if (batch + 1) % self.every == 0:
            self._check(logs, f"epoch {self.epoch + 1}, step {batch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        self._check(logs, f"the end of epoch {epoch + 1}")

    def _check(self, logs, where):
        for name, loss in _losses(logs):
            if math.isfinite(loss):
                continue
            raise TrainingDiverged(
                f"the training {name} became {loss} at {where}; training stopped. Usual causes: a "
                "learning rate too high (try --learning-rate 10 times smaller), inputs not scaled, "
                "or labels outside the model's classes")
