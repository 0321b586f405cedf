"""Live progress with a time estimate, for `fit` and for hand-written loops.

On a terminal: Keras's own progress bar. Elsewhere (a log file, CI, a pipe),
where a bar that redraws itself would be one line per redraw: one plain line
every `interval` seconds with the step, the latest metrics, the time spent and
the time left. Quiet when KERASDL_QUIET is set, as the tests do.
"""

import contextlib
import os
import sys
import time

import keras

# A line every 10 s when not on a terminal: a long run stays visibly alive
# without flooding a log (an epoch of the default CNN is about a minute).
INTERVAL_S = 10.0


def quiet():
    return bool(os.environ.get("KERASDL_QUIET"))


def on_terminal():
    return sys.stdout.isatty()


def clock(seconds):
    """3725 -> '1:02:05', 65 -> '1:05'."""
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _numbers(logs):
    return "  ".join(f"{k} {float(v):.4g}" for k, v in (logs or {}).items()
                     if isinstance(v, (int, float)) or hasattr(v, "__float__"))


class ProgressLines(keras.callbacks.Callback):
    """One line every `interval` seconds during `fit`, and one per finished epoch:
    epoch, step, metrics, elapsed and remaining time over the whole fit."""

    def __init__(self, interval=INTERVAL_S, stream=None):
        super().__init__()
        self.interval = interval
        self.stream = stream or sys.stdout

    def on_train_begin(self, logs=None):
        self.epochs = self.params.get("epochs") or 1
        self.steps = self.params.get("steps") or None
        self.started = self.last = time.perf_counter()
        self.done = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.done += 1
        now = time.perf_counter()
        if now - self.last < self.interval:
            return
        self.last = now
        where = f"epoch {self.epoch + 1}/{self.epochs}"
        if self.steps:
            where += f"  step {batch + 1}/{self.steps}"
        self._print(f"{where}  {_numbers(logs)}  {self._times(now)}")

    def on_epoch_end(self, epoch, logs=None):
        self._print(f"epoch {epoch + 1}/{self.epochs} done  {_numbers(logs)}  "
                    f"{self._times(time.perf_counter())}")

    def _times(self, now):
        elapsed = now - self.started
        text = f"elapsed {clock(elapsed)}"
        if self.steps and self.done:
            left = elapsed / self.done * (self.steps * self.epochs - self.done)
            text += f"  left ~{clock(left)}"
        return text

    def _print(self, line):
        print(line, file=self.stream, flush=True)


# Makers of callbacks that every fit_options() call adds after the caller's own:
# `kerasdl tune` adds early stopping on its objective and an epoch count to each
# fit of a trial (see `added_callbacks`).
_ADDED = []


@contextlib.contextmanager
def added_callbacks(make):
    """Within the block, each fit_options() call also gets the callbacks `make()` returns
    (called once per fit, so that every fit has fresh ones)."""
    _ADDED.append(make)
    try:
        yield
    finally:
        _ADDED.remove(make)


def fit_options(callbacks=()):
    """The `verbose` and `callbacks` arguments of `model.fit` for live progress:
    `model.fit(x, y, **fit_options([my_callback]))`."""
    from kerasdl.training.guards import StopOnNonFiniteLoss

    added = [c for make in _ADDED for c in make()]
    callbacks = [*callbacks, StopOnNonFiniteLoss(), *added]
    for callback in added:  # a checkpoint keeps the state of the fit's other callbacks too
        if hasattr(callback, "keep_state_of"):
            callback.keep_state_of(callbacks)
    if quiet():
        return {"verbose": 0, "callbacks": callbacks}
    if on_terminal():
        return {"verbose": 1, "callbacks": callbacks}
    return {"verbose": 0, "callbacks": [*callbacks, ProgressLines()]}


def progress(iterable, total=None, desc=None, interval=INTERVAL_S):
    """Yield from `iterable` while showing progress: Keras's Progbar on a terminal,
    else a line every `interval` seconds with the time left."""
    total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
    if quiet() or total is None:
        yield from iterable
        return
    if desc:
        print(desc, flush=True)
    bar = keras.utils.Progbar(total, unit_name="step") if on_terminal() else None
    started = last = time.perf_counter()
    for k, item in enumerate(iterable, 1):
        yield item
        if bar is not None:
            bar.update(k)
            continue
        now = time.perf_counter()
        if now - last >= interval or k == total:
            last = now
            elapsed = now - started
            print(f"{desc or 'progress'}: {k}/{total}  elapsed {clock(elapsed)}  "
                  f"left ~{clock(elapsed / k * (total - k))}", flush=True)
