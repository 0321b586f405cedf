"""How good are generated images? A Fréchet distance and a classifier score, both
on a classifier that kerasdl trains on the same data set.

The FID of Heusel et al. (2017) compares Gaussians fitted to Inception-v3
features of real and generated images. Inception's weights cannot be
downloaded here, so the features are those of a small CNN
(`kerasdl.models.classifiers.cnn`) trained on the generator's own training
set: the numbers compare runs of this project with each other, not with
published FIDs. The same classifier's predictions give an Inception-Score-like
summary: confidence (mean top probability: does each image look like *some*
class?), diversity (the effective number of classes predicted overall) and
their combination exp(E_x KL(p(y|x) || p(y))).

Pure numpy/scipy except `train_feature_classifier`, `cached_feature_classifier` and
`features`, which use Keras.
"""

import hashlib
import json
import os
import sys
import warnings

import numpy as np
from scipy import linalg

from kerasdl import paths, runs
from kerasdl.errors import UserError


def statistics(features):
    """Mean and covariance (rows are samples) of a feature set (N, D), float64."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise UserError(f"Fréchet statistics need a 2-D array of at least 2 samples, "
                        f"got shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance_from_statistics(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), the Fréchet (2-Wasserstein)
    distance between two Gaussians. A singular product gets eps on the diagonal
    (as pytorch-fid does); the tiny imaginary part sqrtm leaves is dropped."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    diff = mu1 - mu2
    with warnings.catch_warnings():  # a singular product is expected for few samples
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():
            offset = np.eye(len(sigma1)) * eps
            covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    covmean = np.real(covmean)
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean)
    return float(max(value, 0.0))  # round-off can leave -1e-12 for identical sets


def frechet_distance(features_a, features_b):
    """The Fréchet distance between Gaussians fitted to two feature sets (N, D)."""
    return frechet_distance_from_statistics(*statistics(features_a), *statistics(features_b))


def classifier_scores(probabilities, eps=1e-12):
    """From class probabilities (N, K) of generated (or real) images:
    confidence = mean max_y p(y|x); diversity = exp(entropy of the mean p(y))
    (1 .. K: how many classes are used); score = exp(E_x KL(p(y|x) || p(y)))
    (the Inception Score's formula, with this classifier)."""
    p = np.asarray(probabilities, dtype=np.float64)
    marginal = p.mean(axis=0)
    kl = np.sum(p * (np.log(p + eps) - np.log(marginal + eps)), axis=1)
    return {"confidence": float(p.max(axis=1).mean()),
            "diversity": float(np.exp(-np.sum(marginal * np.log(marginal + eps)))),
            "score": float(np.exp(kl.mean()))}


# --------------------------------------------------------------------------- the classifier


def train_feature_classifier(dataset, epochs=8, widths=(32, 64, 128), convs_per_block=2,
                             batch_size=64, seed=0, streamed=False):
    """A VGG-style CNN (kerasdl.models.classifiers.cnn) trained on `dataset`'s
    training images (`streamed`: read batch by batch from disk, kerasdl.training.feed);
    returns (model, test accuracy). Its global-average-pool layer ("pool") is the feature
    layer, `widths[-1]` features wide.

    Batch norm's momentum comes from the run's steps: small sets give few (the
    320 Olivetti faces, 400 steps in 80 epochs), and with Keras's usual 0.99 the
    moving statistics still held their start, so the classifier scored at chance
    in inference although it had learnt (reports/gan.md)."""
    import keras

    from kerasdl.models import classifiers
    from kerasdl.training import feed
    from kerasdl.training.fit import bn_momentum
    from kerasdl.training.progress import fit_options

    if dataset.num_classes < 2:
        raise UserError(f"data set {dataset.name!r} has {dataset.num_classes} class: a Fréchet "
                        "distance on classifier features needs a labelled set of 2+ classes")
    steps = epochs * int(np.ceil(len(dataset.x_train) / batch_size))
    model = classifiers.cnn(dataset.input_shape, dataset.num_classes, widths=tuple(widths),
                            convs_per_block=convs_per_block, value_range=dataset.value_range,
                            augment="flip+shift", seed=seed, bn_momentum=bn_momentum(steps),
                            name="feature_classifier")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    train = feed.arguments((dataset.x_train, dataset.y_train, None), batch_size, streamed, shuffle=True,
                           seed=seed)
    model.fit(**train, epochs=epochs, **fit_options(feed.callbacks(train)))
    test = feed.arguments((dataset.x_test, dataset.y_test, None), batch_size, streamed)
    _, accuracy = model.evaluate(**test, verbose=0)
    return model, float(accuracy)


CACHE_KIND = "feature-classifier"


def data_fingerprint(dataset):
    """A hash of the data set's pixels and labels: what the classifier learns from."""
    digest = hashlib.sha256()
    for array in (dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test):
        array = np.ascontiguousarray(array)
        digest.update(repr((array.shape, array.dtype.str)).encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def cached_feature_classifier(dataset, epochs, widths, convs_per_block, batch_size=64, seed=0,
                              streamed=False):
    """`train_feature_classifier`'s (model, test accuracy, whether it came from the cache).

    Trained once per data set, recipe, backend and precision, then kept in
    `paths.cache_dir()/feature-classifier/` (a .keras file, loaded in safe mode, and its
    accuracy): every later run on the same data scores with the same classifier without
    training it again (8 epochs on the flowers: minutes of a GAN run). The key holds what
    trains it, so another backend or seed trains its own, as an uncached run would."""
    import keras

    from kerasdl.data import cache

    key = cache.key_of(CACHE_KIND, data_fingerprint(dataset), int(epochs), tuple(widths), int(convs_per_block),
                       int(batch_size), int(seed), keras.backend.backend(), keras.config.dtype_policy().name,
                       keras.__version__, *(("streamed",) if streamed else ()))  # another batch order
    folder = paths.cache_dir() / CACHE_KIND
    model_path, accuracy_path = folder / f"{key}.keras", folder / f"{key}.json"
    try:
        accuracy = float(json.loads(accuracy_path.read_text())["test_accuracy"])
        return keras.saving.load_model(model_path, safe_mode=True), accuracy, True
    except Exception:  # noqa: BLE001  absent, or broken: ours to rebuild, not the user's to fix
        pass
    model, accuracy = train_feature_classifier(dataset, epochs, widths, convs_per_block, batch_size, seed,
                                               streamed)
    tmp = folder / f".tmp-{os.getpid()}-{key}.keras"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        model.save(tmp)
        os.replace(tmp, model_path)
        runs.atomic_write(accuracy_path, json.dumps({"test_accuracy": accuracy}))
    except OSError as exc:  # a cache that cannot be written only costs time
        print(f"kerasdl: warning: could not cache the feature classifier in {folder}: {exc}", file=sys.stderr)
    finally:
        tmp.unlink(missing_ok=True)
    return model, accuracy, False


def features(classifier, images, layer="pool", batch_size=128):
    """(features (N, D) of `layer`, class probabilities (N, K)) for images in the
    classifier's input range."""
    import keras

    both = keras.Model(classifier.inputs, [classifier.get_layer(layer).output, classifier.outputs[0]])
    feats, probs = both.predict(np.asarray(images, dtype=np.float32), batch_size=batch_size, verbose=0)
    return np.asarray(feats), np.asarray(probs)
