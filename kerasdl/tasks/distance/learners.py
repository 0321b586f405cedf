"""Distance-based classifiers by hand: nearest centroid and k nearest neighbours.

Every distance is computed with `keras.ops` in blocks of at most `block`
numbers (queries x references), so k-NN on 60,000 references x 10,000
queries (Fashion-MNIST) never holds the full 600-million-entry matrix: each
block keeps only its k best candidates, merged into a running top-k.

Both classifiers follow scikit-learn's conventions, so their predictions can
be checked against `NearestCentroid` and `KNeighborsClassifier(algorithm="brute")`:
a centroid is the plain mean of a class's vectors, and a vote tie between
classes goes to the smallest class index.
"""

import numpy as np
from keras import ops

from kerasdl.errors import UserError
from kerasdl.training.progress import progress

METRICS = ("euclidean", "cosine")

# Default block: 2**22 distances (16 MiB of float32) per step, small enough for
# a laptop, large enough that matrix products dominate the Python overhead.
BLOCK = 2**22
# A search of this many query blocks or more shows its progress (a few blocks pass in a blink).
PROGRESS_BLOCKS = 10


def check_metric(metric):
    if metric not in METRICS:
        raise UserError(f"metric {metric!r}: choose one of {', '.join(METRICS)}")
    return metric


def _flat(x):
    """(N, ...) -> (N, D) float32 tensor."""
    x = ops.convert_to_tensor(x, dtype="float32")
    return ops.reshape(x, (ops.shape(x)[0], -1))


def _unit(x):
    """Rows scaled to unit length (all-zero rows stay zero, as in scikit-learn)."""
    norm = ops.sqrt(ops.sum(ops.square(x), axis=1, keepdims=True))
    return x / ops.maximum(norm, 1e-12)


def pairwise_distances(a, b, metric="euclidean"):
    """Distances between the rows of `a` (n, D) and `b` (m, D): an (n, m) tensor.

    euclidean: sqrt(|a|^2 - 2 a.b + |b|^2), clipped at 0 against rounding;
    cosine: 1 - a.b / (|a| |b|).
    """
    check_metric(metric)
    a, b = _flat(a), _flat(b)
    if metric == "cosine":
        return 1.0 - ops.matmul(_unit(a), ops.transpose(_unit(b)))
    return ops.sqrt(_squared_euclidean(a, b))


def _squared_euclidean(a, b):
    aa = ops.sum(ops.square(a), axis=1, keepdims=True)
    bb = ops.sum(ops.square(b), axis=1)
    return ops.maximum(aa - 2.0 * ops.matmul(a, ops.transpose(b)) + bb[None, :], 0.0)


def _reference_blocks(refs, metric, r_step):
    """Per chunk of references: (first index, transposed chunk, squared norms).

    Prepared once per search, not once per query block: transposing 60,000
    references for every block of queries would copy them thousands of times.
    """
    blocks = []
    for r0 in range(0, ops.shape(refs)[0], r_step):
        chunk = refs[r0:r0 + r_step]
        norms = None if metric == "cosine" else ops.sum(ops.square(chunk), axis=1)[None, :]
        blocks.append((r0, ops.transpose(chunk), norms))
    return blocks


def _ranking_distances(q, chunk_t, norms):
    """Distances used to rank candidates, monotone in the true ones: cosine
    1 - q.r (rows already unit length); squared Euclidean (saves a square root)."""
    products = ops.matmul(q, chunk_t)
    if norms is None:
        return 1.0 - products
    return ops.maximum(ops.sum(ops.square(q), axis=1, keepdims=True) - 2.0 * products + norms, 0.0)


def _prepare(x, metric, centre):
    """Flatten; cosine: unit rows; euclidean: subtract `centre`, which leaves
    distances unchanged but keeps |a|^2 + |b|^2 - 2 a.b accurate in float32."""
    x = _flat(x)
    if metric == "cosine":
        return _unit(x)
    return x - centre if centre is not None else x


def nearest_neighbours(queries, references, k, metric="euclidean", block=BLOCK):
    """The `k` nearest references of each query, nearest first.

    Returns (indices (n, k) int64, distances (n, k) float32) as numpy arrays.
    Memory: the references (and one transposed copy), one block of at most
    `block` distances, and the running top-k.
    """
    check_metric(metric)
    n, m = len(queries), len(references)
    if not 1 <= k <= m:
        raise UserError(f"k={k}: must be between 1 and the number of reference points ({m})")
    centre = ops.mean(_flat(references), axis=0) if metric == "euclidean" else None
    q_step = max(1, min(n, block // min(m, block)))
    r_step = max(k, block // q_step)
    blocks = _reference_blocks(_prepare(references, metric, centre), metric, r_step)
    out_i = np.empty((n, k), dtype=np.int64)
    out_d = np.empty((n, k), dtype=np.float32)
    starts = range(0, n, q_step)
    if len(starts) >= PROGRESS_BLOCKS:
        starts = progress(starts, desc=f"{metric} distances: {n:,} x {m:,} points")
    for q0 in starts:
        q = _prepare(queries[q0:q0 + q_step], metric, centre)
        best_d = best_i = None
        for r0, chunk_t, norms in blocks:
            d = _ranking_distances(q, chunk_t, norms)
            kk = min(k, ops.shape(d)[1])
            neg, idx = ops.top_k(-d, kk)
            cand_d, cand_i = -neg, idx + r0
            if best_d is not None:  # merge with the best so far, keep k
                cand_d = ops.concatenate([best_d, cand_d], axis=1)
                cand_i = ops.concatenate([best_i, cand_i], axis=1)
                neg, pick = ops.top_k(-cand_d, k)
                cand_d, cand_i = -neg, ops.take_along_axis(cand_i, pick, axis=1)
            best_d, best_i = cand_d, cand_i
        out_i[q0:q0 + q_step] = ops.convert_to_numpy(best_i)
        out_d[q0:q0 + q_step] = ops.convert_to_numpy(best_d)
    if metric == "euclidean":
        out_d = np.sqrt(np.maximum(out_d, 0.0))
    return out_i, out_d


def vote(neighbour_labels, k, num_classes):
    """Majority vote among the first `k` neighbours' labels (n, >=k): (n,) int.
    Ties go to the smallest class index (argmax takes the first maximum)."""
    labels = ops.convert_to_tensor(np.asarray(neighbour_labels)[:, :k], dtype="int32")
    counts = ops.sum(ops.one_hot(labels, num_classes), axis=1)
    return ops.convert_to_numpy(ops.argmax(counts, axis=1)).astype(np.int64)


class NearestCentroid:
    """Each class is its mean vector; a point gets the class of the nearest mean."""

    def __init__(self, metric="euclidean"):
        self.metric = check_metric(metric)
        self.centroids = None

    def fit(self, x, y, num_classes=None):
        y = np.asarray(y).astype(np.int64)
        num_classes = int(num_classes or y.max() + 1)
        onehot = ops.one_hot(ops.convert_to_tensor(y, dtype="int32"), num_classes)  # (N, C)
        sums = ops.matmul(ops.transpose(onehot), _flat(x))  # (C, D)
        counts = ops.sum(onehot, axis=0)[:, None]
        if np.any(ops.convert_to_numpy(counts) == 0):
            missing = np.flatnonzero(ops.convert_to_numpy(counts)[:, 0] == 0).tolist()
            raise UserError(f"nearest centroid: no training example of class(es) {missing}")
        self.centroids = sums / counts
        return self

    def predict(self, x, block=BLOCK):
        index, _ = nearest_neighbours(x, self.centroids, 1, self.metric, block)
        return index[:, 0]

    def to_keras(self, input_shape, name="nearest_centroid"):
        """The classifier as a Keras model, Flatten -> Dense: the highest score is the nearest centroid.

        Both metrics make it a linear classifier. Euclidean: |x - c|^2 = |x|^2 - 2 x.c + |c|^2,
        and |x|^2 is the same for every class, so the nearest centroid has the highest
        x.c - |c|^2 / 2: the kernel's columns are the centroids. Cosine: the nearest has the
        highest x.c / |c|: the kernel's columns are the unit-length centroids, the bias 0.
        """
        import keras

        c = ops.convert_to_numpy(self.centroids).astype(np.float64)
        if self.metric == "cosine":
            kernel, bias = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12), np.zeros(len(c))
        else:
            kernel, bias = c, -0.5 * np.sum(np.square(c), axis=1)
        inputs = keras.Input(shape=tuple(input_shape), name="pixels")
        dense = keras.layers.Dense(len(c), name="centroids")
        model = keras.Model(inputs, dense(keras.layers.Flatten(name="flatten")(inputs)), name=name)
        dense.set_weights([kernel.T.astype(np.float32), bias.astype(np.float32)])
        return model

    def centroid_images(self, image_shape):
        """The centroids as (C, *image_shape) images."""
        return ops.convert_to_numpy(self.centroids).reshape((-1,) + tuple(image_shape))

    def centroid_distances(self):
        """(C, C) distances between the class centroids."""
        d = pairwise_distances(self.centroids, self.centroids, self.metric)
        d = ops.convert_to_numpy(d)
        np.fill_diagonal(d, 0.0)
        return d


class KNearestNeighbours:
    """k-NN with uniform votes over a stored training set (brute force, chunked)."""

    def __init__(self, k=1, metric="euclidean", block=BLOCK):
        if k < 1:
            raise UserError(f"k={k}: must be at least 1")
        self.k, self.metric, self.block = int(k), check_metric(metric), int(block)

    def fit(self, x, y, num_classes=None):
        self.x = np.asarray(x, dtype=np.float32)
        self.y = np.asarray(y).astype(np.int64)
        self.num_classes = int(num_classes or self.y.max() + 1)
        return self

    def neighbours(self, x, k=None):
        """(indices, distances) of the `k` (default: self.k) nearest training points."""
        return nearest_neighbours(np.asarray(x, dtype=np.float32), self.x, k or self.k,
                                  self.metric, self.block)

    def predict(self, x):
        index, _ = self.neighbours(x)
        return vote(self.y[index], self.k, self.num_classes)

    def predict_for_each_k(self, x, ks):
        """{k: predictions} for several k from one neighbour search (k <= max(ks))."""
        index, _ = self.neighbours(x, max(ks))
        labels = self.y[index]
        return {k: vote(labels, k, self.num_classes) for k in ks}
