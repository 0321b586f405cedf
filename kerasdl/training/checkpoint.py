"""Interrupted training resumes: the state of every `fit` at the end of each epoch.

During a task's run (`python -m kerasdl <task>`), every `fit` gets an
`EpochCheckpoint` (through `progress.fit_options`, see `every_fit`). At the end
of each epoch it writes RUN/checkpoint/fit-<k>.npz, in one atomic rename:
every variable of the model (weights, batch-norm statistics, and the states
of the seed generators behind dropout and augmentation, which
`model.save_weights` leaves out), every variable of its optimizers (the step
count, and so the learning-rate schedule, and the moments), the global random
states that shuffle the data (numpy's; PyTorch's on that backend), the epoch
and the history so far. `kill -9` loses at most the epoch in progress.

`--resume RUN_DIR` runs the task again in its folder with its saved options:
each fit whose checkpoint exists starts where it ended (Keras's
`BackupAndRestore` does the same with `model._initial_epoch`), and a fit that
had finished is restored whole and trains no further. On the same backend
and machine, a resumed run ends with the same weights as one never
interrupted (tests/test_resume.py). The checkpoint also keeps what the fit's
other callbacks carry from epoch to epoch (`callback_state`): Keras's
`EarlyStopping` (its patience count, best value and best weights), and any
callback with `checkpoint_state()` / `restore_checkpoint_state(state)` (the
GAN's per-step losses and snapshots).

Loops written by hand (xor's steps, perceptron's epochs, `scratch.networks.fit`
behind scratch-mlp and softmax-regression, gan-2d's chunks of one-epoch fits
between its frames) keep theirs through a `LoopCheckpoint` (`for_loop`):
the loop gives it its whole state (weights, the random generator's state,
the history so far) after an epoch, and it writes RUN/checkpoint/loop-<k>.npz
when LOOP_SAVE_EVERY_S have passed since its last write, and always when the
loop ends; resumed, the loop starts from what it finds there.
"""

import contextlib
import io
import json
import os
import shutil
import time
from pathlib import Path

import keras
import numpy as np

from kerasdl import runs
from kerasdl.errors import UserError
from kerasdl.training import progress
from kerasdl.training.backends import random_state

FOLDER = "checkpoint"


def _optimizers(model):
    """The model's optimizer, and any other it holds (a GAN's two)."""
    found = [model.optimizer] if getattr(model, "optimizer", None) is not None else []
    for value in vars(model).values():
        if isinstance(value, keras.optimizers.Optimizer) and all(value is not o for o in found):
            found.append(value)
    return found


def _variables(model):
    """Every variable the training state is made of, each once, in a fixed order."""
    found, seen = [], set()
    for variable in [*model.variables, *(v for o in _optimizers(model) for v in o.variables)]:
        if id(variable) not in seen:
            seen.add(id(variable))
            found.append(variable)
    return found


def model_state(model):
    """{name: array}: the model's whole training state (`_variables`) and the global random
    state, for an .npz checkpoint."""
    variables = _variables(model)
    return {**{f"v{k}": keras.ops.convert_to_numpy(v) for k, v in enumerate(variables)},
            **random_state.capture(), "variable_count": np.array(len(variables))}


def restore_model_state(model, saved, path):
    """Put back what `model_state` took (`saved`: a mapping such as an open .npz read from `path`)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:  # TensorFlow builds it at the first step
        optimizer.build(model.trainable_variables)
    variables = _variables(model)
    count = int(saved["variable_count"])
    if count != len(variables):
        raise UserError(f"{path}: holds {count} variables, the model has {len(variables)}: "
                        "not this run's checkpoint; start a new run instead of --resume")
    for k, variable in enumerate(variables):
        variable.assign(saved[f"v{k}"])
    random_state.restore(saved)


# What Keras's EarlyStopping carries from epoch to epoch, besides its best weights.
_EARLY_STOPPING = ("wait", "stopped_epoch", "best", "best_epoch")


def keeps_state(callback):
    """Whether `callback_state` knows what `callback` carries from epoch to epoch."""
    return hasattr(callback, "checkpoint_state") or isinstance(callback, keras.callbacks.EarlyStopping)


def callback_state(callback):
    """{name: array}: what `callback` carries from one epoch to the next (see `keeps_state`)."""
    if hasattr(callback, "checkpoint_state"):
        return callback.checkpoint_state()
    counters = {k: getattr(callback, k) for k in _EARLY_STOPPING}
    counters["best"] = None if counters["best"] is None else float(counters["best"])
    return {"counters": np.array(json.dumps(counters)),
            **{f"best_weights_{i}": np.asarray(w) for i, w in enumerate(callback.best_weights or [])}}


def restore_callback_state(callback, state):
    """Put back what `callback_state` took."""
    if hasattr(callback, "restore_checkpoint_state"):
        callback.restore_checkpoint_state(state)
        return
    for key, value in json.loads(str(state["counters"])).items():
        setattr(callback, key, value)
    callback.best_weights = numbered(state, "best_weights_") or None


def numbered(state, prefix):
    """[state[prefix + "0"], state[prefix + "1"], ...]: a list saved one array per key."""
    found = sorted((int(k[len(prefix):]), v) for k, v in state.items()
                   if k.startswith(prefix) and k[len(prefix):].isdigit())
    return [v for _, v in found]


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the whole training state at the end of each epoch to `path` (.npz), and
    restores it at the start of a fit if `path` exists (see the module docstring)."""

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)
        self.others = []

    def keep_state_of(self, callbacks):
        """Also save and restore the state of these callbacks of the same fit (those
        `keeps_state` knows); `progress.fit_options` calls it."""
        self.others = [c for c in callbacks if c is not self and keeps_state(c)]

    def on_train_begin(self, logs=None):
        self.history = {}
        if not self.path.is_file():
            return
        with np.load(self.path, allow_pickle=False) as saved:
            restore_model_state(self.model, saved, self.path)
            epoch = int(saved["epoch"])
            self.history = json.loads(str(saved["history"]))
            # The other callbacks began this fit afresh (their on_train_begin came first).
            for j, callback in enumerate(self.others):
                prefix = f"callback{j}__"
                state = {k[len(prefix):]: saved[k] for k in saved.files if k.startswith(prefix)}
                if state:
                    restore_callback_state(callback, state)
        self.model._initial_epoch = epoch  # what keras.callbacks.BackupAndRestore sets, read by fit
        print(f"resumed from the end of epoch {epoch} ({self.path})", flush=True)

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        arrays = model_state(self.model)
        for j, callback in enumerate(self.others):
            arrays.update({f"callback{j}__{k}": v for k, v in callback_state(callback).items()})
        buffer = io.BytesIO()
        np.savez(buffer, **arrays, epoch=np.array(epoch + 1), history=np.array(json.dumps(self.history)))
        runs.atomic_write(self.path, buffer.getvalue())

    def on_train_end(self, logs=None):
        # fit returns model.history: make it the whole run's, epochs before the resume included.
        self.model._initial_epoch = None
        history = keras.callbacks.History()
        history.set_model(self.model)
        history.set_params(self.params)
        history.history = {k: list(v) for k, v in self.history.items()}
        history.epoch = list(range(max((len(v) for v in self.history.values()), default=0)))
        self.model.history = history


# A by-hand loop's epoch can take milliseconds (one of xor's steps): writing its state after
# each would cost more than the training. At most one write per this many seconds, so `kill -9`
# loses at most these seconds and the epoch in progress.
LOOP_SAVE_EVERY_S = 5.0


class LoopCheckpoint:
    """The state of one loop written by hand, for `--resume` (see the module docstring).

    The loop calls `restore()` before its first epoch: the arrays it saved last, or None
    (nothing saved, or not in a run: then `save` keeps nothing either). After each epoch it
    calls `save(state, at)` if `due()`, and `save(..., finished=True)` when it ends."""

    def __init__(self, path=None):
        self.path = None if path is None else Path(path)
        self.saved_at = time.monotonic()

    def restore(self):
        if self.path is None or not self.path.is_file():
            return None
        with np.load(self.path, allow_pickle=False) as saved:
            state = {k: saved[k] for k in saved.files}
        print(f"resumed from the end of {state.pop('at')} ({self.path})", flush=True)
        return state

    def due(self):
        """Whether the next `save` would write (LOOP_SAVE_EVERY_S since the last)."""
        return self.path is not None and time.monotonic() - self.saved_at >= LOOP_SAVE_EVERY_S

    def save(self, state, at, finished=False):
        """Write `state` ({name: array}), reached at the end of `at` (e.g. "epoch 3"), atomically;
        `finished`: the loop's last state (a resumed loop then trains no further)."""
        if self.path is None:
            return
        buffer = io.BytesIO()
        np.savez(buffer, **state, at=np.array(at), finished=np.array(finished))
        runs.atomic_write(self.path, buffer.getvalue())
        self.saved_at = time.monotonic()


_loops = None  # within every_fit: {"folder": RUN/checkpoint, "count": loops so far}


def for_loop():
    """The checkpoint of the next loop written by hand in this run: RUN/checkpoint/loop-<k>.npz
    for the k-th loop to ask (a run's loops come in the same order every time), or one that
    keeps nothing outside a run (tests, bench)."""
    if _loops is None:
        return LoopCheckpoint()
    _loops["count"] += 1
    return LoopCheckpoint(_loops["folder"] / f"loop-{_loops['count']}.npz")


@contextlib.contextmanager
def every_fit(run_dir):
    """Within: the k-th `fit` that asks `fit_options` for its callbacks checkpoints to
    RUN/checkpoint/fit-<k>.npz (a run's fits come in the same order every time), and the
    k-th loop written by hand that asks `for_loop` to RUN/checkpoint/loop-<k>.npz."""
    global _loops
    folder = Path(run_dir) / FOLDER
    count = 0

    def make():
        nonlocal count
        count += 1
        return [EpochCheckpoint(folder / f"fit-{count}.npz")]

    outer, _loops = _loops, {"folder": folder, "count": 0}
    try:
        with progress.added_callbacks(make):
            yield
    finally:
        _loops = outer


def discard(run_dir):
    """A finished run needs no checkpoint: its model is saved."""
    shutil.rmtree(Path(run_dir) / FOLDER, ignore_errors=True)


def remove_temporary_files(run_dir):
    """Files an interrupted write left behind (runs.atomic_write's `.NAME.XXXX.tmp`,
    Run.save_model's `.tmp-PID-NAME`): removed when the run is resumed. Returns how many."""
    removed = 0
    for path in Path(run_dir).rglob(".*"):
        if path.is_file() and (path.name.endswith(".tmp") or path.name.startswith(".tmp-")):
            os.unlink(path)
            removed += 1
    return removed
