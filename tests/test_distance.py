"""Nearest centroid and k-NN by hand: distances, chunking, scikit-learn equivalence, the task."""

import numpy as np
import pytest
from keras import ops
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neighbors import NearestCentroid as SkNearestCentroid

from kerasdl.errors import UserError
from kerasdl.tasks.distance import learners


def blobs(n, d=12, classes=4, seed=0):
    """Points around one centre per class: classes overlap, so k matters."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    centres = rng.normal(scale=1.5, size=(classes, d))
    return (centres[y] + rng.normal(size=(n, d))).astype(np.float32), y


@pytest.mark.backends
def test_pairwise_distances_match_hand_computation():
    a = np.array([[0.0, 0.0], [3.0, 4.0]], np.float32)
    b = np.array([[3.0, 0.0], [0.0, 2.0], [-1.0, 0.0]], np.float32)
    euclid = ops.convert_to_numpy(learners.pairwise_distances(a, b, "euclidean"))
    np.testing.assert_allclose(euclid, [[3, 2, 1], [4, np.sqrt(13), np.sqrt(32)]], rtol=1e-5)
    cosine = ops.convert_to_numpy(learners.pairwise_distances(a[1:], b, "cosine"))
    # cos between (3,4) and (3,0) is 3/5, (0,2): 4/5, (-1,0): -3/5
    np.testing.assert_allclose(cosine, [[1 - 0.6, 1 - 0.8, 1 + 0.6]], atol=1e-6)


@pytest.mark.backends
@pytest.mark.parametrize("metric", learners.METRICS)
def test_chunked_neighbours_equal_one_block(metric):
    x, _ = blobs(200)
    q, _ = blobs(37, seed=1)
    whole_i, whole_d = learners.nearest_neighbours(q, x, 5, metric, block=10**7)
    # Blocks far smaller than the matrix: several query and reference chunks, merged top-k.
    small_i, small_d = learners.nearest_neighbours(q, x, 5, metric, block=64)
    np.testing.assert_array_equal(small_i, whole_i)
    np.testing.assert_allclose(small_d, whole_d, atol=1e-5)
    from sklearn.metrics import pairwise_distances

    exact = pairwise_distances(q.astype(np.float64), x.astype(np.float64), metric=metric)
    np.testing.assert_array_equal(whole_i, np.argsort(exact, axis=1)[:, :5])
    np.testing.assert_allclose(whole_d, np.sort(exact, axis=1)[:, :5], atol=1e-4)


@pytest.mark.backends
@pytest.mark.parametrize("metric", learners.METRICS)
def test_knn_predictions_equal_scikit_learn(metric):
    x, y = blobs(240)
    q, _ = blobs(90, seed=2)
    for k in (1, 4, 7):
        ours = learners.KNearestNeighbours(k, metric, block=500).fit(x, y).predict(q)
        theirs = KNeighborsClassifier(k, metric=metric, algorithm="brute").fit(x, y).predict(q)
        np.testing.assert_array_equal(ours, theirs)
    for_each = learners.KNearestNeighbours(7, metric).fit(x, y).predict_for_each_k(q, [1, 4, 7])
    np.testing.assert_array_equal(
        for_each[4], KNeighborsClassifier(4, metric=metric, algorithm="brute").fit(x, y).predict(q))


@pytest.mark.backends
def test_nearest_centroid_equals_scikit_learn():
    x, y = blobs(240)
    q, _ = blobs(90, seed=3)
    ours = learners.NearestCentroid("euclidean").fit(x, y)
    theirs = SkNearestCentroid().fit(x, y)
    np.testing.assert_allclose(ops.convert_to_numpy(ours.centroids), theirs.centroids_, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(ours.predict(q, block=50), theirs.predict(q))


@pytest.mark.backends
def test_cosine_centroid_by_hand():
    x, y = blobs(120)
    q, _ = blobs(30, seed=4)
    means = np.stack([x[y == c].mean(axis=0) for c in range(4)])
    unit = lambda v: v / np.linalg.norm(v, axis=1, keepdims=True)  # noqa: E731
    expected = np.argmax(unit(q) @ unit(means).T, axis=1)
    np.testing.assert_array_equal(learners.NearestCentroid("cosine").fit(x, y).predict(q), expected)
    d = learners.NearestCentroid("euclidean").fit(x, y).centroid_distances()
    np.testing.assert_allclose(d, np.linalg.norm(means[:, None] - means[None], axis=2), atol=1e-4)


@pytest.mark.backends
@pytest.mark.parametrize("metric", learners.METRICS)
def test_nearest_centroid_as_a_keras_model_predicts_the_same_classes(metric, tmp_path):
    import keras

    x, y = blobs(120)
    q, _ = blobs(40, seed=5)
    images = lambda v: v.reshape(-1, 3, 4, 1)  # noqa: E731 -- image-shaped inputs: the model flattens them
    centroid = learners.NearestCentroid(metric).fit(x, y)
    model = centroid.to_keras((3, 4, 1))
    model.save(tmp_path / "model.keras")
    model = keras.saving.load_model(tmp_path / "model.keras")
    scores = model.predict(images(q), verbose=0)
    assert scores.shape == (40, 4)
    np.testing.assert_array_equal(scores.argmax(axis=1), centroid.predict(q))
    # A point at a centroid scores highest for that class.
    means = ops.convert_to_numpy(centroid.centroids)
    np.testing.assert_array_equal(model.predict(images(means), verbose=0).argmax(axis=1), range(4))


@pytest.mark.backends
def test_vote_breaks_ties_towards_the_smallest_class():
    labels = np.array([[2, 1, 1, 2], [3, 0, 0, 3], [1, 1, 2, 2]])
    np.testing.assert_array_equal(learners.vote(labels, 4, 4), [1, 0, 1])
    np.testing.assert_array_equal(learners.vote(labels, 1, 4), [2, 3, 1])


def test_bad_arguments_are_user_errors():
    x, y = blobs(10)
    with pytest.raises(UserError, match="metric"):
        learners.KNearestNeighbours(1, "manhattan")
    with pytest.raises(UserError, match="k=11"):
        learners.nearest_neighbours(x, x, 11)
    with pytest.raises(UserError, match="no training example"):
        learners.NearestCentroid().fit(x, y, num_classes=6)


def test_choose_prefers_first_metric_and_smallest_k_on_ties():
    from kerasdl.tasks.distance import choose

    curves = {"euclidean": {"centroid": 0.8, "knn": [0.9, 0.95, 0.95]},
              "cosine": {"centroid": 0.8, "knn": [0.95, 0.9, 0.9]}}
    assert choose(curves) == ("euclidean", "euclidean", 2)


def test_quick_run_writes_complete_folder(quick_run):
    import keras

    from kerasdl import data
    from kerasdl.tasks.distance import QUICK

    folder, metrics = quick_run("distance", "--set", "dataset=digits",
                                files=("accuracy_vs_k.png", "centroids.png", "centroid_distances.png",
                                       "embeddings.png", "confusion_knn.png", "accuracy_vs_k.csv",
                                       "model.keras"))
    assert metrics["sklearn_agreement"]["knn"] == 1.0
    assert metrics["knn_test_accuracy"] > 0.8
    assert set(metrics["reduced"]) == {"pca", "tsne"}
    # model.keras is the chosen nearest centroid: it scores the run's test accuracy on the same images.
    assert metrics["model_agreement"] == 1.0
    ds = data.load("digits", train_limit=QUICK["train_limit"], test_limit=QUICK["test_limit"])
    predicted = keras.saving.load_model(folder / "model.keras").predict(ds.x_test, verbose=0).argmax(axis=1)
    assert np.mean(predicted == ds.y_test) == metrics["centroid_test_accuracy"]
    assert "`model.keras` is the nearest centroid" in (folder / "report.md").read_text()


@pytest.mark.parametrize("setting, message", [
    ("metrics=manhattan", "metrics=manhattan: choose euclidean or cosine"),
    ("metrics=", "metrics=(none): expected one or more of euclidean, cosine"),
    ("embeddings=pca,isomap", "embeddings=pca,isomap: choose pca, tsne or umap"),
    ("validation_fraction=1", "validation_fraction=1.0: expected a value in (0, 1)"),
    ("k_max=0", "k_max=0: expected a positive number"),
])
def test_bad_config_is_one_line(run_cli, setting, message):
    code, _, err = run_cli("distance", "--set", setting)
    assert code == 2 and message in err and "Traceback" not in err


@pytest.mark.slow
def test_umap_view_on_tiny_data():
    from kerasdl.tasks.distance import embed

    x, y = blobs(80)
    z_train, z_test = embed("umap", x[:60], x[60:], seed=0)
    assert z_train.shape == (60, 2) and z_test.shape == (20, 2)
