"""Adversarial robustness: FGSM and PGD attacks on a CNN, and FGSM adversarial training.

The course's experiment: train a CNN (SVHN by default), attack it with the Fast
Gradient Sign Method across perturbation sizes, then train the same network on
clean + FGSM batches built on the fly (`trainer.AdversarialTrainer`: by default
the random-start FGSM of Wong, Rice, Kolter 2020, its eps warmed up from 0) and
attack it again. PGD (10 projected steps from a random start) is the stronger
check: a model that resists FGSM but not PGD only masks its gradients.

Both networks are classify's CNN, built by classify's builder with classify's
recipe for the kind of image (grey or colour: widths, dropout, augmentation
inside the model, epochs, learning-rate schedule), trained on all the training
images: a robustness figure means little on a model that never learnt the clean
task (issue 21: the former 95k-parameter, 4-epoch default left SVHN at 35%).

Perturbation sizes are given in the pixel scale [0, 1]; the models take raw
pixels (rescaling is their first layer), so eps is scaled to the data's range.

The run saves the adversarially trained model as model.keras (an
`AdversarialTrainer`, which predicts like the CNN inside it; importing this
package registers the class for loading) and the standard one as
models/standard.keras.
"""

import time
from dataclasses import dataclass

import keras
import numpy as np

from kerasdl import data, plots, report
from kerasdl.config import (TaskConfig, between, field, format_value, fraction, non_negative, one_of,
                            positive, probability)
from kerasdl.errors import UserError
from kerasdl.models import classifiers
from kerasdl.tasks import classify
from kerasdl.tasks.adversarial import attacks, figures
from kerasdl.tasks.adversarial.trainer import AdversarialTrainer
from kerasdl.training import fit as fitting
from kerasdl.training.progress import fit_options

NAME = "adversarial"

# The course's numbers (SVHN) the report sets beside ours.
COURSE = {"clean": 0.9123, "fgsm_0.1": 0.237, "adv_clean": 0.8815, "adv_fgsm_0.1": 0.734}

# Clean test accuracy a CNN of ours reaches on each data set with a full budget, for telling a
# model that did not learn from one that did: reports/classify.md (Fashion-MNIST 0.9384,
# CIFAR-10 JPEG 0.8441), issue 21 (classify's CNN on 7,200 real SVHN images: 0.926),
# reports/adversarial.md (MNIST, this task's standard CNN: 0.9797).
REACHABLE = {"fashion_mnist": 0.9384, "cifar10": 0.8441, "svhn": 0.926, "mnist": 0.9797}


def _size(value):
    return None if 0 < value <= 1 else "expected a size in (0, 1] (pixel scale [0, 1])"


def _sizes(value):
    if value and all(0 < e <= 1 for e in value):
        return None
    return "expected sizes in (0, 1] (pixel scale [0, 1]), e.g. 0.01,0.1,0.3"


def _limit(value):
    return None if value > 0 else "expected a positive number or none"


def _recipe(key):
    """How `--help` shows a field that classify's CNN recipe fills: its value per kind of image."""
    return "classify's CNN recipe: " + ", ".join(
        f"{kind} {format_value(classify.RECIPES[('cnn', kind)][key])}" for kind in ("grey", "colour"))


@dataclass
class Config(TaskConfig):
    # classify.resolve and classify.build_model read the kind of model: this task trains
    # classify's CNN (a class constant, not an option).
    model = "cnn"

    dataset: str = field("svhn", "svhn, cifar10, fashion_mnist or mnist")
    widths: tuple[int, ...] | None = field(None, "CNN filters per block", positive,
                                           shown=_recipe("widths"))
    dropout: float | None = field(None, "dropout after each block", fraction, shown=_recipe("dropout"))
    head: str | None = field(None, "the softmax reads the last block's maps averaged (gap) or all "
                             "of them (flatten)", one_of(*classifiers.HEADS), shown=_recipe("head"))
    head_dropout: float | None = field(None, "dropout before the softmax layer", fraction,
                                       shown=_recipe("head_dropout"))
    augment: str | None = field(None, "none, shift or flip+shift, inside the model (the attack "
                                "sees the draw of the forward pass it feeds)",
                                one_of("none", "shift", "flip+shift"), shown=_recipe("augment"))
    epochs: int | None = field(None, "passes over the training set, for each of the two regimes",
                               positive, shown=_recipe("epochs"))
    batch_size: int = field(128, "examples per gradient step", positive)
    learning_rate: float | None = field(None, "peak of AdamW's warm-up + cosine schedule", positive,
                                        shown=_recipe("learning_rate"))
    weight_decay: float = field(5e-4, "AdamW's decoupled weight decay", non_negative)
    epsilon: float = field(0.1, "FGSM eps of adversarial training (unless train_epsilon), and the "
                           "eps of PGD and the figures (CIFAR-10's usual 8/255: 0.031373)", _size)
    train_epsilon: float | None = field(None, "FGSM eps of adversarial training when it differs "
                                        "from epsilon (None: epsilon)", _size)
    epsilons: tuple[float, ...] = field((0.01, 0.02, 0.05, 0.1, 0.2, 0.3),
                                        "FGSM eps of the evaluation sweep", _sizes)
    adv_weight: float = field(0.5, "share of the adversarial loss in training (0.5: clean + "
                              "adversarial)", between(0, 1))
    random_start: bool = field(True, "random-start FGSM of Wong et al. 2020 (step 1.25 eps) in "
                               "training; false: plain FGSM, which can overfit to itself")
    epsilon_warmup: float = field(0.2, "share of the adversarial training steps over which the "
                                  "training eps ramps linearly from 0 (0: off)", between(0, 1))
    pgd_steps: int = field(10, "PGD steps (step size 2.5 eps / steps, random start)", positive)
    pgd_limit: int = field(1000, "test images attacked with PGD", positive)
    train_limit: int | None = field(None, "use at most this many training images (None: all)", _limit)
    test_limit: int | None = field(None, "use at most this many test images (None: all)", _limit)
    validation_fraction: float = field(0.1, "share of the training set held out for the curves",
                                       probability)
    seed: int = field(0, "seeds weights, splits, the random starts", non_negative)
    data_dir: str | None = field(None, "look here first for the data set")


# Widths and epochs set here: --quick must not train the recipe's big model (its dropout,
# augmentation and learning rate cost nothing, and stay the recipe's).
QUICK = dict(epochs=1, widths=(8, 16), train_limit=256, test_limit=128, pgd_limit=64,
             pgd_steps=3, batch_size=64, epsilons=(0.05, 0.1, 0.3))

# What `python -m kerasdl tune adversarial` optimises: the adversarially trained model's
# PGD accuracy at `epsilon` on the validation split (PGD, not FGSM, so that a model which
# only masks its gradients does not win), while the training eps is searched apart from it.
TUNE_OBJECTIVE = ("adversarial_val_pgd_accuracy", "max")
TUNE_MONITOR = ("val_adv_accuracy", "max")


def search_space(hp, config):
    """The KerasTuner search space, {Config field: value drawn from `hp`}: the training eps,
    random-start FGSM and the eps warm-up. Each default is the task's. The network and its
    learning rate are classify's recipe (`tune classify` searches those)."""
    default = Config()
    return {
        "train_epsilon": hp.Choice("train_epsilon", [0.05, 0.1, 0.15, 0.2], default=default.epsilon),
        "random_start": hp.Boolean("random_start", default=default.random_start),
        "epsilon_warmup": hp.Choice("epsilon_warmup", [0.0, 0.2, 0.4], default=default.epsilon_warmup),
    }


def train_epsilon(config):
    """The FGSM eps of adversarial training (pixel scale [0, 1])."""
    return config.epsilon if config.train_epsilon is None else config.train_epsilon


def variant(config):
    return f"{config.dataset}-{'fgsm_rs' if config.random_start else 'fgsm'}"


# === Data ===

def load_data(config):
    ds = data.load(config.dataset, data_dir=config.data_dir, train_limit=config.train_limit,
                   test_limit=config.test_limit, subset_seed=config.seed)
    if ds.x_train.ndim != 4 or not ds.class_names:
        raise UserError(f"dataset={config.dataset!r}: the adversarial task needs labelled images "
                        "(svhn, cifar10, fashion_mnist, mnist)")
    return ds


# === Models ===

def resolve(config, channels):
    """The config with the fields left at None filled from classify's CNN recipe for this
    kind of image (grey: 1 channel, colour: 3), by classify's own rule, the epochs included
    (each regime trains that long): on Fashion-MNIST the grey recipe's 6 epochs gave 93.17% clean,
    and after adversarial training 89.62% clean, 79.05% under FGSM 0.1 and 62.50% under PGD-10
    (reports/adversarial.md, section fashion_mnist-fgsm_rs)."""
    return classify.resolve(config, channels)


def build_classifier(config, ds, steps):
    """classify's CNN for this data set (augmentation inside the model), for a run of
    `steps` training steps (batch norm's momentum); `config` resolved."""
    return classify.build_model(config, ds, steps)


def compile_model(model, config, steps):
    model.compile(
        optimizer=fitting.cosine_adamw(config.learning_rate, steps, weight_decay=config.weight_decay),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=fitting.jit_compile_default(),
    )
    return model


def warmup_steps(config, steps):
    """The training steps of the eps warm-up in a run of `steps` steps."""
    return int(round(config.epsilon_warmup * steps))


def build_models(config, ds, steps):
    """(standard CNN, AdversarialTrainer around a second CNN), both compiled for `steps` steps;
    `config` resolved."""
    lo, hi = ds.value_range
    standard = compile_model(build_classifier(config, ds, steps), config, steps)
    robust = AdversarialTrainer(build_classifier(config, ds, steps),
                                epsilon=train_epsilon(config) * (hi - lo), adv_weight=config.adv_weight,
                                random_start=config.random_start,
                                epsilon_warmup_steps=warmup_steps(config, steps),
                                value_range=(float(lo), float(hi)), seed=config.seed,
                                name="adversarial_trainer")
    return standard, compile_model(robust, config, steps)


# === Train ===

def train(model, config, x_train, y_train, x_val, y_val, label):
    print(f"--- training: {label}")
    started = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=config.batch_size, epochs=config.epochs,
                        validation_data=(x_val, y_val), **fit_options())
    return history, time.perf_counter() - started


# === Evaluate ===

def evaluate(model, config, ds, x_test, y_test, pgd_idx, scale, keep=64, grad_fn=None):
    """Clean accuracy, the FGSM sweep and PGD at the main eps, with predictions. `grad_fn`:
    the model's compiled input gradient (`attacks.input_gradient_fn`), shared by the attacks."""
    lo, _ = ds.value_range
    grad_fn = grad_fn or attacks.input_gradient_fn(model, attacks.crossentropy)
    bounds = (float(lo), float(lo + scale))
    clean_pred = np.argmax(model.predict(x_test, batch_size=256, verbose=0), axis=-1)
    raw_eps = [e * scale for e in config.epsilons]
    if config.epsilon not in config.epsilons:
        raw_eps.append(config.epsilon * scale)
    fgsm_pred, fgsm_kept = attacks.attack_predictions(model, x_test, y_test, "fgsm", raw_eps,
                                                      batch_size=250, value_range=bounds, keep=keep,
                                                      grad_fn=grad_fn)
    pgd_pred, _ = attacks.attack_predictions(model, x_test[pgd_idx], y_test[pgd_idx], "pgd",
                                             [config.epsilon * scale], batch_size=250,
                                             value_range=bounds, steps=config.pgd_steps,
                                             seed=config.seed, grad_fn=grad_fn)
    main = config.epsilon * scale
    return {
        "clean": float(np.mean(clean_pred == y_test)),
        "clean_on_pgd_subset": float(np.mean(clean_pred[pgd_idx] == y_test[pgd_idx])),
        "fgsm": {e: float(np.mean(fgsm_pred[e * scale] == y_test)) for e in config.epsilons},
        "fgsm_main": float(np.mean(fgsm_pred[main] == y_test)),
        "pgd": float(np.mean(pgd_pred[main] == y_test[pgd_idx])),
        "clean_pred": clean_pred,
        "fgsm_main_pred": fgsm_pred[main],
        "fgsm_main_images": fgsm_kept[main],
    }


def validation_pgd(model, config, ds, x_val, y_val, scale, grad_fn=None):
    """PGD accuracy at `epsilon` on validation images (None when there are none)."""
    if not len(x_val):
        return None
    lo, _ = ds.value_range
    eps = config.epsilon * scale
    predictions, _ = attacks.attack_predictions(model, x_val, y_val, "pgd", [eps], batch_size=250,
                                                value_range=(float(lo), float(lo + scale)),
                                                steps=config.pgd_steps, seed=config.seed, grad_fn=grad_fn)
    return float(np.mean(predictions[eps] == y_val))


def flipped(y_test, result, n=8):
    """Indices among the kept adversarial images: right on the clean image, wrong under FGSM."""
    kept = len(result["fgsm_main_images"])
    ok = result["clean_pred"][:kept] == y_test[:kept]
    wrong = result["fgsm_main_pred"][:kept] != y_test[:kept]
    return np.flatnonzero(ok & wrong)[:n]


def run(config, run):
    # === Data ===
    ds = load_data(config)
    config = run.resolved_config = resolve(config, ds.input_shape[-1])
    x_train, y_train, x_val, y_val = ds.split_validation(config.validation_fraction, seed=config.seed)
    x_test, y_test = ds.x_test, ds.y_test
    lo, hi = ds.value_range
    scale = float(hi - lo)  # eps in [0, 1] -> the data's own pixel scale
    rng = np.random.default_rng(config.seed)
    pgd_idx = np.sort(rng.permutation(len(x_test))[:config.pgd_limit])
    print(f"{ds.name}: {len(x_train)} train / {len(x_val)} validation / {len(x_test)} test "
          f"({len(pgd_idx)} attacked with PGD), {ds.num_classes} classes; {ds.provenance}")

    # === Models ===
    steps = config.epochs * int(np.ceil(len(x_train) / config.batch_size))
    standard, robust = build_models(config, ds, steps)
    regime = "random-start FGSM" if config.random_start else "FGSM"

    # === Train ===
    histories, seconds = {}, {}
    histories["standard"], seconds["standard"] = train(standard, config, x_train, y_train,
                                                       x_val, y_val, "standard")
    run.save_model(standard, "models/standard.keras")
    histories["adversarial"], seconds["adversarial"] = train(
        robust, config, x_train, y_train, x_val, y_val,
        f"{regime} adversarial training, eps {train_epsilon(config):g}"
        + (f" (warmed up over {robust.epsilon_warmup_steps} steps)" if robust.epsilon_warmup_steps else ""))
    run.save_model(robust)
    run.write_classes(ds.class_names, ds.value_range)
    run.write_csv("history.csv", _history_rows(histories))

    # === Evaluate ===
    results, gradients = {}, {}
    for name, model in (("standard", standard), ("adversarial", robust)):
        print(f"--- attacking: {name}")
        # One compiled input gradient per model for all its attacks (TensorFlow traces it once).
        gradients[name] = attacks.input_gradient_fn(model, attacks.crossentropy)
        results[name] = evaluate(model, config, ds, x_test, y_test, pgd_idx, scale, grad_fn=gradients[name])
    # The robustness `tune` optimises, on validation images: never chosen on the test set.
    val_idx = np.sort(np.random.default_rng([config.seed, 1]).permutation(len(x_val))[:config.pgd_limit])
    val_pgd = validation_pgd(robust, config, ds, x_val[val_idx], y_val[val_idx], scale,
                             grad_fn=gradients["adversarial"])

    # === Figures ===
    run.save_figure(figures.robustness_curve(
        config.epsilons, {k: [r["fgsm"][e] for e in config.epsilons] for k, r in results.items()},
        pgd={k: (config.epsilon, r["pgd"]) for k, r in results.items()},
        clean={k: r["clean"] for k, r in results.items()},
        title=f"{ds.name}: standard vs {regime} adversarial training"), "robustness.png")
    for name, result in results.items():
        pick = flipped(y_test, result)
        run.save_figure(figures.flipped_examples(
            x_test[pick], result["fgsm_main_images"][pick], y_test[pick], result["clean_pred"][pick],
            result["fgsm_main_pred"][pick], ds.class_names, value_range=ds.value_range,
            epsilon=config.epsilon,
            title=f"{name} model: FGSM eps {config.epsilon:g} flips these test images"),
            f"flipped_{name}.png")
        run.save_figure(plots.confusion_matrix(
            y_test, result["fgsm_main_pred"], ds.class_names,
            title=f"{name} model under FGSM eps {config.epsilon:g}"), f"confusion_fgsm_{name}.png")
    run.save_figure(plots.learning_curves(histories["standard"], title="standard training"),
                    "curves_standard.png")
    run.save_figure(plots.learning_curves(histories["adversarial"],
                                          metrics=("loss", "accuracy", "adv_accuracy"),
                                          title=f"{regime} adversarial training (adv_ = FGSM batch)"),
                    "curves_adversarial.png")

    # === Report ===
    metrics = {"dataset": ds.name, "keras_backend": keras.backend.backend(),
               "epsilon": config.epsilon, "random_start": config.random_start,
               "train_images": int(len(x_train)), "test_images": int(len(x_test)),
               "pgd_images": int(len(pgd_idx)), "epochs": config.epochs,
               "parameters": int(standard.count_params()), "train_epsilon": train_epsilon(config),
               "epsilon_warmup_steps": robust.epsilon_warmup_steps, "training_steps": steps,
               "train_limit": config.train_limit,
               "adversarial_val_pgd_accuracy": val_pgd, "val_pgd_images": int(len(val_idx))}
    for name, r in results.items():
        metrics[f"{name}_train_seconds"] = round(seconds[name], 1)
        metrics[f"{name}_clean_accuracy"] = r["clean"]
        metrics[f"{name}_fgsm_accuracy"] = {f"{e:g}": r["fgsm"][e] for e in config.epsilons}
        metrics[f"{name}_fgsm_main_accuracy"] = r["fgsm_main"]
        metrics[f"{name}_pgd_accuracy"] = r["pgd"]
        metrics[f"{name}_clean_accuracy_pgd_subset"] = r["clean_on_pgd_subset"]
    verdict = learning_verdict(histories["standard"].history, metrics["standard_clean_accuracy"],
                               ds.num_classes, ds.name)
    metrics["standard_learned"] = verdict is None or not verdict.startswith("did not learn")
    if verdict:
        print(f"warning: the standard model {verdict}", flush=True)
    run.write_report(_report(config, ds, metrics, run, regime, verdict))
    return metrics


def learning_verdict(history, clean_accuracy, num_classes, dataset):
    """None when the standard model learned what the data allows; else why its robustness
    numbers should not be read as results: "did not learn ..." (final training accuracy
    under twice chance, or clean test accuracy under half of what our CNN reaches on this
    data set, REACHABLE) or "is undertrained ..." (more than 10 points under it)."""
    chance = 1.0 / num_classes
    train = (history.get("accuracy") or [None])[-1]
    reachable = REACHABLE.get(dataset)
    pct = report.percent
    if train is not None and train < 2 * chance:
        return (f"did not learn: its final training accuracy is {pct(train)}, near chance "
                f"({pct(chance)}); the attack numbers below are those of an untrained model")
    if reachable and clean_accuracy < 0.5 * reachable:
        return (f"did not learn: clean test accuracy {pct(clean_accuracy)}, under half of the "
                f"{pct(reachable)} a CNN of ours reaches on {dataset}; the attack numbers below are "
                "those of an untrained model")
    if reachable and clean_accuracy < reachable - 0.10:
        return (f"is undertrained: clean test accuracy {pct(clean_accuracy)}, "
                f"{100 * (reachable - clean_accuracy):.1f} points under the {pct(reachable)} a CNN of "
                f"ours reaches on {dataset}; robustness figures of a weak model overstate how easily it "
                "is fooled and understate what adversarial training costs")
    return None


HEADLINE = ("standard_clean_accuracy", "standard_fgsm_main_accuracy", "adversarial_clean_accuracy",
            "adversarial_fgsm_main_accuracy", "adversarial_pgd_accuracy", "adversarial_train_seconds")


def _history_rows(histories):
    """One table for both regimes: a `regime` column, the union of the metric columns."""
    rows = []
    for regime, history in histories.items():
        logs = history.history
        for epoch in range(len(next(iter(logs.values())))):
            rows.append({"regime": regime, "epoch": epoch + 1,
                         **{k: float(v[epoch]) for k, v in logs.items()}})
    columns = list(dict.fromkeys(k for row in rows for k in row))
    return [{c: row.get(c, "") for c in columns} for row in rows]


def _targets(m):
    """Each course target beaten or missed, and by how much (percentage points)."""
    pct = report.percent
    lines = []
    for key, label, ours in (("clean", "clean accuracy, standard", m["standard_clean_accuracy"]),
                             ("adv_clean", "clean accuracy after adversarial training",
                              m["adversarial_clean_accuracy"]),
                             ("adv_fgsm_0.1", "FGSM 0.1 accuracy after adversarial training",
                              m["adversarial_fgsm_main_accuracy"])):
        gap = 100 * (ours - COURSE[key])
        verdict = f"beaten by {gap:.2f} points" if gap >= 0 else f"**missed by {-gap:.2f} points**"
        lines.append(f"- {label}: {pct(ours)} against {pct(COURSE[key])}: {verdict}")
    lines.append(f"- FGSM 0.1 against the standard model: {pct(m['standard_fgsm_main_accuracy'])} "
                 f"left (the course's attack left {pct(COURSE['fgsm_0.1'])}); PGD leaves "
                 f"{pct(m['standard_pgd_accuracy'])}")
    subset = m["train_limit"] is not None
    lines.append(f"- budget: {report.plural(m['epochs'], 'epoch')} per regime on {m['train_images']:,} "
                 "training images" + (" (a subset: all of them, `--set train_limit=none`, and the "
                                      "recipe's epochs are the first thing to try where a target is "
                                      "missed)" if subset else ""))
    return "Targets:\n\n" + "\n".join(lines)


def _report(config, ds, m, run, regime, verdict=None):
    pct = report.percent
    eps = config.epsilon
    results = {}
    for name, label in (("standard", "standard training"),
                        ("adversarial", f"{regime} adversarial training (eps {m['train_epsilon']:g})")):
        results[label] = {"clean": m[f"{name}_clean_accuracy"],
                          **{f"FGSM {e:g}": m[f"{name}_fgsm_accuracy"][f"{e:g}"] for e in config.epsilons},
                          f"PGD-{config.pgd_steps} {eps:g}": m[f"{name}_pgd_accuracy"],
                          f"clean on the PGD {m['pgd_images']:,}": m[f"{name}_clean_accuracy_pgd_subset"],
                          "training time": report.duration(m[f"{name}_train_seconds"])}
    percents = {column: pct for column in next(iter(results.values())) if column != "training time"}
    at_01 = eps == 0.1
    course = {"course (SVHN)": {"clean": COURSE["clean"], "FGSM 0.1": COURSE["fgsm_0.1"],
                                "clean after adv. training": COURSE["adv_clean"],
                                "FGSM 0.1 after adv. training": COURSE["adv_fgsm_0.1"],
                                "PGD 0.1 after adv. training": None},
              f"this run ({ds.name})": {
                  "clean": m["standard_clean_accuracy"],
                  "FGSM 0.1": m["standard_fgsm_main_accuracy"] if at_01 else None,
                  "clean after adv. training": m["adversarial_clean_accuracy"],
                  "FGSM 0.1 after adv. training": m["adversarial_fgsm_main_accuracy"] if at_01 else None,
                  "PGD 0.1 after adv. training": m["adversarial_pgd_accuracy"] if at_01 else None}}
    ratio = m["adversarial_train_seconds"] / max(m["standard_train_seconds"], 1e-9)
    return report.join(
        report.header(run, f"{ds.name}: FGSM / PGD attacks, {regime} adversarial training",
                      data=ds.provenance),
        (f"**Read with care: the standard model {verdict}.** Train longer (`--epochs`) or on more "
         "images (`--set train_limit=none`)." if verdict else ""),
        f"classify's CNN: widths {format_value(config.widths)}, dropout {config.dropout}, head "
        f"{config.head} (dropout {config.head_dropout}), augmentation "
        f"{config.augment} (inside the model), {m['parameters']:,} parameters; AdamW (peak learning rate "
        f"{config.learning_rate}) with warm-up and cosine decay, batch {config.batch_size}. Adversarial "
        f"training: {regime}, eps {m['train_epsilon']:g}"
        + (f", ramped up from 0 over the first {m['epsilon_warmup_steps']:,} of "
           f"{m['training_steps']:,} steps" if m["epsilon_warmup_steps"] else "")
        + f", adversarial share of the loss {config.adv_weight:g}. Accuracy on "
        f"{m['test_images']:,} test images (PGD on a seeded subset of {m['pgd_images']:,}); eps in the "
        "pixel scale [0, 1] (L-infinity); adversarial images are clipped to the valid pixel range. "
        f"PGD: {config.pgd_steps} steps of 2.5 eps / {config.pgd_steps} from a random point of the "
        "eps-ball.",
        report.table(results, index="model", formats=percents),
        f"Adversarial training took {ratio:.1f}x the time of standard training (one extra forward and "
        "backward pass for the attack, one more forward and backward pass on the adversarial batch).",
        "Against the course's reference numbers (-: no figure at eps 0.1):",
        report.table(course, formats={c: pct for c in course["course (SVHN)"]}),
        _targets(m) if at_01 else "The course's targets are at eps 0.1; this run used another eps.",
        "" if ds.name == "svhn" else (f"The course's numbers are on SVHN, these on {ds.name}: the data "
                                      "sets differ, so the comparison is of the effect, not of the figures."),
        "A model whose FGSM accuracy is far above its PGD accuracy resists only the one-step attack it "
        "was trained on (gradient masking); the PGD column is the honest figure of robustness.",
        "Saved: model.keras is the adversarially trained model, models/standard.keras the standard one.",
        report.budget(run, m["standard_train_seconds"] + m["adversarial_train_seconds"],
                      f"{report.plural(m['epochs'], 'epoch')} per regime on {m['train_images']:,} "
                      "training images"),
        report.figure("robustness.png", "accuracy under attack"),
        report.figure("flipped_standard.png", "flipped, standard model"),
        report.figure("flipped_adversarial.png", "flipped, adversarially trained model"),
        report.figure("confusion_fgsm_standard.png", "confusion under FGSM, standard"),
        report.figure("confusion_fgsm_adversarial.png", "confusion under FGSM, adversarial"),
        report.figure("curves_standard.png", "learning curves, standard"),
        report.figure("curves_adversarial.png", "learning curves, adversarial"),
    )
