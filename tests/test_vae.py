"""The VAE: its loss terms against hand computations, a training step that learns on
every backend, a .keras round trip that generates the same images, and the task's --quick."""

import numpy as np
import pytest

import keras

from kerasdl.tasks.vae import model as vae_models

TOY = "toy_vae_images"


def toy_images(n, seed=0, size=8):
    """Bright squares at random places on a dark background, uint8, two classes by size."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, size, size, 1), dtype=np.uint8)
    y = rng.integers(0, 2, n)
    for k in range(n):
        side = 2 + 2 * y[k]
        r, c = rng.integers(0, size - side + 1, 2)
        x[k, r:r + side, c:c + side] = 255
    return x, y


def test_kl_divergence_matches_hand_computation():
    m = np.array([[0.5, -1.0], [0.0, 0.0]], dtype="float32")
    log_var = np.array([[0.0, np.log(0.25)], [0.0, 0.0]], dtype="float32")
    # KL(N(m, s^2) || N(0, 1)) = 1/2 (s^2 + m^2 - 1 - log s^2), per dimension
    first = 0.5 * (1 + 0.25 - 1 - 0) + 0.5 * (0.25 + 1 - 1 - np.log(0.25))
    got = keras.ops.convert_to_numpy(vae_models.kl_divergence(m, log_var))
    np.testing.assert_allclose(got, [first, 0.0], rtol=1e-6)
    assert first == pytest.approx(0.125 + 0.125 + np.log(2), rel=1e-6)


def test_reconstruction_loss_is_bernoulli_negative_log_likelihood():
    logits = np.array([[[[2.0], [-30.0]], [[0.0], [40.0]]]], dtype="float32")  # (1, 2, 2, 1)
    target = np.array([[[[1.0], [0.0]], [[0.25], [1.0]]]], dtype="float32")
    # log p = -log(1 + e^-l) and log(1 - p) = -log(1 + e^l), p = sigmoid(l); float64
    log_p, log_q = -np.logaddexp(0, -logits.astype("float64")), -np.logaddexp(0, logits.astype("float64"))
    by_hand = -(target * log_p + (1 - target) * log_q).sum()
    got = keras.ops.convert_to_numpy(vae_models.reconstruction_loss(target, logits))
    np.testing.assert_allclose(got, [by_hand], rtol=1e-5)


@pytest.mark.backends
def test_sampler_uses_its_seed_generator():
    mean = np.full((2000, 2), 3.0, dtype="float32")
    log_var = np.full((2000, 2), np.log(4.0), dtype="float32")
    z = keras.ops.convert_to_numpy(vae_models.Sampler(seed=7)([mean, log_var]))
    again = keras.ops.convert_to_numpy(vae_models.Sampler(seed=7)([mean, log_var]))
    np.testing.assert_array_equal(z, again)
    assert z.mean() == pytest.approx(3.0, abs=0.15)
    assert z.std() == pytest.approx(2.0, abs=0.15)


@pytest.mark.backends
def test_training_reduces_the_loss_and_reports_its_terms():
    keras.utils.set_random_seed(0)
    x, _ = toy_images(128)
    model = vae_models.vae(x.shape[1:], latent_dim=2, filters=(4, 8), hidden=16, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = model.evaluate(x, batch_size=64, verbose=0, return_dict=True)
    history = model.fit(x, batch_size=16, epochs=5, verbose=0)
    after = model.evaluate(x, batch_size=64, verbose=0, return_dict=True)
    assert set(history.history) == {"loss", "reconstruction_loss", "kl_loss"}
    assert after["loss"] < 0.8 * before["loss"]
    # The total is reconstruction + beta * KL (beta = 1); the trackers add up.
    assert after["loss"] == pytest.approx(after["reconstruction_loss"] + after["kl_loss"], rel=1e-4)


@pytest.mark.backends
def test_beta_weights_the_kl_term():
    x, _ = toy_images(16)
    model = vae_models.vae(x.shape[1:], latent_dim=3, filters=(4,), hidden=0, beta=0.0, seed=1)
    model.compile(optimizer="adam")
    values = model.evaluate(x, batch_size=16, verbose=0, return_dict=True)
    assert values["kl_loss"] > 0
    assert values["loss"] == pytest.approx(values["reconstruction_loss"], rel=1e-5)


@pytest.mark.backends
def test_save_and_load_round_trip_generates_the_same_images(tmp_path):
    x, _ = toy_images(32)
    model = vae_models.vae(x.shape[1:], latent_dim=2, filters=(4, 8), hidden=8, beta=0.5,
                           value_range=(0, 255), seed=3)
    model.compile(optimizer="adam")
    model.fit(x, batch_size=16, epochs=1, verbose=0)
    model.save(tmp_path / "vae.keras")
    loaded = keras.saving.load_model(tmp_path / "vae.keras")
    z = np.random.default_rng(0).standard_normal((5, 2)).astype("float32")
    np.testing.assert_allclose(loaded.decode(z), model.decode(z), atol=1e-6)
    np.testing.assert_allclose(loaded.encode(x)[0], model.encode(x)[0], atol=1e-5)
    assert (loaded.beta, loaded.value_range, loaded.latent_dim) == (0.5, (0.0, 255.0), 2)
    assert loaded.decode(z).shape == (5, 8, 8, 1) and 0 <= loaded.decode(z).min()


@pytest.mark.backends
def test_evaluation_reads_a_split_in_chunks_and_gives_the_whole_arrays_numbers(monkeypatch, tmp_path):
    """The pixel error is summed chunk by chunk over the split's rows (images on disk are never
    copied whole): equal to the whole array's, for rows of a memory-mapped file and for arrays."""
    from kerasdl.tasks import vae as vae_task

    x, _ = toy_images(23)
    on_disk = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=x.dtype, shape=x.shape)
    on_disk[:] = x
    rows = np.array([20, 3, 4, 11, 0, 7, 15, 16, 9, 1, 2])
    model = vae_models.vae((8, 8, 1), latent_dim=2, filters=(4,), hidden=8, seed=1)
    model.compile(optimizer="adam")
    target = x[rows] / 255.0
    by_hand = np.mean((model.reconstruct(x[rows]) - target) ** 2)
    monkeypatch.setattr(vae_task, "EVALUATION_CHUNK", 4)  # 11 rows: chunks of 4, 4 and 3
    for streamed in (True, False):
        got = vae_task.evaluate(model, (on_disk, None, rows), batch_size=5, streamed=streamed)
        assert got["reconstruction_mse"] == pytest.approx(by_hand, rel=1e-5)
        assert np.isfinite(got["neg_elbo"]) and got["neg_elbo"] == pytest.approx(got["reconstruction"] + got["kl"])
    whole = vae_task.evaluate(model, x[rows], batch_size=5)
    assert whole["reconstruction_mse"] == pytest.approx(by_hand, rel=1e-5)


def test_decoder_matches_odd_image_sizes():
    for shape in [(28, 28, 1), (30, 18, 3), (16, 16, 1)]:
        decoder = vae_models.build_decoder(shape, 4, filters=(4, 8), hidden=0)
        assert tuple(decoder.output.shape[1:]) == shape


def test_too_small_images_are_a_user_error():
    from kerasdl.errors import UserError

    with pytest.raises(UserError, match="too small"):
        vae_models.vae((4, 4, 1), filters=(4, 8, 16))


def test_quick_run_writes_a_complete_run_folder(quick_run, toy_dataset):
    toy_dataset(TOY, toy_images, ["small", "large"], train=300, test=60,
                description="8x8 squares of two sizes")
    folder, metrics = quick_run("vae", "--set", f"dataset={TOY}", "--set", "latent_dim=2",
                                files=("history.csv", "model.keras", "elbo_curves.png", "reconstructions.png",
                                       "samples.png", "interpolation.png", "latent_map.png"))
    assert "test_neg_elbo" in metrics
    assert "latent_map.png" in (folder / "report.md").read_text()


def test_bad_config_is_one_line(run_cli, tmp_path):
    code, _, err = run_cli("vae", "--quick", "--set", "latent_dim=0", "--out", tmp_path)
    assert code == 2 and "latent_dim=0" in err


@pytest.mark.parametrize("changes, message", [
    (dict(filters=()), "filters=: expected positive channel counts, e.g. 32,64"),
    (dict(filters=(8, 0)), "filters=8,0: expected a positive number"),
    (dict(hidden=-1), "hidden=-1: expected 0 or more"),
    (dict(beta=float("inf")), "beta=inf: expected a finite number"),
    (dict(learning_rate=0.0), "learning_rate=0.0: expected a positive number"),
    (dict(seed=-1), "seed=-1: expected 0 or more"),
])
def test_bad_config_values_name_the_field_and_value(changes, message):
    import re

    from kerasdl.errors import UserError
    from kerasdl.tasks import vae

    with pytest.raises(UserError, match="^" + re.escape(message) + "$"):
        vae.Config(**changes)
