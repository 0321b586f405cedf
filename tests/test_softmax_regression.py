"""softmax-regression: logistic (with L2) and softmax regression by hand — gradients against
finite differences, the closed forms, early stopping, and the CLI run."""

import numpy as np
import pytest

from kerasdl.scratch import linear, networks


def _random_weights(net, rng, dtype):
    from keras import ops

    net.weights = [ops.convert_to_tensor(rng.normal(size=w.shape), dtype=dtype) for w in net.weights]
    return net


@pytest.mark.backends
def test_logistic_regression_with_l2_gradient_matches_finite_differences():
    dtype = networks.precise_dtype()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 4))
    y = rng.integers(0, 2, (7, 1)).astype("float64")
    net = _random_weights(linear.logistic_regression(4, l2=0.3, replicas=2, dtype=dtype), rng, dtype)
    errors = networks.gradient_check(net, x, y)
    assert max(errors) < (1e-6 if dtype == "float64" else 1e-2), errors


@pytest.mark.backends
def test_softmax_regression_gradient_matches_finite_differences_and_the_closed_form():
    from keras import ops

    dtype = networks.precise_dtype()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 3))
    y = networks.targets(rng.integers(0, 4, 6), 4, "cross_entropy")
    net = _random_weights(linear.softmax_regression(3, 4, l2=0.1, dtype=dtype), rng, dtype)
    errors = networks.gradient_check(net, x, y)
    assert max(errors) < (1e-6 if dtype == "float64" else 1e-2), errors
    # the closed form [x, 1]^T (p - y) / N + l2 w (no penalty on the bias row)
    w = ops.convert_to_numpy(net.weights[0]).astype("float64")
    xb = np.hstack([x, np.ones((6, 1))])
    logits = xb @ w
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    expected = xb.T @ (p - y) / 6 + 0.1 * np.vstack([w[:-1], np.zeros((1, 4))])
    _, _, (grad,) = net.gradients(ops.convert_to_tensor(x, dtype), ops.convert_to_tensor(y, dtype))
    np.testing.assert_allclose(ops.convert_to_numpy(grad), expected, rtol=1e-4, atol=1e-6)


@pytest.mark.backends
def test_binary_cross_entropy_is_finite_for_confident_outputs():
    from keras import ops

    net = linear.logistic_regression(1)
    net.weights = [ops.convert_to_tensor(np.array([[200.0], [0.0]], "float32"))]
    x = np.array([[1.0], [-1.0]], "float32")
    y = np.array([[0.0], [0.0]], "float32")  # the first is confidently wrong: loss 200 / 2
    assert float(net.loss(ops.convert_to_tensor(x), ops.convert_to_tensor(y))) == pytest.approx(100.0, rel=1e-4)


class _Net:
    """Stands in for a network: EarlyStopping only reads `weights` and `replicas`."""

    def __init__(self, replicas):
        from keras import ops

        self.replicas = replicas
        self.weights = [ops.zeros((replicas, 2, 1))]


@pytest.mark.backends
def test_early_stopping_waits_patience_evaluations_and_keeps_the_best_weights():
    from keras import ops

    net = _Net(2)
    stopper = linear.EarlyStopping(patience=3, replicas=2)
    accuracies = {0: [0.5, 0.7, 0.6, 0.7, 0.65, 0.9], 1: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}
    for epoch in range(1, 7):
        net.weights = [ops.ones((2, 2, 1)) * epoch]
        rows = [{"replica": r, "val_accuracy": accuracies[r][epoch - 1]} for r in (0, 1) if stopper.active[r]]
        active = stopper.update(epoch, rows, net)
        if epoch == 5:  # replica 0: best at epoch 2 (0.7; ties do not count), none of 3, 4, 5 better
            assert list(active) == [False, True]
    assert list(stopper.best_epoch) == [2, 6] and list(stopper.stop_epoch) == [5, 6]
    stopper.restore(net)
    np.testing.assert_allclose(ops.convert_to_numpy(net.weights[0])[:, 0, 0], [2, 6])


@pytest.mark.backends
def test_fit_with_early_stopping_freezes_stopped_replicas_and_ends():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(200, 2)).astype("float32")
    y = (x[:, :1] + x[:, 1:] > 0).astype("float32")
    net = linear.logistic_regression(2, replicas=2)
    stopper = linear.EarlyStopping(patience=2, replicas=2)
    history = networks.fit(net, x, y, np.array([0.5, 0.5], "float32"), epochs=50, batch_size=50, seed=0,
                           eval_sets={"val": (x, y)}, early_stopping=stopper)
    assert max(row["epoch"] for row in history) < 50  # stopped well before the limit
    stopper.restore(net)
    _, accuracy = networks.evaluate(net, x, y)
    assert np.all(accuracy > 0.95) and np.allclose(accuracy, stopper.best)


@pytest.mark.parametrize("options, message", [
    (("--set", "binary_classes=3"), "binary_classes"),
    (("--set", "models=svm"), "models=svm"),
])
def test_bad_settings_are_one_line_errors(run_cli, home, options, message):
    code, _, err = run_cli("softmax-regression", *options, "--out", home / "runs")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_quick_run_writes_a_complete_run_folder(run_cli, home):
    from conftest import complete_run_folder

    # scikit-learn's 8x8 digits ship with scikit-learn: real images without a download
    code, out, err = run_cli("softmax-regression", "--quick", "--set", "dataset=digits", "--out", home / "runs")
    assert code == 0, err
    folder = complete_run_folder(home / "runs", "softmax-regression")
    for name in ("logistic_curves.png", "softmax_curves.png", "softmax_weights.png", "softmax.keras",
                 "logistic.keras", "history.csv", "results.csv"):
        assert (folder / name).is_file(), name
    report = (folder / "report.md").read_text()
    assert "| logistic | 0.001 |" in report and "| softmax | 0.01 |" in report
