"""IDX files, MNIST and Fashion-MNIST, on fixtures in the real formats."""

import gzip
import struct

import numpy as np
import pytest

from kerasdl import data
from kerasdl.data import idx, registry
from kerasdl.data.idx import read_idx, write_idx
from kerasdl.errors import DataCorrupt, DataNotFound


@pytest.fixture(autouse=True)
def isolated(isolated_data):
    return isolated_data


def write_idx_set(folder, n_train=30, n_test=10, gz=True, seed=0):
    """The four MNIST-style IDX files with random pixels; returns the arrays."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = dict(x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
                  y_train=(np.arange(n_train) % 10).astype(np.uint8),
                  x_test=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
                  y_test=(np.arange(n_test)[::-1] % 10).astype(np.uint8))
    for role, stem in idx.IDX_FILES.items():
        write_idx(folder / (stem + (".gz" if gz else "")), arrays[role])
    return arrays


def test_idx_writer_uses_the_real_magic_numbers(tmp_path):
    write_idx(tmp_path / "labels", np.arange(5, dtype=np.uint8))
    write_idx(tmp_path / "images.gz", np.zeros((2, 3, 4), np.uint8))
    raw = (tmp_path / "labels").read_bytes()
    assert struct.unpack(">II", raw[:8]) == (2049, 5) and raw[8:] == bytes(range(5))
    head = gzip.decompress((tmp_path / "images.gz").read_bytes())[:16]
    assert struct.unpack(">IIII", head) == (2051, 2, 3, 4)


def test_read_idx_round_trips_raw_and_gz_and_other_types(tmp_path):
    a = np.random.default_rng(1).integers(0, 256, (3, 5, 7), dtype=np.uint8)
    for name in ("a", "a.gz"):
        assert np.array_equal(read_idx(write_idx(tmp_path / name, a)), a)
    f = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    out = read_idx(write_idx(tmp_path / "f.gz", f))
    assert out.dtype == np.float32 and np.array_equal(out, f)


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_from_idx_files(tmp_path, gz):
    arrays = write_idx_set(tmp_path / "d", gz=gz)
    ds = data.load("mnist", data_dir=tmp_path / "d")
    assert ds.x_train.shape == (30, 28, 28, 1) and ds.x_train.dtype == np.uint8
    assert ds.x_test.shape == (10, 28, 28, 1)
    assert ds.y_train.dtype == np.int64 and ds.y_train.shape == (30,)
    assert np.array_equal(ds.x_train[..., 0], arrays["x_train"])
    assert np.array_equal(ds.y_test, arrays["y_test"])
    assert ds.class_names == [str(d) for d in range(10)] and ds.value_range == (0, 255)
    assert ds.provenance == "MNIST (LeCun's IDX files)"  # no path: it goes into reports


def test_mnist_idx_with_dotted_names(tmp_path):
    write_idx_set(tmp_path / "d", gz=False)
    for path in (tmp_path / "d").iterdir():
        path.rename(path.with_name(path.name.replace("-idx", ".idx")))
    assert data.load("mnist", data_dir=tmp_path / "d").x_train.shape == (30, 28, 28, 1)


def test_mnist_npz(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (12, 28, 28), dtype=np.uint8)
    (tmp_path / "mnist").mkdir()
    np.savez(tmp_path / "mnist" / "mnist.npz", x_train=x, y_train=np.arange(12) % 10,
             x_test=x[:4], y_test=np.arange(4))
    ds = data.load("mnist", data_dir=tmp_path)  # found in the alias subfolder mnist/
    assert np.array_equal(ds.x_train[..., 0], x) and ds.y_test.tolist() == [0, 1, 2, 3]
    assert ds.provenance == "MNIST (keras.datasets mnist.npz)"


def test_fashion_mnist_from_the_system_folder(tmp_path):
    arrays = write_idx_set(tmp_path / "system" / "fashion-mnist")
    ds = data.load("fashion_mnist")
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    assert len(ds.class_names) == 10
    assert np.array_equal(ds.x_test[..., 0], arrays["x_test"])
    assert ds.provenance == "Fashion-MNIST (Zalando's IDX files, Debian's dataset-fashion-mnist)"


def test_keras_cache_layout_of_fashion_mnist(tmp_path):
    write_idx_set(tmp_path / "keras" / "datasets" / "fashion-mnist")
    ds = data.load("fashion_mnist")
    assert ds.x_train.shape == (30, 28, 28, 1)
    assert ds.provenance == "Fashion-MNIST (Zalando's IDX files)"  # not the Debian package


def test_the_two_sets_do_not_take_each_others_folders(tmp_path):
    write_idx_set(tmp_path / "root" / "fashion-mnist")
    write_idx_set(tmp_path / "mnist_only")
    with pytest.raises(DataNotFound):
        data.load("mnist", data_dir=tmp_path / "root" / "fashion-mnist")
    with pytest.raises(DataNotFound):
        data.load("fashion_mnist", data_dir=tmp_path / "mnist_only")
    assert data.load("fashion_mnist", data_dir=tmp_path / "root").x_train.shape[0] == 30


# --------------------------------------------------------------------------- corrupt files


def test_truncated_gzip_is_corrupt(tmp_path):
    write_idx_set(tmp_path / "d")
    target = tmp_path / "d" / "train-images-idx3-ubyte.gz"
    target.write_bytes(target.read_bytes()[:200])
    with pytest.raises(DataCorrupt, match="train-images-idx3-ubyte.gz"):
        data.load("mnist", data_dir=tmp_path / "d")


def test_bad_magic_is_corrupt(tmp_path):
    write_idx_set(tmp_path / "d", gz=False)
    target = tmp_path / "d" / "t10k-labels-idx1-ubyte"
    target.write_bytes(b"PK\x03\x04" + target.read_bytes()[4:])
    with pytest.raises(DataCorrupt, match="t10k-labels-idx1-ubyte.*not an IDX file"):
        data.load("mnist", data_dir=tmp_path / "d")


def test_wrong_size_is_corrupt(tmp_path):
    write_idx_set(tmp_path / "d", gz=False)
    target = tmp_path / "d" / "t10k-images-idx3-ubyte"
    target.write_bytes(target.read_bytes()[:-100])
    with pytest.raises(DataCorrupt, match="t10k-images-idx3-ubyte.*expected 7840"):
        data.load("mnist", data_dir=tmp_path / "d")


def test_image_and_label_counts_must_match(tmp_path):
    write_idx_set(tmp_path / "d")
    write_idx(tmp_path / "d" / "train-labels-idx1-ubyte.gz", np.zeros(29, np.uint8))
    with pytest.raises(DataCorrupt, match="30 images but .* 29 labels"):
        data.load("mnist", data_dir=tmp_path / "d")


def test_corrupt_npz(tmp_path):
    (tmp_path / "mnist.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(DataCorrupt, match="mnist.npz"):
        data.load("mnist", data_dir=tmp_path)
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataCorrupt, match="lacks array"):
        data.load("mnist", data_dir=tmp_path)


def test_download_result_gets_a_channel_axis(monkeypatch):
    from types import SimpleNamespace

    monkeypatch.setenv("KERASDL_OFFLINE", "0")
    x = np.arange(3 * 28 * 28, dtype=np.uint8).reshape(3, 28, 28)
    fake = SimpleNamespace(load_data=lambda: ((x, np.array([1, 2, 3], np.uint8)),
                                              (x[:1], np.array([4], np.uint8))))
    seen = []
    monkeypatch.setattr(registry, "keras_dataset", lambda name: seen.append(name) or fake)
    ds = data.load("fashion_mnist")
    assert seen == ["fashion_mnist"]
    assert ds.x_train.shape == (3, 28, 28, 1) and np.array_equal(ds.x_train[..., 0], x)
    assert ds.y_test.tolist() == [4] and ds.y_test.dtype == np.int64
