"""Multi-class perceptron by hand: batch updates against online updates.

Ten weight vectors (one per class, plus a bias input), trained with the
perceptron rule written out in keras.ops (learner.py): batch
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

import json
import time
from dataclasses import dataclass, replace

import numpy as np
from keras import ops

from kerasdl import data, plots, report
from kerasdl.config import TaskConfig, field, non_negative, one_of, positive
from kerasdl.errors import UserError
from kerasdl.tasks.perceptron import figures
from kerasdl.tasks.perceptron.learner import INITS, Perceptron, with_bias
from kerasdl.training import checkpoint
from kerasdl.training.progress import progress

NAME = "perceptron"

# The course's final table (Leiden digits): (train, test) accuracy.
COURSE = {"batch": (0.9859, 0.8810), "online": (1.0, 0.8720)}

MODES = ("batch", "online")


@dataclass
class Config(TaskConfig):
    dataset: str = field("leiden_digits", "any registered image data set (leiden_digits, digits, mnist, ...)")
    modes: tuple[str, ...] = field(MODES, "update rules trained side by side", one_of(*MODES))
    epochs: int = field(100, "passes over the training set (a mode that makes no mistake in one stops "
                        "there)", positive)
    lr: float = field(0.2, "step size (the course's); the predictions depend only on init_scale / lr",
                      positive)
    init: str = field("normal", "initial weights: normal (seeded, times init_scale; the course's), or zeros",
                      one_of(*INITS))
    init_scale: float = field(5.0, "standard deviation of normal initial weights (the course's)", positive)
    shuffle: bool = field(False, "online: visit the points in a new seeded order each epoch (false: file "
                          "order)")
    train_limit: int | None = field(None, "use at most this many training images (None: all)", positive)
    test_limit: int | None = field(None, "use at most this many test images (None: all)", positive)
    seed: int = field(0, "seeds the initial weights (the same for both modes) and the online order",
                      non_negative)
    seeds: tuple[int, ...] = field((), "also train with each of these seeds, e.g. 0,1,2; the report gives "
                                   "the spread over them", non_negative, shown="no others")
    data_dir: str | None = field(None, "look here first for the data set")

    def __post_init__(self):
        self.seeds = tuple(dict.fromkeys(self.seeds))  # each seed once, in the order given
        super().__post_init__()

    def check(self):
        if not self.modes:
            raise UserError(f"modes=(none): expected one or more of {', '.join(MODES)}")
        if self.seeds and self.init == "zeros" and not self.shuffle:
            raise UserError(f"seeds={','.join(map(str, self.seeds))}: with init=zeros and shuffle=false no"
                            " seed enters the training, every seed gives the same numbers; set init=normal"
                            " or shuffle=true")


QUICK = dict(epochs=5, train_limit=300, test_limit=150)

HEADLINE = ("batch_test_accuracy", "online_test_accuracy", "batch_train_accuracy", "online_train_accuracy",
            "epochs_run")


def variant(config):
    return config.dataset


def pixels(ds, x):
    """Float data as stored (the Leiden digits in [-1, 1], as the course used
    them); uint8 images scaled to [0, 1], so no pixel outweighs the bias input 1."""
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
    converged, first_epoch = {}, 1
    # In a run the loop is checkpointed (`checkpoint.for_loop`): a resumed run goes on from there.
    saved = checkpoint.for_loop()

    def state(epoch):
        return {**{f"{mode}_weights": ops.convert_to_numpy(learner.weights) for mode, learner in learners.items()},
                **{f"{mode}_seed": ops.convert_to_numpy(learner.seed.state) for mode, learner in learners.items()},
                "history": np.array(json.dumps(history)), "converged": np.array(json.dumps(converged)),
                "epoch": np.array(epoch)}

    restored = saved.restore()
    if restored is not None:
        for mode, learner in learners.items():
            learner.weights = ops.convert_to_tensor(restored[f"{mode}_weights"])
            learner.seed.state.assign(restored[f"{mode}_seed"])
        history, converged = json.loads(str(restored["history"])), json.loads(str(restored["converged"]))
        if bool(restored["finished"]):
            return learners, history, converged
        first_epoch = int(restored["epoch"]) + 1
    for epoch in progress(range(first_epoch, config.epochs + 1), desc=f"perceptron epochs (seed {config.seed})"):
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
        if saved.due():
            saved.save(state(epoch), f"epoch {epoch}")
    saved.save(state(history["epoch"][-1]), f"epoch {history['epoch'][-1]}", finished=True)
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
    """The learned weights as a Keras model that outputs the class scores: Flatten, the
    scaling of `pixels` (uint8 images), and a Dense layer holding the weights and the bias."""
    import keras

    inputs = keras.Input(shape=ds.input_shape, name="pixels")
    x = keras.layers.Flatten(name="flatten")(inputs)
    if ds.x_train.dtype == np.uint8:
        lo, hi = ds.value_range
        x = keras.layers.Rescaling(1.0 / (hi - lo), offset=-lo / (hi - lo), name="rescale")(x)
    dense = keras.layers.Dense(ds.num_classes, name="scores")
    model = keras.Model(inputs, dense(x), name=name)
    w = keras.ops.convert_to_numpy(learner.weights)
    dense.set_weights([w[:-1], w[-1]])
    return model


# === The experiment ===

def run(config, run):
    started, cpu_started = time.perf_counter(), time.process_time()
    ds = data.load(config.dataset, data_dir=config.data_dir, train_limit=config.train_limit,
                   test_limit=config.test_limit, subset_seed=config.seed)
    x_train, x_test = with_bias(pixels(ds, ds.x_train)), with_bias(pixels(ds, ds.x_test))
    print(f"{ds.name}: {len(ds.y_train)} train / {len(ds.y_test)} test; {ds.provenance}")

    learners, history, converged = train(config, ds, x_train, x_test)
    spread = over_seeds(config, ds, x_train, x_test, (config.seed, learners, converged)) if config.seeds else None
    train_seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    run.write_csv("history.csv", history)
    # model.keras: the batch-trained perceptron (or the one mode trained); the other in models/.
    saved = {mode: "model.keras" if mode == next(m for m in MODES if m in learners)
             else f"models/perceptron_{mode}.keras" for mode in learners}
    for mode, learner in learners.items():
        run.save_model(as_keras_model(learner, ds, f"perceptron_{mode}"), saved[mode])
    run.write_classes(ds.class_names, ds.value_range)

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
    run.save_figure(plots.epoch_curves(panels, percent=("accuracy",),
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
    run.write_report(_report(config, ds, results, metrics, saved, run))
    return metrics


def _report(config, ds, results, m, saved, run):
    course = ds.name == "leiden_digits"
    rows = [{"update": mode, "train": r["train"], "test": r["test"],
             "course train": COURSE[mode][0] if course else None,
             "course test": COURSE[mode][1] if course else None,
             "state": (f"converged (no mistake) in epoch {r['converged_epoch']}" if r["converged_epoch"]
                       else f"not converged after {report.plural(r['epochs_run'], 'epoch')}")}
            for mode, r in results.items()]
    bold = lambda v: f"**{report.percent(v)}**"  # noqa: E731
    table = report.table(rows, formats={"train": bold, "test": bold, "course train": report.percent,
                                        "course test": report.percent})
    against = ""
    if course:
        against = "Test accuracy against the course: " + ", ".join(
            f"{mode} {d:+.2f} points" + (" (missed)" if d < 0 else "")
            for mode, d in ((mode, 100 * (r["test"] - COURSE[mode][1])) for mode, r in results.items())) + "."
        against += (" Every figure is the last epoch's, not the best one seen: a rule that has not"
                    " converged keeps moving, and its test accuracy swings from epoch to epoch (see"
                    " the curves).")
    order = "a new seeded order each epoch" if config.shuffle else "the order of the training file"
    init = (f"drawn from normal(0, {config.init_scale}) with seed {config.seed}, the same for both rules"
            if config.init == "normal" else "zeros")
    trained = len({config.seed, *config.seeds})
    files = ", ".join(f"{mode} `{name}`" for mode, name in saved.items())
    return report.join(
        report.header(run, f"Multi-class perceptron on {ds.name}",
                      data=f"{ds.provenance}; {m['train_size']:,} training and {m['test_size']:,} "
                           "test images"),
        f"One weight vector per class over the pixels and a bias input 1; initial weights {init}, "
        f"learning rate {config.lr}, at most {report.plural(config.epochs, 'epoch')}. Batch: one update an "
        "epoch, the sum of the corrections of every misclassified training point. Online: a correction "
        f"after each mistake, the points in {order}.",
        table, against,
        "The perceptrons as Keras models (Flatten, then a Dense layer holding the weights and the bias; "
        f"they output the class scores): {files}.",
        report.budget(run, m["train_seconds"], f"{report.plural(trained, 'seed')} of at most "
                      f"{report.plural(config.epochs, 'epoch')}, {m['cpu_seconds']} s of CPU time"),
        *(seeds_section(config, m["seeds"], course) if "seeds" in m else ()),
        report.figure("accuracy.png", "accuracy per epoch"),
        "The weights, one image per class: a pixel in red raises that class's score when it is ink.",
        *(report.figure(f"weights_{mode}.png", f"{mode} weights") for mode in results),
        *(report.figure(f"confusion_{mode}.png", f"{mode} confusion") for mode in results),
    )


def seeds_section(config, spread, course):
    """The report's parts on the spread of the final accuracies over `config.seeds`, next to
    the course's numbers."""
    varies = ["the initial weights"] if config.init == "normal" else []
    if config.shuffle:
        varies.append("the online order")
    rows = []
    for mode in config.modes:
        row = {"update": mode}
        for part in ("train", "test"):
            s = spread[mode][part]
            row[f"{part} mean ± std"] = f"{100 * s['mean']:.2f} ± {100 * s['std']:.2f}%"
            row[f"{part} min - max"] = f"{report.percent(s['min'])} - {report.percent(s['max'])}"
        row["course train"], row["course test"] = COURSE[mode] if course else (None, None)
        rows.append(row)
    return (
        f"### Over {report.plural(len(config.seeds), 'seed')}",
        f"The same run with seeds {', '.join(map(str, config.seeds))}: the seed draws "
        f"{' and '.join(varies)}; the data and every other setting stay. Mean ± standard deviation and "
        "the range of the final accuracies.",
        report.table(rows, formats={"course train": report.percent, "course test": report.percent}),
    )
