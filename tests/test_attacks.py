"""Attacks and the input gradient: finite differences per backend, hand-computed
steps, and FGSM / PGD raising the loss of a trained toy model inside the eps-ball."""

import numpy as np
import pytest

import keras
from keras import ops

from kerasdl.errors import UserError
from kerasdl.tasks.adversarial import attacks
from kerasdl.training.backends.input_gradient import input_gradient, input_gradient_fn

BACKEND = keras.backend.backend()


def toy_data(n, seed=0):
    """4x4 grey images in [0, 1]; class 1 when the top half is brighter than the bottom."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, 4, 4, 1)).astype("float32")
    y = (x[:, :2].mean(axis=(1, 2, 3)) > x[:, 2:].mean(axis=(1, 2, 3))).astype("int32")
    return x, y


def small_net(seed=0):
    """Conv + batch norm + dropout: the state an attack must leave alone."""
    inputs = keras.Input((4, 4, 1))
    h = keras.layers.Conv2D(3, 3, activation="tanh", name="conv")(inputs)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.Dropout(0.2, seed=seed, name="dropout")(h)
    h = keras.layers.Flatten()(h)
    outputs = keras.layers.Dense(2, activation="softmax", name="out")(h)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    x, y = toy_data(512)
    inputs = keras.Input((4, 4, 1))
    h = keras.layers.Flatten()(inputs)
    h = keras.layers.Dense(16, activation="tanh")(h)
    outputs = keras.layers.Dense(2, activation="softmax")(h)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(0.03), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=15, batch_size=128, verbose=0)
    x_test, y_test = toy_data(200, seed=1)
    return model, x_test, y_test


def mean_loss(model, x, y):
    return float(ops.convert_to_numpy(attacks.crossentropy(y, model(x, training=False)))) / len(y)


def accuracy(model, x, y):
    return float(np.mean(np.argmax(ops.convert_to_numpy(model(x, training=False)), -1) == y))


# --- the input gradient, one test per backend ---------------------------------------------

def finite_difference_check():
    """input_gradient against central differences of the loss, plain and compiled."""
    keras.utils.set_random_seed(1)
    model = small_net()
    x, y = toy_data(3, seed=2)
    model(x, training=False)  # build
    state = [ops.convert_to_numpy(v).copy() for v in model.non_trainable_variables]

    gradient = ops.convert_to_numpy(input_gradient(model, attacks.crossentropy, x, y))
    # Central differences, every perturbed copy of the batch in one forward pass.
    h = 1e-2
    steps = np.eye(x.size, dtype="float32").reshape((x.size,) + x.shape) * h
    shifted = np.concatenate([x + steps, x - steps]).reshape((-1,) + x.shape[1:])
    p = ops.convert_to_numpy(model(shifted, training=False)).reshape(2, x.size, len(x), -1)
    losses = -np.log(np.take_along_axis(p, y[None, None, :, None], axis=-1)).sum(axis=(2, 3))
    numeric = ((losses[0] - losses[1]) / (2 * h)).reshape(x.shape)
    assert gradient.shape == x.shape
    np.testing.assert_allclose(gradient, numeric, atol=2e-3 * np.abs(numeric).max())
    assert np.abs(numeric).max() > 1e-3  # a real signal, not zeros matching zeros
    compiled = ops.convert_to_numpy(input_gradient_fn(model, attacks.crossentropy)(x, y))
    np.testing.assert_allclose(compiled, gradient, rtol=1e-4, atol=1e-6)
    # Training mode (batch statistics, dropout) differentiates without moving the state.
    input_gradient(model, attacks.crossentropy, x, y, training=True)
    for before, v in zip(state, model.non_trainable_variables):
        np.testing.assert_array_equal(before, ops.convert_to_numpy(v))


@pytest.mark.backends
@pytest.mark.parametrize("backend, how", [("tensorflow", "GradientTape"), ("jax", "jax.grad"),
                                          ("torch", "autograd")])
def test_input_gradient_matches_finite_differences(backend, how):
    if BACKEND != backend:
        pytest.skip(f"the {how} path runs only on {backend}")
    finite_difference_check()


@pytest.mark.backends
def test_the_compiled_gradient_takes_any_number_of_images_and_tensorflow_traces_it_once(monkeypatch):
    """One compiled gradient serves a model's attacks on batches of every size (the last batch,
    the PGD subset, the validation images): on TensorFlow one trace, not one per size."""
    from kerasdl.training.backends import input_gradient as module

    traces = []
    plain = module._tensorflow
    monkeypatch.setattr(module, "_tensorflow", lambda *a, **k: traces.append(1) or plain(*a, **k))
    model = small_net()
    compiled = input_gradient_fn(model, attacks.crossentropy)
    for n in (5, 3, 5, 1):
        x, y = toy_data(n, seed=n)
        np.testing.assert_allclose(ops.convert_to_numpy(compiled(x, y)),
                                   ops.convert_to_numpy(input_gradient(model, attacks.crossentropy, x, y)),
                                   rtol=1e-4, atol=1e-6)
    if BACKEND == "tensorflow":
        assert len(traces) == 1


@pytest.mark.backends
@pytest.mark.skipif(BACKEND != "torch", reason="torch's no_grad mode exists only on torch")
def test_input_gradient_torch_works_under_no_grad():
    import torch

    model = small_net()
    x, y = toy_data(2)
    model(x)
    with torch.no_grad():
        gradient = ops.convert_to_numpy(input_gradient(model, attacks.crossentropy, x, y))
    assert np.abs(gradient).max() > 0


# --- the pieces, against hand computations -------------------------------------------------

@pytest.mark.backends
def test_crossentropy_is_summed_and_keeps_the_gradient_of_confident_predictions():
    probabilities = np.array([[0.25, 0.75], [0.5, 0.5]], "float32")
    value = float(ops.convert_to_numpy(attacks.crossentropy(np.array([1, 0]), probabilities)))
    assert value == pytest.approx(-np.log(0.75) - np.log(0.5), rel=1e-6)
    # A prediction at p = 1 - 1e-9 still has a gradient (Keras's clipped loss has none).
    inputs = keras.Input((1,))
    outputs = keras.layers.Dense(2, activation="softmax", kernel_initializer="zeros",
                                 bias_initializer=keras.initializers.Constant([0.0, 21.0]))(inputs)
    model = keras.Model(inputs, outputs)
    model.layers[-1].kernel.assign(np.array([[-1.0, 1.0]], "float32"))
    gradient = ops.convert_to_numpy(input_gradient(model, attacks.crossentropy,
                                                   np.zeros((1, 1), "float32"), np.array([1])))
    # d/dx of -log softmax_1 = -(1 - p_1) * (w_1 - w_0) = -2 p_0 ~ -1.5e-9; float32 rounds p_1
    # to 1 and keeps half of it, but the sign, all FGSM needs, survives.
    assert -2 * np.exp(-21.0) * 1.01 < gradient[0, 0] < 0


@pytest.mark.backends
def test_fgsm_step_and_projection_by_hand():
    x = np.array([[0.0, 0.5, 0.95, 0.3]], "float32")
    gradient = np.array([[-1.0, 2.0, 0.5, 0.0]], "float32")
    out = ops.convert_to_numpy(attacks.fgsm_from_gradient(x, gradient, 0.1))
    np.testing.assert_allclose(out, [[0.0, 0.6, 1.0, 0.3]], atol=1e-7)  # clipped at 0 and 1
    far = np.array([[0.5, 0.0, 1.0, 0.31]], "float32")
    np.testing.assert_allclose(ops.convert_to_numpy(attacks.project(far, x, 0.1)),
                               [[0.1, 0.4, 1.0, 0.31]], atol=1e-7)
    moved = ops.convert_to_numpy(attacks.fgsm_from_gradient(x * 255, gradient, 25.5, (0, 255)))
    np.testing.assert_allclose(moved, [[0.0, 153.0, 255.0, 76.5]], rtol=1e-6)


@pytest.mark.backends
def test_random_start_stays_in_the_ball_and_the_range():
    x = np.linspace(0, 1, 200, dtype="float32").reshape(2, 100)
    start = ops.convert_to_numpy(attacks.random_start(x, 0.1, seed=3))
    assert np.abs(start - x).max() <= 0.1 + 1e-6
    assert start.min() >= 0 and start.max() <= 1
    assert np.abs(start - x).mean() > 0.02  # it moved


@pytest.mark.backends
def test_random_start_scales_one_draw_by_eps_a_tensor_eps_too():
    """The warm-up passes eps as a tensor: the same seed draws the same noise, scaled by eps."""
    x = np.linspace(0.3, 0.7, 200, dtype="float32").reshape(2, 100)  # no pixel-range clipping
    full = ops.convert_to_numpy(attacks.random_start(x, 0.1, seed=3)) - x
    half = ops.convert_to_numpy(attacks.random_start(x, ops.convert_to_tensor(0.05), seed=3)) - x
    np.testing.assert_allclose(half, full / 2, atol=1e-6)
    assert ops.convert_to_numpy(attacks.random_start(x, ops.convert_to_tensor(0.0), seed=3)) \
        == pytest.approx(x)  # eps 0 (the warm-up's first step): the clean image


# --- attacks on a trained toy model -----------------------------------------------------------

@pytest.mark.backends
@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_each_attack_raises_the_loss_inside_the_eps_ball(trained, attack):
    model, x, y = trained
    eps = 0.1
    if attack == "fgsm":
        x_adv = attacks.fgsm(model, x, y, eps)
    else:
        x_adv = attacks.pgd(model, x, y, eps, steps=5, seed=0)
    x_adv = ops.convert_to_numpy(x_adv)
    assert accuracy(model, x, y) > 0.9  # trained
    assert mean_loss(model, x_adv, y) > mean_loss(model, x, y) + 0.05
    assert accuracy(model, x_adv, y) < accuracy(model, x, y)
    assert np.abs(x_adv - x).max() <= eps + 1e-6
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0


@pytest.mark.backends
def test_pgd_is_at_least_as_strong_as_fgsm(trained):
    model, x, y = trained
    fgsm_loss = mean_loss(model, ops.convert_to_numpy(attacks.fgsm(model, x, y, 0.15)), y)
    pgd_loss = mean_loss(model, ops.convert_to_numpy(attacks.pgd(model, x, y, 0.15, steps=10, seed=1)), y)
    assert pgd_loss >= 0.95 * fgsm_loss


@pytest.mark.backends
def test_attack_predictions_batches_and_keeps_images(trained):
    model, x, y = trained
    preds, kept = attacks.attack_predictions(model, x, y, "fgsm", [0.0, 0.2], batch_size=64, keep=5)
    clean = np.argmax(ops.convert_to_numpy(model(x)), -1)
    np.testing.assert_array_equal(preds[0.0], clean)  # eps 0 is the clean image
    assert preds[0.2].shape == y.shape and np.mean(preds[0.2] == y) < np.mean(clean == y)
    assert kept[0.2].shape == (5, 4, 4, 1)
    expected = ops.convert_to_numpy(attacks.fgsm(model, x[:5], y[:5], 0.2))
    np.testing.assert_allclose(kept[0.2], expected, atol=1e-6)
    pgd_preds, _ = attacks.attack_predictions(model, x[:32], y[:32], "pgd", [0.2], steps=3, seed=0)
    assert pgd_preds[0.2].shape == (32,)


def test_bad_attack_arguments_are_user_errors(trained):
    model, x, y = trained
    with pytest.raises(UserError, match="epsilon"):
        attacks.fgsm(model, x, y, -0.1)
    with pytest.raises(UserError, match="steps"):
        attacks.pgd(model, x, y, 0.1, steps=0)
    with pytest.raises(UserError, match="attack"):
        attacks.attack_predictions(model, x, y, "cw", [0.1])
    with pytest.raises(UserError, match="value_range"):
        attacks.fgsm(model, x, y, 0.1, value_range=(1, 0))
