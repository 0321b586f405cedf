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

from kerasdl import data, plots, report
from kerasdl.config import TaskConfig, between, field, non_negative, one_of, positive
from kerasdl.plots import sweeps
from kerasdl.scratch import networks

NAME = "scratch-mlp"


@dataclass
class Config(TaskConfig):
    dataset: str = field("mnist", "any registered image data set (images are flattened)")
    hidden: int = field(128, "hidden sigmoid units", positive)
    learning_rate: float = field(0.1, "the main run's SGD step size", positive)
    learning_rates: tuple[float, ...] = field((1e-4, 1e-3, 1e-2, 1e-1, 1.0),
                                              "the sweep, trained beside the main run", positive)
    epochs: int = field(3, "passes over the training set (main run and sweep alike)", positive)
    batch_size: int = field(32, "examples per gradient step", positive)
    init: str = field("glorot", "initial weights: glorot, uniform (U[-s,s]) or normal "
                      "(N(0,(s/2)^2) cut at 2 sd)", one_of(*networks.INITS))
    init_scale: float = field(1.0, "s above (glorot: a factor on its limit)", positive)
    train_limit: int | None = field(None, "use at most this many training images (None: all)", positive)
    test_limit: int | None = field(None, "use at most this many test images (None: all)", positive)
    target_accuracy: float = field(0.88, "the course's test accuracy, reported as reached or missed",
                                   between(0, 1))
    seed: int = field(42, "seeds the initial weights and the batch order", non_negative)
    data_dir: str | None = field(None, "look here first for the data set")


QUICK = dict(epochs=1, train_limit=2000, test_limit=500, learning_rates=(0.01, 1.0))
HEADLINE = ("test_accuracy", "train_accuracy", "target_reached", "best_sweep_test_accuracy",
            "keras_model_agreement", "train_seconds")


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
    run.write_classes(ds.class_names, ds.value_range)

    # === Evaluate ===
    columns = networks.by_replica(history)
    by_rate = {r: columns[k] for k, r in enumerate(rates)}
    sweep = [{"learning_rate": r, "train_loss": h["loss"][-1], "train_accuracy": h["accuracy"][-1],
              "test_loss": h["test_loss"][-1], "test_accuracy": h["test_accuracy"][-1],
              "best_test_accuracy": max(h["test_accuracy"]),
              "best_epoch": int(h["epoch"][int(np.argmax(h["test_accuracy"]))])}
             for r, h in by_rate.items()]
    main_row = sweep[main]
    best_row = max(sweep, key=lambda r: r["test_accuracy"])
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
    metrics = {
        "dataset": ds.name, "sizes": sizes, "epochs": config.epochs, "batch_size": config.batch_size,
        "learning_rate": config.learning_rate, "train_seconds": round(train_seconds, 1),
        "train_cpu_seconds": round(train_cpu_seconds, 1),
        "train_accuracy": main_row["train_accuracy"], "train_loss": main_row["train_loss"],
        "test_accuracy": main_row["test_accuracy"], "test_loss": main_row["test_loss"],
        "target_accuracy": config.target_accuracy,
        "target_reached": bool(main_row["test_accuracy"] >= config.target_accuracy),
        "best_sweep_learning_rate": best_row["learning_rate"],
        "best_sweep_test_accuracy": best_row["test_accuracy"],
        "keras_model_agreement": agreement, "sweep": sweep,
    }
    run.write_report(_report(config, ds, metrics, run))
    return metrics


def _report(config, ds, m, run):
    verdict = ("reached" if m["target_reached"] else
               f"**missed** by {100 * (m['target_accuracy'] - m['test_accuracy']):.2f} points")
    sweep = [{"learning rate": f"{r['learning_rate']:g}" + (" (main)" if r["learning_rate"] == config.learning_rate
                                                           else ""),
              "train loss": r["train_loss"], "train accuracy": r["train_accuracy"], "test loss": r["test_loss"],
              "test accuracy": r["test_accuracy"],
              "best test accuracy (epoch)": f"{r['best_test_accuracy']:.4f} ({r['best_epoch']})"}
             for r in m["sweep"]]
    trained = (f"{report.plural(len(m['sweep']), 'network')} trained together for "
               f"{report.plural(m['epochs'], 'epoch')}")
    return report.join(
        report.header(run, f"{m['sizes']} sigmoid MLP on {ds.name}, backpropagation by hand",
                      data=f"{ds.provenance}; pixels scaled to [0, 1] and flattened"),
        "The whole training set is used for training and the test set is evaluated after every epoch, as "
        "in the course (no validation split: nothing is tuned here).\n\n",
        "Model and training: sigmoid hidden layer, softmax output, mean cross-entropy; forward pass, "
        "gradient and SGD update written out in keras.ops (`kerasdl/scratch/networks.py`, gradient checked "
        f"against finite differences in `tests/test_scratch_mlp.py`); {config.init} initial weights, batch "
        f"{config.batch_size}, seed {config.seed}, {report.plural(config.epochs, 'epoch')}. The sweep's networks "
        "start from the same weights and see the same batches as the main run and are trained for as many "
        "epochs; the training columns are running means over each epoch's batches.\n\n",
        f"Main run (learning rate {config.learning_rate:g}): test accuracy **{m['test_accuracy']:.4f}** "
        f"(train {m['train_accuracy']:.4f}); the course's ~{m['target_accuracy']:.0%} is {verdict}. "
        f"Best final test accuracy of the sweep: learning rate {m['best_sweep_learning_rate']:g} "
        f"({m['best_sweep_test_accuracy']:.4f}). The saved `model.keras` (ordinary Dense layers holding these "
        "weights, preprocessing inside) predicts the same class as the hand-written forward pass on "
        f"{report.percent(m['keras_model_agreement'])} of the test images.\n\n",
        report.table(sweep),
        report.budget(run, m["train_seconds"], trained),
        f"CPU time: {report.duration(m['train_cpu_seconds'])} (other jobs on the machine stretch wall time, "
        "not CPU time).\n\n",
        report.figure("lr_sweep.png", "learning-rate sweep"),
        report.figure("learning_curves.png", "learning curves"),
        report.figure("confusion_matrix.png", "confusion matrix"),
        report.figure("hidden_weights.png", "hidden weights"),
    )
