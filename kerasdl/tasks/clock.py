"""Tell the time from an analog clock: regression, classification and multi-head readers.

The course's hardest supervised task. Every formulation shares one
convolutional trunk (kerasdl.models.clock) and is judged by one number, the
common-sense error in minutes (the shorter way round the 12-hour dial, at
most 360; kerasdl.training.clock_time):

1. regression: the time as a number of hours with plain MSE, and as the
   (sin, cos) of the hour hand's angle with a cyclic squared-chord loss;
2. classification into N slices of the dial (N divides 720), read at the
   slice's centre;
3. multi-head: the hour as 12 classes plus the minute as (sin, cos) of the
   minute hand's angle.

The default run trains the multi-head reader (the one with a target);
`--set formulations=all` trains and compares all four readers.

Data: `clocks`, drawn by kerasdl's seeded renderer (the course's own images are
not available here), or `clock_photos`, the course's images.npy + labels.npy
given by --data-dir. The run saves every model as <formulation>.keras and the
multi-head reader as model.keras (checked to reload), which `read_time` uses.
"""

import time
from dataclasses import dataclass

import numpy as np

import kerasdl.data.clocks  # noqa: F401 -- registers `clocks` and `clock_photos`
from kerasdl import data, plots
from kerasdl.errors import UserError
from kerasdl.plots import clock as clock_plots
from kerasdl.training import clock_time
from kerasdl.training.clock_time import FORMULATIONS

NAME = "clock"

# The course's test errors on its real data (mean common-sense error, minutes).
COURSE = {"multihead": 11.71, "classification": 22.89}
TARGET = {"median": 3.0, "mean": 5.0}  # multi-head, generated data (issue 4)
# `--set formulations=all`: every formulation, best-expected first (the table's order).
ALL = ("multihead", "classification", "regression_cyclic", "regression_mse")


@dataclass
class Config:
    dataset: str = "clocks"  # clocks (generated) or clock_photos (images.npy + labels.npy in --data-dir)
    # 72,000 images and 12 epochs: the multi-head reader meets the target (mean < 5, median < 3
    # min) in 14.3 min of training; on 18,000 images (the course's count) and 8 epochs its
    # hour head overfits (mean 19.4 min), on 54,000 it misses by 0.4 (reports/clock.md).
    n: int = 72000  # clocks: how many images to draw (the course's set has 18,000)
    size: int = 150  # clocks: image side in pixels
    rotation: float = 30.0  # clocks: the whole clock turns by up to +-this many degrees
    test_fraction: float = 0.2  # share of the images held out as the test set
    formulations: tuple[str, ...] = ("multihead",)  # readers to train, in table order; "all": the four formulations compared
    classes: tuple[int, ...] = (72,)  # classification: N slices of the dial, one model each (divisors of 720: 24,48,72,120,240,720)
    input_size: int = 48  # the model first shrinks images to this side (anti-aliased, inside the model)
    widths: tuple[int, ...] = (16, 32, 64, 64)  # conv filters per trunk block (each block halves the side)
    dense: int = 128  # width of the trunk's dense layer
    dropout: float = 0.2  # dropout after the trunk's dense layer
    epochs: int = 12  # passes over the training set, for every model
    batch_size: int = 64  # examples per gradient step
    learning_rate: float = 3e-3  # peak of the warm-up + cosine schedule (AdamW)
    weight_decay: float = 1e-4  # AdamW's decoupled weight decay
    hour_weight: float = 1.0  # multi-head: loss weight of the hour head
    minute_weight: float = 1.0  # multi-head: loss weight of the minute head
    validation_fraction: float = 0.1  # share of the training set held out for the curves
    train_limit: int | None = None  # use at most this many training images (None: all)
    test_limit: int | None = None  # use at most this many test images (None: all)
    seed: int = 0  # seeds the drawing, the splits and the weights
    data_dir: str | None = None  # clock_photos: the folder with images.npy and labels.npy

    def __post_init__(self):
        if tuple(self.formulations) == ("all",):
            self.formulations = ALL
        if self.dataset not in ("clocks", "clock_photos"):
            raise UserError(f"dataset={self.dataset!r}: choose clocks (generated) or clock_photos")
        unknown = [f for f in self.formulations if f not in FORMULATIONS]
        if unknown or not self.formulations:
            raise UserError(f"formulations={','.join(self.formulations) or '(none)'}: choose from "
                            f"{', '.join(FORMULATIONS)}, or all alone for the four")
        bad = [c for c in self.classes if c < 2 or clock_time.MINUTES % c]
        if bad or not self.classes:
            raise UserError(f"classes={bad or '(none)'}: each N must divide 720, e.g. 24,48,72,120,240,720")
        for name in ("n", "size", "input_size", "epochs", "batch_size", "dense", "train_limit", "test_limit"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise UserError(f"{name}={value}: expected a positive number")
        if self.size < 16:
            raise UserError(f"size={self.size}: clocks need at least 16x16 pixels")
        if not 0 < self.test_fraction < 1 or not 0 <= self.validation_fraction < 1:
            raise UserError(f"test_fraction={self.test_fraction}, validation_fraction="
                            f"{self.validation_fraction}: expected shares in (0, 1) and [0, 1)")
        if not 0 <= self.dropout < 1:
            raise UserError(f"dropout={self.dropout}: expected a value in [0, 1)")
        if not 0 <= self.rotation <= 180:
            raise UserError(f"rotation={self.rotation}: expected degrees in [0, 180]")


QUICK = dict(n=480, formulations=FORMULATIONS, classes=(24,), input_size=32, widths=(8, 16), dense=32,
             epochs=1, batch_size=32)

# The training error is measured on this many fixed training images (predicting
# all of them after every epoch would cost a fifth of the training time).
TRAIN_SUBSET = 2000


def variant(config):
    """reports/clock.md has a section per data set, and one per other choice of readers."""
    if tuple(config.formulations) == Config.formulations:
        return config.dataset
    if tuple(config.formulations) == ALL:
        return f"{config.dataset}-all"
    return "-".join((config.dataset, *config.formulations))


def load_data(config):
    if config.dataset == "clocks":
        source = dict(n=config.n, size=config.size, rotation=config.rotation)
    else:
        source = dict(data_dir=config.data_dir)
    return data.load(config.dataset, test_fraction=config.test_fraction, seed=config.seed,
                     train_limit=config.train_limit, test_limit=config.test_limit,
                     subset_seed=config.seed, **source)


def readers(config):
    """(key, formulation, classes) of every model to train, in table order."""
    out = []
    for formulation in config.formulations:
        if formulation == "classification":
            out += [(f"classification_{n}", formulation, n) for n in config.classes]
        else:
            out.append((formulation, formulation, None))
    return out


def build_model(config, formulation, input_shape, n_classes=None):
    from kerasdl.models import clock as clock_models

    return clock_models.build(formulation, input_shape, n_classes=n_classes or 72,
                              input_size=config.input_size, widths=config.widths, dense=config.dense,
                              dropout=config.dropout, seed=config.seed)


def train_one(config, key, formulation, n_classes, x_train, y_train, x_val, y_val):
    """Build, compile and fit one reader; returns (model, history dict, seconds)."""
    from kerasdl.models import clock as clock_models
    from kerasdl.training import fit as fitting

    model = build_model(config, formulation, x_train.shape[1:], n_classes)
    steps = config.epochs * int(np.ceil(len(x_train) / config.batch_size))
    model.compile(optimizer=fitting.cosine_adamw(config.learning_rate, steps, weight_decay=config.weight_decay),
                  jit_compile=fitting.jit_compile_default(),
                  **clock_models.compile_args(formulation, config.hour_weight, config.minute_weight))
    subset = np.random.default_rng([config.seed, 2]).permutation(len(x_train))[:TRAIN_SUBSET]
    tracker = clock_time.CommonSenseError(formulation, x_train[subset], clock_time.to_minutes(y_train[subset]),
                                          x_val, clock_time.to_minutes(y_val), n_classes)
    print(f"--- {key}: {model.count_params():,} parameters, {config.epochs} epochs")
    started = time.perf_counter()
    history = model.fit(x_train, clock_time.encode(formulation, y_train, n_classes),
                        batch_size=config.batch_size, epochs=config.epochs, callbacks=[tracker], verbose=2)
    return model, history.history, time.perf_counter() - started


def predict_minutes(model, formulation, x, n_classes=None):
    return clock_time.decode(formulation, model.predict(x, batch_size=256, verbose=0), n_classes)


def read_time(model, image):
    """Read one clock image with a trained reader: "HH:MM" (hour 0 reads 12).

    `image`: (H, W) or (H, W, 1) grey pixels 0-255; resized to the model's input
    if its size differs. The formulation is recognised from the model's outputs.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] in (1, 3):
        image = image.mean(axis=-1) if image.shape[-1] == 3 else image[..., 0]
    if image.ndim != 2:
        raise UserError(f"read_time: expected one grey image (H, W), received shape {image.shape}")
    height, width = model.input_shape[1:3]
    if image.shape != (height, width):
        from PIL import Image

        image = np.asarray(Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).resize(
            (width, height), Image.BILINEAR))
    outputs = model.predict(image[None, ..., None].astype("float32"), verbose=0)
    if isinstance(outputs, dict):
        formulation, n_classes = "multihead", None
    else:
        n_classes = outputs.shape[-1]
        formulation = {1: "regression_mse", 2: "regression_cyclic"}.get(n_classes, "classification")
    return clock_time.format_time(clock_time.decode(formulation, outputs, n_classes)[0])


def run(config, run):
    import keras

    # === Data ===
    ds = load_data(config)
    x_train, y_train, x_val, y_val = ds.split_validation(config.validation_fraction, seed=config.seed)
    x_test, y_test = ds.x_test, ds.y_test
    test_minutes = clock_time.to_minutes(y_test)
    print(f"{ds.name}: {len(x_train)} train / {len(x_val)} validation / {len(x_test)} test; {ds.provenance}")
    titles = [clock_time.format_time(t) for t in clock_time.to_minutes(y_train[:24])]
    run.save_figure(plots.image_grid(x_train[:24], titles, value_range=(0, 255),
                                     title=f"{ds.name}: training images and their times"), "samples.png")

    # === Train and evaluate every reader ===
    rows, histories, errors, predictions = [], {}, {}, {}
    subset = np.random.default_rng([config.seed, 2]).permutation(len(x_train))[:TRAIN_SUBSET]
    for key, formulation, n_classes in readers(config):
        keras.utils.set_random_seed(config.seed)  # every reader starts from the same seed
        model, history, seconds = train_one(config, key, formulation, n_classes, x_train, y_train, x_val, y_val)
        histories[key] = history
        run.write_history(history, f"history_{key}.csv")
        run.save_model(model, f"{key}.keras")
        train_err = clock_time.common_sense_error(clock_time.to_minutes(y_train[subset]),
                                                  predict_minutes(model, formulation, x_train[subset], n_classes))
        outputs = model.predict(x_test, batch_size=256, verbose=0)
        predictions[key] = clock_time.decode(formulation, outputs, n_classes)
        errors[key] = clock_time.common_sense_error(test_minutes, predictions[key])
        row = {"reader": key, "parameters": int(model.count_params()), "epochs": config.epochs,
               "train_seconds": round(seconds, 1), "train_mean_min": float(train_err.mean()),
               "val_mean_min": history.get("val_error_min", [None])[-1],
               "test_mean_min": float(errors[key].mean()), "test_median_min": float(np.median(errors[key])),
               "test_p90_min": float(np.percentile(errors[key], 90)), "test_hour_accuracy": None,
               "test_mean_min_hour_right": None}
        if formulation == "multihead":
            hour_right = outputs["hour"].argmax(-1) == y_test[:, 0] % 12
            row["test_hour_accuracy"] = float(hour_right.mean())
            # How much of the mean is wrong hours: the error of the images whose hour was right.
            row["test_mean_min_hour_right"] = float(errors[key][hour_right].mean()) if hour_right.any() else None
            run.save_model(model, "model.keras")
            reloaded = keras.saving.load_model(run.path("model.keras"))
            again = predict_minutes(reloaded, formulation, x_test[:64])
            if not np.array_equal(again, predictions[key][:64]):
                raise RuntimeError("model.keras does not read the same times after reloading")
        rows.append(row)
        print(f"{key}: test mean {row['test_mean_min']:.2f} min, median {row['test_median_min']:.2f} min "
              f"({seconds:.0f} s)")
    run.write_csv("results.csv", rows)
    import pandas as pd  # readers log different metrics: a DataFrame takes the union of columns

    run.write_csv("history.csv", pd.DataFrame([
        {"reader": key, "epoch": k + 1, **{m: float(v[k]) for m, v in h.items()}}
        for key, h in histories.items() for k in range(len(h["loss"]))]))

    # === Figures ===
    run.save_figure(clock_plots.error_curves(histories), "error_curves.png")
    run.save_figure(clock_plots.error_histograms(errors), "error_histograms.png")
    run.save_figure(clock_plots.error_by_time(test_minutes, errors), "error_by_time.png")
    best = min(errors, key=lambda k: errors[k].mean())
    worst = np.argsort(-errors[best], kind="stable")[:18]
    run.save_figure(clock_plots.worst_readings(x_test[worst], test_minutes[worst], predictions[best][worst],
                                               title=f"{best}: the worst test readings (green true, red read)"),
                    "worst_readings.png")

    # === Report ===
    metrics = {"dataset": ds.name, "keras_backend": keras.backend.backend(), "best": best,
               "train_images": len(x_train), "test_images": len(x_test)}
    for row in rows:
        for name, value in row.items():
            if name != "reader":
                metrics[f"{row['reader']}_{name}"] = value
    if "multihead" in errors:
        metrics["target_met"] = bool(np.median(errors["multihead"]) < TARGET["median"]
                                     and errors["multihead"].mean() < TARGET["mean"])
    run.write_report(_report(config, ds, rows, metrics, run))
    return metrics


def _fmt(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def _report(config, ds, rows, metrics, run):
    command = run.read_json("config.json")["command"]
    total = sum(r["train_seconds"] for r in rows)
    table = ["| reader | parameters | train time | train mean | validation mean | test mean | test median "
             "| test 90th pct |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        table.append(f"| {r['reader']} | {r['parameters']:,} | {r['train_seconds'] / 60:.1f} min "
                     f"| {_fmt(r['train_mean_min'])} | {_fmt(r['val_mean_min'])} | **{_fmt(r['test_mean_min'])}** "
                     f"| {_fmt(r['test_median_min'])} | {_fmt(r['test_p90_min'])} |")
    images = sum(len(x) for x in (ds.x_train, ds.x_val, ds.x_test) if x is not None)
    names = ", ".join(r["reader"] for r in rows)
    lines = [f"## Reading analog clocks: {names} on {ds.name} ({images:,} images), "
             f"{config.epochs} epoch{'s' * (config.epochs != 1)}",
             "",
             f"Command: `{command}`", f"(backend {metrics['keras_backend']}; {config.epochs} epochs per reader, "
             f"{total / 60:.1f} min of training in all on this machine).", "",
             f"Data: {ds.provenance}; {metrics['train_images']} training and {metrics['test_images']} "
             "test images.", "",
             "Common-sense error in minutes (the shorter way round the 12-hour dial, at most 360); "
             f"train error on a fixed subset of {min(TRAIN_SUBSET, metrics['train_images'])} training images.", "",
             *table, ""]
    multi = next((r for r in rows if r["reader"] == "multihead"), None)
    if multi is not None:
        met = metrics["target_met"]
        lines += [f"Multi-head: hour accuracy {multi['test_hour_accuracy']:.4f}; mean error "
                  f"{_fmt(multi['test_mean_min_hour_right'])} min over the images whose hour it read right; "
                  f"target on generated data "
                  f"median < {TARGET['median']:g} and mean < {TARGET['mean']:g} min: "
                  + ("**met**." if met else
                     f"**missed** (median {multi['test_median_min']:.2f}, mean {multi['test_mean_min']:.2f})."), ""]
    lines += [f"The course reached {COURSE['multihead']} min (multi-head) and {COURSE['classification']} min "
              "(best classification) on its own 18,000 real images; the data differ (these numbers are on "
              f"{ds.name}), so the comparison is of orders of magnitude, not a race.", "",
              "Formulations: regression_mse predicts hours 0-12 with MSE (blind to the wrap at 12); "
              "regression_cyclic predicts (sin, cos) of the hour hand's angle with the squared-chord loss "
              "2 - 2 cos(difference); classification_N reads the centre of one of N slices of the dial; "
              "multihead classifies the hour (12 classes) and regresses the minute hand's (sin, cos).", "",
              f"Trunk: input shrunk to {config.input_size}x{config.input_size} inside the model, conv widths "
              f"{','.join(map(str, config.widths))}, dense {config.dense}, dropout {config.dropout}; AdamW "
              f"(peak {config.learning_rate}, weight decay {config.weight_decay}), warm-up + cosine, batch "
              f"{config.batch_size}, seed {config.seed}.", "",
              "![samples](samples.png)", "", "![error curves](error_curves.png)", "",
              "![error histograms](error_histograms.png)", "", "![error by time](error_by_time.png)", "",
              "![worst readings](worst_readings.png)", ""]
    return "\n".join(lines)
