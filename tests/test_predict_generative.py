"""`predict` on generative models: a GAN's and a VAE's samples, a VAE's reconstructions,
gan-2d's points; tiny models saved as run folders."""

import csv

import numpy as np
import pytest
from PIL import Image

import keras

from kerasdl import predict, runs
from kerasdl.tasks.gan import model as gan
from kerasdl.tasks.vae import model as vae_model
from bad_inputs import one_line_error

pytestmark = pytest.mark.backends


def _run_folder(root, model, task):
    run = runs.Run(task, root=root, run_id="r1")
    run.write_json("config.json", {"task": task, "config": {"dataset": "nowhere"}})
    run.save_model(model)
    return run.dir


@pytest.fixture
def gan_run(tmp_path):
    keras.utils.set_random_seed(0)
    model = gan.GAN(gan.dcgan_generator(4, (16, 16, 3), width=2),
                    gan.dcgan_discriminator((16, 16, 3), width=2), seed=0)
    return _run_folder(tmp_path / "runs", model, "gan"), model


@pytest.fixture
def vae_run(tmp_path):
    keras.utils.set_random_seed(0)
    model = vae_model.vae((8, 8, 1), latent_dim=2, filters=(2, 4), hidden=8, value_range=(0, 255))
    return _run_folder(tmp_path / "runs", model, "vae"), model


def test_gan_samples_are_the_generators_images_on_seeded_noise(run_cli, gan_run, tmp_path):
    folder, model = gan_run
    code, _, err = run_cli("predict", folder, "--samples", "5", "--seed", "3",
                           "--output", tmp_path / "s.npy")
    assert code == 0, err
    samples = np.load(tmp_path / "s.npy")
    z = np.random.default_rng(3).standard_normal((5, 4)).astype(np.float32)
    expected = (model.generator.predict(z, verbose=0) + 1) / 2  # tanh range -> [0, 1]
    assert samples.shape == (5, 16, 16, 3)
    np.testing.assert_allclose(samples, np.clip(expected, 0, 1), atol=1e-5)

    # a PNG sheet: 5 images in one row, 2-pixel gaps
    code, _, err = run_cli("predict", folder, "--samples", "5", "--output", tmp_path / "s.png")
    assert code == 0 and "5 samples written" in err, err
    assert Image.open(tmp_path / "s.png").size == (5 * 16 + 4 * 2, 16)


def test_the_same_seed_draws_the_same_samples(gan_run):
    folder, _ = gan_run
    predictor = predict.load(folder)
    a, b = predict.generate(predictor, 3, seed=1), predict.generate(predictor, 3, seed=1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, predict.generate(predictor, 3, seed=2))  # tiny weights: tiny differences


def test_a_vae_reconstructs_its_inputs_and_draws_from_its_prior(run_cli, vae_run, tmp_path):
    folder, model = vae_run
    x = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 1)).astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    code, _, err = run_cli("predict", folder, tmp_path / "x.npy", "--output", tmp_path / "r.npy")
    assert code == 0, err
    np.testing.assert_allclose(np.load(tmp_path / "r.npy"), model.reconstruct(x.astype(np.float32)),
                               atol=1e-5)

    # the sheet: the 3 inputs in a row above their 3 reconstructions
    code, _, err = run_cli("predict", folder, tmp_path / "x.npy", "--output", tmp_path / "r.png")
    assert code == 0, err
    sheet = np.asarray(Image.open(tmp_path / "r.png"))
    assert sheet.shape == (2 * 8 + 2, 3 * 8 + 2 * 2)
    np.testing.assert_array_equal(sheet[:8, :8], x[0, ..., 0])  # the first input, as it was

    code, _, err = run_cli("predict", folder, "--samples", "4", "--output", tmp_path / "p.npy")
    assert code == 0, err
    samples = np.load(tmp_path / "p.npy")
    assert samples.shape == (4, 8, 8, 1) and samples.min() >= 0 and samples.max() <= 1


def test_a_reconstruction_sheet_keeps_each_input_above_its_own():
    originals = np.zeros((10, 2, 2, 1), np.float32)
    rebuilt = np.full((10, 2, 2, 1), 0.5, np.float32)
    sheet = predict.above_each_other(originals, rebuilt, columns=8)
    # rows: 8 inputs, their 8 reconstructions, 2 inputs + 6 blanks, 2 reconstructions + 6 blanks
    assert sheet.shape == (32, 2, 2, 1)
    assert (sheet[:8] == 0).all() and (sheet[8:16] == 0.5).all()
    assert (sheet[16:18] == 0).all() and (sheet[18:24] == 1).all()
    assert (sheet[24:26] == 0.5).all() and (sheet[26:] == 1).all()


def test_gan_2d_samples_are_points_in_a_table_or_csv(run_cli, tmp_path):
    keras.utils.set_random_seed(0)
    model = gan.GAN(gan.mlp_generator(2, 2, (4,)), gan.mlp_discriminator(2, (4,)), seed=0)
    folder = _run_folder(tmp_path / "runs", model, "gan-2d")
    code, out, err = run_cli("predict", folder, "--samples", "3")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].split() == ["sample", "x", "y"] and len(lines) == 4
    code, _, err = run_cli("predict", folder, "--samples", "3", "--output", tmp_path / "p.csv")
    assert code == 0, err
    with open(tmp_path / "p.csv") as f:
        rows = list(csv.DictReader(f))
    z = np.random.default_rng(0).standard_normal((3, 2)).astype(np.float32)
    expected = model.generator.predict(z, verbose=0)
    assert float(rows[2]["y"]) == pytest.approx(float(expected[2, 1]), abs=1e-5)


def test_generative_misuse_is_one_line(run_cli, gan_run, vae_run, tmp_path):
    gan_folder, _ = gan_run
    one_line_error(run_cli("predict", gan_folder), "--samples N")
    one_line_error(run_cli("predict", gan_folder, "--samples", "0"), "--samples 0")
    one_line_error(run_cli("predict", gan_folder, "--samples", "2", "--top", "2"), "--top")
    one_line_error(run_cli("predict", gan_folder, "--samples", "2", "--output", tmp_path / "s.csv"),
                    ".png")
    vae_folder, _ = vae_run
    np.save(tmp_path / "x.npy", np.zeros((8, 8, 1), np.uint8))
    one_line_error(run_cli("predict", vae_folder, tmp_path / "x.npy", "--samples", "2"), "not both")
    one_line_error(run_cli("predict", vae_folder, tmp_path / "x.npy", "--output", tmp_path / "x.txt"),
                    ".csv or .json or .png or .npy")


def test_samples_are_for_generative_models_only(run_cli, tmp_path):
    from kerasdl.models import classifiers

    model = classifiers.cnn((8, 8, 1), 3, widths=(4,), dropout=0.0, head_dropout=0.0)
    folder = _run_folder(tmp_path / "runs", model, "classify")
    one_line_error(run_cli("predict", folder, "--samples", "2"), "--samples is for GANs and VAEs")
    one_line_error(run_cli("predict", folder), "no INPUT given")
    np.save(tmp_path / "x.npy", np.zeros((8, 8, 1), np.uint8))
    one_line_error(run_cli("predict", folder, tmp_path / "x.npy", "--output", tmp_path / "p.png"),
                    ".csv or .json")


def test_the_modules_of_kerasdl_classes_are_named_by_the_saved_config(gan_run):
    folder, _ = gan_run
    saved = predict._saved_config(folder / "model.keras")
    # a fresh process imports these before loading, so that GAN is registered
    assert predict.kerasdl_modules(saved) == ["kerasdl.tasks.gan.model"]


def test_a_keras_error_is_cut_to_its_first_sentence():
    error = TypeError("Could not locate class 'GAN'. Full object config: {'a': " + "1" * 5000 + "}")
    assert predict._first_line(error) == "Could not locate class 'GAN'."
    assert len(predict._first_line(ValueError("x" * 5000))) == 300
