"""Nearest-centroid and k-NN classifiers by hand, with PCA / t-SNE / UMAP views.

The course's first classifiers: a class is its mean image (nearest centroid),
or a point takes the majority class of its k nearest training images (k-NN).
Distances are computed with keras.ops in memory-bounded blocks
(learners.py). k and the metric (Euclidean or cosine) are chosen
on a validation split of the training set; the test set is used once, at the
end. Both classifiers are checked against scikit-learn's on the same data, and
run again in the 2-D spaces of PCA, t-SNE and UMAP.
"""

import resource
import time
import warnings
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from kerasdl import data, plots, report
from kerasdl.config import TaskConfig, field, non_negative, one_of, positive, probability
from kerasdl.errors import UserError
from kerasdl.tasks.distance import figures
from kerasdl.tasks.distance.learners import BLOCK, METRICS, KNearestNeighbours, NearestCentroid
from kerasdl.training.progress import progress

NAME = "distance"

# The course's table (Leiden digits, Euclidean distance), shown beside ours.
COURSE = {"nearest centroid": (0.8635, 0.8040), "k-NN": (0.9789, 0.9140)}

EMBEDDINGS = ("pca", "tsne", "umap")
VIEW_NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}


@dataclass
class Config(TaskConfig):
    dataset: str = field("leiden_digits", "any registered image data set (leiden_digits, digits, "
                         "mnist, fashion_mnist, ...)")
    metrics: tuple[str, ...] = field(METRICS, "distances compared; each classifier uses the best on "
                                     "validation", one_of(*METRICS))
    k_max: int = field(15, "k-NN: every k from 1 to k_max is tried on the validation split", positive)
    validation_fraction: float = field(0.2, "share of the training set held out to choose k and the "
                                       "metric", probability)
    embeddings: tuple[str, ...] = field(EMBEDDINGS, "2-D views drawn and classified in; empty "
                                        "(`--set embeddings=`) for none", one_of(*EMBEDDINGS))
    embed_limit: int = field(5000, "t-SNE / UMAP on a stratified subsample of at most this many points",
                             positive)
    block: int = field(BLOCK, "distances computed per step (4 bytes each): bounds the memory of k-NN",
                       positive)
    check_sklearn: bool = field(True, "compare every prediction with scikit-learn's on the same data")
    train_eval_limit: int = field(10000, "training accuracy on a stratified subsample of at most this "
                                  "many images", positive)
    train_limit: int | None = field(None, "use at most this many training images (None: all)", positive)
    test_limit: int | None = field(None, "use at most this many test images (None: all)", positive)
    seed: int = field(0, "seeds the validation split, the subsamples, t-SNE and UMAP", non_negative)
    data_dir: str | None = field(None, "look here first for the data set")

    def check(self):
        if not self.metrics:
            raise UserError(f"metrics=(none): expected one or more of {', '.join(METRICS)}")


QUICK = dict(train_limit=300, test_limit=150, k_max=5, embeddings=("pca", "tsne"), embed_limit=300)

HEADLINE = ("knn_test_accuracy", "centroid_test_accuracy", "k", "knn_metric", "centroid_metric")


def variant(config):
    return config.dataset


def flat(x):
    """Images as float32 rows of the data set's own pixel values."""
    return np.asarray(x, dtype=np.float32).reshape(len(x), -1)


# === Choosing k and the metric on validation data ===

def validation_curves(x_tr, y_tr, x_val, y_val, num_classes, config):
    """{metric: {"centroid": accuracy, "knn": [accuracy for k = 1..k_max]}} on validation."""
    k_max = min(config.k_max, len(y_tr))
    out = {}
    for metric in config.metrics:
        centroid = NearestCentroid(metric).fit(x_tr, y_tr, num_classes)
        knn = KNearestNeighbours(k_max, metric, config.block).fit(x_tr, y_tr, num_classes)
        by_k = knn.predict_for_each_k(x_val, range(1, k_max + 1))
        out[metric] = {"centroid": accuracy(centroid.predict(x_val, config.block), y_val),
                       "knn": [accuracy(by_k[k], y_val) for k in range(1, k_max + 1)]}
    return out


def choose(curves):
    """(centroid metric, k-NN metric, k): the best on validation; ties go to the
    metric listed first and the smaller k."""
    centroid_metric = max(curves, key=lambda m: curves[m]["centroid"])
    knn_metric = max(curves, key=lambda m: max(curves[m]["knn"]))
    k = int(np.argmax(curves[knn_metric]["knn"])) + 1
    return centroid_metric, knn_metric, k


def accuracy(predicted, y):
    return float(np.mean(np.asarray(predicted) == np.asarray(y))) if len(y) else float("nan")


# === Checks against scikit-learn ===

def sklearn_agreement(x_train, y_train, x_test, centroid_metric, centroid_pred, knn_metric, k, knn_pred):
    """Shares of test predictions equal to scikit-learn's (None where it has no equivalent)."""
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neighbors import NearestCentroid as SkNearestCentroid

    sk_knn = KNeighborsClassifier(n_neighbors=k, metric=knn_metric, algorithm="brute")
    agree = {"knn": accuracy(sk_knn.fit(x_train, y_train).predict(x_test), knn_pred)}
    # scikit-learn's NearestCentroid takes Euclidean (or Manhattan) distances only.
    agree["centroid"] = None
    if centroid_metric == "euclidean":
        with warnings.catch_warnings():  # it warns about constant pixels, which change nothing here
            warnings.simplefilter("ignore", UserWarning)
            agree["centroid"] = accuracy(SkNearestCentroid().fit(x_train, y_train).predict(x_test), centroid_pred)
    return agree


# === 2-D views ===

def subsample(y, n, seed):
    """Sorted indices of a stratified random subset of at most n points."""
    if n >= len(y):
        return np.arange(len(y))
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(np.arange(len(y)), train_size=n, stratify=y, random_state=seed)
    return np.sort(keep)


def embed(method, x_train, x_test, seed):
    """2-D coordinates of the training and test points.

    PCA and UMAP are fitted on the training points and map the test points
    with `transform`; t-SNE has no transform, so it places both sets in one
    run (without their labels) and the classifiers then use only the
    training points' labels.
    """
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed).fit(x_train)
        return pca.transform(x_train), pca.transform(x_test)
    if method == "tsne":
        from sklearn.manifold import TSNE

        both = TSNE(n_components=2, init="pca", perplexity=min(30.0, (len(x_train) + len(x_test) - 1) / 3),
                    random_state=seed).fit_transform(np.concatenate([x_train, x_test]))
        return both[:len(x_train)], both[len(x_train):]
    import umap  # imported here: numba makes the import itself take seconds

    # A seeded UMAP runs on one thread anyway; n_jobs=1 says so and silences its warning.
    reducer = umap.UMAP(n_components=2, n_neighbors=min(15, len(x_train) - 1), random_state=seed, n_jobs=1)
    return reducer.fit_transform(x_train), reducer.transform(x_test)


def reduced_space_results(config, x_train, y_train, x_test, y_test, num_classes, k):
    """For each 2-D view: coordinates, and both classifiers' test accuracy there."""
    train_idx = subsample(y_train, max(1, config.embed_limit * len(y_train) // (len(y_train) + len(y_test))),
                          config.seed)
    test_idx = subsample(y_test, max(1, config.embed_limit - len(train_idx)), config.seed)
    out = {}
    for method in progress(config.embeddings, desc="2-D views: " + ", ".join(config.embeddings)):
        # PCA is cheap: it always sees every point; t-SNE and UMAP see the subsample.
        tr, te = (slice(None), slice(None)) if method == "pca" else (train_idx, test_idx)
        started = time.perf_counter()
        # One OpenMP thread: on a machine shared with other jobs, t-SNE's threads spin
        # waiting for each other and ran many times slower than a single thread.
        with threadpool_limits(limits=1, user_api="openmp"):
            z_train, z_test = embed(method, x_train[tr], x_test[te], config.seed)
        seconds = time.perf_counter() - started
        z_train, z_test = z_train.astype(np.float32), z_test.astype(np.float32)
        centroid = NearestCentroid("euclidean").fit(z_train, y_train[tr], num_classes)
        knn = KNearestNeighbours(min(k, len(z_train)), "euclidean").fit(z_train, y_train[tr], num_classes)
        out[method] = {
            "train_points": len(z_train), "test_points": len(z_test), "seconds": round(seconds, 1),
            "centroid_test_accuracy": accuracy(centroid.predict(z_test), y_test[te]),
            "knn_test_accuracy": accuracy(knn.predict(z_test), y_test[te]),
            "points": np.concatenate([z_train, z_test]),
            "labels": np.concatenate([y_train[tr], y_test[te]]),
        }
    return out


# === The experiment ===

def run(config, run):
    started, cpu_started = time.perf_counter(), time.process_time()
    ds = data.load(config.dataset, data_dir=config.data_dir, train_limit=config.train_limit,
                   test_limit=config.test_limit, subset_seed=config.seed)
    x_train, y_train = flat(ds.x_train), ds.y_train
    x_test, y_test = flat(ds.x_test), ds.y_test
    num_classes = ds.num_classes
    print(f"{ds.name}: {len(y_train)} train / {len(y_test)} test, {x_train.shape[1]} values a point; "
          f"{ds.provenance}")

    # --- k and metric on validation data
    x_tr, y_tr, x_val, y_val = ds.split_validation(config.validation_fraction, seed=config.seed)
    curves = validation_curves(flat(x_tr), y_tr, flat(x_val), y_val, num_classes, config)
    centroid_metric, knn_metric, k = choose(curves)
    ks = list(range(1, len(curves[knn_metric]["knn"]) + 1))
    run.write_csv("accuracy_vs_k.csv", {"k": ks, **{f"val_accuracy_{m}": curves[m]["knn"] for m in curves}})
    print(f"validation: nearest centroid best with {centroid_metric}; k-NN best with {knn_metric}, k={k}")

    # --- Fit on the whole training set, evaluate once on the test set. Every
    # metric is evaluated (at its own best k) for the comparison table; the
    # chosen pair is picked from these, so no search runs twice.
    fitted = {}
    for metric in config.metrics:
        k_m = int(np.argmax(curves[metric]["knn"])) + 1
        c = NearestCentroid(metric).fit(x_train, y_train, num_classes)
        n = KNearestNeighbours(k_m, metric, config.block).fit(x_train, y_train, num_classes)
        fitted[metric] = {"k": k_m, "centroid": c, "knn": n,
                          "centroid_test": c.predict(x_test, config.block), "knn_test": n.predict(x_test)}
    by_metric = {m: {"k": f["k"], "centroid_test": accuracy(f["centroid_test"], y_test),
                     "knn_test": accuracy(f["knn_test"], y_test)} for m, f in fitted.items()}
    centroid, knn = fitted[centroid_metric]["centroid"], fitted[knn_metric]["knn"]
    # model.keras: the chosen nearest centroid is a linear classifier (NearestCentroid.to_keras).
    model = centroid.to_keras(ds.input_shape)
    run.save_model(model)
    run.write_classes(ds.class_names, ds.value_range)
    model_test = model.predict(x_test.reshape((-1, *ds.input_shape)), batch_size=1024, verbose=0)
    model_agreement = accuracy(model_test.argmax(axis=1), fitted[centroid_metric]["centroid_test"])
    # Training accuracy: on a stratified subsample where the training set is large
    # (k-NN on all 60,000 Fashion-MNIST images would search 3.6e9 pairs for one number).
    train_eval = subsample(y_train, config.train_eval_limit, config.seed)
    labels = {"train": y_train[train_eval], "test": y_test}
    predictions = {
        "nearest centroid": {"train": centroid.predict(x_train[train_eval], config.block),
                             "test": fitted[centroid_metric]["centroid_test"]},
        "k-NN": {"train": knn.predict(x_train[train_eval]), "test": fitted[knn_metric]["knn_test"]},
    }
    table = {name: {split: accuracy(p, labels[split]) for split, p in preds.items()}
             for name, preds in predictions.items()}
    agreement = None
    if config.check_sklearn:
        agreement = sklearn_agreement(x_train, y_train, x_test, centroid_metric,
                                      predictions["nearest centroid"]["test"], knn_metric, k,
                                      predictions["k-NN"]["test"])
        print(f"scikit-learn agreement on test predictions: {agreement}")

    # --- 2-D views
    views = reduced_space_results(config, x_train, y_train, x_test, y_test, num_classes, k)

    # --- Figures
    save_figures(run, ds, config, curves, (knn_metric, k), centroid, predictions, views)

    # --- Report
    metrics = {
        "dataset": ds.name, "train_size": len(y_train), "test_size": len(y_test),
        "train_eval_size": len(train_eval), "centroid_metric": centroid_metric, "knn_metric": knn_metric, "k": k,
        "centroid_train_accuracy": table["nearest centroid"]["train"],
        "centroid_test_accuracy": table["nearest centroid"]["test"],
        "knn_train_accuracy": table["k-NN"]["train"], "knn_test_accuracy": table["k-NN"]["test"],
        "validation": {m: {"centroid": c["centroid"], "knn_best": max(c["knn"])} for m, c in curves.items()},
        "by_metric": by_metric,
        "sklearn_agreement": agreement,
        "model_agreement": model_agreement,
        "reduced": {m: {key: v for key, v in r.items() if key not in ("points", "labels")}
                    for m, r in views.items()},
        "seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(time.process_time() - cpu_started, 1),
        # Linux reports the peak resident size in KiB: the whole process, data set included.
        "peak_memory_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    run.write_report(_report(config, ds, metrics, predictions, labels, run))
    return metrics


def save_figures(run, ds, config, curves, chosen, centroid, predictions, views):
    ks = list(range(1, len(next(iter(curves.values()))["knn"]) + 1))
    run.save_figure(figures.accuracy_vs_k({m: (ks, c["knn"]) for m, c in curves.items()}, chosen=chosen),
                    "accuracy_vs_k.png")
    for name, file in (("nearest centroid", "confusion_centroid.png"), ("k-NN", "confusion_knn.png")):
        run.save_figure(plots.confusion_matrix(ds.y_test, predictions[name]["test"], ds.class_names,
                                               title=f"{name} on {ds.name} (test)"), file)
    run.save_figure(plots.image_grid(centroid.centroid_images(ds.input_shape), ds.class_names, ncols=10,
                                     value_range=ds.value_range, title="class centroids (mean images)"),
                    "centroids.png")
    run.save_figure(figures.distance_matrix(centroid.centroid_distances(), ds.class_names,
                                            title=f"{centroid.metric} distances between class centroids"),
                    "centroid_distances.png")
    if views:
        subtitles = {m: f"centroid {100 * v['centroid_test_accuracy']:.1f}%, "
                        f"k-NN {100 * v['knn_test_accuracy']:.1f}% (test)" for m, v in views.items()}
        run.save_figure(figures.embeddings({VIEW_NAMES[m]: (v["points"], v["labels"]) for m, v in views.items()},
                                           ds.class_names,
                                           subtitles={VIEW_NAMES[m]: s for m, s in subtitles.items()},
                                           title=f"{ds.name} in two dimensions (train and test points)"),
                        "embeddings.png")


def _report(config, ds, m, predictions, labels, run):
    course = ds.name == "leiden_digits"
    rows = []
    for name, label in (("nearest centroid", "centroid"), ("k-NN", "knn")):
        chosen = m["centroid_metric"] if label == "centroid" else f"{m['knn_metric']}, k={m['k']}"
        for split, y in labels.items():
            right = int(np.sum(predictions[name][split] == y))
            rows.append({"classifier": f"{name} ({chosen})", "split": split, "correct": right,
                         "incorrect": len(y) - right, "accuracy": right / len(y),
                         "course": COURSE[name][split == "test"] if course else None})
    results = report.table(rows, formats={"accuracy": lambda v: f"**{report.percent(v)}**",
                                          "course": report.percent})
    by_metric = report.table(
        [{"metric": metric, "centroid (validation)": report.percent(m["validation"][metric]["centroid"]),
          "best k-NN (validation)": f"{report.percent(m['validation'][metric]['knn_best'])} (k={r['k']})",
          "centroid (test)": report.percent(r["centroid_test"]), "k-NN (test)": report.percent(r["knn_test"])}
         for metric, r in m["by_metric"].items()])

    if course:
        against = "Test accuracy against the course: " + ", ".join(
            f"{name} {100 * (m[key] - COURSE[name][1]):+.2f} points"
            for name, key in (("nearest centroid", "centroid_test_accuracy"), ("k-NN", "knn_test_accuracy"))
        ) + ". The course's column is its Euclidean table on the same Leiden digits."
    else:
        against = "The course's numbers are for the Leiden digits only."
    if m["train_eval_size"] < m["train_size"]:
        against += (f" Training accuracy is measured on a stratified subsample of {m['train_eval_size']:,} "
                    "training images (`train_eval_limit`).")
    against += (" The k-NN training accuracy counts each training image among its own neighbours, as "
                "`KNeighborsClassifier.score` on the training set does.")

    agree = m["sklearn_agreement"]
    if agree:
        check = ("Checked against scikit-learn on the same data: `KNeighborsClassifier("
                 f"n_neighbors={m['k']}, metric='{m['knn_metric']}', algorithm='brute')` agrees on "
                 f"{report.percent(agree['knn'])} of the test predictions"
                 + (f", `NearestCentroid()` on {report.percent(agree['centroid'])}."
                    if agree["centroid"] is not None else
                    " (scikit-learn's NearestCentroid has no cosine metric)."))
    else:
        check = "The scikit-learn check was switched off (`check_sklearn=false`)."
    weights = ("the centroids and whose bias is -|c|^2 / 2, so the highest score x.c - |c|^2 / 2"
               if m["centroid_metric"] == "euclidean" else
               "the unit-length centroids, without bias, so the highest score x.c / |c|")
    saved = (f"`model.keras` is the nearest centroid ({m['centroid_metric']}) as a Keras model: Flatten, "
             f"then a Dense layer whose weights are {weights} is the nearest centroid. It predicts the "
             f"hand-written classifier's class for {report.percent(m['model_agreement'])} of the test "
             "images.")

    return report.join(
        report.header(run, f"Nearest centroid and k-NN on {ds.name}",
                      data=f"{ds.provenance}; {m['train_size']:,} training and {m['test_size']:,} test "
                           "images, the pixel values as stored"),
        f"k (1 to {config.k_max}) and the metric were chosen on a stratified validation split of "
        f"{100 * config.validation_fraction:.0f}% of the training set; the chosen classifiers were then "
        "fitted on the whole training set and evaluated once on the test set.",
        results, against, check, saved,
        report.budget(run, m["seconds"], f"{m['cpu_seconds']} s of CPU time, peak memory of the whole "
                      f"process {m['peak_memory_mib']:,} MiB (distances computed in blocks of at most "
                      f"{config.block:,} entries)"),
        "### Choosing k and the metric",
        by_metric,
        "The test columns are shown for comparison only; the choice used the validation columns.",
        report.figure("accuracy_vs_k.png", "accuracy vs k"),
        "### What the classifiers learned",
        report.figure("centroids.png", "class centroids"),
        report.figure("centroid_distances.png", "centroid distances"),
        report.figure("confusion_centroid.png", "confusion, nearest centroid"),
        report.figure("confusion_knn.png", "confusion, k-NN"),
        *views_section(config, m),
    )


def views_section(config, m):
    """The report's parts on the classifiers in the 2-D views, if any were drawn."""
    if not m["reduced"]:
        return ()
    subsampled = any(r["train_points"] < m["train_size"] or r["test_points"] < m["test_size"]
                     for method, r in m["reduced"].items() if method != "pca")
    rows = [{"view": VIEW_NAMES[method], "points (train / test)": f"{r['train_points']} / {r['test_points']}",
             "nearest centroid (test)": r["centroid_test_accuracy"], "k-NN (test)": r["knn_test_accuracy"],
             "time": f"{r['seconds']} s"} for method, r in m["reduced"].items()]
    return (
        "### The data in two dimensions",
        f"Each classifier again, on the 2-D coordinates alone (Euclidean, k = {m['k']}). PCA and UMAP are "
        "fitted on the training points and map the test points; t-SNE has no mapping for new points, so it "
        "embeds training and test points together, without labels, and the classifiers use only the "
        "training points' labels." + (f" t-SNE and UMAP ran on a stratified subsample (`embed_limit`="
                                      f"{config.embed_limit}) to keep the default run within minutes; PCA "
                                      "used every point." if subsampled else ""),
        report.table(rows, formats={"nearest centroid (test)": report.percent,
                                    "k-NN (test)": report.percent}),
        report.figure("embeddings.png", "2-D views"),
    )
