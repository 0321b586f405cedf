"""A toy task for tests/test_tune.py: a tiny Keras regression whose objective is a known
function of its hyperparameters, with modes for each way a trial can end.

    val_score = units / 10 (+ 0.5 in mode b); units=8 with mode b is an impossible
    combination; mode nan trains on NaN targets (a NaN loss); mode crash raises a bug;
    mode flat never improves (early stopping ends it).

`install()` adds it to kerasdl's task registry as `toytune`: the tests monkeypatch it in,
and worker subprocesses load it through a sitecustomize.py the tests write. Environment
switches reach those subprocesses too: TOYTUNE_LOG (a line per finished run: trial and pid),
TOYTUNE_SLEEP (seconds each run sleeps), TOYTUNE_STOP_AFTER (Ctrl-C once this many runs
are logged), TOYTUNE_DIE_IN (the trial whose first run kills its process, SIGKILL).
"""

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from kerasdl.config import TaskConfig, field, non_negative, one_of, positive
from kerasdl.errors import UserError

NAME = "toytune"
MODES = ("a", "b", "nan", "crash", "flat")


@dataclass
class Config(TaskConfig):
    units: int = field(4, "hidden units", positive)
    mode: str = field("a", "a, b, nan, crash or flat (see the module docstring)", one_of(*MODES))
    modes: tuple[str, ...] = field(("a", "b"), "the modes the search space chooses from", one_of(*MODES))
    rate: float = field(0.01, "SGD's learning rate", positive)
    epochs: int = field(2, "passes over the data", positive)
    seed: int = field(0, "seeds the data and the weights", non_negative)

    def check(self):
        if self.mode == "b" and self.units == 8:
            raise UserError("units=8 with mode=b: an impossible combination")


QUICK = dict(epochs=1)
TUNE_OBJECTIVE = ("val_score", "max")
TUNE_MONITOR = ("val_loss", "min")


def search_space(hp, config):
    return {"units": hp.Choice("units", [2, 4, 8], default=4),
            "mode": hp.Choice("mode", list(config.modes), default=config.modes[0]),
            "rate": hp.Float("rate", 1e-3, 1e-1, sampling="log", default=0.01)}


def install():
    """Register `toytune` in kerasdl.tasks (for this process)."""
    from kerasdl import tasks

    found = tasks._discover()
    tasks._discover = lambda: {**found, NAME: (__name__, "a toy task for the tune tests")}


def _logged():
    log = os.environ.get("TOYTUNE_LOG")
    return Path(log).read_text().splitlines() if log and Path(log).exists() else []


def run(config, run):
    import keras
    import numpy as np

    from kerasdl.training.progress import fit_options

    trial = run.dir.parent.name
    stop_after = os.environ.get("TOYTUNE_STOP_AFTER")
    if stop_after and len(_logged()) >= int(stop_after):
        raise KeyboardInterrupt("TOYTUNE_STOP_AFTER")
    marker = run.dir.parent / "died-once"
    if os.environ.get("TOYTUNE_DIE_IN") == trial and not marker.exists():
        marker.write_text("")
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(float(os.environ.get("TOYTUNE_SLEEP", 0)))
    if config.mode == "crash":
        raise RuntimeError("a bug in the task")

    rng = np.random.default_rng(config.seed)
    x = rng.normal(size=(32, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    if config.mode == "nan":
        y[:] = np.nan
    if config.mode == "flat":
        y[:] = 0.0
    zeros = dict(kernel_initializer="zeros") if config.mode == "flat" else {}
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(config.units, activation="relu", **zeros),
                              keras.layers.Dense(1, **zeros)])
    model.compile(optimizer=keras.optimizers.SGD(config.rate), loss="mse")
    history = model.fit(x, y, batch_size=8, epochs=config.epochs, validation_split=0.25, **fit_options())
    run.write_history(history)
    run.write_report("# toy\n")
    score = config.units / 10 + (0.5 if config.mode == "b" else 0.0)
    log = os.environ.get("TOYTUNE_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{trial} {os.getpid()} units={config.units} mode={config.mode}\n")
    return {"val_score": score, "val_loss": float(history.history["val_loss"][-1]), "test_score": score}
