"""GAN models and the two-optimizer step: loss math by hand, the gradient penalty on
critics whose input gradient is known, each step reducing its own loss on every
backend, saving and loading, the 64x64 loaders, and both tasks' --quick runs."""

import json

import keras
import numpy as np
import pytest
from keras import ops

from kerasdl.errors import DataCorrupt, UserError
from kerasdl.tasks.gan import losses
from kerasdl.tasks.gan import model as gan
from kerasdl.training.backends.input_gradient import differentiable_input_gradient

from conftest import complete_run_folder


def _np(x):
    return ops.convert_to_numpy(x)


def _parabola(n=256, seed=0):
    x = np.random.default_rng(seed).uniform(-1, 1, n)
    return np.stack([x, x ** 2], axis=1).astype("float32")


def _toy_gan(loss="bce", d_steps=1, d_lr=2e-3, g_lr=2e-3, seed=1):
    keras.utils.set_random_seed(seed)
    model = gan.GAN(gan.mlp_generator(2, 2, (16,)), gan.mlp_discriminator(2, (16,)),
                    loss=loss, d_steps=d_steps, seed=seed)
    model.compile(d_optimizer=keras.optimizers.Adam(d_lr), g_optimizer=keras.optimizers.Adam(g_lr))
    return model


# --------------------------------------------------------------------------- loss math


@pytest.mark.backends
def test_bce_losses_match_hand_computation():
    real, fake = np.array([[2.0], [-1.0]], "float32"), np.array([[0.5], [-3.0]], "float32")

    def nll(p):
        return -np.log(p)

    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    d_expected = nll(sig(real)).mean() + nll(1 - sig(fake)).mean()
    g_expected = nll(sig(fake)).mean()
    assert _np(losses.bce_discriminator_loss(real, fake)) == pytest.approx(d_expected, rel=1e-5)
    assert _np(losses.bce_generator_loss(fake)) == pytest.approx(g_expected, rel=1e-5)
    assert _np(losses.wasserstein_critic_loss(real, fake)) == pytest.approx(-1.25 - 0.5)
    assert _np(losses.wasserstein_generator_loss(fake)) == pytest.approx(1.25)


@pytest.mark.backends
def test_input_gradient_of_a_square_is_twice_the_input():
    x = ops.convert_to_tensor(np.array([[1.0, -2.0], [0.5, 3.0]], "float32"))
    grad = differentiable_input_gradient(lambda v: ops.sum(v * v, axis=1), x)
    np.testing.assert_allclose(_np(ops.stop_gradient(grad)), 2 * _np(x), rtol=1e-6)


@pytest.mark.backends
def test_gradient_penalty_of_a_linear_critic_is_its_weight_norm_minus_one_squared():
    # f(x) = w . flatten(x) + b has input gradient w everywhere: penalty (||w|| - 1)^2.
    w = np.array([0.5, -1.0, 2.0, 0.25], "float32")
    inputs = keras.Input((2, 2, 1))
    out = keras.layers.Dense(1, kernel_initializer=keras.initializers.Constant(w.reshape(4, 1)),
                             bias_initializer="ones")(keras.layers.Flatten()(inputs))
    critic = keras.Model(inputs, out)
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(2, 5, 2, 2, 1)).astype("float32")
    alpha = rng.uniform(size=5).astype("float32")
    penalty = _np(ops.stop_gradient(losses.gradient_penalty(critic, real, fake, alpha)))
    assert penalty == pytest.approx((np.linalg.norm(w) - 1) ** 2, rel=1e-5)


@pytest.mark.backends
def test_gradient_penalty_of_a_quadratic_critic_uses_the_interpolates():
    # f(x) = sum x^2: gradient 2 x_hat at x_hat = real + alpha (fake - real).
    critic = keras.Sequential([keras.Input((3,)),
                               keras.layers.Lambda(lambda v: ops.sum(v * v, axis=1, keepdims=True))])
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(2, 4, 3)).astype("float32")
    alpha = np.array([0.0, 0.25, 0.5, 1.0], "float32")
    x_hat = real + alpha[:, None] * (fake - real)
    expected = np.mean((2 * np.linalg.norm(x_hat, axis=1) - 1) ** 2)
    penalty = _np(ops.stop_gradient(losses.gradient_penalty(critic, real, fake, alpha)))
    assert penalty == pytest.approx(expected, rel=1e-5)


# --------------------------------------------------------------------------- each step reduces its loss


@pytest.mark.backends
@pytest.mark.parametrize("loss,d_steps", [("bce", 1), ("wasserstein", 2)])
def test_discriminator_step_reduces_its_loss_with_the_generator_frozen(loss, d_steps):
    model = _toy_gan(loss, d_steps, d_lr=5e-3, g_lr=0.0)
    before = [_np(w).copy() for w in model.generator.weights]
    history = model.fit(_parabola(), batch_size=64, epochs=5, verbose=0).history
    assert history["d_loss"][-1] < history["d_loss"][0] - 0.05, history["d_loss"]
    for w, b in zip(model.generator.weights, before):  # a zero learning rate moves nothing
        np.testing.assert_allclose(_np(w), b)


@pytest.mark.backends
@pytest.mark.parametrize("loss", ["bce", "wasserstein"])
def test_generator_step_reduces_its_loss_with_the_discriminator_frozen(loss):
    model = _toy_gan(loss, d_lr=0.0, g_lr=5e-3)
    before = [_np(w).copy() for w in model.discriminator.weights]
    history = model.fit(_parabola(), batch_size=64, epochs=5, verbose=0).history
    assert history["g_loss"][-1] < history["g_loss"][0] - 0.01, history["g_loss"]
    for w, b in zip(model.discriminator.weights, before):
        np.testing.assert_allclose(_np(w), b)


@pytest.mark.backends
def test_dcgan_step_runs_and_updates_batch_norm_statistics():
    keras.utils.set_random_seed(0)
    model = gan.GAN(gan.dcgan_generator(4, (16, 16, 1), width=2), gan.dcgan_discriminator((16, 16, 1), 2))
    model.compile()
    moving = model.generator.get_layer("project_bn").moving_mean
    before = _np(moving).copy()
    images = np.random.default_rng(0).uniform(-1, 1, (8, 16, 16, 1)).astype("float32")
    logs = model.fit(images, batch_size=4, epochs=1, verbose=0).history
    assert set(logs) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert not np.allclose(_np(moving), before)


def _blobs(n, size=16, seed=0):
    """Bright discs on a dark ground, in the generator's range [-1, 1], (n, size, size, 1)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    centre = rng.uniform(4, size - 4, (n, 2))
    radius = rng.uniform(2, 4, n)
    inside = (yy - centre[:, :1, None]) ** 2 + (xx - centre[:, 1:, None]) ** 2 < radius[:, None, None] ** 2
    return np.where(inside, 1.0, -1.0).astype("float32")[..., None]


@pytest.mark.slow  # 120 steps of a GAN, twice: 0.5-1.5 min on 2 cores (the momentum: the test below)
@pytest.mark.backends
def test_a_short_run_saves_a_generator_that_draws_what_it_trained_to():
    """After a short run (120 steps), the generator draws in inference mode (batch norm's
    moving statistics, as a saved model.keras draws) what it draws in training mode (the
    batch's statistics). With Keras's usual momentum 0.99 the moving variances still hold
    their start (1, far above the true ones) and the inference samples are nearly flat
    (measured: std 0.0008 against 0.09 in training)."""
    from kerasdl.training.fit import bn_momentum

    x = _blobs(192)
    epochs, batch_size = 10, 16
    steps = epochs * len(x) // batch_size
    z = np.random.default_rng(1).normal(size=(256, 4)).astype("float32")

    def train(momentum):
        keras.utils.set_random_seed(0)
        model = gan.GAN(gan.dcgan_generator(4, (16, 16, 1), width=2, bn_momentum=momentum),
                        gan.dcgan_discriminator((16, 16, 1), 2, bn_momentum=momentum), seed=0)
        model.compile()
        model.fit(x, batch_size=batch_size, epochs=epochs, verbose=0)
        inference = _np(model.generator(z, training=False))
        training = _np(model.generator(z, training=True))
        return training, inference

    training, inference = train(bn_momentum(steps))
    assert 0.7 < inference.std() / training.std() < 1.5, (training.std(), inference.std())
    assert np.abs(inference - training).mean() < 0.35 * training.std()
    training, inference = train(0.99)
    assert inference.std() < 0.2 * training.std(), (training.std(), inference.std())


def test_the_gan_task_takes_batch_norm_momentum_from_its_steps():
    from kerasdl.tasks import gan as task
    from kerasdl.training.fit import bn_momentum

    config = task.Config(width=2, epochs=3, batch_size=10)
    steps = config.epochs * task.steps_per_epoch(config, 95)  # 3 epochs of 10 batches
    model = task.build_gan(config, 4, (16, 16, 1), steps)
    momenta = [layer.momentum for part in (model.generator, model.discriminator)
               for layer in part._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(momenta) == 7 and momenta == pytest.approx([bn_momentum(30)] * 7)


# --------------------------------------------------------------------------- models, saving


@pytest.mark.backends
def test_save_and_load_generates_again(tmp_path):
    model = _toy_gan("wasserstein", d_steps=2)
    model.fit(_parabola(64), batch_size=32, epochs=1, verbose=0)
    path = tmp_path / "gan.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, gan.GAN) and loaded.loss_kind == "wasserstein" and loaded.d_steps == 2
    z = np.random.default_rng(0).normal(size=(5, 2)).astype("float32")
    np.testing.assert_allclose(_np(loaded.generator(z)), _np(model.generator(z)), rtol=1e-5, atol=1e-6)
    loaded.fit(_parabola(64), batch_size=32, epochs=1, verbose=0)  # compiled again: trains on


def test_dcgan_shapes_and_ranges():
    g = gan.dcgan_generator(10, (64, 64, 3), width=2)
    d = gan.dcgan_discriminator((64, 64, 3), width=2)
    images = _np(g(np.ones((2, 10), "float32")))
    assert images.shape == (2, 64, 64, 3) and images.min() >= -1 and images.max() <= 1
    assert _np(d(images)).shape == (2, 1)


def test_bad_arguments_are_refused():
    with pytest.raises(UserError, match="multiple of 16"):
        gan.dcgan_generator(10, (28, 28, 1))
    with pytest.raises(ValueError, match="BatchNormalization"):
        gan.GAN(gan.dcgan_generator(4, (16, 16, 1), 2), gan.dcgan_discriminator((16, 16, 1), 2, "batch"),
                loss="wasserstein")
    with pytest.raises(ValueError, match="loss must be"):
        gan.GAN(gan.mlp_generator(), gan.mlp_discriminator(), loss="hinge")


# --------------------------------------------------------------------------- 64x64 loaders


def _fake_flowers(folder, n=40, classes=3):
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    split = np.array((["train"] * 6 + ["valid", "test"]) * (n // 8))
    np.savez(folder / "flowers102_64x64.npz", x=rng.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8),
             y=(np.arange(n) % classes + 1).astype(np.uint8), image_id=np.arange(n), split=split,
             class_names=np.array([f"flower {k}" for k in range(classes)]))


def test_flowers102_loader_shifts_labels_and_keeps_the_split(tmp_path, home):
    from kerasdl.data import images64

    _fake_flowers(tmp_path / "flowers102")
    ds = images64.load_flowers102(data_dir=tmp_path)
    assert ds.x_train.shape == (30, 64, 64, 3) and len(ds.x_val) == 5 and len(ds.x_test) == 5
    assert ds.y_train.min() == 0 and ds.y_train.max() == 2 and ds.num_classes == 3
    (tmp_path / "flowers102" / "flowers102_64x64.npz").write_bytes(b"not a zip")
    with pytest.raises(DataCorrupt, match="not a readable"):
        images64.load_flowers102(data_dir=tmp_path)


def test_faces_loader_holds_out_two_images_per_person(tmp_path, home):
    from kerasdl.data import images64

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "olivetti_faces.npz", images=rng.integers(0, 256, (30, 64, 64), dtype=np.uint8),
             target=np.repeat(np.arange(3), 10).astype(np.uint8))
    ds = images64.load_faces(data_dir=tmp_path)
    assert ds.x_train.shape == (24, 64, 64, 1) and ds.x_test.shape == (6, 64, 64, 1)
    assert sorted(np.bincount(ds.y_test)) == [2, 2, 2]


# --------------------------------------------------------------------------- the tasks


def _without_clock(metrics, prefix=""):
    """The metrics less the times and memory measured, flat: {"z10.frechet": ...}."""
    flat = {}
    for key, value in metrics.items():
        if any(word in key for word in ("second", "time", "memory", "_min")):
            continue
        if isinstance(value, dict):
            flat.update(_without_clock(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@pytest.mark.backends
def _quick_gan(run_cli, home, tmp_path, runs):
    """`gan --quick` (WGAN-GP) on fake flowers `runs` times, each into its own folder: the last
    run's folder, and each run's output and metrics (less the clock's)."""
    _fake_flowers(tmp_path / "data" / "flowers102", n=64, classes=4)
    options = ("gan", "--quick", "--data-dir", tmp_path / "data", "--set", "variant=wgan-gp",
               "--set", "d_steps=2", "--set", "z_dim=10")
    outputs, metrics = [], []
    for k in range(runs):
        code, out, err = run_cli(*options, "--out", home / f"runs{k}")
        assert code == 0, err
        outputs.append(out)
        folder = complete_run_folder(home / f"runs{k}", "gan")
        metrics.append(_without_clock(json.loads((folder / "metrics.json").read_text())))
    return folder, outputs, metrics


def test_gan_quick_writes_a_complete_run_folder(run_cli, home, tmp_path):
    folder, outputs, metrics = _quick_gan(run_cli, home, tmp_path, runs=1)
    for name in ("model.keras", "history.csv", "steps.csv", "samples.png", "latent_pca.png",
                 "interpolation.png", "samples_through_training.png", "losses.png"):
        assert (folder / name).is_file(), name
    assert metrics[0]["variant"] == "wgan-gp" and metrics[0]["z_dim"] == 10
    assert np.isfinite(metrics[0]["frechet"]) and metrics[0]["frechet"] >= 0
    assert "Fréchet" in (folder / "report.md").read_text()
    assert "feature classifier: from the cache" not in outputs[0]


@pytest.mark.slow  # two runs, 65-80 s (CI time); the run itself is the test above
def test_a_second_gan_run_scores_with_the_cached_classifier_and_ends_with_the_same_numbers(
        run_cli, home, tmp_path):
    """Two runs of the same command: the first trains the Fréchet scorer's classifier and keeps
    it, the second reads it from the cache, and both end with the same numbers (the GAN starts
    from the same random state either way). A broken cache file: test_frechet."""
    _, outputs, metrics = _quick_gan(run_cli, home, tmp_path, runs=2)
    assert ["feature classifier: from the cache" in out for out in outputs] == [False, True]
    # The GAN's numbers are the same to the last digit; the scores agree to float32 rounding (on
    # JAX the classifier read back from its file is compiled anew: 1e-8 apart, seen in CI).
    assert metrics[1] == pytest.approx(metrics[0], rel=1e-6)
    for key in ("d_loss", "g_loss", "gradient_penalty", "wasserstein"):
        assert metrics[0][key] == metrics[1][key], key


@pytest.mark.slow
def test_gan_quick_z_dim_sweep(run_cli, tmp_path):
    _fake_flowers(tmp_path / "data" / "flowers102", n=64, classes=4)
    code, _, err = run_cli("gan", "--quick", "--data-dir", tmp_path / "data", "--out", tmp_path / "runs",
                           "--sweep", "z_dim")
    assert code == 0, err
    folder = complete_run_folder(tmp_path / "runs", "gan")
    assert (folder / "z_dim_scores.png").is_file()
    # model.keras: the GAN of z_dim (100 by default); the sweep's others under models/.
    assert keras.models.load_model(folder / "model.keras").z_dim == 100
    assert sorted(p.name for p in (folder / "models").iterdir()) == ["gan_z10.keras", "gan_z500.keras"]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert {"z10", "z100", "z500"} <= set(metrics)
    assert metrics["z_dim"] == 100 and metrics["frechet"] == metrics["z100"]["frechet"]


def test_gan_config_errors_are_one_line(run_cli, tmp_path):
    code, _, err = run_cli("gan", "--quick", "--set", "variant=vae", "--out", tmp_path)
    assert code == 2 and "variant=vae: choose dcgan or wgan-gp" in err and "\n" not in err.strip()
    code, _, err = run_cli("gan", "--quick", "--sweep", "width", "--out", tmp_path)
    assert code == 2 and "sweep=width: expected z_dim" in err
    code, _, err = run_cli("gan", "--quick", "--sweep", "z_dim", "--set", "z_dim=7", "--out", tmp_path)
    assert code == 2 and "z_dim=7: expected 10, 100 or 500 with --sweep z_dim" in err


@pytest.mark.parametrize("task, changes, message", [
    ("gan", dict(n_score=1), "n_score=1: expected 2 or more (a covariance needs at least 2 images)"),
    ("gan", dict(beta_1=1.0), "beta_1=1.0: expected a value in [0, 1)"),
    ("gan", dict(d_steps=-1), "d_steps=-1: expected 0 or more"),
    ("gan", dict(learning_rate=float("nan")), "learning_rate=nan: expected a finite number"),
    ("gan-2d", dict(frames=5, steps=3), "frames=5: expected at most steps (3), one frame a step"),
    ("gan-2d", dict(hidden=()), "hidden=: expected positive widths, e.g. 64,64"),
    ("gan-2d", dict(hidden=(8, 0)), "hidden=8,0: expected a positive number"),
    ("gan-2d", dict(noise=-0.1), "noise=-0.1: expected 0 or more"),
])
def test_bad_config_values_are_refused_with_the_field_and_value(task, changes, message):
    import re

    from kerasdl import tasks

    with pytest.raises(UserError, match="^" + re.escape(message) + "$"):
        tasks.load(task).Config(**changes)


def test_gan_2d_quick_writes_frames_and_a_gif(run_cli, tmp_path):
    code, out, err = run_cli("gan-2d", "--quick", "--out", tmp_path / "runs")
    assert code == 0, err
    folder = complete_run_folder(tmp_path / "runs", "gan-2d")
    for name in ("frames.png", "final_frame.png", "curves.png", "model.keras", "history.csv"):
        assert (folder / name).is_file(), name
    assert (folder / "training.gif").read_bytes()[:6] in (b"GIF89a", b"GIF87a")
    metrics = json.loads((folder / "metrics.json").read_text())
    assert 0 <= metrics["x_coverage"] <= 1 and metrics["frechet_2d"] >= 0
