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
from kerasdl.training import feed
from kerasdl.training import fit as fitting
from kerasdl.training.progress import fit_options


def embeddings(encoder, x, batch_size=256):
    """The encoder's embeddings of `x` (N, D) as float32 numpy, in inference mode (`x`: images,
    or a feed.RowBatches reading them from disk)."""
    return np.asarray(encoder.predict(x, batch_size=batch_size, verbose=0), np.float32)


def probe_classifier(dim, num_classes, name="probe"):
    """Dense softmax: the linear probe on standardised embeddings of size `dim`."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=(dim,), name="embedding")
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(inputs)
    return keras.Model(inputs, outputs, name=name)


def standardised_probe(probe, mean, variance, name="probe"):
    """embeddings -> standardise by (mean, variance) -> `probe`'s softmax layer (its weights):
    the probe as a model of raw embeddings."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=(len(mean),), name="embedding")
    x = layers.Normalization(mean=mean, variance=variance, name="standardise")(inputs)
    return keras.Model(inputs, probe.get_layer("predictions")(x), name=name)


class Restartable:
    """A compiled model trained several times, each from the same start: its initial
    variables (weights, batch-norm statistics, augmentation's seed generators) and its
    optimizer's are kept once built, and `restart()` puts them back. One compiled model
    traces its training step once: on TensorFlow each trace took 2-3 s of a `--quick` run
    (reports/bench.md), and the probes and fine-tunings of the trained and the random
    encoder are one architecture trained twice."""

    def __init__(self, model):
        model.optimizer.build(model.trainable_variables)
        self.model = model
        self.variables = [*model.variables, *model.optimizer.variables]
        self.initial = [np.array(v) for v in self.variables]

    def restart(self):
        for variable, value in zip(self.variables, self.initial, strict=True):
            variable.assign(value)
        return self.model


def linear_probe_trainer(dim, num_classes, learning_rate=1e-3):
    """The linear probe on embeddings of size `dim`, compiled, to `linear_probe` with."""
    import keras

    probe = probe_classifier(dim, num_classes)
    probe.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return Restartable(probe)


def linear_probe(trainer, h_train, y_train, h_test, y_test, epochs=30, batch_size=256):
    """Train the probe (`linear_probe_trainer`) afresh on frozen embeddings, standardised by the
    training embeddings' mean and variance; returns (probe model of raw embeddings, see
    `standardised_probe`; train and test accuracy)."""
    # Standardised here, not by an adapted Normalization layer inside the compiled probe:
    # TensorFlow and JAX trace its statistics as constants, so the restarted probe kept the
    # first encoder's, and the random encoder's probe fell to chance (12% on CIFAR-10).
    import keras

    mean, variance = h_train.mean(axis=0), h_train.var(axis=0)

    def scale(h):  # as keras.layers.Normalization computes it
        return (h - mean) / np.maximum(np.sqrt(variance), keras.backend.epsilon())

    probe = trainer.restart()
    # fit_options: progress, and a checkpoint that a resumed run restores instead of training again
    probe.fit(scale(h_train), y_train, batch_size=batch_size, epochs=epochs, shuffle=True, **fit_options())
    return standardised_probe(probe, mean, variance), {"train": _accuracy(probe, scale(h_train), y_train),
                                                       "test": _accuracy(probe, scale(h_test), y_test)}


def _accuracy(model, x, y):
    """Share of `x` (images or feed.RowBatches in file order) whose top class is `y`."""
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


def fine_tuner(encoder, num_classes, steps, learning_rate=2e-3, weight_decay=5e-4, augment="flip+shift",
               seed=0):
    """A copy of `encoder`'s network plus a softmax layer, compiled for `steps` training steps,
    to `fine_tune` with (any encoder of that architecture)."""
    import keras

    copy = keras.models.clone_model(encoder)
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
    trainer = Restartable(model)
    trainer.encoder = copy
    return trainer


def fine_tune(trainer, encoder, train, test, epochs, batch_size=128, streamed=False, seed=0):
    """`trainer` (`fine_tuner`) from its start, the encoder part holding `encoder`'s weights,
    all trained on the split `train` (x, y, rows), scored on `test` (x, y) (both read from disk
    batch by batch if `streamed`: see kerasdl.training.feed): the same softmax layer's start,
    augmentations and schedule for every encoder; the encoder given is left as it was.
    Returns {"test_accuracy", "seconds", "steps"}."""
    model = trainer.restart()
    trainer.encoder.set_weights(encoder.get_weights())
    started = time.perf_counter()
    data = feed.arguments(train, batch_size, streamed, shuffle=True, seed=seed)
    model.fit(**data, epochs=epochs, **fit_options(feed.callbacks(data)))
    seconds = time.perf_counter() - started
    x_test, y_test = test
    accuracy = _accuracy(model, feed.images(x_test, streamed, 1024), y_test)
    return {"test_accuracy": accuracy, "seconds": round(seconds, 1),
            "steps": epochs * int(np.ceil(feed.size(train) / batch_size))}
