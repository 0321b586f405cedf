"""Logistic regression (binary, with L2) and softmax regression by hand, with early stopping.

Both are written out in keras.ops (kerasdl.scratch.linear: the sigmoid
network of kerasdl.scratch.networks without a hidden layer), trained by
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

from kerasdl import data, plots
from kerasdl.errors import UserError
from kerasdl.plots import sweeps
from kerasdl.scratch import linear, networks

NAME = "softmax-regression"
MODELS = ("logistic", "softmax")
EVAL_EVERY = 50


@dataclass
class Config:
    dataset: str = "mnist"  # any registered image data set (images are flattened)
    models: tuple[str, ...] = MODELS  # logistic (binary, on binary_classes) and/or softmax (all classes)
    learning_rates: tuple[float, ...] = (0.001, 0.01)  # the course's two runs, per model
    epochs: int = 60  # at most this many epochs (early stopping may end a run sooner)
    batch_size: int = 128  # examples per gradient step
    eval_every: int | None = EVAL_EVERY  # gradient steps between validation evaluations (0 or None: once per epoch)
    patience: int = 25  # stop when none of the last this-many evaluations improved
    validation_fraction: float = 0.1  # share of the training set held out for early stopping
    binary_classes: tuple[int, ...] = (3, 5)  # the two classes of the logistic regression (label 0, label 1)
    l2: float = 1e-3  # logistic regression's L2 penalty (l2 / 2) * |w|^2, bias excluded
    softmax_l2: float = 0.0  # the same penalty for softmax regression
    train_limit: int | None = None  # use at most this many training images (None: all)
    test_limit: int | None = None  # use at most this many test images (None: all)
    seed: int = 0  # seeds the validation split and the batch order
    data_dir: str | None = None  # look here first for the data set

    def __post_init__(self):
        bad = [m for m in self.models if m not in MODELS]
        if bad or not self.models:
            raise UserError(f"models={','.join(self.models)}: choose from {', '.join(MODELS)}")
        if not self.learning_rates or min(self.learning_rates) <= 0:
            raise UserError(f"learning_rates={self.learning_rates}: expected positive numbers")
        if len(self.binary_classes) != 2 or self.binary_classes[0] == self.binary_classes[1]:
            raise UserError(f"binary_classes={self.binary_classes}: expected two different class indices, e.g. 3,5")
        if not 0 < self.validation_fraction < 1:
            raise UserError(f"validation_fraction={self.validation_fraction}: expected a value in (0, 1)")
        for name in ("epochs", "batch_size", "patience", "train_limit", "test_limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UserError(f"{name}={value}: expected a positive integer")
        if self.eval_every is not None and self.eval_every < 0:
            raise UserError(f"eval_every={self.eval_every}: expected gradient steps >= 1 (0 or None: once per epoch)")
        if min(self.l2, self.softmax_l2) < 0:
            raise UserError(f"l2={self.l2}, softmax_l2={self.softmax_l2}: expected values >= 0")


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
        raise UserError(f"binary_classes={config.binary_classes}: {ds.name} has classes 0..{ds.num_classes - 1}")
    x_train, y_train, x_val, y_val = ds.split_validation(config.validation_fraction, seed=config.seed)
    splits = {name: (ds.scaled(x).reshape(len(x), -1), np.asarray(y))
              for name, (x, y) in {"train": (x_train, y_train), "val": (x_val, y_val),
                                   "test": (ds.x_test, ds.y_test)}.items()}
    negative, positive = config.binary_classes
    binary = {}
    for name, (x, y) in splits.items():
        keep = (y == negative) | (y == positive)
        binary[name] = (x[keep], (y[keep] == positive).astype("int64"))
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
    negative, positive = (ds.class_names[c] for c in config.binary_classes)
    print(f"{ds.name}: {', '.join(f'{k} {len(v[0])}' for k, v in sets['softmax'].items())}; "
          f"binary {negative} vs {positive}: {', '.join(f'{k} {len(v[0])}' for k, v in sets['logistic'].items())}; "
          f"{ds.provenance}")

    rows, histories = [], []
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
        what = f"logistic regression, {negative} vs {positive}" if model == "logistic" else "softmax regression"
        run.save_figure(sweeps.curves_by_setting(
            by_rate, other="val", stops={f"lr {r:g}": float(stopper.stop_epoch[k])
                                         for k, r in enumerate(config.learning_rates)},
            best={f"lr {r:g}": float(stopper.best_epoch[k]) for k, r in enumerate(config.learning_rates)},
            title=f"{what} on {ds.name}: train (solid), validation (dashed); dotted: stop, dot: best kept"),
            f"{model}_curves.png")
        # the better learning rate by validation accuracy is the one saved and pictured
        best = int(np.argmax(stopper.best))
        run.save_model(net.to_keras(replica=best, input_shape=ds.input_shape, value_range=ds.value_range,
                                    name=f"{model}_regression"), f"{model}.keras")
        weights = ops.convert_to_numpy(net.weights[0][best])[:-1].T
        limit = np.abs(weights).max()
        titles = ([f"{positive} vs {negative}"] if model == "logistic" else list(ds.class_names))
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
    run.write_report(_report(config, ds, (negative, positive), sets, metrics, run))
    return metrics


def _report(config, ds, pair, sets, m, run):
    command = run.read_json("config.json")["command"]
    table = ["| model | learning rate | evaluations | stopped at epoch (step) | best epoch (step), kept | train accuracy "
             "| validation accuracy | test accuracy | test loss |", "|---|---|---|---|---|---|---|---|---|"]
    for r in m["results"]:
        stop = _when(r["stop_epoch"], r["stop_step"]) + ("" if r["early_stopped"] else f", the limit")
        table.append(f"| {r['model']} | {r['learning_rate']:g} | {r['evaluations']} | {stop} | "
                     f"{_when(r['best_epoch'], r['best_step'])} | {r['train_accuracy']:.4f} | {r['val_accuracy']:.4f} | "
                     f"**{r['test_accuracy']:.4f}** | {r['test_loss']:.4f} |")
    sizes = {k: ", ".join(f"{s} {len(v[0])}" for s, v in sets[k].items()) for k in sets}
    figures = "\n\n".join(f"![{m_} curves]({m_}_curves.png)\n\n![{m_} weights]({m_}_weights.png)"
                          for m_ in config.models)
    return f"""## Logistic and softmax regression by hand on {ds.name}, early stopping

Command: `{command}`
(all runs in {m['wall_time_s'] / 60:.1f} min wall, {m['cpu_time_s'] / 60:.1f} min CPU on this 2-core machine; other jobs on the machine stretch wall time, not CPU time.)

Data: {ds.provenance}; pixels scaled to [0, 1] and flattened; {config.validation_fraction:.0%} of the training
set held out (stratified, seed {config.seed}) for early stopping. Softmax regression: all
{ds.num_classes} classes ({sizes['softmax']}). Logistic regression: classes {pair[0]} (label 0) and
{pair[1]} (label 1) only ({sizes['logistic']}).

Training: forward pass, gradient `[x, 1]^T (p - y) / N + l2 w` and update written out in keras.ops
(`kerasdl/scratch/linear.py`, checked against finite differences in `tests/test_softmax_regression.py`);
weights start at zero; mini-batch gradient descent, batch {config.batch_size}, shuffled every epoch;
L2 {config.l2:g} on the logistic regression, {config.softmax_l2:g} on the softmax regression (bias weights
never penalised). {_evaluation_sentence(config, m["results"])} A run stops when none of the
last {config.patience} evaluations improved on its best, at most after {config.epochs} epochs, and keeps the
weights of its best evaluation (the numbers below are those weights'). Epochs count passes over the training
set (examples seen / training examples, so 2.50 is halfway through the third epoch); steps count gradient steps.

{chr(10).join(table)}
{_stopping_note(config, m["results"])}
{figures}
"""


def _when(epoch, step):
    return f"{epoch:.2f} ({step})"


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
        return ("\nEarly stopping ended every run within the epoch limit; the dotted lines mark where each run "
                "stopped and the dots the evaluations whose weights were kept.\n")
    return (f"\nThe epoch limit ({config.epochs}), not early stopping, ended {', '.join(limited)}: their validation "
            f"accuracy still improved at least once in every {config.patience} evaluations, so plain gradient "
            "descent had not converged yet (raise `--epochs` to let the patience rule end them; it is exercised in "
            "`tests/test_softmax_regression.py`). The dotted lines mark where each run ended.\n")
