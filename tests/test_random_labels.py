"""Random labels: seeded coin flips, the 784-128-2 model, memorisation, the task."""

import json

import numpy as np
import pytest

from conftest import complete_run_folder
from kerasdl.tasks import random_labels as task


def test_labels_are_seeded_coin_flips():
    a = task.random_labels(4000, 0.5, seed=7)
    assert np.array_equal(a, task.random_labels(4000, 0.5, seed=7))
    assert not np.array_equal(a, task.random_labels(4000, 0.5, seed=8))
    assert set(np.unique(a)) == {0, 1} and abs(a.mean() - 0.5) < 0.03
    assert task.random_labels(4000, 0.1, seed=7).mean() < 0.15


@pytest.mark.backends
def test_model_is_784_128_2():
    model = task.build_model((28, 28, 1), (0, 255), hidden=128)
    assert model.output_shape == (None, 2)
    assert model.count_params() == 784 * 128 + 128 + 128 * 2 + 2


@pytest.mark.backends
def test_small_mlp_memorises_random_labels():
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(16, 8, 8, 1)).astype(np.uint8)
    y = task.random_labels(16, 0.5, seed=0)
    model = task.build_model(x.shape[1:], (0, 255), hidden=64)
    model.compile(optimizer=keras.optimizers.Adam(3e-2), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=16, epochs=25, shuffle=False, verbose=0)
    _, accuracy = model.evaluate(x, y, verbose=0)
    assert accuracy == 1.0


def test_quick_run_writes_complete_folder(run_cli, home):
    code, out, err = run_cli("random-labels", "--quick", "--set", "dataset=digits", "--out", home / "runs")
    assert code == 0, err
    folder = complete_run_folder(home / "runs", "random-labels")
    assert (folder / "history.csv").is_file() and (folder / "model.keras").is_file()
    header = (folder / "history.csv").read_text().splitlines()[0].split(",")
    assert {"train_loss", "train_accuracy", "test_loss", "test_accuracy"} <= set(header)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["train_size"] == 128 and metrics["test_size"] == 256
    assert set(task.HEADLINE) <= set(metrics)


def test_too_many_training_images_is_one_line(run_cli, home):
    code, _, err = run_cli("random-labels", "--quick", "--set", "dataset=digits",
                           "--set", "train_size=99999", "--out", home / "runs")
    assert code == 2 and "train_size=99999" in err
