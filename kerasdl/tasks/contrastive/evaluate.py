"""One evaluation for every encoder (SimCLR's, the triplet one, a random one):

    linear probe  a softmax layer trained on the frozen, standardised embeddings
    k-NN          majority vote of the k nearest training embeddings (cosine),
                  kerasdl.tasks.distance's brute-force search in keras.ops
    fine-tuning   the whole encoder plus a softmax layer trained on 1%, 10%, 100%
                  of the labels; from a random encoder this is training from scratch

Nothing here is chosen on the test set: every recipe is fixed beforehand.
"""

import time

import numpy as np

from kerasdl.models import classifiers
from kerasdl.tasks.contrastive.model import set_bn_momentum
from kerasdl.tasks.distance.learners import KNearestNeighbours
from kerasdl.training import fit as fitting
from kerasdl.training.progress import fit_options


def embeddings(encoder, x, batch_size=256):
    """The encoder's embeddings of `x` (N, D) as float32 numpy, in inference mode."""
    return np.asarray(encoder.predict(x, batch_size=batch_size, verbose=0), np.float32)


def probe_classifier(dim, num_classes, name="probe"):
    """Standardise -> Dense softmax: the linear probe on embeddings of size `dim`."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=(dim,), name="embedding")
    x = layers.Normalization(name="standardise")(inputs)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def linear_probe(h_train, y_train, h_test, y_test, num_classes, epochs=30, batch_size=256,
                 learning_rate=1e-3):
    """Train the probe on frozen embeddings; returns (probe model, train and test accuracy)."""
    import keras

    probe = probe_classifier(h_train.shape[1], num_classes)
    probe.get_layer("standardise").adapt(h_train)
    probe.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    probe.fit(h_train, y_train, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0)
    return probe, {"train": _accuracy(probe, h_train, y_train), "test": _accuracy(probe, h_test, y_test)}


def _accuracy(model, x, y):
    return float(np.mean(model.predict(x, batch_size=1024, verbose=0).argmax(axis=1) == y))


def knn_accuracy(h_train, y_train, h_test, y_test, num_classes, k=20):
    """Test accuracy of k-NN (cosine, uniform votes) in embedding space."""
    knn = KNearestNeighbours(min(k, len(h_train)), "cosine").fit(h_train, y_train, num_classes)
    return float(np.mean(knn.predict(h_test) == y_test))


def nearest(h_queries, h_references, k):
    """Indices (Q, k) of each query's k nearest references by cosine, nearest first."""
    return KNearestNeighbours(k, "cosine").fit(h_references, np.zeros(len(h_references))).neighbours(
        h_queries)[0]


def label_subset(y, fraction, seed):
    """Sorted indices of `fraction` of the labelled images, every class kept (at least one each)."""
    rng = np.random.default_rng(seed)
    keep = [rng.permutation(np.flatnonzero(y == c))[:max(1, int(round(fraction * np.sum(y == c))))]
            for c in np.unique(y)]
    return np.sort(np.concatenate(keep))


def fine_tune(encoder, x, y, x_test, y_test, num_classes, epochs, batch_size=128, learning_rate=2e-3,
              weight_decay=5e-4, augment="flip+shift", seed=0):
    """A copy of `encoder` plus a softmax layer, all trained on (x, y); the encoder given is
    left as it was. Returns {"test_accuracy", "seconds", "steps"}."""
    import keras

    copy = keras.models.clone_model(encoder)
    copy.set_weights(encoder.get_weights())
    steps = epochs * int(np.ceil(len(x) / batch_size))
    set_bn_momentum(copy, fitting.bn_momentum(steps))
    inputs = keras.Input(shape=copy.input_shape[1:], name="pixels")
    h = inputs
    if augment:
        h = classifiers.augmentation(augment, seed=seed, name="finetune_augment")(h)
    h = copy(h)
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32",
                                 name="predictions")(h)
    model = keras.Model(inputs, outputs, name="finetuned")
    model.compile(optimizer=fitting.cosine_adamw(learning_rate, steps, weight_decay=weight_decay),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=fitting.jit_compile_default())
    started = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=True, **fit_options())
    seconds = time.perf_counter() - started
    accuracy = _accuracy(model, x_test, y_test)
    return {"test_accuracy": accuracy, "seconds": round(seconds, 1), "steps": steps}
