"""A grid search that resumes: every combination of a space of choices, once each.

KerasTuner 1.4.8's `GridSearchOracle` keeps its place in the grid in two
in-memory structures (a linked list of trials and a queue of trials whose
successor is still to be made) that it does not save: reloaded from disk, it
has neither, finds nothing to do and stops at once with the grid unfinished
(keras-tuner#1055 reports a KeyError in a similar case). `GridOracle` keeps no
place at all: the grid is enumerated in a fixed order (each hyperparameter's
default first, as KerasTuner does), and the next trial is the first
combination not yet tried. What has been tried is the oracle's saved record of
the values of every trial started, so a reloaded oracle (or one serving
several workers) picks up exactly where it was; an interrupted trial is
retried through KerasTuner's retry queue, which is saved too.
"""

import itertools

from keras_tuner.engine import oracle as oracle_module
from keras_tuner.engine import trial as trial_module
from keras_tuner.engine.hyperparameters import Boolean, Choice, Fixed

from kerasdl.errors import UserError


def grid_values(hp):
    """The values a grid takes of one hyperparameter, its default first."""
    values = list(hp.values) if isinstance(hp, (Choice, Fixed)) else [False, True]
    default = hp.default
    return [default, *(v for v in values if v != default)]


def check_grid(space, task):
    """UserError unless every hyperparameter of `space` (a list) is a Choice, Boolean or Fixed."""
    for hp in space:
        if not isinstance(hp, (Choice, Boolean, Fixed)):
            field = hp.name.replace("_", "-")
            raise UserError(f"--tuner grid takes a space of choices, and {task}'s space draws {hp.name} "
                            f"from a range ({type(hp).__name__}): fix it (--{field} VALUE or --set "
                            f"{hp.name}=VALUE), or use --tuner random or bayesian")


def grid_size(space):
    size = 1
    for hp in space:
        size *= len(grid_values(hp))
    return size


class GridOracle(oracle_module.Oracle):
    """Every combination of the space's choices, in a fixed order, each once; see the module
    docstring. `max_trials` None: the whole grid."""

    def populate_space(self, trial_id):
        space = self.get_space()
        hps = space.space
        for combination in itertools.product(*(grid_values(hp) for hp in hps)):
            space.values = dict(zip((hp.name for hp in hps), combination))
            # Only the active values count (a conditional hyperparameter may be off).
            values = {hp.name: space.values[hp.name] for hp in hps if space.is_active(hp)}
            if not self._duplicate(values):
                return {"status": trial_module.TrialStatus.RUNNING, "values": values}
        return {"status": trial_module.TrialStatus.STOPPED, "values": None}
