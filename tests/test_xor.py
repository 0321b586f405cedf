"""xor: the 2-2-1 sigmoid net by hand — gradients against finite differences, the forward
pass against a hand computation, a population that learns XOR, and the CLI run."""

import numpy as np
import pytest

from kerasdl.scratch import networks


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


@pytest.mark.backends
def test_mse_gradients_match_finite_differences_for_a_population():
    dtype = networks.precise_dtype()
    from kerasdl.tasks.xor import POINTS, TARGETS

    net = networks.SigmoidMLP.create((2, 2, 1), loss="mse", init="uniform", replicas=3, seed=3, dtype=dtype)
    errors = networks.gradient_check(net, POINTS, TARGETS)
    assert max(errors) < (1e-6 if dtype == "float64" else 1e-2), errors


@pytest.mark.backends
def test_forward_pass_with_bias_inputs_matches_a_hand_computation():
    from keras import ops

    w1 = np.array([[1.0, -2.0], [0.5, 1.5], [-0.3, 0.2]], "float32")  # last row: bias input weights
    w2 = np.array([[2.0], [-1.0], [0.1]], "float32")
    net = networks.SigmoidMLP([ops.convert_to_tensor(w1), ops.convert_to_tensor(w2)], loss="mse")
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], "float32")
    hidden = _sigmoid(x @ w1[:2] + w1[2])
    expected = _sigmoid(hidden @ w2[:2] + w2[2])
    np.testing.assert_allclose(ops.convert_to_numpy(net.predict(ops.convert_to_tensor(x))), expected, rtol=1e-5)
    # one step by hand: w <- w - lr * dL/dw with L = mean (p - y)^2
    y = np.array([[0], [1], [1], [0]], "float32")
    delta2 = 2 * (expected - y) * expected * (1 - expected) / 4
    delta1 = (delta2 @ w2[:2].T) * hidden * (1 - hidden)
    net.step(ops.convert_to_tensor(x), ops.convert_to_tensor(y), 0.5)
    xb, hb = np.hstack([x, np.ones((4, 1))]), np.hstack([hidden, np.ones((4, 1))])
    np.testing.assert_allclose(ops.convert_to_numpy(net.weights[0]), w1 - 0.5 * xb.T @ delta1, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ops.convert_to_numpy(net.weights[1]), w2 - 0.5 * hb.T @ delta2, rtol=1e-5, atol=1e-7)


@pytest.mark.backends
def test_initialisations_stay_in_range_and_replicas_differ():
    from keras import ops

    for init in ("uniform", "normal"):
        w = ops.convert_to_numpy(networks.init_weights((2, 2, 1), init, 1.0, replicas=50, seed=1)[0])
        assert w.shape == (50, 3, 2)
        assert np.abs(w).max() <= 1.0 and w.std() > 0.2
        assert not np.allclose(w[0], w[1])


@pytest.mark.backends
def test_population_learns_xor_and_learning_rates_are_per_replica():
    from kerasdl.tasks import xor

    config = xor.Config(learning_rates=(0.01, 10.0), inits=("uniform",), runs=4, epochs=300, learning_rate=10.0)
    net, rates = xor.build_population(config)
    np.testing.assert_allclose(rates, [0.01] * 4 + [10.0] * 4)
    losses, solved = xor.train(net, rates, config.epochs)
    assert losses.shape == (300, 8) and solved.shape == (300, 8)
    # same initial weights; a tiny learning rate stays near the plateau, a large one solves XOR
    assert np.allclose(losses[0, :4], losses[0, 4:])
    assert losses[-1, :4].min() > 0.2 and not solved[-1, :4].any()
    assert solved[-1, 4:].sum() >= 2 and losses[-1, 4:].min() < 0.05


def test_steps_to_solve_counts_from_the_last_unsolved_step():
    from kerasdl.tasks.xor import steps_to_solve

    solved = np.array([[0, 0, 1], [1, 0, 1], [0, 0, 1], [1, 1, 1], [1, 0, 1]], bool)  # (steps, runs)
    np.testing.assert_array_equal(steps_to_solve(solved), [4, np.nan, 1])


@pytest.mark.parametrize("options, message", [
    (("--set", "inits=gaussian"), "inits=gaussian: choose uniform or normal"),
    (("--set", "learning_rate=3"), "must be one of the sweep"),
    (("--set", "learning_rates=1,-1"), "learning_rates=1.0,-1.0: expected a positive number"),
    (("--set", "inits="), "inits=(none): expected at least one value to sweep"),
    (("--set", "runs=0"), "runs=0: expected a positive number"),
])
def test_bad_settings_are_one_line_errors(run_cli, home, options, message):
    code, _, err = run_cli("xor", *options, "--out", home / "runs")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_quick_run_writes_a_complete_run_folder(quick_run):
    import keras

    from kerasdl.tasks.xor import POINTS

    folder, metrics = quick_run("xor", files=("loss_curves.png", "solved_share.png", "decision_surface.png",
                                              "model.keras", "sweep.csv", "history.csv"))
    assert "| uniform | 10 |" in (folder / "report.md").read_text()
    # model.keras is the saved net of the shown setting: the same outputs on the four points.
    outputs = keras.saving.load_model(folder / "model.keras").predict(POINTS, verbose=0)[:, 0]
    np.testing.assert_allclose(outputs, metrics["saved_net_outputs"], atol=1e-5)
