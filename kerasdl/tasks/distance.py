"""Nearest-centroid and k-NN classifiers by hand, with PCA / t-SNE / UMAP views.

The course's first classifiers: a class is its mean image (nearest centroid),
or a point takes the majority class of its k nearest training images (k-NN).
Distances are computed with keras.ops in memory-bounded blocks
(kerasdl.scratch.distance). k and the metric (Euclidean or cosine) are chosen
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

from kerasdl import data, plots
from kerasdl.errors import UserError
from kerasdl.plots import distance as figures
from kerasdl.scratch.distance import METRICS, BLOCK, KNearestNeighbours, NearestCentroid

NAME = "distance"

# The course's table (Leiden digits, Euclidean distance), shown beside ours.
COURSE = {"nearest centroid": (0.8635, 0.8040), "k-NN": (0.9789, 0.9140)}

EMBEDDINGS = ("pca", "tsne", "umap")
VIEW_NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}


@dataclass
class Config:
    dataset: str = "leiden_digits"  # any registered image data set (leiden_digits, digits, mnist, fashion_mnist, ...)
    metrics: tuple[str, ...] = ("euclidean", "cosine")  # distances compared; each classifier uses the best on validation
    k_max: int = 15  # k-NN: every k from 1 to k_max is tried on the validation split
    validation_fraction: float = 0.2  # share of the training set held out to choose k and the metric
    embeddings: tuple[str, ...] = ("pca", "tsne", "umap")  # 2-D views drawn and classified in
    embed_limit: int = 5000  # t-SNE / UMAP on a stratified subsample of at most this many points
    block: int = BLOCK  # distances computed per step (4 bytes each): bounds the memory of k-NN
    check_sklearn: bool = True  # compare every prediction with scikit-learn's on the same data
    train_eval_limit: int = 10000  # training accuracy on a stratified subsample of at most this many images
    train_limit: int | None = None  # use at most this many training images (None: all)
    test_limit: int | None = None  # use at most this many test images (None: all)
    seed: int = 0  # seeds the validation split, the subsample, t-SNE and UMAP
    data_dir: str | None = None  # look here first for the data set

    def __post_init__(self):
        self.metrics = tuple(self.metrics)
        self.embeddings = tuple(self.embeddings)
        bad = [m for m in self.metrics if m not in METRICS] or (["(none)"] if not self.metrics else [])
        if bad:
            raise UserError(f"metrics={','.join(self.metrics)}: choose from {', '.join(METRICS)}")
        bad = [e for e in self.embeddings if e not in EMBEDDINGS]
        if bad:
            raise UserError(f"embeddings={','.join(self.embeddings)}: choose from {', '.join(EMBEDDINGS)}")
        if self.k_max < 1:
            raise UserError(f"k_max={self.k_max}: expected at least 1")
        if not 0 < self.validation_fraction < 1:
            raise UserError(f"validation_fraction={self.validation_fraction}: expected a value in (0, 1)")
        for name in ("embed_limit", "block", "train_eval_limit", "train_limit", "test_limit"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise UserError(f"{name}={value}: expected a positive number")


QUICK = dict(train_limit=300, test_limit=150, k_max=5, embeddings=("pca", "tsne"), embed_limit=300)


def variant(config):
    return config.dataset


# === Data ===

def load_data(config):
    ds = data.load(config.dataset, data_dir=config.data_dir, train_limit=config.train_limit,
                   test_limit=config.test_limit, subset_seed=config.seed)
    return ds


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
    for method in config.embeddings:
        # PCA is cheap: it always sees every point; t-SNE and UMAP see the subsample.
        tr, te = (slice(None), slice(None)) if method == "pca" else (train_idx, test_idx)
        started = time.perf_counter()
        # One OpenMP thread: on a busy machine t-SNE's spinning threads ran 20x
        # slower than one thread (79 s vs 4 s for 300 points on 2 shared cores).
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
    ds = load_data(config)
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
        "reduced": {m: {key: v for key, v in r.items() if key not in ("points", "labels")}
                    for m, r in views.items()},
        "seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(time.process_time() - cpu_started, 1),
        # Linux reports the peak resident size in KiB: the whole process, data set included.
        "peak_memory_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    run.write_report(report(config, ds, metrics, predictions, labels, run))
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


def _pct(value):
    return "-" if value is None or value != value else f"{100 * value:.2f}%"


def report(config, ds, m, predictions, labels, run):
    command = run.read_json("config.json")["command"]
    course = ds.name == "leiden_digits"
    rows = []
    for name, label in (("nearest centroid", "centroid"), ("k-NN", "knn")):
        metric = m["centroid_metric"] if label == "centroid" else f"{m['knn_metric']}, k={m['k']}"
        for split, y in labels.items():
            right = int(np.sum(predictions[name][split] == y))
            theirs = _pct(COURSE[name][0 if split == "train" else 1]) if course else "-"
            rows.append(f"| {name} ({metric}) | {split} | {right} | {len(y) - right} | "
                        f"**{_pct(right / len(y))}** | {theirs} |")
    metric_rows = [f"| {metric} | {_pct(m['validation'][metric]['centroid'])} | "
                   f"{_pct(m['validation'][metric]['knn_best'])} (k={r['k']}) | {_pct(r['centroid_test'])} | "
                   f"{_pct(r['knn_test'])} |" for metric, r in m["by_metric"].items()]
    reduced_rows = [f"| {VIEW_NAMES[meth]} | {r['train_points']} / {r['test_points']} | "
                    f"{_pct(r['centroid_test_accuracy'])} | {_pct(r['knn_test_accuracy'])} | {r['seconds']} s |"
                    for meth, r in m["reduced"].items()]
    agree = m["sklearn_agreement"]
    if agree:
        check = (f"Checked against scikit-learn on the same data: `KNeighborsClassifier(n_neighbors={m['k']}, "
                 f"metric='{m['knn_metric']}', algorithm='brute')` agrees on {_pct(agree['knn'])} of the test "
                 "predictions" + (f", `NearestCentroid()` on {_pct(agree['centroid'])}."
                                  if agree["centroid"] is not None else
                                  " (scikit-learn's NearestCentroid has no cosine metric)."))
    else:
        check = "The scikit-learn check was switched off (`check_sklearn=false`)."
    subsampled = any(r["train_points"] < m["train_size"] or r["test_points"] < m["test_size"]
                     for meth, r in m["reduced"].items() if meth != "pca")
    train_note = ("" if m["train_eval_size"] == m["train_size"] else
                  f" Training accuracy is measured on a stratified subsample of {m['train_eval_size']} "
                  "training images (`train_eval_limit`).")
    course_note = ("The course's column is its Euclidean table on the same Leiden digits."
                   if course else "The course's numbers are for the Leiden digits only.")
    beats = ""
    if course:
        notes = []
        for name, key in (("nearest centroid", "centroid_test_accuracy"), ("k-NN", "knn_test_accuracy")):
            diff = 100 * (m[key] - COURSE[name][1])
            notes.append(f"{name} {'+' if diff >= 0 else ''}{diff:.2f} points")
        beats = "Test accuracy against the course: " + ", ".join(notes) + "."
    embeds = ""
    if reduced_rows:
        embeds = f"""
### The data in two dimensions

Each classifier again, on the 2-D coordinates alone (Euclidean, k = {m['k']}). PCA and
UMAP are fitted on the training points and map the test points; t-SNE has no mapping for
new points, so it embeds training and test points together, without labels, and the
classifiers use only the training points' labels.
{"t-SNE and UMAP ran on a stratified subsample (`embed_limit`=" + str(config.embed_limit) +
 ") to keep the default run within minutes; PCA used every point." if subsampled else ""}

| view | points (train / test) | nearest centroid (test) | k-NN (test) | time |
|---|---|---|---|---|
{chr(10).join(reduced_rows)}

![2-D views](embeddings.png)
"""
    return f"""## Nearest centroid and k-NN on {ds.name}

Command: `{command}` ({m['seconds']} s wall clock, {m['cpu_seconds']} s of CPU time, on this
2-core CPU machine; peak memory of the whole process {m['peak_memory_mib']} MiB, with distances
computed in blocks of at most {config.block:,} entries).

Data: {ds.provenance}; {m['train_size']} training and {m['test_size']} test images, the pixel values
as stored. k (1 to {config.k_max}) and the metric were chosen on a stratified validation split of
{100 * config.validation_fraction:.0f}% of the training set; the chosen classifiers were then fitted
on the whole training set and evaluated once on the test set.

| classifier | split | correct | incorrect | accuracy | course |
|---|---|---|---|---|---|
{chr(10).join(rows)}

{beats} {course_note} The k-NN training accuracy counts each training image
among its own neighbours, as `KNeighborsClassifier.score` on the training set does.{train_note}

{check}

### Choosing k and the metric

| metric | centroid (validation) | best k-NN (validation) | centroid (test) | k-NN (test) |
|---|---|---|---|---|
{chr(10).join(metric_rows)}

The test columns are shown for comparison only; the choice used the validation columns.

![accuracy vs k](accuracy_vs_k.png)

### What the classifiers learned

![class centroids](centroids.png)

![centroid distances](centroid_distances.png)

![confusion, nearest centroid](confusion_centroid.png)

![confusion, k-NN](confusion_knn.png)
{embeds}"""
