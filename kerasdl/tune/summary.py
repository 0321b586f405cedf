"""What a search leaves for a reader, in its working directory: trials.csv, summary.md, figures.

summary.md: the trials sorted by objective (hyperparameters, objective, epochs,
seconds, status), the failed ones with their reasons, the objective of each
trial with the best so far, the objective against each hyperparameter, and the
command that trains the best configuration as an ordinary run. `publish`
copies it into tuning/<task>.md (one section per search, between marker
comments, so that publishing one search replaces only its own) and its figures
into plots/<task>/tune-<name>/.
"""

import io
import json
import math
from pathlib import Path

import numpy as np

from kerasdl import paths, report, runs
from kerasdl import plots  # noqa: F401 -- matplotlib without a screen (Agg)

FIGURES = {"objective_by_trial.png": "the objective of each trial, and the best so far",
           "objective_by_hyperparameter.png": "the objective against each hyperparameter"}
STATUS = {"COMPLETED": "finished", "FAILED": "failed", "INVALID": "failed", "RUNNING": "interrupted",
          "IDLE": "waiting", "STOPPED": "stopped"}


# === The trials ===

def searched(oracle):
    """The hyperparameters the search draws (not the fixed ones, nor Hyperband's bookkeeping)."""
    from keras_tuner.engine.hyperparameters import Fixed

    return [hp for hp in oracle.get_space().space
            if not isinstance(hp, Fixed) and not hp.name.startswith("tuner/")]


def ordered(oracle):
    """The trials in the order they started."""
    ids = list(dict.fromkeys([*oracle.start_order, *oracle.trials]))
    return [oracle.trials[i] for i in ids if i in oracle.trials]


def _metric(trial, name):
    return trial.metrics.get_last_value(name) if trial.metrics.exists(name) else None


def rows(search, oracle):
    """One dict per trial, best first: trial, objective, the searched values, epochs,
    seconds, memory, status, and the reason of a failure."""
    objective = search.objective
    out = []
    for trial in ordered(oracle):
        finished = trial.status == "COMPLETED"
        row = {"trial": trial.trial_id, objective.name: trial.score if finished else None}
        row.update({hp.name: trial.hyperparameters.values.get(hp.name) for hp in searched(oracle)})
        epochs = _metric(trial, "epochs")
        row.update({"epochs": None if epochs is None else int(epochs), "seconds": _metric(trial, "seconds"),
                    "memory_mb": _metric(trial, "memory_mb"), "status": STATUS.get(trial.status, trial.status),
                    "reason": None if finished else trial.message})
        out.append(row)
    sign = -1 if objective.direction == "max" else 1
    return sorted(out, key=lambda r: (r[objective.name] is None,
                                      0 if r[objective.name] is None else sign * r[objective.name]))


def best_trial(oracle):
    best = oracle.get_best_trials(1)
    return best[0] if best and best[0].status == "COMPLETED" else None


def first_failure(oracle):
    failed = [t for t in ordered(oracle) if t.status in ("FAILED", "INVALID")]
    if not failed:
        return "no trial ran"
    return f"{len(failed)} failed, the first (trial {failed[0].trial_id}) with: {failed[0].message}"


# === Writing ===

def write(search, oracle):
    """trials.csv, the figures and summary.md in the working directory; returns the best
    trial (None when no trial finished)."""
    import pandas as pd

    table = rows(search, oracle)
    workdir = search.workdir
    runs.atomic_write(workdir / "trials.csv", pd.DataFrame(table).to_csv(index=False))
    in_order = [next(r for r in table if r["trial"] == t.trial_id) for t in ordered(oracle)]
    _save(objective_by_trial(in_order, search.objective), workdir / "objective_by_trial.png")
    hps = searched(oracle)
    if hps:
        _save(objective_by_hyperparameter(table, hps, search.objective),
              workdir / "objective_by_hyperparameter.png")
    best = best_trial(oracle)
    runs.atomic_write(workdir / "summary.md", markdown(search, oracle, table, best))
    return best


def _save(fig, path):
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    runs.atomic_write(path, buffer.getvalue())


def markdown(search, oracle, table, best):
    objective = search.objective
    names = [hp.name for hp in searched(oracle)]
    finished = sum(r["status"] == "finished" for r in table)
    failed = [r for r in table if r["status"] == "failed"]
    seconds = sum(r["seconds"] or 0 for r in table)
    machine = report.machine()
    limit = oracle.max_trials
    fixed = ", ".join(f"{k}={_text(v)}" for k, v in search.fixed.items()) or "nothing"
    budget = ", ".join(f"{k}={_text(v)}" for k, v in search.budget.items())
    parts = [
        f"## Tuning {search.task}: {search.tuner} search on {objective.name} ({objective.direction})",
        f"Command: `{search.command}`",
        f"Search `tuning/{search.task}/{search.workdir.name}/`: {report.plural(len(table), 'trial')} "
        f"({finished} finished, {len(failed)} failed){f' of at most {limit}' if limit else ''}, "
        f"{report.duration(seconds)} of trials in all, on backend {search.backend} (Keras "
        f"{machine['versions'].get('keras', '?')}), precision {search.precision}, on "
        f"{report.describe_machine(machine)}.",
        f"Fixed: {fixed}." + (f" Each trial's budget: {budget} (not the retrained best's)." if budget else "")
        + (" The trials ran with --quick (a smoke test's budget)." if search.quick else ""),
        f"The objective, {objective.name}, is measured on validation data; the test set chose nothing.",
    ]
    if best is not None:
        values = {k: v for k, v in best.hyperparameters.values.items() if k in names}
        parts += [f"**Best: trial {best.trial_id}, {objective.name} {best.score:.4g}** "
                  f"({', '.join(f'{k}={_text(v)}' for k, v in values.items()) or 'nothing searched'}). "
                  "Train it as an ordinary run (`--retrain-best` runs this):",
                  f"    {search.run_command(best.hyperparameters.values, budget=False)}", *_retrained(search)]
    parts += ["Trials, best first:",
              report.table([{k: v for k, v in r.items() if k != "reason"} for r in table],
                           formats={"seconds": report.duration, "memory_mb": lambda v: report.fmt(v, 0),
                                    **{name: _text for name in names}})]
    effects = main_effects(table, searched(oracle), objective)
    if effects:
        mean = f"mean {objective.name}"
        if search.tuner == "grid":
            why = ("in a full grid each value meets every combination of the others, so the "
                   "differences are the factors' main effects")
        else:
            why = ("these trials are not a grid: a value's trials met different values of the other "
                   "factors" + (" and trained for different budgets" if search.tuner == "hyperband" else "")
                   + ", so a difference mixes factors: a hint, not a main effect")
        better = "lower" if objective.direction == "min" else "higher"
        parts += [f"Effect of each choice: the {mean} of the finished trials that took each value, and "
                  f"its difference from the factor's best value ({better} is better; {why}):",
                  report.table(effect_rows(effects, objective.direction, mean),
                               formats={mean: lambda v: f"{v:.4f}", "difference": lambda v: f"{v:+.4f}"})]
    if failed:
        parts.append("Failed trials:\n\n" + "\n".join(f"- trial {r['trial']}: {r['reason']}" for r in failed))
    parts += [report.figure(name, caption) for name, caption in FIGURES.items()
              if (search.workdir / name).is_file()]
    return report.join(*parts)


def effect_rows(effects, direction, mean="mean"):
    """main_effects as table rows: each value's mean and its difference from the best value
    of its factor (the highest mean when the objective is maximised, the lowest when minimised)."""
    pick = max if direction == "max" else min
    return [{"factor": name, "value": _text(value), "trials": n, mean: m,
             "difference": m - pick(e[2] for e in levels)}
            for name, levels in effects.items() for value, n, m in levels]


def main_effects(table, hps, objective):
    """{name: [(value, finished trials, mean objective)]} for each searched choice (Choice,
    Boolean) that the finished trials took more than one value of, values in listed order."""
    from keras_tuner.engine.hyperparameters import Float, Int

    done = [r for r in table if r[objective.name] is not None]
    effects = {}
    for hp in hps:
        if isinstance(hp, (Int, Float)):
            continue
        values = list(getattr(hp, "values", [False, True]))
        levels = [(v, [r[objective.name] for r in done if r[hp.name] == v]) for v in values]
        levels = [(v, len(scores), float(np.mean(scores))) for v, scores in levels if scores]
        if len(levels) > 1:
            effects[hp.name] = levels
    return effects


def _retrained(search):
    """A line on the retrained best, when --retrain-best made one."""
    path = search.workdir / "retrained.json"
    if not path.is_file():
        return []
    record = json.loads(path.read_text())
    run_dir = record.get("run_dir")
    metrics_path = Path(run_dir) / "metrics.json" if run_dir else None
    if metrics_path is None or not metrics_path.is_file():
        return [f"Retrained (trial {record['trial']}): no finished run folder was found."]
    metrics = json.loads(metrics_path.read_text())
    keys = getattr(search.module, "HEADLINE", None) or [k for k in metrics if isinstance(metrics[k], float)][:5]
    numbers = ", ".join(f"{k} {_text(metrics[k])}" for k in keys if metrics.get(k) is not None)
    return [f"Retrained (trial {record['trial']}, {report.duration(record.get('seconds'))}): "
            f"`{run_dir}`: {numbers}."]


def _text(value):
    from kerasdl.config import format_value

    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else format_value(value)


# === Figures ===

def objective_by_trial(in_order, objective):
    """Each trial's objective in the order the trials started, with the best so far;
    failed trials as crosses on the lower edge."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    name = objective.name
    xs = np.arange(1, len(in_order) + 1)
    ys = np.array([np.nan if r[name] is None else r[name] for r in in_order], dtype=float)
    done = ~np.isnan(ys)
    ax.plot(xs[done], ys[done], "o", color="tab:blue", label="trial")
    if done.any():
        running = np.fmax.accumulate if objective.direction == "max" else np.fmin.accumulate
        best = running(np.where(done, ys, -np.inf if objective.direction == "max" else np.inf))
        ax.step(xs, np.where(np.isfinite(best), best, np.nan), where="post", color="tab:orange",
                label="best so far")
    if (~done).any():
        low = np.nanmin(ys) if done.any() else 0.0
        ax.plot(xs[~done], np.full((~done).sum(), low), "x", color="tab:red", label="failed")
    ax.set_xlabel("trial (in the order they started)")
    ax.set_ylabel(name)
    ax.set_title(f"{name} per trial ({objective.direction})")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def objective_by_hyperparameter(table, hps, objective):
    """One panel per searched hyperparameter: the objective of each finished trial against
    its value (log axis for log-sampled ranges; choices in their listed order)."""
    import matplotlib.pyplot as plt
    from keras_tuner.engine.hyperparameters import Float, Int

    name = objective.name
    done = [r for r in table if r[name] is not None]
    cols = min(3, len(hps))
    nrows = math.ceil(len(hps) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 3 * nrows), squeeze=False)
    best = done[0] if done else None  # the table is sorted best first
    for ax, hp in zip(axes.flat, hps):
        numeric = isinstance(hp, (Int, Float))
        if numeric:
            choices = []
            xs = [r[hp.name] for r in done]
            ax.set_xlim(hp.min_value, hp.max_value)
            if hp.sampling == "log":
                ax.set_xscale("log")
        else:
            choices = list(hp.values)
            xs = [choices.index(r[hp.name]) if r[hp.name] in choices else -1 for r in done]
            ax.set_xticks(range(len(choices)), [_text(c) for c in choices], rotation=30, fontsize=8)
            ax.set_xlim(-0.5, len(choices) - 0.5)
        ax.plot(xs, [r[name] for r in done], "o", alpha=0.7)
        if not numeric:  # each value's mean: the factor's effect
            for x, value in enumerate(choices):
                scores = [r[name] for r in done if r[hp.name] == value]
                if scores:
                    ax.plot([x - 0.3, x + 0.3], [np.mean(scores)] * 2, "-", color="tab:green", lw=2,
                            label="mean" if x == 0 else None)
        if best is not None:
            bx = best[hp.name] if numeric else choices.index(best[hp.name]) if best[hp.name] in choices else -1
            ax.plot([bx], [best[name]], "*", markersize=14, color="tab:orange", label="best")
        ax.set_title(hp.name, fontsize=10)
        ax.set_ylabel(name, fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(hps):]:
        ax.axis("off")
    fig.suptitle(f"{name} against each hyperparameter (star: the best trial; green: each choice's mean)")
    fig.tight_layout()
    return fig


# === Publishing ===

def publish(search):
    """summary.md into tuning/<task>.md (its own section) and the figures into
    plots/<task>/tune-<name>/; returns (the markdown file, figures copied)."""
    task, key = search.task, f"tune-{search.workdir.name}"
    copied = runs.publish_figures([search.workdir / f for f in FIGURES if (search.workdir / f).is_file()],
                                  task, key)
    text = (search.workdir / "summary.md").read_text(encoding="utf-8")
    target = paths.tuning_dir() / f"{task}.md"
    runs.replace_section(target, key, runs.relink(text, task, key), header=f"# Hyperparameter searches: {task}")
    return target, copied
