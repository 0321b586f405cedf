"""Logistic regression (binary, with L2) and softmax regression by hand, with early stopping.

Both are written out in keras.ops (linear.py: the sigmoid network of
kerasdl.scratch.networks without a hidden layer), trained by
mini-batch gradient descent, evaluated on a held-out validation split every
`eval_every` gradient steps, and stopped when none of the last `patience`
evaluations (the course: 25; evaluations, not epochs) improved the best
validation accuracy; the weights of the best evaluation are kept. Stop and
best points are reported as the step and the (fractional) epoch. As in the
course, each model is trained with two learning rates, 0.001 and 0.01 (both
at once, as two replicas that start from zero and see the same batches). The
binary model separates two chosen classes of the same data set (by default
MNIST's 3 and 5, a pair often confused).
"""

import time
from dataclasses import dataclass

import numpy as np
from keras import ops

from kerasdl import data, plots, report
from kerasdl.config import (TaskConfig, field, format_value, non_negative, one_of, positive,
                            probability)
from kerasdl.errors import UserError
from kerasdl.plots import sweeps
from kerasdl.scratch import networks
from kerasdl.tasks.softmax_regression import linear

NAME = "softmax-regression"
MODELS = ("logistic", "softmax")


@dataclass
class Config(TaskConfig):
    dataset: str = field("mnist", "any registered image data set (images are flattened)")
    models: tuple[str, ...] = field(MODELS, "logistic (binary, on binary_classes) and/or softmax "
                                    "(all classes)", one_of(*MODELS))
    learning_rates: tuple[float, ...] = field((0.001, 0.01), "the course's two runs, per model", positive)
    epochs: int = field(60, "at most this many epochs (early stopping may end a run sooner)", positive)
    batch_size: int = field(128, "examples per gradient step", positive)
    eval_every: int | None = field(50, "gradient steps between validation evaluations "
                                   "(0 or None: once per epoch)", non_negative)
    patience: int = field(25, "stop when none of the last this-many evaluations improved", positive)
    validation_fraction: float = field(0.1, "share of the training set held out for early stopping",
                                       probability)
    binary_classes: tuple[int, ...] = field((3, 5), "the two classes of the logistic regression "
                                            "(label 0, label 1)", non_negative)
    l2: float = field(1e-3, "logistic regression's L2 penalty (l2 / 2) * |w|^2, bias excluded", non_negative)
    softmax_l2: float = field(0.0, "the same penalty for softmax regression", non_negative)
    train_limit: int | None = field(None, "use at most this many training images (None: all)", positive)
    test_limit: int | None = field(None, "use at most this many test images (None: all)", positive)
    seed: int = field(0, "seeds the validation split and the batch order", non_negative)
    data_dir: str | None = field(None, "look here first for the data set")

    def check(self):
        if not self.models:
            raise UserError(f"models={format_value(self.models)}: choose from {', '.join(MODELS)}")
        if not self.learning_rates:
            raise UserError("learning_rates=: expected at least one learning rate, e.g. 0.001,0.01")
        if len(self.binary_classes) != 2 or self.binary_classes[0] == self.binary_classes[1]:
            raise UserError(f"binary_classes={format_value(self.binary_classes)}: expected two different "
                            "class indices, e.g. 3,5")


QUICK = dict(epochs=4, eval_every=3, patience=3, train_limit=1500, test_limit=300)


def variant(config):
    return config.dataset


# === Data ===

def load_data(config):
    """Flattened [0, 1] images: {'softmax': splits, 'logistic': the two classes' splits}, each
    {'train'|'val'|'test': (x, integer labels)}."""
    ds = data.load(config.dataset, data_dir=config.data_dir, train_limit=config.train_limit,
                   test_limit=config.test_limit, subset_seed=config.seed)
    missing = [c for c in config.binary_classes if not 0 <= c < ds.num_classes]
    if "logistic" in config.models and missing:
        raise UserError(f"binary_classes={format_value(config.binary_classes)}: {ds.name} has classes "
                        f"0..{ds.num_classes - 1}")
    x_train, y_train, x_val, y_val = ds.split_validation(config.validation_fraction, seed=config.seed)
    splits = {name: (ds.scaled(x).reshape(len(x), -1), np.asarray(y))
              for name, (x, y) in {"train": (x_train, y_train), "val": (x_val, y_val),
                                   "test": (ds.x_test, ds.y_test)}.items()}
    label0, label1 = config.binary_classes
    binary = {}
    for name, (x, y) in splits.items():
        keep = (y == label0) | (y == label1)
        binary[name] = (x[keep], (y[keep] == label1).astype("int64"))
    return ds, {"softmax": splits, "logistic": binary}


# === Model and training: one replica per learning rate ===

def build(model, n_features, n_classes, config):
    rates = len(config.learning_rates)
    if model == "logistic":
        return linear.logistic_regression(n_features, l2=config.l2, replicas=rates)
    return linear.softmax_regression(n_features, n_classes, l2=config.softmax_l2, replicas=rates)


def train(model, splits, n_classes, config):
    """Fit both learning rates with early stopping; returns (net with the best weights, history, stopper)."""
    net = build(model, splits["train"][0].shape[1], n_classes, config)
    loss = net.loss_name

    def prepared(name):
        x, y = splits[name]
        return x, networks.targets(y, n_classes, loss)

    stopper = linear.EarlyStopping(config.patience, monitor="val_accuracy", replicas=net.replicas)
    history = networks.fit(net, *prepared("train"), np.asarray(config.learning_rates, "float32"), config.epochs,
                           config.batch_size, seed=config.seed, eval_sets={"val": prepared("val")},
                           early_stopping=stopper, progress_desc=f"{model} regression",
                           eval_every=config.eval_every)
    stopper.restore(net)
    results = {name: networks.evaluate(net, *prepared(name)) for name in ("train", "val", "test")}
    return net, history, stopper, results


def run(config, run):
    started, cpu_started = time.perf_counter(), time.process_time()
    # === Data ===
    ds, sets = load_data(config)
    label0, label1 = (ds.class_names[c] for c in config.binary_classes)
    print(f"{ds.name}: {', '.join(f'{k} {len(v[0])}' for k, v in sets['softmax'].items())}; "
          f"binary {label0} vs {label1}: {', '.join(f'{k} {len(v[0])}' for k, v in sets['logistic'].items())}; "
          f"{ds.provenance}")

    rows, histories, kept = [], [], {}
    for model in config.models:
        n_classes = 2 if model == "logistic" else ds.num_classes
        # === Train ===
        net, history, stopper, results = train(model, sets[model], n_classes, config)
        histories += [dict(h, model=model) for h in history]
        steps_per_epoch = -(-len(sets[model]["train"][0]) // config.batch_size)
        for k, rate in enumerate(config.learning_rates):
            row = {"model": model, "learning_rate": rate, "steps_per_epoch": steps_per_epoch,
                   "evaluations": int(stopper.evaluations[k]),
                   "stop_step": int(stopper.stop_step[k]), "stop_epoch": float(stopper.stop_epoch[k]),
                   "early_stopped": not bool(stopper.active[k]),
                   "best_step": int(stopper.best_step[k]), "best_epoch": float(stopper.best_epoch[k])}
            for split, (loss, accuracy) in results.items():
                row[f"{split}_loss"], row[f"{split}_accuracy"] = float(loss[k]), float(accuracy[k])
            rows.append(row)
        # === Figures ===
        columns = networks.by_replica(history)
        by_rate = {f"lr {r:g}": columns[k] for k, r in enumerate(config.learning_rates)}
        what = f"logistic regression, {label0} vs {label1}" if model == "logistic" else "softmax regression"
        run.save_figure(sweeps.curves_by_setting(
            by_rate, other="val", stops={f"lr {r:g}": float(stopper.stop_epoch[k])
                                         for k, r in enumerate(config.learning_rates)},
            best={f"lr {r:g}": float(stopper.best_epoch[k]) for k, r in enumerate(config.learning_rates)},
            title=f"{what} on {ds.name}: train (solid), validation (dashed); dotted: stop, dot: best kept"),
            f"{model}_curves.png")
        # the better learning rate by validation accuracy is the one saved and pictured
        best = int(np.argmax(stopper.best))
        kept[model] = dict(rows[-len(config.learning_rates) + best], file=_model_file(model, config))
        run.save_model(net.to_keras(replica=best, input_shape=ds.input_shape, value_range=ds.value_range,
                                    name=f"{model}_regression"), kept[model]["file"])
        if kept[model]["file"] == "model.keras":  # logistic: P(label1), so the pair in that order
            run.write_classes(list(ds.class_names) if model == "softmax" else [label0, label1], ds.value_range)
        weights = ops.convert_to_numpy(net.weights[0][best])[:-1].T
        limit = np.abs(weights).max()
        titles = ([f"{label1} vs {label0}"] if model == "logistic" else list(ds.class_names))
        run.save_figure(plots.image_grid(weights.reshape((-1,) + tuple(ds.input_shape))[..., :1], titles,
                                         ncols=10, cmap="RdBu_r", value_range=(-limit, limit),
                                         title=f"{model} weights, lr {config.learning_rates[best]:g} (red +, blue -)"),
                        f"{model}_weights.png")
    run.write_csv("history.csv", histories)
    run.write_csv("results.csv", rows)

    # === Report ===
    metrics = {"dataset": ds.name, "binary_classes": list(config.binary_classes), "results": rows,
               "wall_time_s": round(time.perf_counter() - started, 1),
               "cpu_time_s": round(time.process_time() - cpu_started, 1)}
    for row in rows:
        metrics[f"{row['model']}_lr{row['learning_rate']:g}_test_accuracy"] = row["test_accuracy"]
    for model, row in kept.items():  # the saved models
        metrics.update({f"{model}_learning_rate": row["learning_rate"],
                        f"{model}_val_accuracy": row["val_accuracy"], f"{model}_test_accuracy": row["test_accuracy"]})
    run.write_report(_report(config, ds, (label0, label1), sets, metrics, kept, run))
    return metrics


HEADLINE = ("softmax_test_accuracy", "softmax_val_accuracy", "softmax_learning_rate",
            "logistic_test_accuracy", "logistic_val_accuracy", "logistic_learning_rate")


def _model_file(model, config):
    """model.keras is the softmax regression (the one that reads every digit); others go to models/."""
    if model == "softmax" or "softmax" not in config.models:
        return "model.keras"
    return f"models/{model}.keras"


def _report(config, ds, pair, sets, m, kept, run):
    def when(epoch, step):
        return f"{epoch:.2f} ({step})"

    table = [{"model": r["model"], "learning rate": f"{r['learning_rate']:g}", "evaluations": r["evaluations"],
              "stopped at epoch (step)": when(r["stop_epoch"], r["stop_step"])
              + ("" if r["early_stopped"] else ", the limit"),
              "best epoch (step), kept": when(r["best_epoch"], r["best_step"]),
              "train accuracy": r["train_accuracy"], "validation accuracy": r["val_accuracy"],
              "test accuracy": r["test_accuracy"], "test loss": r["test_loss"]} for r in m["results"]]
    sizes = {k: ", ".join(f"{s} {len(v[0])}" for s, v in sets[k].items()) for k in sets}
    described = {"softmax": f"Softmax regression: all {ds.num_classes} classes ({sizes['softmax']}).",
                 "logistic": f"Logistic regression: classes {pair[0]} (label 0) and {pair[1]} (label 1) only "
                             f"({sizes['logistic']})."}
    saved = "; ".join(f"`{row['file']}` the {model} regression at lr {row['learning_rate']:g}"
                      for model, row in kept.items())
    return report.join(
        report.header(run, f"Logistic and softmax regression by hand on {ds.name}, early stopping",
                      data=f"{ds.provenance}; pixels scaled to [0, 1] and flattened; "
                           f"{config.validation_fraction:.0%} of the training set held out (stratified, seed "
                           f"{config.seed}) for early stopping"),
        " ".join(described[model] for model in config.models) + "\n\n",
        "Training: forward pass, gradient `[x, 1]^T (p - y) / N + l2 w` and update written out in keras.ops "
        "(`kerasdl/tasks/softmax_regression/linear.py`, checked against finite differences in "
        "`tests/test_softmax_regression.py`); weights start at zero; mini-batch gradient descent, batch "
        f"{config.batch_size}, shuffled every epoch; L2 {config.l2:g} on the logistic regression, "
        f"{config.softmax_l2:g} on the softmax regression (bias weights never penalised). "
        f"{_evaluation_sentence(config, m['results'])} A run stops when none of the last {config.patience} "
        f"evaluations improved on its best, at most after {report.plural(config.epochs, 'epoch')}, and keeps the "
        "weights of its best evaluation (the numbers below are those weights'). Epochs count passes over the "
        "training set (examples seen / training examples, so 2.50 is halfway through the third epoch); steps "
        "count gradient steps.\n\n",
        report.table(table, formats={"test accuracy": lambda v: f"**{report.fmt(v)}**"}),
        _stopping_note(config, m["results"]),
        f"Saved, the better learning rate of each model by validation accuracy: {saved}.\n\n",
        report.budget(run, m["wall_time_s"], f"{report.plural(len(m['results']), 'run')}, data loading included"),
        f"CPU time: {report.duration(m['cpu_time_s'])} (other jobs on the machine stretch wall time, "
        "not CPU time).\n\n",
        *(report.figure(f"{model}_{kind}.png", f"{model} {kind}")
          for model in config.models for kind in ("curves", "weights")),
    )


def _evaluation_sentence(config, rows):
    """How often the validation accuracy was evaluated, in steps and per epoch of each model."""
    if not config.eval_every:
        return "The validation accuracy is evaluated after every epoch."
    per_model = {r["model"]: r["steps_per_epoch"] for r in rows}
    each = "; ".join(f"{model}: {spe} steps per epoch, so {spe / config.eval_every:.1f} evaluations per epoch "
                     f"and {config.patience} evaluations span {config.patience * config.eval_every / spe:.1f} epochs"
                     for model, spe in per_model.items())
    return (f"The validation accuracy is evaluated every {config.eval_every} gradient steps and after the last "
            f"step ({each}).")


def _stopping_note(config, rows):
    """Say plainly when the epoch limit, not early stopping, ended a run."""
    limited = [f"{r['model']} lr {r['learning_rate']:g}" for r in rows if not r["early_stopped"]]
    if not limited:
        return ("Early stopping ended every run within the epoch limit; the dotted lines mark where each run "
                "stopped and the dots the evaluations whose weights were kept.\n\n")
    return (f"The epoch limit ({config.epochs}), not early stopping, ended {', '.join(limited)}: their validation "
            f"accuracy still improved at least once in every {config.patience} evaluations, so plain gradient "
            "descent had not converged yet (raise `--epochs` to let the patience rule end them; it is exercised in "
            "`tests/test_softmax_regression.py`). The dotted lines mark where each run ended.\n\n")
