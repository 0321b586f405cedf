"""The multi-class perceptron by hand: its update against a hand computation and
finite differences, the fast online pass against the plain loop, the task."""

import numpy as np
import pytest
from keras import ops

from kerasdl.errors import UserError
from kerasdl.tasks.perceptron import learner as P


def criterion(weights, xb, y):
    """The perceptron criterion L(W) = sum_i (max_j s_ij - s_i,y_i) >= 0 (learner.py's docstring),
    in numpy: the function whose gradient `learner.gradient` is."""
    scores = np.asarray(xb, np.float64) @ np.asarray(weights, np.float64)
    return float(np.sum(scores.max(axis=1) - scores[np.arange(len(y)), y]))


def problem(n=40, d=5, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x, rng.integers(0, classes, n)


@pytest.mark.backends
def test_batch_step_matches_hand_computation():
    # Rows: feature 1, feature 2, bias; columns: classes 0, 1, 2.
    w = np.eye(3, dtype=np.float32)
    x = np.array([[1.0, 2.0], [-1.0, 0.0]], np.float32)
    y = np.array([1, 0])
    xb = P.with_bias(x)  # [[1, 2, 1], [-1, 0, 1]]
    # Point 1 scores [1, 2, 1] -> class 1: right, no change. Point 2 scores
    # [-1, 0, 1] -> class 2, not 0: w_0 += 0.5 x2 and w_2 -= 0.5 x2.
    expected = np.array([[0.5, 0, 0.5], [0, 1, 0], [0.5, 0, 0.5]], np.float32)
    np.testing.assert_allclose(ops.convert_to_numpy(P.batch_step(w, xb, y, 0.5)), expected)
    # The criterion: point 2 contributes max score 1 minus its true score -1.
    assert criterion(w, ops.convert_to_numpy(xb), y) == pytest.approx(2.0)


@pytest.mark.backends
def test_gradient_equals_finite_differences_of_the_criterion():
    x, y = problem()
    xb = ops.convert_to_numpy(P.with_bias(x))
    w = np.random.default_rng(1).normal(size=(6, 3)).astype(np.float32)
    grad = ops.convert_to_numpy(P.gradient(w, xb, y))
    eps = 1e-2  # L is piecewise linear: exact while no point changes its top class
    numeric = np.zeros_like(w)
    for index in np.ndindex(*w.shape):
        up, down = w.copy(), w.copy()
        up[index] += eps
        down[index] -= eps
        numeric[index] = (criterion(up, xb, y) - criterion(down, xb, y)) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, atol=2e-2)
    assert np.abs(grad).sum() > 0  # some points are wrong, so the test says something


def plain_online(w, xb, y, lr, order):
    """Rosenblatt's rule one point at a time, in numpy: the reference."""
    w = w.copy()
    mistakes = 0
    for i in order:
        predicted = int(np.argmax(xb[i] @ w))
        if predicted != y[i]:
            w[:, y[i]] += lr * xb[i]
            w[:, predicted] -= lr * xb[i]
            mistakes += 1
    return w, mistakes


@pytest.mark.backends
@pytest.mark.parametrize("lookahead", [1, 3, 128])
def test_online_epoch_equals_the_plain_loop(lookahead):
    x, y = problem(n=60)
    xb = ops.convert_to_numpy(P.with_bias(x))
    w = np.random.default_rng(2).normal(scale=0.1, size=(6, 3)).astype(np.float32)
    order = np.random.default_rng(3).permutation(60)
    ours, mistakes = P.online_epoch(w, xb, y, 0.7, order, lookahead=lookahead)
    expected, expected_mistakes = plain_online(w, xb, y, 0.7, order)
    assert mistakes == expected_mistakes > 0
    np.testing.assert_allclose(ops.convert_to_numpy(ours), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.backends
def test_both_modes_separate_separable_data():
    rng = np.random.default_rng(4)
    centres = np.array([[4, 0], [-4, 0], [0, 4]], np.float32)
    y = rng.integers(0, 3, 90)
    x = centres[y] + rng.normal(scale=0.5, size=(90, 2)).astype(np.float32)
    xb = P.with_bias(x)
    for mode in ("batch", "online"):
        model = P.Perceptron(2, 3, seed=0)
        for _ in range(50):
            mistakes = model.batch_epoch(xb, y) if mode == "batch" else model.online_epoch(xb, y)
            if mistakes == 0:
                break
        assert mistakes == 0 and model.accuracy(xb, y) == 1.0, mode
    assert model.weight_images((1, 2)).shape == (3, 1, 2)


def test_bad_arguments_are_user_errors():
    with pytest.raises(UserError, match="init"):
        P.Perceptron(4, 2, init="uniform")
    with pytest.raises(UserError, match="lr"):
        P.Perceptron(4, 2, lr=0)


def test_quick_run_writes_complete_folder(quick_run):
    folder, metrics = quick_run("perceptron", "--set", "dataset=digits", "--set", "seeds=0,1",
                                files=("history.csv", "accuracy.png", "weights_batch.png", "weights_online.png",
                                       "model.keras", "models/perceptron_online.keras"))
    assert metrics["online_train_accuracy"] > 0.8
    # The spread over seeds 0 and 1; seed 0 is the run's own, reused.
    spread = metrics["seeds"]
    assert spread["seeds"] == [0, 1]
    for mode in ("batch", "online"):
        assert len(spread[mode]["test_each"]) == 2
        assert spread[mode]["test_each"][0] == metrics[f"{mode}_test_accuracy"]
        test = spread[mode]["test"]
        assert test["min"] <= test["mean"] <= test["max"]
    assert "### Over 2 seeds" in (folder / "report.md").read_text()
    import keras

    from kerasdl import data
    from kerasdl.tasks.perceptron import QUICK

    # The saved Keras models score like the hand-written perceptrons: model.keras the batch one.
    ds = data.load("digits", train_limit=QUICK["train_limit"], test_limit=QUICK["test_limit"])
    for name, mode in (("model.keras", "batch"), ("models/perceptron_online.keras", "online")):
        model = keras.saving.load_model(folder / name)
        assert model.output_shape == (None, 10)
        predicted = model.predict(ds.x_test, verbose=0).argmax(axis=1)
        assert np.mean(predicted == ds.y_test) == metrics[f"{mode}_test_accuracy"], name


@pytest.mark.backends
def test_keras_model_of_uint8_images_scales_them_as_the_learner_does():
    from kerasdl.data.registry import Dataset
    from kerasdl.tasks.perceptron import as_keras_model, pixels

    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, size=(30, 3, 4, 1), dtype=np.uint8)
    labels = rng.integers(0, 3, 30)
    ds = Dataset("toy", images, labels, images, labels, ["a", "b", "c"], "random uint8 images",
                 value_range=(0, 255))
    learner = P.Perceptron(12, 3, init="normal", init_scale=1.0, seed=0)
    xb = P.with_bias(pixels(ds, images))
    model = as_keras_model(learner, ds, "toy")
    scores = ops.convert_to_numpy(ops.matmul(xb, learner.weights))
    np.testing.assert_allclose(model.predict(images, verbose=0), scores, rtol=1e-5, atol=1e-5)


def test_summarize_gives_mean_std_and_range():
    from kerasdl.tasks.perceptron import summarize

    assert summarize([0.8, 0.9, 1.0]) == pytest.approx({"mean": 0.9, "std": 0.1, "min": 0.8, "max": 1.0})
    assert summarize([0.5])["std"] == 0.0


def test_seeds_need_something_seeded(run_cli):
    # zero initial weights and the file order: every seed would train the same perceptron
    code, _, err = run_cli("perceptron", "--set", "init=zeros", "--set", "seeds=0,1")
    assert code == 2 and "seeds=0,1" in err and "init=normal" in err


@pytest.mark.parametrize("setting, message", [
    ("modes=stochastic", "modes=stochastic: choose batch or online"),
    ("modes=", "modes=(none): expected one or more of batch, online"),
    ("init=uniform", "init=uniform: choose zeros or normal"),
    ("lr=0", "lr=0.0: expected a positive number"),
    ("seeds=1,-2", "seeds=1,-2: expected 0 or more"),
])
def test_bad_config_is_one_line(run_cli, setting, message):
    code, _, err = run_cli("perceptron", "--set", setting)
    assert code == 2 and message in err and "Traceback" not in err


def test_seeds_are_kept_once_each_in_their_order():
    from kerasdl.tasks.perceptron import Config

    assert Config(seeds=(3, 1, 3, 0, 1)).seeds == (3, 1, 0)
