"""softmax-regression: logistic (with L2) and softmax regression by hand — gradients against
finite differences, the closed forms, early stopping, and the CLI run."""

import csv
import json

import numpy as np
import pytest

from kerasdl.scratch import networks
from kerasdl.tasks.softmax_regression import linear


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
    for k in range(1, 7):  # four evaluations per epoch: patience counts evaluations, not epochs
        net.weights = [ops.ones((2, 2, 1)) * k]
        rows = [{"replica": r, "step": 10 * k, "val_accuracy": accuracies[r][k - 1]}
                for r in (0, 1) if stopper.active[r]]
        active = stopper.update(k / 4, rows, net)
        if k == 5:  # replica 0: best at evaluation 2 (0.7; ties do not count), none of 3, 4, 5 better
            assert list(active) == [False, True]
    assert list(stopper.best_epoch) == [0.5, 1.5] and list(stopper.stop_epoch) == [1.25, 1.5]
    assert list(stopper.best_step) == [20, 60] and list(stopper.stop_step) == [50, 60]
    assert list(stopper.evaluations) == [5, 6]
    stopper.restore(net)
    np.testing.assert_allclose(ops.convert_to_numpy(net.weights[0])[:, 0, 0], [2, 6])


def _separable(n=200, seed=4):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)).astype("float32")
    return x, (x[:, :1] + x[:, 1:] > 0).astype("float32")


@pytest.mark.backends
def test_fit_evaluates_every_k_steps_at_fractional_epochs():
    x, y = _separable(100)  # batch 10: 10 steps per epoch, 30 in 3 epochs
    net = linear.logistic_regression(2, replicas=2)
    history = networks.fit(net, x, y, np.array([0.1, 0.5], "float32"), epochs=3, batch_size=10, seed=0,
                           eval_sets={"val": (x, y)}, eval_every=4)
    columns = networks.by_replica(history)
    # every 4th step, and the last step (30) though it is not a multiple of 4
    assert columns[1]["step"] == [4, 8, 12, 16, 20, 24, 28, 30]
    np.testing.assert_allclose(columns[1]["epoch"], [0.4, 0.8, 1.2, 1.6, 2.0, 2.4, 2.8, 3.0])
    assert len(history) == 16 and all("val_accuracy" in row and "loss" in row for row in history)
    # the default: once per epoch, at whole epochs
    net = linear.logistic_regression(2, replicas=2)
    columns = networks.by_replica(networks.fit(net, x, y, 0.1, epochs=3, batch_size=10, seed=0,
                                               eval_sets={"val": (x, y)}, eval_every=0))
    assert columns[0]["epoch"] == [1, 2, 3] and columns[0]["step"] == [10, 20, 30]


@pytest.mark.backends
def test_fit_with_early_stopping_freezes_stopped_replicas_and_ends():
    x, y = _separable()
    net = linear.logistic_regression(2, replicas=2)
    stopper = linear.EarlyStopping(patience=2, replicas=2)
    history = networks.fit(net, x, y, np.array([0.5, 0.5], "float32"), epochs=50, batch_size=50, seed=0,
                           eval_sets={"val": (x, y)}, early_stopping=stopper)
    assert max(row["epoch"] for row in history) < 50  # stopped well before the limit
    stopper.restore(net)
    _, accuracy = networks.evaluate(net, x, y)
    assert np.all(accuracy > 0.95) and np.allclose(accuracy, stopper.best)


@pytest.mark.backends
def test_patience_counts_evaluations_when_evaluating_within_epochs():
    x, y = _separable()  # batch 20: 10 steps per epoch, an evaluation every 2 steps (5 per epoch)
    net = linear.logistic_regression(2, replicas=2)
    stopper = linear.EarlyStopping(patience=4, replicas=2)
    history = networks.fit(net, x, y, np.array([0.05, 1.0], "float32"), epochs=30, batch_size=20, seed=0,
                           eval_sets={"val": (x, y)}, early_stopping=stopper, eval_every=2)
    assert not stopper.active.any()  # both ended by patience, long before 30 epochs
    columns = networks.by_replica(history)
    for r in (0, 1):
        rows = columns[r]
        assert rows["step"] == list(range(2, 2 * len(rows["step"]) + 1, 2))  # frozen after its last evaluation
        assert len(rows["step"]) == stopper.evaluations[r] == stopper.best_evaluation[r] + 4
        assert stopper.stop_step[r] == rows["step"][-1] and stopper.stop_epoch[r] == rows["epoch"][-1]
        assert stopper.best_epoch[r] == rows["epoch"][int(np.argmax(rows["val_accuracy"]))]
        assert stopper.stop_epoch[r] == pytest.approx(stopper.stop_step[r] / 10)
    assert max(stopper.stop_epoch) < 30


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
    # model.keras is the softmax regression, the one a user would predict with
    for name in ("logistic_curves.png", "softmax_curves.png", "softmax_weights.png", "model.keras",
                 "models/logistic.keras", "history.csv", "results.csv"):
        assert (folder / name).is_file(), name
    report = (folder / "report.md").read_text()
    assert "| logistic | 0.001 |" in report and "| softmax | 0.01 |" in report
    assert "evaluated every 3 gradient steps" in report
    from kerasdl.tasks import softmax_regression

    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(softmax_regression.HEADLINE) <= set(metrics)
    results = list(csv.DictReader((folder / "results.csv").open()))
    history = list(csv.DictReader((folder / "history.csv").open()))
    for row in results:  # the stop point is the last evaluation of that model and learning rate
        mine = [h for h in history if h["model"] == row["model"]
                and float(h["learning_rate"]) == pytest.approx(float(row["learning_rate"]))]
        assert int(row["evaluations"]) == len(mine)
        assert int(row["stop_step"]) == int(mine[-1]["step"]) and float(row["stop_epoch"]) == float(mine[-1]["epoch"])
