"""The Fréchet distance and the classifier score, against hand computations."""

import numpy as np
import pytest

from kerasdl.errors import UserError
from kerasdl.tasks.gan import frechet


def _gaussian(n=4000, d=6, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


def test_distance_of_a_set_with_itself_is_zero():
    a = _gaussian()
    assert frechet.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_distance_grows_with_a_shift_as_its_squared_length():
    a = _gaussian()
    distances = [frechet.frechet_distance(a, a + shift) for shift in (0.0, 0.5, 1.0, 2.0)]
    assert np.all(np.diff(distances) > 0)
    # Same covariance: only ||mu1 - mu2||^2 = d * shift^2 remains.
    assert distances[2] == pytest.approx(6 * 1.0 ** 2, rel=1e-6)
    assert distances[3] == pytest.approx(6 * 2.0 ** 2, rel=1e-6)


def test_diagonal_gaussians_match_the_closed_form():
    mu1, mu2 = np.array([0.0, 1.0]), np.array([1.0, -1.0])
    s1, s2 = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    # sum (mu diff)^2 + sum (a + b - 2 sqrt(a b)) = (1 + 4) + (1 + 9 - 6) + (4 + 1 - 4)
    expected = 5.0 + 4.0 + 1.0
    assert frechet.frechet_distance_from_statistics(mu1, s1, mu2, s2) == pytest.approx(expected)


def test_a_scaled_set_is_farther_than_itself():
    a = _gaussian()
    assert frechet.frechet_distance(a, 2 * a) == pytest.approx(6 * (1 + 4 - 4), rel=0.05)


def test_singular_covariances_give_a_finite_value():
    a = np.zeros((10, 3))
    a[:, 0] = np.arange(10)  # rank 1
    assert np.isfinite(frechet.frechet_distance(a, a + 1.0))


def test_statistics_need_two_samples():
    with pytest.raises(UserError, match="at least 2 samples"):
        frechet.statistics(np.ones((1, 3)))


def test_classifier_scores_by_hand():
    confident_and_diverse = np.eye(4)[[0, 1, 2, 3] * 5]
    s = frechet.classifier_scores(confident_and_diverse)
    assert s["confidence"] == pytest.approx(1.0)
    assert s["diversity"] == pytest.approx(4.0)
    assert s["score"] == pytest.approx(4.0)
    collapsed = np.eye(4)[[2] * 20]
    s = frechet.classifier_scores(collapsed)
    assert s["diversity"] == pytest.approx(1.0) and s["score"] == pytest.approx(1.0)
    unsure = np.full((10, 4), 0.25)
    s = frechet.classifier_scores(unsure)
    assert s["confidence"] == pytest.approx(0.25) and s["score"] == pytest.approx(1.0)


def test_feature_classifier_reads_a_small_low_contrast_set():
    """Few steps (72 images, 40 epochs of 5 steps) and faint features: the batch-norm
    statistics must catch up (with momentum 0.99 this set scored 50% in inference)."""
    import keras

    from kerasdl.data import Dataset
    from kerasdl.training.fit import bn_momentum

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    y = np.arange(96) % 2
    x = rng.integers(0, 4, size=(96, 16, 16, 1)).astype(np.uint8)
    x[y == 0, 7:9, 3:13] += 12  # a faint horizontal or vertical bar (global pooling cannot
    x[y == 1, 3:13, 7:9] += 12  # tell top from bottom, and the augmentation flips left and right)
    ds = Dataset(name="bars", x_train=x[:72], y_train=y[:72], x_test=x[72:], y_test=y[72:],
                 class_names=["horizontal", "vertical"], value_range=(0, 255), provenance="test bars")
    model, accuracy = frechet.train_feature_classifier(ds, epochs=40, widths=(4, 8),
                                                       convs_per_block=1, batch_size=16)
    assert accuracy >= 0.75, accuracy  # at chance (0.5) when the statistics lag
    # The momentum is the run's: 40 epochs of 5 steps.
    momenta = [layer.momentum for layer in model._flatten_layers()
               if isinstance(layer, keras.layers.BatchNormalization)]
    assert momenta and momenta == pytest.approx([bn_momentum(200)] * len(momenta))


def test_the_classifier_is_cached_once_and_a_broken_cache_file_is_trained_again(home):
    from kerasdl.data import Dataset

    rng = np.random.default_rng(0)
    y = np.arange(24) % 2
    x = rng.integers(0, 255, size=(24, 16, 16, 1)).astype(np.uint8)
    ds = Dataset(name="noise", x_train=x[:16], y_train=y[:16], x_test=x[16:], y_test=y[16:],
                 class_names=["a", "b"], value_range=(0, 255), provenance="test noise")

    def cached():
        return frechet.cached_feature_classifier(ds, epochs=1, widths=(2, 4), convs_per_block=1, batch_size=8)

    first, accuracy, from_cache = cached()
    assert not from_cache
    second, again, from_cache = cached()
    assert from_cache and again == accuracy
    np.testing.assert_array_equal(second.get_weights()[0], first.get_weights()[0])
    (saved,) = (home / "data" / "cache" / "feature-classifier").glob("*.keras")
    saved.write_bytes(b"half a model")
    _, _, from_cache = cached()
    assert not from_cache and saved.stat().st_size > 1000  # trained and written again
    assert cached()[2]
    assert [p.name for p in saved.parent.iterdir() if p.name.startswith(".tmp")] == []
