"""Memorising random labels: a small MLP fits noise perfectly and learns nothing.

The first 128 MNIST training images get labels drawn from a fair coin
(Bernoulli(0.5)), so there is nothing to learn. A 784-128-2 ReLU network
trained with Adam drives the training loss to about zero and the training
accuracy to 100% anyway: it has ~100,000 weights for 128 labels and simply
memorises them. On test images with coin-flip labels of their own it stays
at chance, as it must: fitting the training set says nothing about
generalisation (Zhang et al., "Understanding deep learning requires
rethinking generalization", 2017).
"""

import time
from dataclasses import dataclass

import numpy as np

from kerasdl import data, plots, report
from kerasdl.config import TaskConfig, field, non_negative, positive, probability
from kerasdl.errors import UserError
from kerasdl.training.progress import fit_options

NAME = "random-labels"


@dataclass
class Config(TaskConfig):
    dataset: str = field("mnist", "any registered image data set; its own labels are thrown away")
    train_size: int = field(128, "the first this many training images get random labels", positive)
    test_size: int = field(10000, "the first this many test images get random labels of their own", positive)
    label_probability: float = field(0.5, "chance of label 1 (Bernoulli); 0.5 is a fair coin", probability)
    hidden: int = field(128, "width of the one ReLU hidden layer", positive)
    epochs: int = field(100, "passes over the training images", positive)
    batch_size: int = field(128, "examples per step (128: the whole training set in one batch)", positive)
    learning_rate: float = field(1e-3, "Adam's step size", positive)
    seed: int = field(0, "seeds the random labels and the initial weights", non_negative)
    data_dir: str | None = field(None, "look here first for the data set")


QUICK = dict(epochs=10, test_size=256)
HEADLINE = ("train_accuracy", "test_accuracy", "first_epoch_at_100pct_train", "train_loss", "test_loss")


def variant(config):
    return config.dataset


# === Data ===

def random_labels(n, probability, seed):
    """n coin flips (0/1, int64), the same for the same seed on every backend."""
    return (np.random.default_rng(seed).random(n) < probability).astype(np.int64)


def load_data(config):
    """(x_train, y_train, x_test, y_test, dataset): the first images, random labels."""
    ds = data.load(config.dataset, data_dir=config.data_dir)
    if config.train_size > len(ds.x_train):
        raise UserError(f"train_size={config.train_size}: {ds.name} has only {len(ds.x_train)} training images")
    x_train, x_test = ds.x_train[:config.train_size], ds.x_test[:config.test_size]
    # Independent streams for the two splits: seed and seed + 1.
    y_train = random_labels(len(x_train), config.label_probability, config.seed)
    y_test = random_labels(len(x_test), config.label_probability, config.seed + 1)
    return x_train, y_train, x_test, y_test, ds


# === Model ===

def build_model(input_shape, value_range, hidden=128, name="random_labels_mlp"):
    """Flatten -> rescale to [0, 1] -> Dense(hidden, ReLU) -> Dense(2, softmax)."""
    import keras
    from keras import layers

    lo, hi = value_range
    inputs = keras.Input(shape=tuple(input_shape), name="pixels")
    x = layers.Flatten(name="flatten")(inputs)
    x = layers.Rescaling(1.0 / (hi - lo), offset=-lo / (hi - lo), name="rescale")(x)
    x = layers.Dense(hidden, activation="relu", name="hidden")(x)
    outputs = layers.Dense(2, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


# === The experiment ===

def run(config, run):
    import keras

    x_train, y_train, x_test, y_test, ds = load_data(config)
    print(f"{ds.name}: first {len(x_train)} train / {len(x_test)} test images, random labels "
          f"(share of 1s: train {y_train.mean():.3f}, test {y_test.mean():.3f})")

    model = build_model(ds.input_shape, ds.value_range, config.hidden)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    started, cpu_started = time.perf_counter(), time.process_time()
    history = model.fit(x_train, y_train, batch_size=config.batch_size, epochs=config.epochs,
                        shuffle=False, validation_data=(x_test, y_test), validation_batch_size=2048,
                        **fit_options())
    train_seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    # The test set here is the held-out set: name its columns for what they are.
    columns = {k.replace("val_", "test_") if k.startswith("val_") else f"train_{k}": v
               for k, v in history.history.items()}
    run.write_history(columns)
    run.save_model(model)
    run.write_classes(["0", "1"], ds.value_range)  # the coin-flip labels

    # === Evaluate ===
    train_loss, train_accuracy = model.evaluate(x_train, y_train, verbose=0)
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=2048, verbose=0)
    reached = [e for e, a in enumerate(columns["train_accuracy"], 1) if a >= 1.0]
    # Chance: whatever the model does, its test accuracy on coin flips is
    # Binomial(n, 0.5) / n; 95% of it lies within 1.96 standard deviations.
    chance_half_width = 1.96 * np.sqrt(0.25 / len(y_test))
    metrics = {
        "dataset": ds.name, "train_size": len(y_train), "test_size": len(y_test),
        "parameters": int(model.count_params()), "epochs": config.epochs,
        "train_loss": float(train_loss), "train_accuracy": float(train_accuracy),
        "test_loss": float(test_loss), "test_accuracy": float(test_accuracy),
        "train_loss_epoch_1": float(columns["train_loss"][0]), "test_loss_epoch_1": float(columns["test_loss"][0]),
        "first_epoch_at_100pct_train": reached[0] if reached else None,
        "test_majority_share": float(max(y_test.mean(), 1 - y_test.mean())),
        "chance_95pct_interval": [0.5 - chance_half_width, 0.5 + chance_half_width],
        "train_seconds": round(train_seconds, 1), "cpu_seconds": round(cpu_seconds, 1),
    }

    # === Figures ===
    run.save_figure(plots.epoch_curves(
        {"loss": {"train": columns["train_loss"], "test": columns["test_loss"]},
         "accuracy": {"train": columns["train_accuracy"], "test": columns["test_accuracy"],
                      "chance": [0.5] * len(columns["train_accuracy"])}},
        percent=("accuracy",), title=f"{ds.name}: {len(y_train)} images with coin-flip labels"),
        "curves.png")

    # === Report ===
    run.write_report(_report(config, ds, metrics, run))
    return metrics


def _report(config, ds, m, run):
    lo, hi = m["chance_95pct_interval"]
    inside = lo <= m["test_accuracy"] <= hi
    loss_note = (f"From epoch 1 to the end the training loss fell from {m['train_loss_epoch_1']:.3f} to "
                 f"{m['train_loss']:.4f} while the test loss went from {m['test_loss_epoch_1']:.3f} to "
                 f"{m['test_loss']:.3f}: " + ("the ever more confident answers are right on the training "
                                              "images only." if m["test_loss"] > m["test_loss_epoch_1"]
                                              else "the test loss did not grow in this run."))
    reached = (f"first reached 100% in epoch {m['first_epoch_at_100pct_train']}"
               if m["first_epoch_at_100pct_train"] else f"did not reach 100% in {report.plural(m['epochs'], 'epoch')}")
    results = {f"train ({report.plural(m['train_size'], 'image')})": {"loss": m["train_loss"],
                                                                      "accuracy": m["train_accuracy"]},
               f"test ({report.plural(m['test_size'], 'image')})": {"loss": m["test_loss"],
                                                                    "accuracy": m["test_accuracy"]}}
    return report.join(
        report.header(run, f"Random labels on {ds.name}", data=ds.provenance),
        f"The first {m['train_size']} training images with labels drawn from Bernoulli({config.label_probability}) "
        f"(seed {config.seed}), and the first {m['test_size']} test images with coin-flip labels of their own "
        f"(seed {config.seed + 1}); the real labels are not used. Model: {int(np.prod(ds.input_shape))}-"
        f"{config.hidden}-2 ReLU MLP ({m['parameters']:,} weights), softmax cross-entropy, Adam (learning rate "
        f"{config.learning_rate}), batch {config.batch_size}, no shuffling, "
        f"{report.plural(m['epochs'], 'epoch')}.\n\n",
        report.table(results, index="split", formats={"accuracy": lambda v: f"**{report.percent(v)}**"}),
        f"Training accuracy {reached}. The test accuracy is {'inside' if inside else 'outside'} the 95% range "
        f"of chance for {m['test_size']} coin flips ({100 * lo:.1f}% to {100 * hi:.1f}%): the network "
        + (f"memorised {m['train_size']} arbitrary labels with {m['parameters']:,} weights and "
           if m["first_epoch_at_100pct_train"] else "")
        + f"learned nothing that carries over to new images. {loss_note}\n\n",
        report.budget(run, m["train_seconds"], f"{report.plural(m['epochs'], 'epoch')} of training"),
        f"CPU time: {m['cpu_seconds']} s (other jobs on the machine stretch wall time, not CPU time).\n\n",
        report.figure("curves.png", "loss and accuracy per epoch"),
    )
