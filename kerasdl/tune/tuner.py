"""A task as KerasTuner sees it: a HyperModel that draws a Config, a Tuner whose trial is a run.

`TaskHyperModel.build(hp)` calls the task's own `search_space(hp, config)` and
returns the field values of one trial (fields fixed on the command line are
registered first as `hp.Fixed`, so the space sees them and does not search
them). `TaskTuner.run_trial` turns those values into the trial's Config and
trains it through the task's own `run(config, run)`, exactly as
`python -m kerasdl <task>` would (kerasdl.cli's steps), in a run folder
`trial_<id>/run-<k>/` of the search's working directory; the objective is read
from the metrics the run returns.

The tuner derives from KerasTuner's `BaseTuner`, not its Keras `Tuner`: a trial
is a whole run of a task (several models, custom training steps, the task's own
evaluation), not one `model.fit`, so there are no Keras checkpoints to manage.
Between trials the Keras session is cleared and the garbage collected, so that
memory does not grow from trial to trial (keras-tuner#873, #1031).
"""

import contextlib
import dataclasses
import math
import os
import shutil
import time
import traceback
import types
import typing
from pathlib import Path

import keras
import keras_tuner
from keras_tuner.engine import base_tuner
from keras_tuner.engine import trial as trial_module
from keras_tuner.src import utils as keras_tuner_utils

from kerasdl import config as configs
from kerasdl import errors
from kerasdl.errors import UserError
from kerasdl.training import progress

def _atomic_save_json(path, obj):
    """KerasTuner's `utils.save_json`, through a temporary file and a rename (kerasdl.runs):
    KerasTuner 1.4 writes oracle.json, tuner.json and each trial.json in place, so a search
    stopped during a write left a truncated JSON that the next run could not reload."""
    import json

    from kerasdl import runs

    text = json.dumps(obj)
    runs.atomic_write(path, text)
    return text


# Every state file of KerasTuner goes through this one function (engine/stateful.py,
# engine/tuner.py): replaced once kerasdl's tuner is loaded.
keras_tuner_utils.save_json = _atomic_save_json

# Epochs without improvement of the monitored metric before a trial's fit stops.
PATIENCE = 3
# A worker asks again this often while the oracle has no trial ready (Hyperband, grid).
IDLE_WAIT_S = 1.0


class ObjectiveMissing(UserError, keras_tuner.errors.FatalError):
    """The task's metrics lack the objective: every trial would fail, so the search stops."""


def hp_value(value):
    """A Config value as `hp.Fixed` takes it: tuples as '32,64', None as 'None'."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return configs.format_value(value) if value is not None else "None"


class TaskHyperModel(keras_tuner.HyperModel):
    """`build(hp)`: the field values of one trial, {field: value}, from the task's space.

    `base`: the Config every trial starts from (defaults, --quick, --budget and the
    fixed fields); `fixed`: {field: value} the command line fixed; `epochs_from_tuner`:
    Hyperband's `tuner/epochs` sets `epochs` (its budget dimension)."""

    def __init__(self, task, module, base, fixed, epochs_from_tuner=False):
        super().__init__(name=task)
        self.module, self.base, self.fixed = module, base, dict(fixed)
        self.epochs_from_tuner = epochs_from_tuner

    def build(self, hp):
        for name, value in self.fixed.items():
            hp.Fixed(name, hp_value(value))
        values = dict(self.module.search_space(hp, self.base))
        values.update(self.fixed)
        if self.epochs_from_tuner and "tuner/epochs" in hp.values:
            values["epochs"] = hp.values["tuner/epochs"]
        return values

    def config(self, hp):
        """The trial's Config (UserError for an impossible combination)."""
        values = self.build(hp)
        fields = typing.get_type_hints(type(self.base))
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise UserError(f"{self.name}'s search space sets {unknown[0]}, which is not a field of its Config")
        # Text for a field that is not text ('32,64' for a tuple) is parsed by the field's type;
        # text for a text field is taken as it is ('none' stays 'none', not None).
        parse = {k: v for k, v in values.items() if isinstance(v, str) and not _takes_text(fields[k])}
        config = configs.apply_overrides(self.base, parse, source="search space")
        return dataclasses.replace(config, **{k: v for k, v in values.items() if k not in parse})


def _takes_text(annotation):
    """str, or str | None: a field whose values are text."""
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    return annotation is str or (union and str in typing.get_args(annotation))


class TrialRecord(keras.callbacks.Callback):
    """Counts the epochs a trial trains, over all the fits of its run."""

    def __init__(self, record):
        super().__init__()
        self.record = record

    def on_epoch_end(self, epoch, logs=None):
        self.record["epochs"] += 1


class _EarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping that stays silent in a fit that does not log its metric (a task's
    second model may log other metrics than the first)."""

    def get_monitor_value(self, logs):
        return (logs or {}).get(self.monitor)


def monitor(module, objective):
    """(metric, mode) early stopping watches: the task's TUNE_MONITOR, else the objective."""
    return getattr(module, "TUNE_MONITOR", None) or (objective.name, objective.direction)


def release_memory():
    """What one trial leaves behind: Keras's global state, figures, unreachable objects."""
    import matplotlib.pyplot as plt

    plt.close("all")
    keras.backend.clear_session(free_memory=True)  # and gc.collect()


def resident_mb():
    """This process's resident memory now (Linux), else None."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2 ** 20, 1)


def retry_orphaned_trials(oracle):
    """Queue again the trials a reloaded oracle holds as running but not as ongoing.

    KerasTuner's reload retries the trials its saved state lists as ongoing; a search killed
    (kill -9) after a new trial's file was written and before the oracle was saved leaves a
    trial marked running that nothing would run, yet that counts toward max_trials."""
    for trial_id, trial in oracle.trials.items():
        if trial.status == trial_module.TrialStatus.RUNNING and trial_id not in oracle._retry_queue:
            oracle._retry_queue.append(trial_id)


class TaskTuner(base_tuner.BaseTuner):
    """Runs each trial as a run of the task; see the module docstring.

    `search`: the search's description (kerasdl.tune.Search): task, module, objective,
    executions per trial, backend, precision and how to print a trial's command."""

    def __init__(self, oracle, hypermodel, search, **kwargs):
        self.search_spec = search
        self._reason = None
        super().__init__(oracle, hypermodel, **kwargs)

    # === The search loop (BaseTuner.search, which asks without pause while a
    # distributed oracle is busy, and would serve as a chief: kerasdl.tune.distributed does) ===
    def search(self):
        self.on_search_begin()
        while True:
            errors.raise_if_signalled()  # a SIGTERM whose KeyboardInterrupt was swallowed
            # KerasTuner writes a new trial's file, then the oracle that lists it as running:
            # a search stopped between the two never ran that trial again (seen in CI)
            with errors.deferred_signals():
                trial = self.oracle.create_trial(self.tuner_id)
            if trial.status == trial_module.TrialStatus.STOPPED:
                break
            if trial.status == trial_module.TrialStatus.IDLE:
                time.sleep(IDLE_WAIT_S)
                continue
            self.on_trial_begin(trial)
            self._try_run_and_update_trial(trial)
            errors.raise_if_signalled()
            with errors.deferred_signals():  # the oracle records the trial whole, or not at all
                self.on_trial_end(trial)
        self.on_search_end()

    # === One trial ===
    def on_trial_begin(self, trial):
        self._reason = None
        self._started = time.perf_counter()
        self._say(f"trial {trial.trial_id} running: {describe(self._searched(trial.hyperparameters.values))}")

    def run_trial(self, trial):
        search = self.search_spec
        record = {"epochs": 0}
        try:
            try:
                config = self.hypermodel.config(trial.hyperparameters)
                values = []
                for k in range(search.executions):
                    metrics = self._run_once(trial, config, k, record)
                    values.append(self._objective_value(metrics))
            except ObjectiveMissing:
                raise
            except UserError as e:  # an impossible combination, a NaN loss, ...
                raise self._failed(str(e)) from None
            except Exception as e:  # noqa: BLE001 - a trial's bug is its failure, not the search's
                (Path(self.get_trial_dir(trial.trial_id)) / "error.txt").write_text(traceback.format_exc())
                raise self._failed(f"{type(e).__name__}: {' '.join(str(e).split())}"[:500]) from None
        finally:
            release_memory()
        result = {search.objective.name: sum(values) / len(values),
                  "epochs": float(record["epochs"]),
                  "seconds": round(time.perf_counter() - self._started, 1)}
        memory = resident_mb()
        if memory is not None:
            result["memory_mb"] = memory
        return result

    def _run_once(self, trial, config, k, record):
        """Execution k of the trial: a run folder trial_<id>/run-<k+1>/, the task's run()."""
        from kerasdl import cli, runs

        search = self.search_spec
        if search.executions > 1 and hasattr(config, "seed"):
            config = configs.apply_overrides(config, {"seed": config.seed + k}, source="execution")
        trial_dir = Path(self.get_trial_dir(trial.trial_id))
        folder = trial_dir / f"run-{k + 1}"
        if folder.exists():  # left by an interrupted attempt at this trial
            shutil.rmtree(folder)
        info = cli.run_info(search.task, search.run_command(trial.hyperparameters.values),
                            search.backend, search.precision, config, search.quick)
        run = runs.Run(trial_dir.name, root=trial_dir.parent, run_id=folder.name, info=info)
        run.task = search.task
        cli.begin_run(run, config)
        metric, mode = monitor(search.module, search.objective)

        def callbacks():
            return [TrialRecord(record),
                    _EarlyStopping(monitor=metric, mode=mode, patience=PATIENCE, restore_best_weights=True)]

        with open(run.path("output.log"), "w", encoding="utf-8") as log, \
                contextlib.redirect_stdout(log), progress.added_callbacks(callbacks):
            try:
                return cli.execute(search.module, config, run)
            except KeyboardInterrupt:
                # not the trial's `--resume` command that `execute` names: the search resumes
                # when its own command is given again
                raise KeyboardInterrupt from None

    def _objective_value(self, metrics):
        name = self.search_spec.objective.name
        if name not in metrics:
            reported = sorted(k for k, v in metrics.items() if isinstance(v, (int, float))
                              and not isinstance(v, bool) and "test" not in k.split("_"))
            raise ObjectiveMissing(f"--objective {name}: the task {self.search_spec.task!r} does not report "
                                   f"it; it reports {', '.join(reported)}")
        value = metrics[name]
        if value is None or not math.isfinite(float(value)):
            raise self._failed(f"{name} is {value}")
        return float(value)

    def _failed(self, reason):
        self._reason = reason
        return keras_tuner.errors.FailedTrialError(reason)

    def on_trial_end(self, trial):
        if trial.status != trial_module.TrialStatus.COMPLETED:
            # KerasTuner keeps a traceback; the summary wants the reason in one line.
            lines = (trial.message or "").strip().splitlines()
            trial.message = self._reason or (lines[-1] if lines else "unknown reason")
        self.note_reason(trial)
        super().on_trial_end(trial)
        self._say(self.progress_line(trial))

    def note_reason(self, trial):
        """A worker tells the chief why its trial failed (KerasTuner's messages carry no reason)."""
        if self._is_worker() and trial.message:
            from kerasdl.tune import distributed

            distributed.send_note(self.oracle.stub, {"tuner": self.tuner_id, "trial": trial.trial_id,
                                                     "message": trial.message})

    def progress_line(self, trial):
        """'trial 03: val_accuracy 0.8712 (best 0.8790, trial 01); 3 epochs, 41 s; lr=...'."""
        search = self.search_spec
        ended = self.oracle.get_trial(trial.trial_id)
        best = self.oracle.get_best_trials(1)
        best = best[0] if best and best[0].status == trial_module.TrialStatus.COMPLETED else None
        best_text = (f"best {best.score:.4g} (trial {best.trial_id})" if best is not None
                     else "no trial finished yet")
        hps = describe(self._searched(trial.hyperparameters.values))
        if ended.status != trial_module.TrialStatus.COMPLETED:
            reason = trial.message or "unknown reason"
            return f"trial {trial.trial_id} failed: {reason}; {best_text}; {hps}"
        epochs = _last(ended, "epochs")
        seconds = _last(ended, "seconds")
        return (f"trial {trial.trial_id}: {search.objective.name} {ended.score:.4g} ({best_text}); "
                f"{'-' if epochs is None else int(epochs)} epochs, "
                f"{'-' if seconds is None else f'{seconds:.0f}'} s; {hps}")

    def _searched(self, values):
        """The values the space drew (not the fixed ones, nor Hyperband's bookkeeping)."""
        fixed = self.hypermodel.fixed
        return {k: v for k, v in values.items()
                if (k not in fixed and not k.startswith("tuner/")) or k == "tuner/epochs"}

    def _say(self, line):
        prefix = "" if self.tuner_id == "tuner0" else f"[{self.tuner_id}] "
        print(prefix + line, flush=True)

    # BaseTuner's abstract model hooks: a trial's models are in its run folders.
    def save_model(self, trial_id, model, step=0):
        pass

    def load_model(self, trial):
        raise UserError("a trial's model is its run folder's model.keras (trial_<id>/run-1/); "
                        "--retrain-best trains the best configuration as an ordinary run")


def _last(trial, name):
    if not trial.metrics.exists(name):
        return None
    return trial.metrics.get_last_value(name)


def describe(values):
    """{'learning_rate': 0.00213, 'widths': '32,64'} -> 'learning_rate=0.00213 widths=32,64'."""
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()) \
        or "(nothing searched)"
