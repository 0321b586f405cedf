"""Representation learning: NT-Xent and the triplet losses against direct computations,
seeded augmentations, a training step that learns on every backend, the task's --quick,
and the encoder through `export` and `predict`."""

import json
import re

import numpy as np
import pytest

import keras

from kerasdl.tasks.contrastive import augment, evaluate, losses
from kerasdl.tasks.contrastive import model as models
from test_vae import toy_images as vae_toy_images

TOY = "toy_contrastive_images"


def toy_images(n, seed=0, size=8):
    """test_vae's squares of two sizes, each in a colour of its own: uint8 RGB."""
    grey, y = vae_toy_images(n, seed, size)
    colour = np.random.default_rng(seed).integers(128, 256, (n, 1, 1, 3))
    return (grey // 255 * colour).astype(np.uint8), y


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


# === The losses, by hand ===

def nt_xent_by_hand(z1, z2, t):
    """The NT-Xent sum written out view by view, in float64."""
    z = np.concatenate([z1, z2]).astype(np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    n2, n = len(z), len(z) // 2
    total = 0.0
    for i in range(n2):
        partner = (i + n) % n2
        others = [np.exp(z[i] @ z[k] / t) for k in range(n2) if k != i]
        total += -np.log(np.exp(z[i] @ z[partner] / t) / np.sum(others))
    return total / n2


@pytest.mark.backends
def test_nt_xent_matches_a_direct_computation():
    rng = np.random.default_rng(0)
    z1, z2 = rng.normal(size=(5, 3)).astype("float32"), rng.normal(size=(5, 3)).astype("float32")
    for t in (0.1, 0.5, 1.0):
        got = float(_numpy(losses.nt_xent(z1, z2, t)))
        assert got == pytest.approx(nt_xent_by_hand(z1, z2, t), rel=1e-5)


@pytest.mark.backends
def test_nt_xent_known_values_for_identical_views():
    n, t = 4, 0.5
    # Every projection the same: the partner is one of 2N - 1 equal candidates.
    same = np.ones((n, 3), dtype="float32")
    assert float(_numpy(losses.nt_xent(same, 2 * same, t))) == pytest.approx(np.log(2 * n - 1), rel=1e-6)
    # Identical views of orthogonal images: partner similarity 1, the 2N - 2 others 0.
    eye = np.eye(n, dtype="float32")
    expected = np.log(1 + (2 * n - 2) * np.exp(-1 / t))
    loss, accuracy = losses.nt_xent(eye, eye, t, return_accuracy=True)
    assert float(_numpy(loss)) == pytest.approx(expected, rel=1e-6)
    assert float(_numpy(accuracy)) == 1.0


def triplet_by_hand(e, y, margin, pick):
    """Mean of max(d(a, p) - d(a, n) + margin, 0) over anchors with a triplet; `pick(i, positives,
    negatives, d)` returns (p, n)."""
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    d = np.linalg.norm(e[:, None] - e[None], axis=-1)
    terms = []
    for i in range(len(e)):
        positives = [j for j in range(len(e)) if y[j] == y[i] and j != i]
        negatives = [j for j in range(len(e)) if y[j] != y[i]]
        if positives and negatives:
            p, n = pick(i, positives, negatives, d)
            terms.append(max(d[i, p] - d[i, n] + margin, 0.0))
    return float(np.mean(terms)) if terms else 0.0


@pytest.mark.backends
def test_batch_hard_triplet_loss_takes_the_farthest_positive_and_nearest_negative():
    e = np.array([[1, 0], [0.8, 0.6], [0, 1], [-1, 0.1], [0.6, -0.8]], dtype="float32")
    y = np.array([0, 0, 1, 1, 0])
    by_hand = triplet_by_hand(e, y, 0.5, lambda i, ps, ns, d: (max(ps, key=lambda j: d[i, j]),
                                                                min(ns, key=lambda j: d[i, j])))
    assert float(_numpy(losses.batch_hard_triplet_loss(e, y, 0.5))) == pytest.approx(by_hand, rel=1e-5)
    # One-hot embeddings per class: every positive at 0, every negative at sqrt(2) > margin.
    assert float(_numpy(losses.batch_hard_triplet_loss(np.eye(2, dtype="float32")[y], y, 1.0))) == 0.0


@pytest.mark.backends
def test_batch_all_triplet_loss_averages_the_triplets_that_violate_the_margin():
    e = np.array([[1, 0], [0.8, 0.6], [0, 1], [-1, 0.1], [0.6, -0.8]], dtype="float32")
    y = np.array([0, 0, 1, 1, 0])
    u = e / np.linalg.norm(e, axis=1, keepdims=True)
    d = np.linalg.norm(u[:, None] - u[None], axis=-1)
    terms = [d[a, p] - d[a, n] + 0.5 for a in range(5) for p in range(5) for n in range(5)
             if p != a and y[p] == y[a] and y[n] != y[a]]
    active = [t for t in terms if t > 0]
    assert 0 < len(active) < len(terms)  # some triplets are already satisfied: left out of the mean
    assert float(_numpy(losses.batch_all_triplet_loss(e, y, 0.5))) == pytest.approx(np.mean(active), rel=1e-5)
    assert float(_numpy(losses.batch_all_triplet_loss(np.eye(2, dtype="float32")[y], y, 1.0))) == 0.0


@pytest.mark.backends
def test_random_triplet_loss_uses_the_highest_scored_positive_and_negative():
    rng = np.random.default_rng(1)
    e = rng.normal(size=(6, 4)).astype("float32")
    y = np.array([0, 1, 0, 2, 1, 1])  # anchor 3 has no class-mate: left out
    scores = rng.uniform(size=(6, 6)).astype("float32")
    by_hand = triplet_by_hand(e, y, 0.3, lambda i, ps, ns, d: (max(ps, key=lambda j: scores[i, j]),
                                                                max(ns, key=lambda j: scores[i, j])))
    got = float(_numpy(losses.random_triplet_loss(e, y, 0.3, scores)))
    assert got == pytest.approx(by_hand, rel=1e-5)


# === Augmentations ===

@pytest.mark.backends
def test_augmentations_repeat_per_seed_and_differ_between_seeds():
    x, _ = toy_images(6)
    x = x.astype("float32")

    def views(seed):
        return _numpy(augment.augmenter(3, seed=seed)(x, training=True))

    first, again, other = views(5), views(5), views(6)
    np.testing.assert_allclose(first, again, atol=1e-5)
    assert np.abs(first - other).max() > 1
    assert first.shape == x.shape and first.min() >= -1e-3 and first.max() <= 255 + 1e-3
    # Outside training the pipeline changes nothing.
    np.testing.assert_array_equal(_numpy(augment.augmenter(3, seed=5)(x, training=False)), x)


@pytest.mark.backends
def test_a_crop_of_the_whole_image_is_the_image():
    x, _ = toy_images(3)
    crop = augment.RandomResizedCrop(scale=(1.0, 1.0), ratio=(1.0, 1.0), seed=0)
    np.testing.assert_allclose(_numpy(crop(x.astype("float32"), training=True)), x, atol=1e-3)
    small = augment.RandomResizedCrop(scale=(0.1, 0.1), ratio=(1.0, 1.0), seed=0)
    assert not np.allclose(_numpy(small(x.astype("float32"), training=True)), x)


def test_grey_images_get_no_colour_steps():
    names = [layer.name for layer in augment.augmenter(1, seed=0).layers]
    assert names == ["augment_crop", "augment_flip", "augment_jitter"]


# === Training ===

def _trainer(method, mining="batch_hard"):
    keras.utils.set_random_seed(0)
    encoder = models.build_encoder((8, 8, 3), widths=(8, 16))
    head = models.build_head(16, hidden=16, output_dim=8)
    aug = augment.augmenter(3, seed=0, strength=0.2, min_scale=0.5)
    if method == "simclr":
        model = models.SimCLR(encoder, head, aug, temperature=0.5)
    else:
        model = models.TripletEncoder(encoder, head, aug, margin=0.5, mining=mining, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    return model


@pytest.mark.backends
def test_simclr_training_lowers_nt_xent():
    x, _ = toy_images(64)
    model = _trainer("simclr")
    history = model.fit(x, batch_size=32, epochs=8, verbose=0).history
    assert set(history) == {"loss", "pair_accuracy"}
    assert history["loss"][-1] < history["loss"][0] - 0.3
    assert history["pair_accuracy"][-1] > history["pair_accuracy"][0]


@pytest.mark.backends
@pytest.mark.parametrize("mining", ["random", "batch_hard", "batch_all"])
def test_triplet_training_lowers_the_loss(mining):
    x, y = toy_images(64)
    model = _trainer("triplet", mining)

    def all_triplets():
        """The triplet loss of every (anchor, positive, negative) of the set, un-augmented: what
        each mining lowers (batch-all's own loss is the mean over the triplets still violating
        the margin; as they get fewer it need not fall). Batch norm as in training (the batch's
        statistics: a few steps barely move its moving averages)."""
        z = _numpy(losses.unit(model.head(model.encoder(x, training=True), training=True)))
        d = np.linalg.norm(z[:, None] - z[None], axis=-1)
        same = y[:, None] == y[None]
        valid = (same & ~np.eye(len(y), dtype=bool))[:, :, None] & ~same[:, None, :]
        return np.maximum(d[:, :, None] - d[:, None, :] + 0.5, 0)[valid].mean()

    before = all_triplets()
    history = model.fit(x, y, batch_size=32, epochs=8, verbose=0).history
    assert all_triplets() < 0.7 * before
    if mining != "batch_all":
        assert history["loss"][-1] < 0.7 * history["loss"][0]


def test_label_subsets_keep_every_class_and_the_share():
    y = np.repeat(np.arange(3), [100, 50, 7])
    keep = evaluate.label_subset(y, 0.1, seed=0)
    assert np.bincount(y[keep]).tolist() == [10, 5, 1]
    np.testing.assert_array_equal(keep, evaluate.label_subset(y, 0.1, seed=0))
    assert len(evaluate.label_subset(y, 1.0, seed=0)) == len(y)


def _state(trainer):
    return [np.array(v) for v in (*trainer.model.variables, *trainer.model.optimizer.variables)]


@pytest.mark.backends
def test_a_fine_tuner_restarts_from_its_start_and_leaves_the_encoder_given_alone():
    """One compiled model for every encoder (one trace): each fine-tuning starts from the same
    softmax layer, optimizer state (step count, moments) and augmentation seeds."""
    x, y = toy_images(48)
    keras.utils.set_random_seed(0)
    encoder = models.build_encoder((8, 8, 3), widths=(4, 8))
    before = [np.array(w) for w in encoder.get_weights()]
    trainer = evaluate.fine_tuner(encoder, 2, steps=6, augment="flip+shift", seed=0)
    start = _state(trainer)
    result = evaluate.fine_tune(trainer, encoder, (x, y, None), (x[:16], y[:16]), epochs=2, batch_size=16)
    assert result["steps"] == 6 and 0 <= result["test_accuracy"] <= 1
    trained = _state(trainer)
    assert sum(not np.array_equal(a, b) for a, b in zip(start, trained, strict=True)) > len(start) // 2
    trainer.restart()
    for a, b in zip(_state(trainer), start, strict=True):
        np.testing.assert_array_equal(a, b)
    for mine, theirs in zip(encoder.get_weights(), before, strict=True):
        np.testing.assert_array_equal(mine, theirs)


@pytest.mark.backends
def test_a_linear_probe_restarts_from_its_start():
    rng = np.random.default_rng(0)
    h, y = rng.normal(size=(64, 6)).astype("float32"), rng.integers(0, 3, 64)
    trainer = evaluate.linear_probe_trainer(6, 3)
    start = _state(trainer)
    _, accuracy = evaluate.linear_probe(trainer, h, y, h, y, epochs=3, batch_size=16)
    assert set(accuracy) == {"train", "test"}
    assert not np.array_equal(_state(trainer)[0], start[0])  # the Dense kernel
    trainer.restart()
    for a, b in zip(_state(trainer), start, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.backends
def test_a_restarted_probe_standardises_each_encoders_embeddings_by_their_own_statistics():
    """The probe of the random encoder came second and, on TensorFlow and JAX, standardised
    with the first encoder's statistics (traced as constants): 12% on CIFAR-10."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 96)
    centres = rng.normal(size=(3, 6))
    near = (centres[y] + 0.5 * rng.normal(size=(96, 6))).astype("float32")
    far = (1000 * near[::-1] + 500).astype("float32")  # another scale and offset, as another encoder's
    trainer = evaluate.linear_probe_trainer(6, 3)
    evaluate.linear_probe(trainer, near, y, near, y, epochs=3, batch_size=16)
    probe, accuracy = evaluate.linear_probe(trainer, far, y[::-1], far, y[::-1], epochs=3, batch_size=16)
    # The accuracy reported is the returned probe's, and that probe standardises raw embeddings
    # by their own mean and standard deviation (the old one, on TensorFlow and JAX, by the first's).
    predicted = probe.predict(far, verbose=0).argmax(axis=1)
    assert np.mean(predicted == y[::-1]) == pytest.approx(accuracy["test"])
    scaled = (far - far.mean(axis=0)) / far.std(axis=0)
    by_hand = keras.ops.convert_to_numpy(keras.ops.softmax(scaled @ probe.get_layer("predictions").kernel
                                                           + probe.get_layer("predictions").bias))
    np.testing.assert_allclose(probe.predict(far, verbose=0), by_hand, rtol=1e-3, atol=1e-5)


# === The task, export and predict ===

def test_quick_run_then_predict_and_export_the_encoder(quick_run, toy_dataset, run_cli, tmp_path):
    toy_dataset(TOY, toy_images, ["small", "large"], train=200, test=60,
                description="8x8 squares of two sizes")
    folder, metrics = quick_run("contrastive", "--set", f"dataset={TOY}", "--set", "widths=4,8",
                                files=("history.csv", "model.keras", "models/probe.keras", "gallery.npz",
                                       "classes.json", "loss_curves.png", "label_efficiency.png",
                                       "neighbours.png", "tsne.png"))
    for key in ("probe_test_accuracy", "random_probe_test_accuracy", "knn_test_accuracy",
                "random_knn_test_accuracy"):
        assert 0 <= metrics[key] <= 1
    assert set(metrics["finetune"]) == {"1"}
    assert "Fine-tuning the whole encoder" in (folder / "report.md").read_text()

    x, _ = toy_images(3, seed=9)
    np.save(tmp_path / "x.npy", x)
    code, out, err = run_cli("predict", folder, tmp_path / "x.npy", "--output", tmp_path / "p.json")
    assert code == 0, err
    predictions = json.loads((tmp_path / "p.json").read_text())["predictions"]
    encoder = keras.saving.load_model(folder / "model.keras")
    expected = encoder.predict(x.astype("float32"), verbose=0)
    np.testing.assert_allclose([p["embedding"] for p in predictions], expected, rtol=1e-4, atol=1e-5)
    assert all(p["top"][0]["class"] in ("small", "large") for p in predictions)
    assert all(-1 <= p["top"][0]["similarity"] <= 1 + 1e-5 for p in predictions)
    # The table names the nearest gallery image; the probe is a classifier of its own.
    code, out, err = run_cli("predict", folder, tmp_path / "x.npy")
    assert code == 0 and out.split()[:4] == ["input", "class", "neighbour", "similarity"], err
    code, out, err = run_cli("predict", folder, tmp_path / "x.npy", "--top", "3", "--output", tmp_path / "k.json")
    assert code == 0, err
    tops = [p["top"] for p in json.loads((tmp_path / "k.json").read_text())["predictions"]]
    assert [len(t) for t in tops] == [3, 3, 3]
    assert all(t[0]["similarity"] >= t[1]["similarity"] >= t[2]["similarity"] for t in tops)  # nearest first
    code, out, err = run_cli("predict", folder / "models" / "probe.keras", tmp_path / "x.npy")
    assert code == 0 and out.split()[:3] == ["input", "class", "probability"], err

    # The encoder exports, checked on the run's test images.
    code, out, err = run_cli("export", folder, "--format", "saved_model")
    assert code == 0, err
    assert re.search(r"^saved_model\s+ok", out, re.M), out


def test_quick_run_of_the_triplet_encoder_with_random_triplets(quick_run, toy_dataset):
    toy_dataset(TOY, toy_images, ["small", "large"], train=120, test=40,
                description="8x8 squares of two sizes")
    folder, metrics = quick_run("contrastive", "--method", "triplet", "--mining", "random",
                                "--set", f"dataset={TOY}", "--set", "widths=4", "--tsne-points", "0",
                                files=("loss_curves.png", "model.keras"))
    assert metrics["method"] == "triplet" and "final_pair_accuracy" not in metrics
    text = (folder / "report.md").read_text()
    assert "random triplets" in text and "tsne.png" not in text


@pytest.mark.slow
def test_quick_run_on_cifar10_from_the_shared_data(quick_run, shared_data, monkeypatch):
    monkeypatch.setenv("KERASDL_DATA_DIR", str(shared_data))
    _, metrics = quick_run("contrastive")
    assert metrics["dataset"] == "cifar10" and metrics["train_images"] == 256


@pytest.mark.parametrize("option, message", [
    (["--method", "moco"], "method=moco: choose simclr or triplet"),
    (["--mining", "hardest"], "mining=hardest: choose random, batch_hard or batch_all"),
    (["--label-fractions", "0,0.5"], "label_fractions=0.0,0.5: expected shares in (0, 1]"),
    (["--label-fractions", "1.5"], "label_fractions=1.5: expected shares in (0, 1]"),
    (["--finetune-epochs", "3,4"], "finetune_epochs=3,4: expected one number of epochs for each of "
                                   "the 1 label_fractions"),
    (["--temperature", "0"], "temperature=0.0: expected a positive number"),
    (["--widths", ""], "widths=: expected positive filter counts"),
])
def test_bad_options_are_one_line_and_exit_2(run_cli, tmp_path, option, message):
    code, _, err = run_cli("contrastive", "--quick", *option, "--out", tmp_path)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
