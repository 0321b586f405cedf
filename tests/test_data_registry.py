"""The data registry: Dataset's methods, load/names/describe/register, the
resolution order, the not-found message and the (mocked) download step."""

import socket
import subprocess
import sys
import urllib.error
from types import SimpleNamespace

import numpy as np
import pytest

from kerasdl import data
from kerasdl.data import idx, registry
from kerasdl.data.registry import Dataset
from kerasdl.errors import DataNotFound, UserError

BUILTIN = ["cifar10", "digits", "fashion_mnist", "image_folder", "leiden_digits", "mnist", "svhn"]


@pytest.fixture(autouse=True)
def isolated(isolated_data):
    return isolated_data


def write_mnist_npz(folder, fill=1, n_train=20, n_test=10):
    """A tiny mnist.npz in keras.datasets' layout; every pixel = `fill` tells copies apart."""
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "mnist.npz",
             x_train=np.full((n_train, 28, 28), fill, np.uint8),
             y_train=(np.arange(n_train) % 10).astype(np.uint8),
             x_test=np.full((n_test, 28, 28), fill, np.uint8),
             y_test=(np.arange(n_test) % 10).astype(np.uint8))
    return folder / "mnist.npz"


def toy(n=100, classes=5, with_val=False, dtype=np.uint8):
    y = np.arange(n) % classes
    x = (np.arange(n)[:, None, None, None] * np.ones((1, 4, 4, 1))).astype(dtype)
    extra = dict(x_val=x[:10], y_val=y[:10]) if with_val else {}
    return Dataset("toy", x, y, x[:30], y[:30], [f"c{i}" for i in range(classes)],
                   "made up", **extra)


# --------------------------------------------------------------------------- Dataset


def test_dataset_normalises_labels_and_infers_range():
    ds = Dataset("t", np.zeros((4, 2, 2, 1), np.uint8), np.array([[1], [0], [1], [2]], np.uint8),
                 np.zeros((2, 2, 2, 1), np.uint8), np.array([0, 1]), ["a", "b", "c"], "p")
    assert ds.y_train.dtype == np.int64 and ds.y_train.shape == (4,)
    assert ds.value_range == (0, 255)
    assert ds.num_classes == 3 and ds.input_shape == (2, 2, 1)
    assert "t" in repr(ds) and "(4, 2, 2, 1)" in repr(ds)
    with pytest.raises(ValueError):
        Dataset("t", np.zeros((4, 1)), np.zeros(3, int), np.zeros((1, 1)), np.zeros(1, int), [], "p")


def test_scaled_uses_value_range():
    ds = toy()
    out = ds.scaled(np.array([0, 51, 255], np.uint8))
    assert out.dtype == np.float32 and np.allclose(out, [0, 0.2, 1])
    signed = Dataset("s", np.zeros((2, 1), np.float32), np.zeros(2, int), np.zeros((1, 1), np.float32),
                     np.zeros(1, int), ["a"], "p", value_range=(-1, 1))
    assert np.allclose(signed.scaled(np.array([-1.0, 0.0, 1.0])), [0, 0.5, 1])


def test_split_validation_is_seeded_stratified_and_disjoint():
    ds = toy(n=100, classes=5)
    x_tr, y_tr, x_val, y_val = ds.split_validation(0.2, seed=3)
    assert len(x_val) == 20 and len(x_tr) == 80
    assert np.bincount(y_val).tolist() == [4] * 5  # every class held out equally
    assert not set(x_val[:, 0, 0, 0]) & set(x_tr[:, 0, 0, 0])
    again = ds.split_validation(0.2, seed=3)
    assert np.array_equal(again[2], x_val)
    assert not np.array_equal(ds.split_validation(0.2, seed=4)[2], x_val)
    with pytest.raises(UserError):
        ds.split_validation(1.5)


def test_split_validation_prefers_the_sources_own_split():
    ds = toy(with_val=True)
    x_tr, y_tr, x_val, y_val = ds.split_validation(0.5)
    assert x_tr is ds.x_train and x_val is ds.x_val and len(x_val) == 10


def test_limit_keeps_every_class_and_is_seeded():
    ds = toy(n=100, classes=10, with_val=True)
    small = ds.limit(n_train=12, n_test=10, seed=1)
    assert len(small.x_train) == 12 and len(small.x_test) == 10 and len(small.x_val) == 10
    assert set(small.y_train) == set(range(10))
    assert np.array_equal(ds.limit(12, 10, seed=1).x_train, small.x_train)
    assert "subset" in small.provenance and small.class_names == ds.class_names
    assert len(ds.x_train) == 100  # the original is untouched
    assert ds.limit().x_train.shape == ds.x_train.shape
    tiny = ds.limit(n_train=3)
    assert len(tiny.x_train) == 3 and len(set(tiny.y_train)) == 3


# --------------------------------------------------------------------------- registry


def test_names_and_describe_list_every_set_without_loading(monkeypatch, home):
    assert set(BUILTIN) <= set(data.names()) and data.names() == sorted(data.names())
    write_mnist_npz(home / "data")
    # describe() must not read arrays: make every read fail.
    for loc in (idx.MNIST, idx.FASHION_MNIST):
        monkeypatch.setattr(loc, "read", lambda *a, **k: pytest.fail("describe() loaded data"))
    rows = {row["name"]: row for row in data.describe()}
    assert set(rows) == set(data.names())
    for row in rows.values():
        assert set(row) == {"name", "description", "found", "looked", "fallback"}
        assert row["description"]
    assert rows["mnist"]["found"] == str(home / "data" / "mnist.npz")
    assert rows["fashion_mnist"]["found"] is None
    assert str(home / "system") in rows["fashion_mnist"]["looked"]
    assert rows["mnist"]["fallback"] == "download via keras.datasets"
    assert rows["svhn"]["fallback"] == "download via TFDS svhn_cropped"
    assert rows["digits"]["fallback"] == "bundled with scikit-learn"
    assert rows["leiden_digits"]["fallback"] is None


def test_unknown_name_and_option_are_user_errors(home):
    with pytest.raises(UserError, match="unknown data set 'nope'.*mnist"):
        data.load("nope")
    with pytest.raises(UserError, match="does not take option.*image_size"):
        data.load("mnist", image_size=3)
    write_mnist_npz(home / "data")
    assert data.load("MNIST").name == "mnist"  # names are forgiving about case and dashes


def test_register_adds_a_set(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @data.register("xor_demo", "four points", fallback="generated")
    def load_xor(n=4):  # a generated set has no data_dir parameter at all
        x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)[:n]
        y = np.array([0, 1, 1, 0])[:n]
        return Dataset("xor_demo", x, y, x, y, ["0", "1"], "generated", (0, 1))

    assert "xor_demo" in data.names()
    assert len(data.load("xor_demo", data_dir="/ignored", n=3, download=False).x_train) == 3
    row = [r for r in data.describe() if r["name"] == "xor_demo"][0]
    assert row["fallback"] == "generated" and row["found"] is None
    with pytest.raises(ValueError, match="twice"):
        data.register("xor_demo", "again")(lambda: None)


def test_load_limits_the_splits_and_leaves_the_loaders_seed_alone(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @data.register("seeded_demo", "a generated set with its own seed", fallback="generated")
    def load_seeded(seed=0):
        x = np.full((40, 2), seed, np.float32)
        return Dataset("seeded_demo", x, np.arange(40) % 4, x[:20], np.arange(20) % 4,
                       list("abcd"), "generated", (0, 10))

    full = data.load("seeded_demo", seed=7)
    assert len(full.x_train) == 40 and full.x_train[0, 0] == 7  # no limit: everything, loader's seed
    small = data.load("seeded_demo", seed=7, train_limit=8, test_limit=5, subset_seed=1)
    assert len(small.x_train) == 8 and len(small.x_test) == 5 and small.x_train[0, 0] == 7
    assert np.array_equal(small.y_train, full.limit(8, 5, seed=1).y_train)
    assert len(data.load("seeded_demo", test_limit=3).x_train) == 40


def test_registry_does_not_import_keras():
    code = ("import sys; from kerasdl import data; data.names(); data.describe(); "
            "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules, 'imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --------------------------------------------------------------------------- resolution order


def test_resolution_order_first_hit_wins(home, tmp_path, monkeypatch):
    places = {
        "arg": tmp_path / "arg", "env": tmp_path / "env", "project": home / "data",
        "system": tmp_path / "system", "keras": tmp_path / "keras" / "datasets",
    }
    for fill, folder in enumerate(places.values(), start=1):
        write_mnist_npz(folder, fill)
    monkeypatch.setenv("KERASDL_DATA_DIR", str(places["env"]))

    def pixel(**kw):
        return int(data.load("mnist", **kw).x_train[0, 0, 0, 0])

    assert pixel(data_dir=places["arg"]) == 1
    assert pixel(data_dir=str(places["arg"])) == 1
    assert pixel() == 2
    monkeypatch.delenv("KERASDL_DATA_DIR")
    assert pixel() == 3
    (places["project"] / "mnist.npz").unlink()
    assert pixel() == 4
    (places["system"] / "mnist.npz").unlink()
    assert pixel() == 5
    assert data.load("mnist").provenance == "MNIST (keras.datasets mnist.npz)"  # no path
    # data_dir that lacks the set: the rest of the order still applies
    assert pixel(data_dir=tmp_path / "empty") == 5


def test_alias_subfolder_of_a_root_is_searched(tmp_path):
    write_mnist_npz(tmp_path / "shared" / "mnist", 7)
    ds = data.load("mnist", data_dir=tmp_path / "shared")
    assert ds.x_train[0, 0, 0, 0] == 7


def test_not_found_is_one_line_naming_set_places_and_remedy(home, tmp_path):
    with pytest.raises(DataNotFound) as info:
        data.load("mnist", data_dir=tmp_path / "mine")
    msg = str(info.value)
    assert "\n" not in msg
    assert "'mnist'" in msg
    for place in (tmp_path / "mine", home / "data", tmp_path / "system", tmp_path / "keras" / "datasets"):
        assert str(place) in msg
    assert "offline (KERASDL_OFFLINE=1)" in msg
    assert "mnist.npz" in msg and "--data-dir" in msg


def test_fashion_not_found_suggests_the_debian_package():
    with pytest.raises(DataNotFound, match="apt-get install dataset-fashion-mnist"):
        data.load("fashion_mnist")


# --------------------------------------------------------------------------- download step


def fake_keras_mnist(calls, fill=9):
    def load_data():
        calls.append(socket.getdefaulttimeout())
        x = np.full((20, 28, 28), fill, np.uint8)
        y = (np.arange(20) % 10).astype(np.uint8)
        return (x, y), (x[:10], y[:10])

    return SimpleNamespace(load_data=load_data)


def test_download_is_the_last_step_and_runs_with_a_socket_timeout(monkeypatch, home):
    monkeypatch.setenv("KERASDL_OFFLINE", "0")
    calls = []
    monkeypatch.setattr(registry, "keras_dataset", lambda name: fake_keras_mnist(calls))
    ds = data.load("mnist")
    assert calls == [registry.DOWNLOAD_SOCKET_TIMEOUT_S]
    assert socket.getdefaulttimeout() is None  # restored afterwards
    assert ds.x_train.shape == (20, 28, 28, 1) and ds.y_train.dtype == np.int64
    assert ds.provenance == "MNIST (keras.datasets mnist.npz, downloaded)"
    write_mnist_npz(home / "data", 1)  # a file anywhere in the order beats the download
    assert data.load("mnist").x_train[0, 0, 0, 0] == 1 and len(calls) == 1


@pytest.mark.parametrize("exc", [
    urllib.error.URLError("[Errno -2] Name or service not known"),
    OSError("disk full"),
    Exception("URL fetch failure on https://x/mnist.npz: None -- boom\nTraceback (most recent call last):"),
])
def test_download_failure_becomes_data_not_found(monkeypatch, exc):
    monkeypatch.setenv("KERASDL_OFFLINE", "0")

    def broken(name):
        raise exc

    monkeypatch.setattr(registry, "keras_dataset", broken)
    with pytest.raises(DataNotFound) as info:
        data.load("fashion_mnist")
    msg = str(info.value)
    assert f"download failed ({type(exc).__name__}" in msg
    assert "\n" not in msg and "Traceback" not in msg
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_offline_and_download_false_skip_the_download(monkeypatch):
    calls = []
    monkeypatch.setattr(registry, "keras_dataset", lambda name: calls.append(name))
    with pytest.raises(DataNotFound, match="offline"):
        data.load("mnist")
    monkeypatch.setenv("KERASDL_OFFLINE", "0")
    with pytest.raises(DataNotFound, match="download=False"):
        data.load("mnist", download=False)
    assert calls == []


def test_labels_outside_the_class_names_are_one_clear_error():
    from kerasdl.data.registry import Dataset
    from kerasdl.errors import DataCorrupt

    x = np.zeros((3, 2, 2, 1), np.uint8)
    with pytest.raises(DataCorrupt, match=r"toy: test labels run from 0 to 3, but the labels must be 0..2"):
        Dataset("toy", x, np.array([0, 1, 2]), x, np.array([0, 3, 1]), ["a", "b", "c"], "made here")
    with pytest.raises(DataCorrupt, match=r"train labels run from -1 to 1"):
        Dataset("toy", x, np.array([-1, 0, 1]), x, np.array([0, 1, 1]), None, "made here")
