"""Leiden's 16x16 CSV digits and scikit-learn's 8x8 digits."""

import numpy as np
import pytest

from kerasdl import data
from kerasdl.data import registry
from kerasdl.errors import DataCorrupt, DataNotFound


@pytest.fixture(autouse=True)
def isolated(isolated_data):
    return isolated_data


def write_leiden(folder, n_train=15, n_test=6, seed=0):
    """The course's layout: rows of 256 values in [-1, 1] (3 decimals), one label a line."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = np.round(rng.uniform(-1, 1, (n, 256)), 3)
        y = np.arange(n) % 10
        np.savetxt(folder / f"{split}_in.csv", x, delimiter=",", fmt="%g")
        np.savetxt(folder / f"{split}_out.csv", y, fmt="%d")
        out[split] = (x, y)
    return out


def test_leiden_digits(tmp_path):
    arrays = write_leiden(tmp_path / "root" / "leiden-digits")
    ds = data.load("leiden_digits", data_dir=tmp_path / "root")
    assert ds.x_train.shape == (15, 16, 16, 1) and ds.x_train.dtype == np.float32
    assert ds.x_test.shape == (6, 16, 16, 1)
    assert np.allclose(ds.x_train.reshape(15, 256), arrays["train"][0], atol=1e-6)
    assert ds.y_test.dtype == np.int64 and ds.y_test.tolist() == arrays["test"][1].tolist()
    assert ds.value_range == (-1, 1)
    assert ds.scaled(ds.x_train).min() >= 0 and ds.scaled(ds.x_train).max() <= 1
    assert ds.provenance == "Leiden digits (the course's CSV files)"


def test_row_count_mismatch_names_both_files(tmp_path):
    write_leiden(tmp_path)
    np.savetxt(tmp_path / "train_out.csv", np.arange(14) % 10, fmt="%d")
    with pytest.raises(DataCorrupt, match="train_in.csv has 15 rows but .*train_out.csv has 14"):
        data.load("leiden_digits", data_dir=tmp_path)


def test_ragged_or_non_numeric_rows_are_corrupt(tmp_path):
    write_leiden(tmp_path)
    with open(tmp_path / "test_in.csv", "a") as f:
        f.write("1,2,3\n")
    with pytest.raises(DataCorrupt, match="test_in.csv"):
        data.load("leiden_digits", data_dir=tmp_path)
    write_leiden(tmp_path)
    (tmp_path / "test_out.csv").write_text("1\nseven\n")
    with pytest.raises(DataCorrupt, match="test_out.csv"):
        data.load("leiden_digits", data_dir=tmp_path)


def test_wrong_width_and_range_are_corrupt(tmp_path):
    write_leiden(tmp_path)
    np.savetxt(tmp_path / "train_in.csv", np.zeros((15, 255)), delimiter=",")
    with pytest.raises(DataCorrupt, match="255 values a row, expected 256"):
        data.load("leiden_digits", data_dir=tmp_path)
    np.savetxt(tmp_path / "train_in.csv", np.full((15, 256), 3.0), delimiter=",")
    with pytest.raises(DataCorrupt, match=r"outside \[-1, 1\]"):
        data.load("leiden_digits", data_dir=tmp_path)


def test_leiden_missing_says_there_is_no_download(monkeypatch):
    monkeypatch.setenv("KERASDL_OFFLINE", "0")
    with pytest.raises(DataNotFound, match="no download exists.*course.*train_in.csv"):
        data.load("leiden_digits", download=True)  # accepted (and ignored) like everywhere


def test_sklearn_digits_split():
    ds = data.load("digits")
    assert ds.x_train.shape == (1437, 8, 8, 1) and ds.x_test.shape == (360, 8, 8, 1)
    assert ds.x_train.dtype == np.float32 and ds.value_range == (0, 16)
    assert ds.x_train.max() == 16 and ds.x_train.min() == 0
    assert set(np.bincount(ds.y_test)) <= {35, 36, 37}  # stratified
    again = data.load("digits")
    assert np.array_equal(again.x_train, ds.x_train)
    other = data.load("digits", seed=1)
    assert not np.array_equal(other.y_train, ds.y_train)
    assert "80%/20%" in ds.provenance and "seed 0" in ds.provenance
