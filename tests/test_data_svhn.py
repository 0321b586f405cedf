"""SVHN from format-2 .mat files (written with scipy.io.savemat) and TFDS (mocked)."""

import numpy as np
import pytest
import scipy.io

from kerasdl import data
from kerasdl.data import registry, svhn
from kerasdl.data.registry import Dataset
from kerasdl.errors import DataCorrupt, DataNotFound


@pytest.fixture(autouse=True)
def isolated(isolated_data):
    return isolated_data


def write_mat(path, n, seed):
    """SVHN format 2: X (32, 32, 3, N) uint8, y (N, 1) with 10 standing for 0."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    digits = np.arange(n) % 10
    y = np.where(digits == 0, 10, digits).reshape(-1, 1).astype(np.uint8)
    scipy.io.savemat(path, {"X": images.transpose(1, 2, 3, 0), "y": y})
    return images, digits


def write_svhn(folder, n_train=12, n_test=5):
    folder.mkdir(parents=True, exist_ok=True)
    train = write_mat(folder / "train_32x32.mat", n_train, 0)
    test = write_mat(folder / "test_32x32.mat", n_test, 1)
    return train, test


def test_mat_files(tmp_path):
    (x_train, d_train), (x_test, d_test) = write_svhn(tmp_path / "root" / "svhn")
    ds = data.load("svhn", data_dir=tmp_path / "root")
    assert ds.x_train.shape == (12, 32, 32, 3) and ds.x_train.dtype == np.uint8
    assert np.array_equal(ds.x_train, x_train) and np.array_equal(ds.x_test, x_test)
    assert ds.y_train.dtype == np.int64 and ds.y_train.tolist() == d_train.tolist()
    assert 0 in ds.y_train and 10 not in ds.y_train  # label 10 means the digit 0
    assert ds.class_names == [str(d) for d in range(10)] and ds.value_range == (0, 255)
    assert ds.provenance == "SVHN (Stanford's format-2 .mat files)"


def test_garbage_mat_is_corrupt(tmp_path):
    write_svhn(tmp_path)
    (tmp_path / "test_32x32.mat").write_bytes(b"MATLAB 5.0 MAT-file, garbage" + bytes(200))
    with pytest.raises(DataCorrupt, match="test_32x32.mat"):
        data.load("svhn", data_dir=tmp_path)


def test_mat_without_the_svhn_variables_or_shapes_is_corrupt(tmp_path):
    write_svhn(tmp_path)
    scipy.io.savemat(tmp_path / "train_32x32.mat", {"images": np.zeros((2, 2))})
    with pytest.raises(DataCorrupt, match="train_32x32.mat lacks"):
        data.load("svhn", data_dir=tmp_path)
    scipy.io.savemat(tmp_path / "train_32x32.mat",
                     {"X": np.zeros((32, 32, 3, 4), np.uint8), "y": np.ones((3, 1))})
    with pytest.raises(DataCorrupt, match="do not fit"):
        data.load("svhn", data_dir=tmp_path)


def write_tfds_marker(tfds_dir):
    """What a prepared TFDS data set leaves behind: <name>/<version>/dataset_info.json."""
    version = tfds_dir / "svhn_cropped" / "3.1.0"
    version.mkdir(parents=True)
    (version / "dataset_info.json").write_text("{}")


def test_an_incomplete_tfds_download_is_not_found(tmp_path):
    (tmp_path / "tfds" / "svhn_cropped" / "3.1.0.incomplete1234").mkdir(parents=True)
    with pytest.raises(DataNotFound, match="svhn"):
        data.load("svhn")


def fake_tfds(calls):
    def load(data_dir, download):
        calls.append((data_dir, download))
        x = np.zeros((3, 32, 32, 3), np.uint8)
        return Dataset("svhn", x, np.array([1, 2, 3]), x, np.array([0, 0, 0]),
                       svhn.SVHN_CLASSES, "SVHN (TFDS svhn_cropped)", (0, 255))

    return load


def test_tfds_cache_is_read_without_download(tmp_path, monkeypatch):
    write_tfds_marker(tmp_path / "tfds")
    (tmp_path / "tfds" / "svhn_cropped" / "3.1.0.incompleteXYZ").mkdir()
    calls = []
    monkeypatch.setattr(svhn, "_tfds_load", fake_tfds(calls))
    ds = data.load("svhn")
    assert calls == [(tmp_path / "tfds", False)]
    assert len(ds.x_train) == 3
    found = {r["name"]: r for r in data.describe()}["svhn"]["found"]
    assert found == str(tmp_path / "tfds" / "svhn_cropped")


def test_mat_files_beat_the_tfds_cache(tmp_path, monkeypatch):
    write_tfds_marker(tmp_path / "tfds")
    write_svhn(tmp_path / "home" / "data")  # not the project dir: use data_dir
    monkeypatch.setattr(svhn, "_tfds_load", lambda *a: pytest.fail("TFDS used"))
    assert len(data.load("svhn", data_dir=tmp_path / "home" / "data").x_train) == 12


def test_download_is_tfds_with_download_true(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASDL_OFFLINE", "0")
    calls = []
    monkeypatch.setattr(svhn, "_tfds_load", fake_tfds(calls))
    data.load("svhn")
    assert calls == [(tmp_path / "tfds", True)]


def test_tfds_failure_becomes_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASDL_OFFLINE", "0")

    def broken(data_dir, download):
        raise RuntimeError("Failed to get url http://ufldl.stanford.edu/...\nmore\nlines")

    monkeypatch.setattr(svhn, "_tfds_load", broken)
    with pytest.raises(DataNotFound) as info:
        data.load("svhn")
    msg = str(info.value)
    assert "download failed (RuntimeError: Failed to get url" in msg and "\n" not in msg
    assert "train_32x32.mat" in msg and str(tmp_path / "tfds") in msg


def test_broken_tfds_cache_is_corrupt(tmp_path, monkeypatch):
    write_tfds_marker(tmp_path / "tfds")

    def broken(data_dir, download):
        raise ValueError("dataset_info.json missing")

    monkeypatch.setattr(svhn, "_tfds_load", broken)
    with pytest.raises(DataCorrupt, match="svhn_cropped.*dataset_info.json"):
        data.load("svhn")
