"""Semi-supervised classification with a linear SVM on VAE features ("M1", Kingma et al. 2014).

1. Train the VAE (the `vae` task's model, model.py) on every training image, without labels.
2. Encode every image to its latent mean; standardise the features with the
   statistics of all (unlabelled) training images.
3. For n labelled images (balanced over classes, several seeds), fit
   scikit-learn's LinearSVC on their features, C picked by stratified
   cross-validation on those n images only, and score it on the test set.

The same protocol on PCA features of the same size (a linear unsupervised
representation) shows what the VAE adds. Kingma et al.'s M1+TSVM (a
transductive SVM, which also sees the unlabelled images) reported 88.18 /
94.28 / 95.76 / 96.51% on MNIST with 100 / 600 / 1000 / 3000 labels.
"""

import time
import warnings
from dataclasses import dataclass

import numpy as np

from kerasdl import plots, report
from kerasdl.config import TaskConfig, field, non_negative, positive
from kerasdl.errors import UserError
from kerasdl.tasks import vae as vae_task
from kerasdl.tasks.vae import figures
from kerasdl.training import feed
from kerasdl.training.progress import progress

NAME = "semisupervised"

# Published results this task is compared with, test accuracy in %.
KINGMA_M1_TSVM_MNIST = {100: 88.18, 600: 94.28, 1000: 95.76, 3000: 96.51}
COURSE_FASHION_MNIST = (66, 76)  # the course's range over its label counts


@dataclass
class Config(TaskConfig):
    dataset: str = field("fashion_mnist", "fashion_mnist or mnist (any registered image set with labels)")
    labels: tuple[int, ...] = field((100, 600, 1000, 3000), "numbers of labelled images, balanced over "
                                    "classes", positive)
    repeats: int = field(5, "labelled subsets (seeds) per number of labels", positive)
    svm_c: tuple[float, ...] = field((0.01, 0.1, 1.0, 10.0), "LinearSVC C values, chosen by CV on the "
                                     "labelled images", positive)
    pca_baseline: bool = field(True, "also score PCA features of the same size")
    vae_model: str | None = field(None, "a trained VAE (.keras, e.g. a vae run's model.keras) instead "
                                  "of training one", shown="none (train one)")
    latent_dim: int = field(32, "size of z (the SVM's features)", positive)
    filters: tuple[int, ...] = field((32, 64), "channels of the encoder's stride-2 convs (decoder "
                                     "mirrors them)", positive)
    hidden: int = field(256, "dense layer between convs and z, both ways (0: none)", non_negative)
    # beta 0.1 and 3 epochs, not the ELBO's VAE (beta 1, 10 epochs): that one left most latent
    # dimensions inactive, and its features served the SVM worse (reports/semisupervised.md).
    beta: float = field(0.1, "weight of the KL term (1: the ELBO)", non_negative)
    epochs: int = field(3, "passes of the VAE over the training set", positive)
    batch_size: int = field(128, "images per gradient step", positive)
    learning_rate: float = field(1e-3, "Adam's step size", positive)
    train_limit: int | None = field(None, "use at most this many training images (None: all)", positive)
    test_limit: int | None = field(None, "use at most this many test images (None: all)", positive)
    stream: str = feed.stream_field()
    seed: int = field(0, "seeds the VAE, the labelled subsets and the CV folds", non_negative)
    data_dir: str | None = field(None, "look here first for the data set")

    def check(self):
        if not self.labels:
            raise UserError("labels=: expected positive counts, e.g. 100,600,1000,3000")
        if not self.svm_c:
            raise UserError("svm_c=: expected positive values, e.g. 0.01,0.1,1,10")
        vae_task.check_filters(self.filters)


QUICK = dict(labels=(20, 50), repeats=2, epochs=1, train_limit=600, test_limit=200, batch_size=64,
             filters=(8, 16), hidden=32, latent_dim=8)


def variant(config):
    return config.dataset


# === Labelled subsets ===
def balanced_subset(y, n, seed):
    """Indices of n labelled examples, n // k of each of the k classes (the first
    n % k classes of a seeded shuffle get one more)."""
    y = np.asarray(y)
    classes = np.unique(y)
    if n < len(classes):
        raise UserError(f"labels={n}: need at least one labelled image per class ({len(classes)} classes)")
    rng = np.random.default_rng(seed)
    per_class = np.full(len(classes), n // len(classes))
    per_class[rng.permutation(len(classes))[: n % len(classes)]] += 1
    chosen = []
    for c, count in zip(classes, per_class):
        pool = np.flatnonzero(y == c)
        if count > len(pool):
            raise UserError(f"labels={n}: class {c} has only {len(pool)} training images "
                            f"(needs {count}); use fewer labels")
        chosen.append(rng.choice(pool, size=count, replace=False))
    return rng.permutation(np.concatenate(chosen))


# === The classifier ===
def fit_svm(features, labels, c_grid, seed):
    """LinearSVC with C chosen by stratified k-fold CV on the labelled examples alone.

    Returns (fitted classifier, chosen C)."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.svm import LinearSVC

    svm = LinearSVC(dual="auto", max_iter=5000, random_state=seed)
    folds = min(5, int(np.bincount(labels).min()))
    if len(c_grid) == 1 or folds < 2:
        svm.set_params(C=c_grid[0] if len(c_grid) == 1 else 1.0)
        return svm.fit(features, labels), svm.C
    search = GridSearchCV(svm, {"C": list(c_grid)},
                          cv=StratifiedKFold(folds, shuffle=True, random_state=seed))
    search.fit(features, labels)
    return search.best_estimator_, search.best_params_["C"]


def score(y_true, y_pred):
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, average="macro",
                                                               zero_division=0)
    return {"accuracy": float(accuracy_score(y_true, y_pred)), "precision": float(precision),
            "recall": float(recall), "f1": float(f1)}


def standardised(train, test):
    """Features scaled by the mean and std of all training images (no labels needed)."""
    mean, std = train.mean(axis=0), train.std(axis=0) + 1e-8
    return (train - mean) / std, (test - mean) / std


def run(config, run):
    # === Data ===
    ds = vae_task.load_data(config, in_memory=config.stream == "no")
    streamed = feed.streams(ds.x_train, config.stream)
    print(f"{ds.name}: {len(ds.x_train)} train / {len(ds.x_test)} test images; {ds.provenance}"
          + ("; batches read from the decoded images on disk" if streamed else ""))
    if max(config.labels) > len(ds.x_train):
        raise UserError(f"labels={max(config.labels)} is more than the {len(ds.x_train)} training images")

    # === Unsupervised: the VAE on all training images ===
    history, seconds, load = None, 0.0, None
    if config.vae_model:
        model = _load_vae(config.vae_model, ds)
    else:
        model, history, seconds = vae_task.train_vae(
            ds, config.latent_dim, config.filters, config.hidden, config.beta, config.epochs,
            config.batch_size, config.learning_rate, config.seed, streamed=streamed)
        load = report.machine_load()
        run.write_history(history)
        run.save_model(model)
    started = time.perf_counter()
    test_vae = vae_task.evaluate(model, ds.x_test, streamed=streamed)
    test_means = model.encode(feed.images(ds.x_test, streamed))[0]
    features = {"VAE latent means": standardised(model.encode(feed.images(ds.x_train, streamed))[0],
                                                 test_means)}
    if config.pca_baseline:
        features[f"PCA-{model.latent_dim} of pixels"] = _pca_features(ds, model.latent_dim, config.seed,
                                                                      streamed)

    # === Supervised: the linear SVM on n labels ===
    rows = []
    jobs = [(n, r) for n in config.labels for r in range(config.repeats)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LinearSVC's ConvergenceWarning at tiny C / few labels
        for n, r in progress(jobs, desc="linear SVMs on the labelled subsets"):
            chosen = balanced_subset(ds.y_train, n, seed=config.seed * 1000 + r)
            for name, (train, test) in features.items():
                svm, c = fit_svm(train[chosen], ds.y_train[chosen], config.svm_c, seed=config.seed + r)
                predictions = svm.predict(test)
                rows.append({"features": name, "labels": n, "repeat": r, "C": c,
                             **score(ds.y_test, predictions)})
                if name.startswith("VAE") and n == max(config.labels) and r == 0:
                    confusion_predictions = predictions
    svm_seconds = time.perf_counter() - started
    run.write_csv("results.csv", rows)
    summary = _summarise(rows)
    run.write_csv("summary.csv", summary)

    # === Figures ===
    if history is not None:
        run.save_figure(figures.elbo_curves(history.history, title=f"VAE on {ds.name} (no labels)"),
                        "elbo_curves.png")
    references = {}
    if ds.name == "mnist":
        references["Kingma et al. 2014, M1+TSVM"] = {
            n: a for n, a in KINGMA_M1_TSVM_MNIST.items() if n in config.labels}
    run.save_figure(figures.accuracy_vs_labels(summary, references,
                                               title=f"linear SVM on {ds.name}: test accuracy"),
                    "accuracy_vs_labels.png")
    run.save_figure(plots.confusion_matrix(ds.y_test, confusion_predictions, ds.class_names,
                                           title=f"SVM on VAE features, {max(config.labels)} labels "
                                                 "(test, seed 0)"),
                    "confusion_matrix.png")
    run.save_figure(figures.latent_scatter(test_means, ds.y_test, ds.class_names),
                    "latent_scatter.png")

    # === Report ===
    metrics = {
        "dataset": ds.name, "latent_dim": model.latent_dim, "epochs": None if history is None else config.epochs,
        "vae_train_seconds": round(seconds, 1), "svm_seconds": round(svm_seconds, 1),
        "vae_test_neg_elbo": test_vae["neg_elbo"], "vae_model": config.vae_model,
        "machine_load": load, "streamed": streamed, "summary": summary,
    }
    for row in summary:
        if row["features"].startswith("VAE"):
            for key in ("accuracy", "precision", "recall", "f1"):
                metrics[f"{key}_n{row['labels']}"] = row[f"{key}_mean"]
    # The same names whatever the label counts, for the end-of-run summary (HEADLINE).
    fewest, most = min(config.labels), max(config.labels)
    pca = {r["labels"]: r["accuracy_mean"] for r in summary if r["features"].startswith("PCA")}
    metrics.update(fewest_labels=fewest, accuracy_fewest_labels=metrics[f"accuracy_n{fewest}"],
                   most_labels=most, accuracy_most_labels=metrics[f"accuracy_n{most}"],
                   pca_accuracy_most_labels=pca.get(most))
    run.write_report(_report(config, ds, metrics, summary, history is not None, run))
    return metrics


HEADLINE = ("accuracy_fewest_labels", "fewest_labels", "accuracy_most_labels", "most_labels",
            "pca_accuracy_most_labels", "vae_test_neg_elbo")


def _load_vae(path, ds):
    import keras

    from kerasdl.tasks.vae import model as vae_models  # noqa: F401 - registers VAE and Sampler

    try:
        model = keras.saving.load_model(path)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise UserError(f"vae_model={path}: cannot load it as a Keras model ({type(e).__name__})") from None
    if not hasattr(model, "encode"):
        raise UserError(f"vae_model={path}: not a kerasdl VAE (train one with `python -m kerasdl vae`)")
    expected = tuple(model.encoder.inputs[0].shape[1:])
    if expected != tuple(ds.input_shape):
        raise UserError(f"vae_model={path} takes images {expected}, but {ds.name} has {ds.input_shape}")
    return model


def _pca_features(ds, dims, seed, streamed=False):
    """PCA of the pixels fitted on all training images, standardised like the VAE's.

    `streamed`: fitted chunk by chunk (scikit-learn's IncrementalPCA, the same components up
    to the chunks' rounding) on images read from disk, which then need not fit in memory."""
    from sklearn.decomposition import PCA, IncrementalPCA

    flat = lambda x: ds.scaled(np.asarray(x)).reshape(len(x), -1)  # noqa: E731
    dims = min(dims, int(np.prod(ds.input_shape)), len(ds.x_train))
    if not streamed:
        pca = PCA(n_components=dims, random_state=seed)
        train = pca.fit_transform(flat(ds.x_train))
        return standardised(train, pca.transform(flat(ds.x_test)))
    pca = IncrementalPCA(n_components=dims)
    chunks = lambda x: feed.RowBatches(x, batch_size=max(vae_task.EVALUATION_CHUNK, dims))  # noqa: E731
    for images in chunks(ds.x_train):
        if len(images) >= dims:  # a last chunk smaller than the components cannot be fitted
            pca.partial_fit(flat(images))
    project = lambda x: np.concatenate([pca.transform(flat(images)) for images in chunks(x)])  # noqa: E731
    return standardised(project(ds.x_train), project(ds.x_test))


def _summarise(rows):
    """Mean and std over repeats, per (features, labels)."""
    out = []
    for key in dict.fromkeys((r["features"], r["labels"]) for r in rows):
        group = [r for r in rows if (r["features"], r["labels"]) == key]
        row = {"features": key[0], "labels": key[1], "repeats": len(group)}
        for metric in ("accuracy", "precision", "recall", "f1"):
            values = np.array([g[metric] for g in group])
            row[f"{metric}_mean"] = float(values.mean())
            row[f"{metric}_std"] = float(values.std())
        row["C_chosen"] = ",".join(f"{g['C']:g}" for g in group)
        out.append(row)
    return out


def _report(config, ds, m, summary, trained, run):
    def spread(key):
        return lambda row: f"{row[f'{key}_mean'] * 100:.2f} ± {row[f'{key}_std'] * 100:.2f}"

    cells = {"accuracy (%)": spread("accuracy"), "precision (%)": spread("precision"),
             "recall (%)": spread("recall"), "F1 (%)": spread("f1")}
    rows = [{"features": row["features"], "labels": row["labels"],
             **{name: cell(row) for name, cell in cells.items()}, "C chosen per seed": row["C_chosen"]}
            for row in summary]
    for row in rows:  # the VAE's accuracy is the result; PCA is the baseline
        if row["features"].startswith("VAE"):
            row["accuracy (%)"] = f"**{row['accuracy (%)']}**"
    vae = {r["labels"]: r["accuracy_mean"] * 100 for r in summary if r["features"].startswith("VAE")}
    paper = [{"labels": n, "this run: SVM on VAE means (%)": vae[n], "Kingma et al. M1+TSVM (%)": a,
              "gap (points)": f"{vae[n] - a:+.2f}"} for n, a in KINGMA_M1_TSVM_MNIST.items() if n in vae]
    if ds.name == "mnist" and paper:  # the paper's label counts only
        comparison = [
            "How close to the paper (the real MNIST, all 60,000 training images without labels, the "
            "official 10,000 test images):",
            report.table(paper, digits=2),
            "The paper's M1 used a transductive SVM, which also learns from the unlabelled images' "
            "features; here a plain inductive linear SVM sees only the n labelled ones."]
    elif ds.name == "fashion_mnist":
        lo, hi = COURSE_FASHION_MNIST
        pca = {r["labels"]: r["accuracy_mean"] * 100 for r in summary if r["features"].startswith("PCA")}
        compare = [{"labels": n, "SVM on VAE means (%)": a, "SVM on PCA of pixels (%)": pca.get(n),
                    "the course (%)": f"{lo}-{hi}"} for n, a in vae.items()]
        above = [str(n) for n, a in vae.items() if a > hi]
        comparison = [
            f"The course reached roughly {lo}-{hi}% on Fashion-MNIST with 100-3000 labels (its "
            "per-count numbers are not known here):",
            report.table(compare, digits=2),
            "Above the course's best with " + (", ".join(above) + " labels." if above
                                               else "none of the label counts.")]
    else:
        comparison = []
    if trained:
        vae_line = (f"the VAE trained {report.plural(config.epochs, 'epoch')} in "
                    f"{report.duration(m['vae_train_seconds'])}{report.load_words(m['machine_load'])}; ")
    else:
        vae_line = f"the VAE of `{config.vae_model}` (not retrained); "
    return report.join(
        report.header(run, f"Linear SVM on VAE features (M1), {ds.name}", data=ds.provenance),
        f"The VAE saw all {len(ds.x_train):,} training images without labels (test -ELBO "
        f"{m['vae_test_neg_elbo']:.1f} nats/image, latent size {m['latent_dim']}); each SVM saw n of "
        f"them with labels, balanced over the classes, {report.plural(config.repeats, 'seed')} per n; "
        f"scores on all {len(ds.x_test):,} test images, mean ± std over the seeds (precision, recall, "
        f"F1: macro averages). C from {', '.join(f'{c:g}' for c in config.svm_c)} by stratified "
        "5-fold CV on the n labelled images only (fewer folds when a class has fewer than 5); "
        "features standardised with the statistics of all training images.",
        report.table(rows),
        *comparison,
        report.budget(run, m["vae_train_seconds"] + m["svm_seconds"],
                      vae_line + f"all SVMs in {report.duration(m['svm_seconds'])}; in all"),
        report.figure("accuracy_vs_labels.png", "test accuracy against the number of labels"),
        report.figure("confusion_matrix.png", f"confusion matrix, {max(config.labels)} labels"),
        report.figure("latent_scatter.png", "latent means of the test images"),
        report.figure("elbo_curves.png", "the VAE's ELBO per epoch") if trained else "",
    )
