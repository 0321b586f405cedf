"""Adversarial robustness: FGSM and PGD attacks on a CNN, and FGSM adversarial training.

The course's experiment: train a CNN (SVHN by default), attack it with the Fast
Gradient Sign Method across perturbation sizes, then train the same network on
clean + FGSM batches built on the fly (`training.adversarial.AdversarialTrainer`,
optionally the random-start FGSM of Wong, Rice, Kolter 2020) and attack it
again. PGD (10 projected steps from a random start) is the stronger check:
a model that resists FGSM but not PGD only masks its gradients.

Perturbation sizes are given in the pixel scale [0, 1]; the models take raw
pixels (rescaling is their first layer), so eps is scaled to the data's range.
"""

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from kerasdl import data, plots
from kerasdl.errors import UserError
from kerasdl.models import classifiers
from kerasdl.plots import adversarial as adv_plots
from kerasdl.training import fit as fitting

NAME = "adversarial"

# The course's numbers (SVHN) the report sets beside ours.
COURSE = {"clean": 0.9123, "fgsm_0.1": 0.237, "adv_clean": 0.8815, "adv_fgsm_0.1": 0.734}


@dataclass
class Config:
    dataset: str = "svhn"  # svhn, cifar10, fashion_mnist or mnist
    widths: tuple[int, ...] = (32, 64, 128)  # CNN filters per block
    convs_per_block: int = 1  # 3x3 convolutions per block
    dropout: float = 0.1  # dropout after each block
    epochs: int = 4  # passes over the training set, for each of the two regimes
    batch_size: int = 128  # examples per gradient step
    learning_rate: float = 2e-3  # peak of AdamW's warm-up + cosine schedule
    weight_decay: float = 5e-4  # AdamW's decoupled weight decay
    epsilon: float = 0.1  # FGSM eps of adversarial training, and the eps of PGD and the figures
    epsilons: tuple[float, ...] = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3)  # FGSM eps of the evaluation sweep
    adv_weight: float = 0.5  # share of the adversarial loss in training (0.5: clean + adversarial)
    random_start: bool = False  # random-start FGSM of Wong et al. 2020 (step 1.25 eps) in training
    pgd_steps: int = 10  # PGD steps (step size 2.5 eps / steps, random start)
    pgd_limit: int = 1000  # test images attacked with PGD
    train_limit: int | None = 20000  # use at most this many training images (None: all)
    test_limit: int | None = None  # use at most this many test images (None: all)
    validation_fraction: float = 0.1  # share of the training set held out for the curves
    seed: int = 0  # seeds weights, splits, the random starts
    data_dir: str | None = None  # look here first for the data set

    def __post_init__(self):
        for name in ("epochs", "batch_size", "pgd_steps", "pgd_limit", "convs_per_block"):
            if getattr(self, name) <= 0:
                raise UserError(f"{name}={getattr(self, name)}: expected a positive number")
        for name in ("train_limit", "test_limit"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise UserError(f"{name}={getattr(self, name)}: expected a positive number or none")
        if not 0 < self.epsilon <= 1:
            raise UserError(f"epsilon={self.epsilon}: expected a size in (0, 1] (pixel scale [0, 1])")
        if not self.epsilons or any(not 0 < e <= 1 for e in self.epsilons):
            raise UserError(f"epsilons={self.epsilons}: expected sizes in (0, 1], e.g. 0.01,0.1,0.3")
        if not 0 <= self.adv_weight <= 1:
            raise UserError(f"adv_weight={self.adv_weight}: expected a share in [0, 1]")
        if not 0 < self.validation_fraction < 1:
            raise UserError(f"validation_fraction={self.validation_fraction}: expected a value in (0, 1)")


QUICK = dict(epochs=1, widths=(8, 16), train_limit=256, test_limit=128, pgd_limit=64,
             pgd_steps=3, batch_size=64, epsilons=(0.05, 0.1, 0.3))


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


# === Model ===

def build_classifier(config, ds):
    import keras

    model = classifiers.cnn(ds.input_shape, ds.num_classes, widths=config.widths,
                            convs_per_block=config.convs_per_block, dropout=config.dropout,
                            value_range=ds.value_range, seed=config.seed,
                            # Batch norm's moving statistics start at variance 1 and forget it at
                            # momentum**steps: with Keras's 0.99 and the few hundred steps of these
                            # runs the start value dominates (the first conv's variance here is
                            # ~0.001) and inference accuracy collapses (10% after 2 epochs of 6,000
                            # Fashion-MNIST images). 0.9 forgets in ~50 steps.
                            bn_momentum=0.9)
    return model


def compile_model(model, config, steps):
    model.compile(
        optimizer=fitting.cosine_adamw(config.learning_rate, steps, weight_decay=config.weight_decay),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=fitting.jit_compile_default(),
    )
    return model


# === Train ===

def train(model, config, x_train, y_train, x_val, y_val, label):
    print(f"--- training: {label}")
    started = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=config.batch_size, epochs=config.epochs,
                        validation_data=(x_val, y_val), verbose=2)
    return history, time.perf_counter() - started


# === Evaluate ===

def evaluate(model, config, ds, x_test, y_test, pgd_idx, scale, keep=64):
    """Clean accuracy, the FGSM sweep and PGD at the main eps, with predictions."""
    from kerasdl.training import attacks

    lo, _ = ds.value_range
    bounds = (float(lo), float(lo + scale))
    clean_pred = np.argmax(model.predict(x_test, batch_size=256, verbose=0), axis=-1)
    raw_eps = [e * scale for e in config.epsilons]
    if config.epsilon not in config.epsilons:
        raw_eps.append(config.epsilon * scale)
    fgsm_pred, fgsm_kept = attacks.attack_predictions(model, x_test, y_test, "fgsm", raw_eps,
                                                      batch_size=250, value_range=bounds, keep=keep)
    pgd_pred, _ = attacks.attack_predictions(model, x_test[pgd_idx], y_test[pgd_idx], "pgd",
                                             [config.epsilon * scale], batch_size=250,
                                             value_range=bounds, steps=config.pgd_steps,
                                             seed=config.seed)
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


def flipped(ds, x_test, y_test, result, n=8):
    """Indices among the kept adversarial images: right on the clean image, wrong under FGSM."""
    kept = len(result["fgsm_main_images"])
    ok = result["clean_pred"][:kept] == y_test[:kept]
    wrong = result["fgsm_main_pred"][:kept] != y_test[:kept]
    return np.flatnonzero(ok & wrong)[:n]


def run(config, run):
    # === Data ===
    ds = load_data(config)
    x_train, y_train, x_val, y_val = ds.split_validation(config.validation_fraction, seed=config.seed)
    x_test, y_test = ds.x_test, ds.y_test
    lo, hi = ds.value_range
    scale = float(hi - lo)  # eps in [0, 1] -> the data's own pixel scale
    rng = np.random.default_rng(config.seed)
    pgd_idx = np.sort(rng.permutation(len(x_test))[:config.pgd_limit])
    print(f"{ds.name}: {len(x_train)} train / {len(x_val)} validation / {len(x_test)} test "
          f"({len(pgd_idx)} attacked with PGD), {ds.num_classes} classes; {ds.provenance}")

    # === Model ===
    import keras

    from kerasdl.training.adversarial import AdversarialTrainer

    steps = config.epochs * int(np.ceil(len(x_train) / config.batch_size))
    standard = compile_model(build_classifier(config, ds), config, steps)
    robust = AdversarialTrainer(build_classifier(config, ds), epsilon=config.epsilon * scale,
                                adv_weight=config.adv_weight, random_start=config.random_start,
                                value_range=(float(lo), float(hi)), seed=config.seed,
                                name="adversarial_trainer")
    robust = compile_model(robust, config, steps)
    regime = "random-start FGSM" if config.random_start else "FGSM"

    # === Train ===
    histories, seconds = {}, {}
    histories["standard"], seconds["standard"] = train(standard, config, x_train, y_train,
                                                       x_val, y_val, "standard")
    histories["adversarial"], seconds["adversarial"] = train(
        robust, config, x_train, y_train, x_val, y_val,
        f"{regime} adversarial training, eps {config.epsilon:g}")
    run.write_csv("history.csv", _history_rows(histories))
    run.save_model(standard, "model.keras")
    run.save_model(robust, "model_adversarial.keras")

    # === Evaluate ===
    results = {}
    for name, model in (("standard", standard), ("adversarial", robust)):
        print(f"--- attacking: {name}")
        results[name] = evaluate(model, config, ds, x_test, y_test, pgd_idx, scale)

    # === Figures ===
    run.save_figure(adv_plots.robustness_curve(
        config.epsilons, {k: [r["fgsm"][e] for e in config.epsilons] for k, r in results.items()},
        pgd={k: (config.epsilon, r["pgd"]) for k, r in results.items()},
        clean={k: r["clean"] for k, r in results.items()},
        title=f"{ds.name}: standard vs {regime} adversarial training"), "robustness.png")
    for name, result in results.items():
        pick = flipped(ds, x_test, y_test, result)
        run.save_figure(adv_plots.flipped_examples(
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
               "parameters": int(standard.count_params())}
    for name, r in results.items():
        metrics[f"{name}_train_seconds"] = round(seconds[name], 1)
        metrics[f"{name}_clean_accuracy"] = r["clean"]
        metrics[f"{name}_fgsm_accuracy"] = {f"{e:g}": r["fgsm"][e] for e in config.epsilons}
        metrics[f"{name}_fgsm_main_accuracy"] = r["fgsm_main"]
        metrics[f"{name}_pgd_accuracy"] = r["pgd"]
        metrics[f"{name}_clean_accuracy_pgd_subset"] = r["clean_on_pgd_subset"]
    run.write_report(_report(config, ds, metrics, run, regime))
    return metrics


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
    lines = []
    for key, label, ours in (("clean", "clean accuracy, standard", m["standard_clean_accuracy"]),
                             ("adv_clean", "clean accuracy after adversarial training",
                              m["adversarial_clean_accuracy"]),
                             ("adv_fgsm_0.1", "FGSM 0.1 accuracy after adversarial training",
                              m["adversarial_fgsm_main_accuracy"])):
        gap = 100 * (ours - COURSE[key])
        verdict = f"beaten by {gap:.2f} points" if gap >= 0 else f"**missed by {-gap:.2f} points**"
        lines.append(f"- {label}: {_pct(ours)} against {_pct(COURSE[key])}: {verdict}")
    lines.append(f"- FGSM 0.1 against the standard model: {_pct(m['standard_fgsm_main_accuracy'])} "
                 f"left (the course's attack left {_pct(COURSE['fgsm_0.1'])}); PGD leaves "
                 f"{_pct(m['standard_pgd_accuracy'])}")
    default = Config()
    lines.append(f"- budget: {m['epochs']} epochs per regime on {m['train_images']:,} training images (the "
                 f"default, {default.epochs} epochs on at most {default.train_limit:,} images less the "
                 "validation share, keeps a run to minutes of a 2-core CPU); more epochs and all the "
                 "training images (`--epochs`, `--set train_limit=none`) are the first thing to try "
                 "where a target is missed")
    return "Targets:\n\n" + "\n".join(lines)


def _pct(value):
    return f"{100 * value:.2f}%"


def _report(config, ds, m, run, regime):
    command = run.read_json("config.json")["command"]
    eps = config.epsilon
    rule = "|---" * (4 + len(config.epsilons)) + "|"
    rows = []
    for name, label in (("standard", "standard training"),
                        ("adversarial", f"{regime} adversarial training (eps {eps:g})")):
        cells = [_pct(m[f"{name}_clean_accuracy"])]
        cells += [_pct(m[f"{name}_fgsm_accuracy"][f"{e:g}"]) for e in config.epsilons]
        cells += [f"{_pct(m[f'{name}_pgd_accuracy'])} (clean on the same {m['pgd_images']}: "
                  f"{_pct(m[f'{name}_clean_accuracy_pgd_subset'])})",
                  f"{m[f'{name}_train_seconds'] / 60:.1f} min"]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    same = ds.name == "svhn"
    course = f"""| | clean | FGSM 0.1 | clean after adv. training | FGSM 0.1 after adv. training | PGD 0.1 after adv. training |
|---|---|---|---|---|---|
| course (SVHN) | {_pct(COURSE['clean'])} | {_pct(COURSE['fgsm_0.1'])} | {_pct(COURSE['adv_clean'])} | {_pct(COURSE['adv_fgsm_0.1'])} | not reported |
| this run ({ds.name}) | {_pct(m['standard_clean_accuracy'])} | {_pct(m['standard_fgsm_main_accuracy']) if eps == 0.1 else '-'} | {_pct(m['adversarial_clean_accuracy'])} | {_pct(m['adversarial_fgsm_main_accuracy']) if eps == 0.1 else '-'} | {_pct(m['adversarial_pgd_accuracy']) if eps == 0.1 else '-'} |"""
    targets = _targets(m) if eps == 0.1 else "The course's targets are at eps 0.1; this run used another eps."
    caveat = "" if same else (f"\nThe course's numbers are on SVHN, these on {ds.name}: the data sets "
                              "differ, so the comparison is of the effect, not of the figures.\n")
    ratio = m["adversarial_train_seconds"] / max(m["standard_train_seconds"], 1e-9)
    return f"""## {ds.name}: FGSM / PGD attacks, {regime} adversarial training

Command: `{command}`
(backend {m['keras_backend']}; CNN widths {','.join(map(str, config.widths))}, {m['parameters']:,}
parameters; {m['epochs']} epochs per regime on {m['train_images']:,} training images; on this machine).

Data: {ds.provenance}. Accuracy on {m['test_images']:,} test images (PGD on a seeded subset of
{m['pgd_images']:,}); eps in the pixel scale [0, 1] (L-infinity); adversarial images are clipped to
the valid pixel range. PGD: {config.pgd_steps} steps of 2.5 eps / {config.pgd_steps} from a random
point of the eps-ball.

| model | clean | {' | '.join(f'FGSM {e:g}' for e in config.epsilons)} | PGD-{config.pgd_steps} {eps:g} | training time |
{rule}
{chr(10).join(rows)}

Adversarial training took {ratio:.1f}x the time of standard training (one extra forward and
backward pass for the attack, one more forward and backward pass on the adversarial batch).

Against the course's reference numbers:

{course}

{targets}
{caveat}
A model whose FGSM accuracy is far above its PGD accuracy resists only the one-step attack it was
trained on (gradient masking); the PGD column is the honest figure of robustness.

![accuracy under attack](robustness.png)

![flipped, standard model](flipped_standard.png)

![flipped, adversarially trained model](flipped_adversarial.png)

![confusion under FGSM, standard](confusion_fgsm_standard.png)

![confusion under FGSM, adversarial](confusion_fgsm_adversarial.png)

![learning curves, standard](curves_standard.png)

![learning curves, adversarial](curves_adversarial.png)
"""
