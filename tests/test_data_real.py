"""The real data sets where this machine has them (skipped with a reason where not).

Run with `python -m pytest tests/test_data_real.py -m slow`.
"""

import time
from pathlib import Path

import numpy as np
import pytest

from kerasdl import data

pytestmark = pytest.mark.slow

FASHION_SYSTEM = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def isolated(home, tmp_path, monkeypatch):
    """Project folders and the Keras/TFDS caches in tmp; the system folders stay real."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    monkeypatch.setenv("KERASDL_OFFLINE", "1")
    return home


def need(path):
    if not Path(path).exists():
        pytest.skip(f"{path} not on this machine")
    return Path(path)


def test_fashion_mnist_from_debian_package():
    need(FASHION_SYSTEM / "train-images-idx3-ubyte.gz")
    ds = data.load("fashion_mnist")  # found through the system step, no data_dir
    assert ds.x_train.shape == (60000, 28, 28, 1) and ds.x_test.shape == (10000, 28, 28, 1)
    assert ds.x_train.dtype == np.uint8 and ds.x_train.max() == 255
    assert np.bincount(ds.y_train).tolist() == [6000] * 10
    assert ds.y_train[0] == 9 and ds.class_names[9] == "Ankle boot"  # the first image: a boot
    assert ds.provenance == "Fashion-MNIST (Zalando's IDX files, Debian's dataset-fashion-mnist)"


def test_mnist_npz_from_shared_data(shared_data):
    need(shared_data / "mnist" / "mnist.npz")
    ds = data.load("mnist", data_dir=shared_data)
    assert ds.x_train.shape == (60000, 28, 28, 1) and ds.x_test.shape == (10000, 28, 28, 1)
    assert ds.y_train[:5].tolist() == [5, 0, 4, 1, 9]  # MNIST's well-known first labels
    assert ds.provenance == "MNIST (keras.datasets mnist.npz)"


def test_leiden_digits_from_shared_data(shared_data):
    need(shared_data / "leiden-digits" / "train_in.csv")
    ds = data.load("leiden_digits", data_dir=shared_data)
    assert ds.x_train.shape == (1707, 16, 16, 1) and ds.x_test.shape == (1000, 16, 16, 1)
    assert ds.x_train.min() == -1 and ds.x_train.max() == 1
    assert set(ds.y_train.tolist()) == set(range(10))


def test_cifar10_jpeg_archive_from_shared_data(shared_data, home, capsys):
    need(shared_data / "cifar10-jpg" / "cifar10-jpg.tar.xz")
    t0 = time.time()
    ds = data.load("cifar10", data_dir=shared_data)
    first = time.time() - t0
    assert ds.x_train.shape == (50000, 32, 32, 3) and ds.x_test.shape == (10000, 32, 32, 3)
    assert np.bincount(ds.y_train).tolist() == [5000] * 10
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
    assert ds.provenance == "CIFAR-10 (JPEG) (image archive cifar10-jpg.tar.xz)"
    t0 = time.time()
    again = data.load("cifar10", data_dir=shared_data)
    second = time.time() - t0
    assert np.array_equal(again.x_test, ds.x_test)
    assert second < first / 3, (first, second)
    with capsys.disabled():
        print(f"\nCIFAR-10 JPEG: first load {first:.1f} s (decode), cached load {second:.2f} s")
