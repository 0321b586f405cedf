"""The 784-128-10 sigmoid MLP on MNIST with backpropagation written by hand, and a learning-rate sweep.

Forward pass (sigmoid hidden layer, softmax output), softmax cross-entropy,
its gradient and the plain SGD update are spelled out in keras.ops
(kerasdl.scratch.networks; the gradient is checked against finite
differences in tests/test_scratch_mlp.py). Batch 32, seed 42, as in the
course. The sweep's learning rates (1e-4 ... 1) and the main run's are
trained together as one population of networks that start from the same
weights and see the same batches in the same order, so the curves differ by
the learning rate alone, and the sweep has as many epochs as the main run.
"""

import time
from dataclasses import dataclass

import numpy as np
from keras import ops

from kerasdl import data, plots
from kerasdl.errors import UserError
from kerasdl.plots import sweeps
from kerasdl.scratch import networks

NAME = "scratch-mlp"


@dataclass
class Config:
    dataset: str = "mnist"  # any registered image data set (images are flattened)
    hidden: int = 128  # hidden sigmoid units
    learning_rate: float = 0.1  # the main run's SGD step size
    learning_rates: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)  # the sweep, trained beside the main run
    epochs: int = 3  # passes over the training set (main run and sweep alike)
    batch_size: int = 32  # examples per gradient step
    init: str = "glorot"  # initial weights: glorot, uniform (U[-s,s]) or normal (N(0,(s/2)^2) cut at 2 sd)
    init_scale: float = 1.0  # s above (glorot: a factor on its limit)
    train_limit: int | None = None  # use at most this many training images (None: all)
    test_limit: int | None = None  # use at most this many test images (None: all)
    target_accuracy: float = 0.88  # the course's test accuracy, reported as reached or missed
    seed: int = 42  # seeds the initial weights and the batch order
    data_dir: str | None = None  # look here first for the data set

    def __post_init__(self):
        if self.init not in networks.INITS:
            raise UserError(f"init={self.init!r}: choose one of {', '.join(networks.INITS)}")
        rates = (self.learning_rate,) + tuple(self.learning_rates)
        if min(rates) <= 0:
            raise UserError(f"learning rates {rates}: expected positive numbers")
        for name in ("hidden", "epochs", "batch_size", "train_limit", "test_limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UserError(f"{name}={value}: expected a positive integer")


QUICK = dict(epochs=1, train_limit=2000, test_limit=500, learning_rates=(0.01, 1.0))


def variant(config):
    return config.dataset


# === Data ===

def load_data(config):
    """Flattened images scaled to [0, 1], one-hot targets."""
    ds = data.load(config.dataset, data_dir=config.data_dir, train_limit=config.train_limit,
                   test_limit=config.test_limit, subset_seed=config.seed)

    def prepare(x, y):
        return ds.scaled(x).reshape(len(x), -1), networks.targets(y, ds.num_classes, "cross_entropy")

    return ds, prepare(ds.x_train, ds.y_train), prepare(ds.x_test, ds.y_test)


# === Model: one replica per learning rate, all from the same initial weights ===

def build_population(config, n_inputs, n_classes):
    rates = sorted(set(config.learning_rates) | {config.learning_rate})
    single = networks.init_weights((n_inputs, config.hidden, n_classes), config.init, config.init_scale,
                                   seed=config.seed)
    return networks.SigmoidMLP(networks.replicate(single, len(rates)), loss="cross_entropy"), rates


def run(config, run):
    # === Data ===
    ds, (x_train, y_train), (x_test, y_test) = load_data(config)
    print(f"{ds.name}: {len(x_train)} train / {len(x_test)} test, {x_train.shape[1]} inputs, "
          f"{ds.num_classes} classes; {ds.provenance}")

    # === Model ===
    net, rates = build_population(config, x_train.shape[1], ds.num_classes)
    main = rates.index(config.learning_rate)
    sizes = "-".join(map(str, net.sizes))

    # === Train ===
    started, cpu_started = time.perf_counter(), time.process_time()
    history = networks.fit(net, x_train, y_train, np.asarray(rates, "float32"), config.epochs, config.batch_size,
                           seed=config.seed, eval_sets={"test": (x_test, y_test)},
                           progress_desc=f"{sizes} MLP, learning rates {', '.join(f'{r:g}' for r in rates)}")
    train_seconds, train_cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    run.write_csv("history.csv", history)
    model = net.to_keras(replica=main, input_shape=ds.input_shape, value_range=ds.value_range,
                         name=f"scratch_mlp_{sizes.replace('-', '_')}")
    run.save_model(model)

    # === Evaluate ===
    columns = networks.by_replica(history)
    by_rate = {r: columns[k] for k, r in enumerate(rates)}
    sweep = [{"learning_rate": r, "train_loss": h["loss"][-1], "train_accuracy": h["accuracy"][-1],
              "test_loss": h["test_loss"][-1], "test_accuracy": h["test_accuracy"][-1],
              "best_test_accuracy": max(h["test_accuracy"]),
              "best_epoch": int(h["epoch"][int(np.argmax(h["test_accuracy"]))])}
             for r, h in by_rate.items()]
    main_row = sweep[main]
    probabilities = model.predict(ds.x_test, batch_size=1000, verbose=0)
    predictions = probabilities.argmax(axis=1)
    # the saved Keras model must agree with the hand-written forward pass
    agreement = float(np.mean(predictions == ops.convert_to_numpy(
        ops.argmax(networks.SigmoidMLP([w[main] for w in net.weights]).predict(x_test), axis=-1))))

    # === Figures ===
    labels = {r: f"lr {r:g}" for r in rates}
    run.save_figure(sweeps.curves_by_setting({labels[r]: by_rate[r] for r in rates}, other="test",
                                             title=f"{sizes} sigmoid MLP by hand, batch {config.batch_size}: "
                                                   "train (solid, running mean over the epoch) and test (dashed)"),
                    "lr_sweep.png")
    run.save_figure(sweeps.curves_by_setting({labels[config.learning_rate]: by_rate[config.learning_rate]},
                                             other="test", title=f"main run, learning rate {config.learning_rate:g}"),
                    "learning_curves.png")
    run.save_figure(plots.confusion_matrix(ds.y_test, predictions, ds.class_names,
                                           title=f"{sizes} MLP, lr {config.learning_rate:g} (test)"),
                    "confusion_matrix.png")
    hidden_weights = ops.convert_to_numpy(net.weights[0][main])[:-1].T[:32]
    limit = np.abs(hidden_weights).max()
    run.save_figure(plots.image_grid(hidden_weights.reshape((-1,) + tuple(ds.input_shape))[..., :1],
                                     cmap="RdBu_r", value_range=(-limit, limit),
                                     title="input weights of the first 32 hidden units (red +, blue -)"),
                    "hidden_weights.png")

    # === Report ===
    import keras

    metrics = {
        "dataset": ds.name, "sizes": sizes, "epochs": config.epochs, "batch_size": config.batch_size,
        "learning_rate": config.learning_rate, "train_seconds": round(train_seconds, 1),
        "train_cpu_seconds": round(train_cpu_seconds, 1),
        "train_accuracy": main_row["train_accuracy"], "train_loss": main_row["train_loss"],
        "test_accuracy": main_row["test_accuracy"], "test_loss": main_row["test_loss"],
        "target_accuracy": config.target_accuracy,
        "target_reached": bool(main_row["test_accuracy"] >= config.target_accuracy),
        "keras_model_agreement": agreement, "keras_backend": keras.backend.backend(), "sweep": sweep,
    }
    run.write_report(_report(config, ds, metrics, run))
    return metrics


def _report(config, ds, m, run):
    command = run.read_json("config.json")["command"]
    verdict = ("reached" if m["target_reached"] else
               f"**missed** by {100 * (m['target_accuracy'] - m['test_accuracy']):.2f} points")
    table = ["| learning rate | train loss | train accuracy | test loss | test accuracy | best test accuracy (epoch) |",
             "|---|---|---|---|---|---|"]
    for r in m["sweep"]:
        mark = " (main)" if r["learning_rate"] == config.learning_rate else ""
        table.append(f"| {r['learning_rate']:g}{mark} | {r['train_loss']:.4f} | {r['train_accuracy']:.4f} | "
                     f"{r['test_loss']:.4f} | {r['test_accuracy']:.4f} | {r['best_test_accuracy']:.4f} "
                     f"({r['best_epoch']}) |")
    return f"""## {m['sizes']} sigmoid MLP on {ds.name}, backpropagation by hand

Command: `{command}`
(backend {m['keras_backend']}; {len(m['sweep'])} networks trained together for {m['epochs']} epochs in
{m['train_seconds'] / 60:.1f} min wall, {m['train_cpu_seconds'] / 60:.1f} min CPU on this 2-core machine; other jobs on the machine stretch wall time, not CPU time.)

Data: {ds.provenance}; pixels scaled to [0, 1] and flattened. The whole training set is used for
training and the test set is evaluated after every epoch, as in the course (no validation split:
nothing is tuned here).

Model and training: sigmoid hidden layer, softmax output, mean cross-entropy; forward pass, gradient
and SGD update written out in keras.ops (`kerasdl/scratch/networks.py`, gradient checked against
finite differences in `tests/test_scratch_mlp.py`); {config.init} initial weights, batch
{config.batch_size}, seed {config.seed}, {config.epochs} epochs. The sweep's networks start from the same
weights and see the same batches as the main run and are trained for as many epochs; the training
columns are running means over each epoch's batches.

Main run (learning rate {config.learning_rate:g}): test accuracy **{m['test_accuracy']:.4f}**
(train {m['train_accuracy']:.4f}); the course's ~{m['target_accuracy']:.0%} is {verdict}.
Best final test accuracy of the sweep: learning rate {max(m['sweep'], key=lambda r: r['test_accuracy'])['learning_rate']:g}
({max(r['test_accuracy'] for r in m['sweep']):.4f}). The saved `model.keras` (ordinary Dense layers holding these weights, preprocessing inside) predicts
the same class as the hand-written forward pass on {m['keras_model_agreement']:.2%} of the test images.

{chr(10).join(table)}

![learning-rate sweep](lr_sweep.png)

![learning curves](learning_curves.png)

![confusion matrix](confusion_matrix.png)

![hidden weights](hidden_weights.png)
"""
