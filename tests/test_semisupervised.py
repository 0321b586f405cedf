"""M1 semi-supervised learning: balanced labelled subsets, the SVM and its scores, the task's
--quick run (training a VAE, or reusing a saved one)."""

import json

import numpy as np
import pytest

from kerasdl import data
from kerasdl.errors import UserError
from kerasdl.tasks.vae import semisupervised as task
from conftest import complete_run_folder

TOY = "toy_m1_images"


def toy_images(n, seed):
    """8x8 images of three classes: a bright top half, left half or centre square."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.integers(0, 60, (n, 8, 8, 1)).astype(np.uint8)
    for k, c in enumerate(y):
        region = [np.s_[:4, :], np.s_[:, :4], np.s_[2:6, 2:6]][c]
        x[k][region] = 200
    return x, y


@data.register(TOY, "8x8 images of three classes (tests only)", fallback="generated")
def _toy(**_):
    x, y = toy_images(300, 1)
    x_test, y_test = toy_images(90, 2)
    return data.Dataset(TOY, x, y, x_test, y_test, ["top", "left", "centre"], "generated",
                        value_range=(0, 255))


def test_balanced_subset_takes_the_same_count_of_every_class():
    y = np.repeat(np.arange(10), 50)
    chosen = task.balanced_subset(y, 100, seed=0)
    assert len(chosen) == len(set(chosen)) == 100
    assert np.bincount(y[chosen]).tolist() == [10] * 10
    uneven = task.balanced_subset(y, 23, seed=1)
    assert sorted(np.bincount(y[uneven], minlength=10)) == [2] * 7 + [3] * 3
    np.testing.assert_array_equal(chosen, task.balanced_subset(y, 100, seed=0))
    assert not np.array_equal(chosen, task.balanced_subset(y, 100, seed=1))


def test_balanced_subset_rejects_impossible_counts():
    y = np.repeat(np.arange(3), 4)
    with pytest.raises(UserError, match="at least one labelled image per class"):
        task.balanced_subset(y, 2, seed=0)
    with pytest.raises(UserError, match="has only 4"):
        task.balanced_subset(y, 15, seed=0)


def test_score_matches_hand_computation():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0])
    got = task.score(y_true, y_pred)
    # per class precision 1/2, 2/3, 1; recall 1/2, 1, 1/2
    precision = (1 / 2 + 2 / 3 + 1) / 3
    recall = (1 / 2 + 1 + 1 / 2) / 3
    f1 = (2 * (1 / 2 * 1 / 2) / 1 + 2 * (2 / 3) / (5 / 3) + 2 * (1 / 2) / (3 / 2)) / 3
    assert got == pytest.approx({"accuracy": 4 / 6, "precision": precision, "recall": recall, "f1": f1})


def test_svm_separates_separable_features_and_picks_c_by_cv():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 10)
    x = rng.normal(size=(30, 4)) + 4 * np.eye(3, 4)[y]
    svm, c = task.fit_svm(x, y, (0.01, 1.0), seed=0)
    assert c in (0.01, 1.0)
    assert (svm.predict(x) == y).mean() == 1.0


def test_standardised_uses_training_statistics():
    train = np.array([[1.0, 10.0], [3.0, 30.0]])
    test = np.array([[2.0, 50.0]])
    a, b = task.standardised(train, test)
    np.testing.assert_allclose(a, [[-1, -1], [1, 1]], atol=1e-6)
    np.testing.assert_allclose(b, [[0, 3]], atol=1e-6)


def test_a_streamed_pca_is_the_pca_of_the_whole_array(tmp_path, monkeypatch):
    from types import SimpleNamespace

    # Images of rank 3 about their mean: the chunked fit loses nothing, so the two agree (up to
    # each component's sign), chunk after chunk of 8 from a file on disk. The first chunk spans
    # only 2 of the 3 directions: a fit that stopped there would miss the third.
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(52, 3))
    codes[:8, 2] = 0
    pixels = 100 + codes @ rng.normal(size=(3, 12))
    x = np.lib.format.open_memmap(tmp_path / "x.npy", "w+", "float32", (52, 2, 2, 3))
    x[:] = pixels.reshape(52, 2, 2, 3)
    ds = SimpleNamespace(x_train=x[:40], x_test=x[40:], input_shape=(2, 2, 3), scaled=lambda a: a / 255)
    whole = task._pca_features(ds, 3, seed=0)
    monkeypatch.setattr(task.vae_task, "EVALUATION_CHUNK", 8)
    chunked = task._pca_features(ds, 3, seed=0, streamed=True)
    for a, b in zip(whole, chunked):
        assert a.shape == b.shape
        np.testing.assert_allclose(np.abs(a), np.abs(b), atol=1e-3)


def test_quick_run_writes_a_complete_run_folder(run_cli, tmp_path):
    code, out, err = run_cli("semisupervised", "--quick", "--set", f"dataset={TOY}",
                             "--set", "labels=6,30", "--out", tmp_path)
    assert code == 0, err
    folder = complete_run_folder(tmp_path, "semisupervised")
    for name in ("history.csv", "model.keras", "results.csv", "summary.csv", "accuracy_vs_labels.png",
                 "confusion_matrix.png", "elbo_curves.png"):
        assert (folder / name).is_file(), name
    metrics = json.loads((folder / "metrics.json").read_text())
    assert 0 <= metrics["accuracy_n30"] <= 1
    assert {row["features"] for row in metrics["summary"]} == {"VAE latent means", "PCA-8 of pixels"}
    assert (metrics["fewest_labels"], metrics["most_labels"]) == (6, 30)
    assert metrics["accuracy_most_labels"] == metrics["accuracy_n30"]
    report = (folder / "report.md").read_text()
    assert "| VAE latent means | 30 |" in report

    # The same experiment on the saved VAE: no training, the same features.
    code, _, err = run_cli("semisupervised", "--quick", "--set", f"dataset={TOY}", "--set", "labels=30",
                           "--set", f"vae_model={folder / 'model.keras'}", "--set", "pca_baseline=false",
                           "--out", tmp_path / "again")
    assert code == 0, err
    again = complete_run_folder(tmp_path / "again", "semisupervised")
    assert not (again / "history.csv").exists()
    assert json.loads((again / "metrics.json").read_text())["accuracy_n30"] == metrics["accuracy_n30"]


def test_too_many_labels_is_one_line(run_cli, tmp_path):
    code, _, err = run_cli("semisupervised", "--quick", "--set", f"dataset={TOY}",
                           "--set", "labels=5000", "--out", tmp_path)
    assert code == 2 and "labels=5000" in err


@pytest.mark.parametrize("changes, message", [
    (dict(labels=()), "labels=: expected positive counts, e.g. 100,600,1000,3000"),
    (dict(labels=(100, 0)), "labels=100,0: expected a positive number"),
    (dict(svm_c=()), "svm_c=: expected positive values, e.g. 0.01,0.1,1,10"),
    (dict(svm_c=(0.1, -1.0)), "svm_c=0.1,-1.0: expected a positive number"),
    (dict(repeats=0), "repeats=0: expected a positive number"),
    (dict(filters=()), "filters=: expected positive channel counts, e.g. 32,64"),
])
def test_bad_config_values_name_the_field_and_value(changes, message):
    import re

    with pytest.raises(UserError, match="^" + re.escape(message) + "$"):
        task.Config(**changes)


def test_unreadable_vae_model_is_one_line(run_cli, tmp_path):
    bad = tmp_path / "not-a-model.keras"
    bad.write_text("nothing here")
    code, _, err = run_cli("semisupervised", "--quick", "--set", f"dataset={TOY}",
                           "--set", f"vae_model={bad}", "--out", tmp_path)
    assert code == 2 and "cannot load it as a Keras model" in err and len(err.strip().splitlines()) <= 2
