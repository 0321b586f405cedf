"""Image classification with an MLP or a CNN: learning curves, confusion matrix, mistakes.

The course's first supervised experiment, done properly: a held-out validation
split for the curves, the test set touched once at the end, batch norm, a
cosine learning-rate schedule, and (for the CNN on colour images) flips and
shifts as augmentation inside the model.
"""

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from kerasdl import data, plots, report
from kerasdl.config import TaskConfig, field, format_value, fraction, non_negative, one_of, positive
from kerasdl.errors import UserError
from kerasdl.models import classifiers
from kerasdl.training import feed
from kerasdl.training import fit as fitting
from kerasdl.training.progress import fit_options

NAME = "classify"
# `--precision auto` trains in mixed bfloat16 where that was measured faster
# (TensorFlow on a bfloat16-capable CPU: 1.09x the images/s of float32 for the
# Fashion-MNIST CNN, 1.24x for the CIFAR-10 one, reports/bench.md);
# the models keep their softmax outputs, and so the loss, in float32.
PRECISION = "mixed_bfloat16"
# `--distribute` trains it data-parallel (kerasdl.training.backends.distribute): a plain compile and fit.
DISTRIBUTE = True

# Defaults per (model, kind of data): chosen for accuracy per CPU-minute on a
# 2-core machine (reports/classify.md has the runs behind them). A field left
# at None in Config takes its value from here. The grey CNN is the README's first
# command, which must reach 0.93 in minutes (issue 18): widths 24-48-96, every
# position of the last maps into the softmax ("flatten"), no dropout, peak learning
# rate 5e-3, 6 epochs: 0.9317 in 10.3 min on an idle 2-core Zen 3, where the former
# recipe (32-64-128, averaged maps, dropout 0.2 and 0.3, 2e-3, 10 epochs) took 28.9
# min for 0.9331. The short runs behind each choice: reports/classify.md, "Time to 0.93".
RECIPES = {
    ("mlp", "grey"): dict(epochs=20, learning_rate=1e-3, hidden=(512, 256), dropout=0.3, augment="none"),
    ("mlp", "colour"): dict(epochs=30, learning_rate=1e-3, hidden=(1024, 512, 256), dropout=0.2,
                            augment="none"),
    ("cnn", "grey"): dict(epochs=6, learning_rate=5e-3, widths=(24, 48, 96), dropout=0.0,
                          head="flatten", head_dropout=0.0, augment="none"),
    ("cnn", "colour"): dict(epochs=15, learning_rate=2e-3, widths=(64, 128, 256), dropout=0.1,
                            head="gap", head_dropout=0.3, augment="flip+shift"),
}


def _recipe_values(key):
    """How `--help` shows a recipe field's default: its value in each recipe."""
    return "the recipe's: " + ", ".join(f"{model}/{kind} {format_value(recipe[key])}"
                                       for (model, kind), recipe in RECIPES.items() if key in recipe)


@dataclass
class Config(TaskConfig):
    dataset: str = field("fashion_mnist", "fashion_mnist, cifar10, mnist, svhn, image_folder, "
                         "leiden_digits, digits or any registered image data set")
    model: str = field("cnn", "mlp or cnn", one_of(*classifiers.BUILDERS))
    epochs: int | None = field(None, "passes over the training set", positive,
                               shown=_recipe_values("epochs"))
    batch_size: int = field(128, "examples per gradient step", positive)
    learning_rate: float | None = field(None, "peak of the warm-up + cosine schedule", positive,
                                        shown=_recipe_values("learning_rate"))
    weight_decay: float = field(5e-4, "AdamW's decoupled weight decay", non_negative)
    hidden: tuple[int, ...] | None = field(None, "MLP layer widths, e.g. 512,256", positive,
                                           shown=_recipe_values("hidden"))
    widths: tuple[int, ...] | None = field(None, "CNN filters per block, e.g. 32,64,128", positive,
                                           shown=_recipe_values("widths"))
    dropout: float | None = field(None, "dropout after each block", fraction,
                                  shown=_recipe_values("dropout"))
    head: str | None = field(None, "CNN only: the softmax reads the last block's maps averaged "
                             "(gap) or all of them (flatten)", one_of(*classifiers.HEADS),
                             shown=_recipe_values("head"))
    head_dropout: float | None = field(None, "CNN only: dropout before the softmax layer", fraction,
                                       shown=_recipe_values("head_dropout"))
    augment: str | None = field(None, "none, shift or flip+shift, inside the model",
                                one_of("none", "shift", "flip+shift"), shown=_recipe_values("augment"))
    validation_fraction: float = field(0.1, "share of the training set held out for the curves",
                                       fraction)
    train_limit: int | None = field(None, "use at most this many training images (None: all)",
                                    positive)
    test_limit: int | None = field(None, "use at most this many test images (None: all)", positive)
    image_size: tuple[int, ...] | None = field(None, "image_folder only: resize to H,W", positive)
    stream: str = feed.stream_field()
    seed: int = field(0, "seeds weights, the validation split and augmentation", non_negative)
    data_dir: str | None = field(None, "look here first for the data set")


QUICK = dict(epochs=1, train_limit=512, test_limit=256, batch_size=64)

# The fields only one model reads: given for the other, they would be ignored without a word.
MODEL_FIELDS = {"mlp": ("hidden",), "cnn": ("widths", "head", "head_dropout")}


def check(config):
    """Before the run folder: no option of the other model, and the data set can be had."""
    for model, names in MODEL_FIELDS.items():
        given = [name for name in names if getattr(config, name) is not None]
        if model != config.model and given:
            value = format_value(getattr(config, given[0]))
            raise UserError(f"{given[0]}={value} is an option of --model {model}, and this run trains "
                            f"--model {config.model}: drop it, or add --model {model}")
    data.check_available(config.dataset, config.data_dir)


# What `python -m kerasdl tune classify` optimises: a key of run()'s metrics, measured
# on the validation split (never the test set), and its direction.
TUNE_OBJECTIVE = ("val_accuracy", "max")


def search_space(hp, config):
    """The KerasTuner search space, {Config field: value drawn from `hp`}: the layer widths
    of the config's model (MLP or CNN; and the CNN's head), dropout, learning rate, weight
    decay, batch size and augmentation. Each default is the grey-image recipe's (the first
    trial of a grid)."""
    recipe = RECIPES[(config.model, "grey")]
    if config.model == "cnn":
        widths = ["16,32,64", "24,48,96", "32,64,128", "64,128,256", "32,64,128,256"]
        layers = {"widths": hp.Choice("widths", widths, default=format_value(recipe["widths"])),
                  "head": hp.Choice("head", list(classifiers.HEADS), default=recipe["head"])}
    else:
        layers = {"hidden": hp.Choice("hidden", ["256", "512,256", "1024,512,256", "1024,1024"],
                                      default=format_value(recipe["hidden"]))}
    return {
        **layers,
        "dropout": hp.Choice("dropout", [0.0, 0.1, 0.2, 0.3, 0.5], default=recipe["dropout"]),
        "learning_rate": hp.Float("learning_rate", 3e-4, 1e-2, sampling="log",
                                  default=recipe["learning_rate"]),
        "weight_decay": hp.Choice("weight_decay", [0.0, 1e-4, 5e-4, 2e-3],
                                  default=Config().weight_decay),
        "batch_size": hp.Choice("batch_size", [64, 128, 256], default=Config().batch_size),
        "augment": hp.Choice("augment", ["none", "shift", "flip+shift"], default=recipe["augment"]),
    }


def variant(config):
    return f"{config.dataset}-{config.model}"


def resolve(config, channels):
    """Fill the fields left at None from the recipe for this model and kind of image."""
    recipe = RECIPES[(config.model, "colour" if channels == 3 else "grey")]
    filled = {k: v for k, v in recipe.items() if getattr(config, k) is None}
    return dataclasses.replace(config, **filled)


def load_data(config):
    options = {"image_size": config.image_size} if config.dataset == "image_folder" else {}
    return data.load(config.dataset, data_dir=config.data_dir, train_limit=config.train_limit,
                     test_limit=config.test_limit, subset_seed=config.seed, in_memory=False,
                     **options)


def build_model(config, ds, steps):
    """The config's MLP or CNN for this data set, for a run of `steps` training steps."""
    augment = None if config.augment == "none" else config.augment
    common = dict(input_shape=ds.input_shape, num_classes=ds.num_classes, dropout=config.dropout,
                  value_range=ds.value_range, augment=augment, seed=config.seed,
                  bn_momentum=fitting.bn_momentum(steps))
    if config.model == "mlp":
        return classifiers.mlp(hidden=config.hidden, **common)
    return classifiers.cnn(widths=config.widths, head=config.head, head_dropout=config.head_dropout,
                           **common)


def run(config, run):
    # === Data ===
    ds = load_data(config)
    config = run.resolved_config = resolve(config, ds.input_shape[-1])
    train, val = ds.split_rows(config.validation_fraction, seed=config.seed)
    streamed = feed.streams(ds.x_train, config.stream)
    if not streamed:  # copied into memory once, for fit and for the evaluation after it
        train, val = feed.in_memory(train), feed.in_memory(val)
    print(f"{ds.name}: {feed.size(train)} train / {feed.size(val)} validation / {len(ds.x_test)} "
          f"test, {ds.num_classes} classes; {ds.provenance}"
          + ("; batches read from the decoded images on disk" if streamed else ""))

    def data(split, batch_size, shuffle=False):
        return feed.arguments(split, batch_size, streamed, shuffle=shuffle, seed=config.seed)

    # === Model ===
    steps = config.epochs * int(np.ceil(feed.size(train) / config.batch_size))
    model = build_model(config, ds, steps)
    model.compile(
        optimizer=fitting.cosine_adamw(config.learning_rate, steps, weight_decay=config.weight_decay),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=fitting.jit_compile_default(),
    )

    # === Train ===
    started = time.perf_counter()
    train_data = data(train, config.batch_size, shuffle=True)
    history = model.fit(
        **train_data, epochs=config.epochs,
        validation_data=feed.validation_data(data(val, 256)) if feed.size(val) else None,
        **fit_options(feed.callbacks(train_data)),
    )
    train_seconds = time.perf_counter() - started
    run.write_history(history)
    run.save_model(model)
    run.write_classes(ds.class_names, ds.value_range)

    # === Evaluate ===
    def evaluate(split):
        if not feed.size(split):
            return {"loss": None, "accuracy": None}
        loss, accuracy = model.evaluate(**data(split, 256), verbose=0)
        return {"loss": float(loss), "accuracy": float(accuracy)}

    results = {"train": evaluate(train), "validation": evaluate(val),
               "test": evaluate((ds.x_test, ds.y_test, None))}
    probabilities = model.predict(**data((ds.x_test, None, None), 256), verbose=0)
    predictions = probabilities.argmax(axis=1)

    # === Figures ===
    run.save_figure(plots.learning_curves(history, title=f"{config.model} on {ds.name}"),
                    "learning_curves.png")
    run.save_figure(plots.confusion_matrix(ds.y_test, predictions, ds.class_names,
                                           title=f"{config.model} on {ds.name} (test)"),
                    "confusion_matrix.png")
    wrong = np.flatnonzero(predictions != ds.y_test)
    # The most confident mistakes are the instructive ones.
    wrong = wrong[np.argsort(-probabilities[wrong, predictions[wrong]])][:32]
    titles = [f"{ds.class_names[ds.y_test[i]]}\n-> {ds.class_names[predictions[i]]} "
              f"({probabilities[i, predictions[i]]:.2f})" for i in wrong]
    run.save_figure(plots.image_grid(ds.x_test[wrong], titles, value_range=ds.value_range,
                                     title="most confident test mistakes: true -> predicted (p)"),
                    "misclassified.png")

    # === Report ===
    metrics = {
        "dataset": ds.name, "model": config.model, "parameters": int(model.count_params()),
        "epochs": config.epochs, "streamed": streamed, "train_seconds": round(train_seconds, 1),
        "seconds_per_epoch": round(train_seconds / config.epochs, 1),
        "train_accuracy": results["train"]["accuracy"], "train_loss": results["train"]["loss"],
        "val_accuracy": results["validation"]["accuracy"], "val_loss": results["validation"]["loss"],
        "test_accuracy": results["test"]["accuracy"], "test_loss": results["test"]["loss"],
    }
    run.write_report(_report(config, ds, metrics, results, run))
    return metrics


HEADLINE = ("test_accuracy", "val_accuracy", "train_accuracy", "parameters", "train_seconds")


def _report(config, ds, m, results, run):
    layers = (f"widths {format_value(config.widths)}, dropout {config.dropout}, head {config.head} "
              f"(dropout {config.head_dropout})" if config.model == "cnn" else
              f"hidden {format_value(config.hidden)}, dropout {config.dropout}")
    recipe = (f"Recipe: {layers}, augmentation {config.augment}, AdamW (peak learning rate "
              f"{config.learning_rate}, weight decay {config.weight_decay}) with warm-up and cosine "
              f"decay, batch {config.batch_size}, validation share {config.validation_fraction}; "
              f"{m['parameters']:,} parameters.\n\n")
    return report.join(
        report.header(run, f"{config.model.upper()} on {ds.name}", data=ds.provenance),
        report.table(results, columns=["split", "accuracy", "loss"], bold=["test"], index="split"),
        recipe,
        report.budget(run, m["train_seconds"], f"{report.plural(m['epochs'], 'epoch')} "
                      f"({m['seconds_per_epoch']} s each)"),
        report.figure("learning_curves.png", "learning curves"),
        report.figure("confusion_matrix.png", "confusion matrix"),
        report.figure("misclassified.png", "misclassified"),
    )
