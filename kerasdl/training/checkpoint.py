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
GAN's per-step losses and snapshots). Not kept: loops written by hand (the
by-hand tasks: 41 s for xor, up to 4.2 min for softmax-regression's runs),
which start over.
"""

import contextlib
import io
import json
import os
import shutil
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
    weights = sorted((int(k.rsplit("_", 1)[1]), v) for k, v in state.items() if k.startswith("best_weights_"))
    callback.best_weights = [v for _, v in weights] or None


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
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and not optimizer.built:  # TensorFlow builds it at the first step
            optimizer.build(self.model.trainable_variables)
        variables = _variables(self.model)
        with np.load(self.path, allow_pickle=False) as saved:
            count = int(saved["variable_count"])
            if count != len(variables):
                raise UserError(f"{self.path}: holds {count} variables, the model has {len(variables)}: "
                                "not this run's checkpoint; start a new run instead of --resume")
            for k, variable in enumerate(variables):
                variable.assign(saved[f"v{k}"])
            random_state.restore(saved)
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
        variables = _variables(self.model)
        arrays = {f"v{k}": keras.ops.convert_to_numpy(v) for k, v in enumerate(variables)}
        for j, callback in enumerate(self.others):
            arrays.update({f"callback{j}__{k}": v for k, v in callback_state(callback).items()})
        buffer = io.BytesIO()
        np.savez(buffer, **arrays, **random_state.capture(), variable_count=np.array(len(variables)),
                 epoch=np.array(epoch + 1), history=np.array(json.dumps(self.history)))
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


@contextlib.contextmanager
def every_fit(run_dir):
    """Within: the k-th `fit` that asks `fit_options` for its callbacks checkpoints to
    RUN/checkpoint/fit-<k>.npz (a run's fits come in the same order every time)."""
    folder = Path(run_dir) / FOLDER
    count = 0

    def make():
        nonlocal count
        count += 1
        return [EpochCheckpoint(folder / f"fit-{count}.npz")]

    with progress.added_callbacks(make):
        yield


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
