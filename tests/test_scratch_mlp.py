"""scratch-mlp: the sigmoid MLP with softmax cross-entropy by hand — gradients against finite
differences, the hand-written softmax and sigmoid, replicas, the Keras copy, training, the CLI run."""

import numpy as np
import pytest

from kerasdl.scratch import networks


@pytest.mark.backends
@pytest.mark.parametrize("sizes", [(5, 4, 3), (4, 3, 3, 2)])
def test_cross_entropy_gradients_match_finite_differences(sizes):
    dtype = networks.precise_dtype()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, sizes[0]))
    y = networks.targets(rng.integers(0, sizes[-1], 6), sizes[-1], "cross_entropy")
    net = networks.SigmoidMLP.create(sizes, loss="cross_entropy", init="uniform", seed=2, dtype=dtype)
    errors = networks.gradient_check(net, x, y)
    assert max(errors) < (1e-6 if dtype == "float64" else 1e-2), errors


@pytest.mark.backends
def test_hand_written_softmax_sigmoid_and_loss_match_numpy_and_stay_finite():
    from keras import ops

    z = np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]], "float32")
    expected = np.exp(z - z.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(ops.convert_to_numpy(ops.exp(networks.log_softmax(ops.convert_to_tensor(z)))),
                               expected, atol=1e-6)
    s = ops.convert_to_numpy(networks.sigmoid(ops.convert_to_tensor(np.array([-1000.0, 0.0, 1000.0], "float32"))))
    np.testing.assert_allclose(s, [0.0, 0.5, 1.0])
    # mean cross-entropy of a one-layer softmax net with known weights
    w = np.array([[1.0, -1.0], [0.5, 0.0], [0.0, 0.2]], "float32")  # 2 inputs + bias input, 2 classes
    net = networks.SigmoidMLP([ops.convert_to_tensor(w)], loss="cross_entropy")
    x = np.array([[1.0, 2.0], [0.0, -1.0]], "float32")
    y = networks.targets([0, 1], 2, "cross_entropy")
    logits = x @ w[:2] + w[2]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    expected_loss = -np.mean(np.log(p[[0, 1], [0, 1]]))
    assert float(net.loss(ops.convert_to_tensor(x), ops.convert_to_tensor(y))) == pytest.approx(expected_loss, rel=1e-5)


@pytest.mark.backends
def test_replicas_train_like_separate_networks():
    from keras import ops

    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 5)).astype("float32")
    y = networks.targets(rng.integers(0, 3, 8), 3, "cross_entropy")
    start = networks.init_weights((5, 4, 3), "glorot", seed=4)
    population = networks.SigmoidMLP(networks.replicate(start, 2))
    loss, _ = population.step(x, y, np.array([0.1, 1.0], "float32"))
    for k, rate in enumerate((0.1, 1.0)):
        single = networks.SigmoidMLP(start)
        single_loss, _ = single.step(x, y, rate)
        assert float(loss[k]) == pytest.approx(float(single_loss), rel=1e-5)
        for a, b in zip(population.weights, single.weights):
            np.testing.assert_allclose(ops.convert_to_numpy(a[k]), ops.convert_to_numpy(b), rtol=1e-5, atol=1e-6)


@pytest.mark.backends
def test_keras_copy_predicts_like_the_hand_written_forward_pass():
    from keras import ops

    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(5, 4, 4, 1)).astype("uint8")
    net = networks.SigmoidMLP.create((16, 6, 3), seed=5)
    model = net.to_keras(input_shape=(4, 4, 1), value_range=(0, 255))
    by_hand = ops.convert_to_numpy(net.predict(ops.convert_to_tensor(images.reshape(5, -1) / 255.0, "float32")))
    np.testing.assert_allclose(model.predict(images, verbose=0), by_hand, rtol=1e-5, atol=1e-6)


@pytest.mark.backends
def test_fit_learns_separable_blobs_and_keeps_history_per_replica():
    rng = np.random.default_rng(3)
    centres = np.array([[3, 0], [-3, 0], [0, 3]], "float32")
    labels = rng.integers(0, 3, 300)
    x = (centres[labels] + rng.normal(size=(300, 2))).astype("float32")
    y = networks.targets(labels, 3, "cross_entropy")
    net = networks.SigmoidMLP(networks.replicate(networks.init_weights((2, 8, 3), seed=0), 2))
    history = networks.fit(net, x, y, np.array([1e-4, 0.5], "float32"), epochs=3, batch_size=16, seed=0,
                           eval_sets={"test": (x[:100], y[:100])})
    columns = networks.by_replica(history)
    assert len(history) == 6 and columns[1]["epoch"] == [1, 2, 3]
    assert columns[1]["test_accuracy"][-1] > 0.9 > columns[0]["test_accuracy"][-1]
    assert columns[1]["loss"][-1] < columns[1]["loss"][0]


@pytest.mark.parametrize("options, message", [
    (("--set", "init=zeros"), "init=zeros: choose uniform, normal or glorot"),
    (("--batch-size", "0"), "batch_size=0"),
])
def test_bad_settings_are_one_line_errors(run_cli, home, options, message):
    code, _, err = run_cli("scratch-mlp", *options, "--out", home / "runs")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_quick_run_writes_a_complete_run_folder(quick_run):
    # scikit-learn's 8x8 digits ship with scikit-learn: real images without a download
    _, metrics = quick_run("scratch-mlp", "--set", "dataset=digits",
                           files=("lr_sweep.png", "learning_curves.png", "confusion_matrix.png",
                                  "hidden_weights.png", "model.keras", "history.csv"))
    assert metrics["keras_model_agreement"] == 1.0 and len(metrics["sweep"]) == 3
    from kerasdl.tasks import scratch_mlp

    assert set(scratch_mlp.HEADLINE) <= set(metrics)
