"""Multi-class perceptron by hand: batch updates against online updates.

Ten weight vectors (one per class, plus a bias input), trained with the
perceptron rule written out in keras.ops (kerasdl.scratch.perceptron): batch
mode takes one step per epoch with the summed corrections of every
misclassified training point; online mode corrects the weights after each
mistake, point by point. A mode that makes no mistake in a whole epoch has
converged (its weights cannot change any more) and stops updating.

The course's setting is kept where the perceptron allows it: both rules start
from the same normal(0, 5) initial weights with learning rate 0.2 (the course
drew them with numpy's RandomState(21); here the run's seed draws them), the
points in the file's order. The course's update itself was not Rosenblatt's:
its notebook adds eta * x (onehot(y) - sigmoid(scores)) for every point, right
or wrong (a one-vs-rest logistic delta rule), and keeps the weights of the best
training accuracy. Its 88.10% batch test accuracy is one draw of the initial
weights -- hence `seeds`, which reports the spread over several
(reports/perceptron.md has ten).
"""

import time
from dataclasses import dataclass, replace

import numpy as np

from kerasdl import data, plots
from kerasdl.errors import UserError
from kerasdl.plots import distance as figures
from kerasdl.scratch.perceptron import INITS, Perceptron, with_bias
from kerasdl.training.progress import progress

NAME = "perceptron"

# The course's final table (Leiden digits): (train, test) accuracy.
COURSE = {"batch": (0.9859, 0.8810), "online": (1.0, 0.8720)}

MODES = ("batch", "online")


@dataclass
class Config:
    dataset: str = "leiden_digits"  # any registered image data set (leiden_digits, digits, mnist, ...)
    modes: tuple[str, ...] = ("batch", "online")  # update rules trained side by side
    epochs: int = 100  # passes over the training set (a mode that makes no mistake in one stops there)
    lr: float = 0.2  # step size (the course's); the predictions depend only on init_scale / lr
    init: str = "normal"  # initial weights: normal (seeded, times init_scale; the course's), or zeros
    init_scale: float = 5.0  # standard deviation of normal initial weights (the course's)
    shuffle: bool = False  # online: visit the points in a new seeded order each epoch (false: file order)
    train_limit: int | None = None  # use at most this many training images (None: all)
    test_limit: int | None = None  # use at most this many test images (None: all)
    seed: int = 0  # seeds the initial weights (the same for both modes) and the online order
    seeds: tuple[int, ...] = ()  # also train with each of these seeds; the report gives the spread over them
    data_dir: str | None = None  # look here first for the data set

    def __post_init__(self):
        self.modes = tuple(self.modes)
        if not self.modes or any(m not in MODES for m in self.modes):
            raise UserError(f"modes={','.join(self.modes)}: choose from {', '.join(MODES)}")
        if self.init not in INITS:
            raise UserError(f"init={self.init!r}: choose one of {', '.join(INITS)}")
        for name in ("epochs", "lr", "init_scale", "train_limit", "test_limit"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise UserError(f"{name}={value}: expected a positive number")
        self.seeds = tuple(dict.fromkeys(int(s) for s in self.seeds))
        if self.seeds and self.init == "zeros" and not self.shuffle:
            raise UserError(f"seeds={','.join(map(str, self.seeds))}: with init=zeros and shuffle=false no"
                            " seed enters the training, every seed gives the same numbers; set init=normal"
                            " or shuffle=true")


QUICK = dict(epochs=5, train_limit=300, test_limit=150)


def variant(config):
    return config.dataset


# === Data ===

def load_data(config):
    ds = data.load(config.dataset, data_dir=config.data_dir, train_limit=config.train_limit,
                   test_limit=config.test_limit, subset_seed=config.seed)
    return ds


def pixels(ds, x):
    """Float data as stored (the Leiden digits in [-1, 1], as the course used
    them); uint8 images divided by 255, so no pixel outweighs the bias input 1."""
    return ds.scaled(x) if np.asarray(x).dtype == np.uint8 else np.asarray(x, dtype=np.float32)


# === Train ===

def train(config, ds, x_train, x_test):
    """Train every mode from the same seeded initial weights; returns ({mode: Perceptron},
    per-epoch history columns, {mode: epoch it converged})."""
    features = int(np.prod(ds.input_shape))
    learners = {mode: Perceptron(features, ds.num_classes, lr=config.lr, init=config.init,
                                 init_scale=config.init_scale, seed=config.seed)
                for mode in config.modes}
    history = {"epoch": []}
    for mode in config.modes:
        history.update({f"{mode}_mistakes": [], f"{mode}_train_accuracy": [], f"{mode}_test_accuracy": []})
    converged = {}
    for epoch in progress(range(1, config.epochs + 1), desc=f"perceptron epochs (seed {config.seed})"):
        history["epoch"].append(epoch)
        for mode, learner in learners.items():
            if mode in converged:
                mistakes = 0
            elif mode == "batch":
                mistakes = learner.batch_epoch(x_train, ds.y_train)
            else:
                mistakes = learner.online_epoch(x_train, ds.y_train, shuffle=config.shuffle)
            if mistakes == 0:
                converged.setdefault(mode, epoch)
            history[f"{mode}_mistakes"].append(mistakes)
            history[f"{mode}_train_accuracy"].append(learner.accuracy(x_train, ds.y_train))
            history[f"{mode}_test_accuracy"].append(learner.accuracy(x_test, ds.y_test))
        if len(converged) == len(learners):
            break
    return learners, history, converged


def over_seeds(config, ds, x_train, x_test, first):
    """Final accuracies for each seed of `config.seeds`: {mode: {"train": [...], "test": [...]}}.

    `first` is the run's own (seed, learners, converged), reused when that seed is listed."""
    spread = {mode: {"train": [], "test": [], "converged": []} for mode in config.modes}
    for seed in config.seeds:
        if seed == first[0]:
            learners, converged = first[1], first[2]
        else:
            learners, _, converged = train(replace(config, seed=seed), ds, x_train, x_test)
        for mode, learner in learners.items():
            spread[mode]["train"].append(learner.accuracy(x_train, ds.y_train))
            spread[mode]["test"].append(learner.accuracy(x_test, ds.y_test))
            spread[mode]["converged"].append(converged.get(mode))
    return spread


def summarize(values):
    """mean, standard deviation (n - 1; 0 for one value), min and max of a list of shares."""
    values = np.asarray(values, dtype=np.float64)
    std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return {"mean": float(values.mean()), "std": std, "min": float(values.min()), "max": float(values.max())}


def as_keras_model(learner, ds, name):
    """The learned weights as a Keras model (Flatten -> Dense) that outputs the class scores."""
    import keras

    inputs = keras.Input(shape=ds.input_shape, name="pixels")
    x = keras.layers.Flatten(name="flatten")(inputs)
    if ds.x_train.dtype == np.uint8:
        x = keras.layers.Rescaling(1.0 / 255, name="rescale")(x)
    dense = keras.layers.Dense(ds.num_classes, name="scores")
    model = keras.Model(inputs, dense(x), name=name)
    w = keras.ops.convert_to_numpy(learner.weights)
    dense.set_weights([w[:-1], w[-1]])
    return model


# === The experiment ===

def run(config, run):
    started, cpu_started = time.perf_counter(), time.process_time()
    ds = load_data(config)
    x_train, x_test = with_bias(pixels(ds, ds.x_train)), with_bias(pixels(ds, ds.x_test))
    print(f"{ds.name}: {len(ds.y_train)} train / {len(ds.y_test)} test; {ds.provenance}")

    learners, history, converged = train(config, ds, x_train, x_test)
    spread = over_seeds(config, ds, x_train, x_test, (config.seed, learners, converged)) if config.seeds else None
    train_seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    run.write_csv("history.csv", history)
    for mode, learner in learners.items():
        run.save_model(as_keras_model(learner, ds, f"perceptron_{mode}"), f"perceptron_{mode}.keras")

    # === Evaluate ===
    results = {mode: {"train": learner.accuracy(x_train, ds.y_train),
                      "test": learner.accuracy(x_test, ds.y_test),
                      "converged_epoch": converged.get(mode),
                      "epochs_run": len(history["epoch"])}
               for mode, learner in learners.items()}

    # === Figures ===
    panels = {"accuracy": {}, "mistakes in the epoch": {}}
    for mode in learners:
        panels["accuracy"][f"{mode} train"] = history[f"{mode}_train_accuracy"]
        panels["accuracy"][f"{mode} test"] = history[f"{mode}_test_accuracy"]
        panels["mistakes in the epoch"][mode] = history[f"{mode}_mistakes"]
    run.save_figure(figures.epoch_curves(panels, percent=("accuracy",),
                                         title=f"multi-class perceptron on {ds.name}"), "accuracy.png")
    for mode, learner in learners.items():
        run.save_figure(figures.signed_images(learner.weight_images(ds.input_shape), ds.class_names,
                                              title=f"{mode} weights per class (red +, blue -)"),
                        f"weights_{mode}.png")
        run.save_figure(plots.confusion_matrix(ds.y_test, learner.predict(x_test), ds.class_names,
                                               title=f"{mode} perceptron on {ds.name} (test)"),
                        f"confusion_{mode}.png")

    # === Report ===
    metrics = {"dataset": ds.name, "train_size": len(ds.y_train), "test_size": len(ds.y_test),
               "train_seconds": round(train_seconds, 1), "cpu_seconds": round(cpu_seconds, 1)}
    for mode, r in results.items():
        metrics.update({f"{mode}_train_accuracy": r["train"], f"{mode}_test_accuracy": r["test"],
                        f"{mode}_converged_epoch": r["converged_epoch"]})
    metrics["epochs_run"] = len(history["epoch"])
    if spread:
        metrics["seeds"] = {"seeds": list(config.seeds)}
        for mode, columns in spread.items():
            metrics["seeds"][mode] = {"train": summarize(columns["train"]), "test": summarize(columns["test"]),
                                      "test_each": columns["test"], "converged_epochs": columns["converged"]}
    run.write_report(report(config, ds, results, metrics, run))
    return metrics


def _pct(value):
    return f"{100 * value:.2f}%"


def report(config, ds, results, m, run):
    command = run.read_json("config.json")["command"]
    course = ds.name == "leiden_digits"
    rows = []
    for mode, r in results.items():
        state = (f"converged (no mistake) in epoch {r['converged_epoch']}" if r["converged_epoch"]
                 else f"not converged after {r['epochs_run']} epochs")
        theirs = f"{_pct(COURSE[mode][0])} | {_pct(COURSE[mode][1])}" if course else "- | -"
        rows.append(f"| {mode} | **{_pct(r['train'])}** | **{_pct(r['test'])}** | {theirs} | {state} |")
    against = ""
    if course:
        against = "Test accuracy against the course: " + ", ".join(
            f"{mode} {'+' if d >= 0 else ''}{d:.2f} points" + (" (missed)" if d < 0 else "")
            for mode, d in ((mode, 100 * (r["test"] - COURSE[mode][1])) for mode, r in results.items())) + "."
        against += (" Every figure is the last epoch's, not the best one seen: a rule that has not"
                    " converged keeps moving, and its test accuracy swings from epoch to epoch (see"
                    " the curves).")
    order = ("a new seeded order each epoch" if config.shuffle else "the order of the training file")
    init = (f"drawn from normal(0, {config.init_scale}) with seed {config.seed}, the same for both rules"
            if config.init == "normal" else "zeros")
    spread = seeds_section(config, m["seeds"], course) if "seeds" in m else ""
    weights = "\n\n".join(f"![{mode} weights](weights_{mode}.png)" for mode in results)
    confusions = "\n\n".join(f"![{mode} confusion](confusion_{mode}.png)" for mode in results)
    return f"""## Multi-class perceptron on {ds.name}

Command: `{command}` ({m['train_seconds']} s wall clock, {m['cpu_seconds']} s of CPU time, on this
2-core CPU machine).

Data: {ds.provenance}; {m['train_size']} training and {m['test_size']} test images. One weight
vector per class over the pixels and a bias input 1; initial weights {init}, learning rate
{config.lr}, at most {config.epochs} epochs. Batch: one update an epoch, the sum of the corrections
of every misclassified training point. Online: a correction after each mistake, the points in
{order}.

| update | train | test | course train | course test | state |
|---|---|---|---|---|---|
{chr(10).join(rows)}

{against}
{spread}
![accuracy per epoch](accuracy.png)

The weights, one image per class: a pixel in red raises that class's score when it is ink.

{weights}

{confusions}
"""


def seeds_section(config, spread, course):
    """The spread of the final accuracies over `config.seeds`, next to the course's numbers."""
    varies = ["the initial weights"] if config.init == "normal" else []
    if config.shuffle:
        varies.append("the online order")
    rows = []
    for mode in config.modes:
        cells = []
        for part in ("train", "test"):
            s = spread[mode][part]
            cells.append(f"{100 * s['mean']:.2f} ± {100 * s['std']:.2f}% | {_pct(s['min'])} - {_pct(s['max'])}")
        theirs = f"{_pct(COURSE[mode][0])} | {_pct(COURSE[mode][1])}" if course else "- | -"
        rows.append(f"| {mode} | {' | '.join(cells)} | {theirs} |")
    return f"""
### Over {len(config.seeds)} seeds

The same run with seeds {', '.join(map(str, config.seeds))}: the seed draws {' and '.join(varies)}; the
data and every other setting stay. Mean ± standard deviation and the range of the final accuracies.

| update | train mean ± std | train min - max | test mean ± std | test min - max | course train | course test |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}
"""
