"""CIFAR-10 from python pickles (folder, .tar.gz), a JPEG tree and its .tar.xz."""

import io
import os
import pickle
import tarfile
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from kerasdl import data
from kerasdl.data import image_folder, registry
from kerasdl.data.cifar import BATCHES, CIFAR_CLASSES
from kerasdl.errors import DataCorrupt


@pytest.fixture(autouse=True)
def isolated(isolated_data):
    return isolated_data


# --------------------------------------------------------------------------- fixtures


def batch_rows(n, offset):
    """n rows in CIFAR's layout: 3072 bytes, channel-first (1024 R, 1024 G, 1024 B).
    Red is a ramp over the pixel index (checks the spatial layout), green and
    blue carry the image's number (checks the channel order)."""
    rows = np.empty((n, 3072), np.uint8)
    for i in range(n):
        rows[i, :1024] = np.arange(1024) % 256
        rows[i, 1024:2048] = 100 + offset + i
        rows[i, 2048:] = 200 + offset + i
    return rows


def write_batch(path, n, offset):
    batch = {b"batch_label": b"testing batch", b"labels": [(offset + i) % 10 for i in range(n)],
             b"data": batch_rows(n, offset), b"filenames": [b"x.png"] * n}
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)


def write_pickles(folder, n=4):
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(BATCHES):
        write_batch(folder / name, n, offset=k * n)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [c.encode() for c in CIFAR_CLASSES]}, f, protocol=2)
    return folder


def class_colour(c):
    return (c * 25, 255 - c * 25, 60 + c * 10)


def write_jpeg_tree(root, n_train=2, n_test=1):
    """train/<class>/NNNN.jpg and test/<class>/NNNN.jpg, one solid colour a class."""
    for split, n in (("train", n_train), ("test", n_test)):
        for c, name in enumerate(CIFAR_CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.new("RGB", (32, 32), class_colour(c)).save(folder / f"{i:04d}.jpg",
                                                                 quality=95)
    return root


def write_tar_xz(tree, archive):
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:xz") as tar:
        for split in ("train", "test"):
            tar.add(tree / split, arcname=split)
    return archive


# --------------------------------------------------------------------------- pickles


def check_pickle_arrays(ds, n=4):
    assert ds.x_train.shape == (5 * n, 32, 32, 3) and ds.x_train.dtype == np.uint8
    assert ds.x_test.shape == (n, 32, 32, 3)
    ramp = (np.arange(1024) % 256).reshape(32, 32)
    assert np.array_equal(ds.x_train[3, :, :, 0], ramp)  # red plane, row-major
    assert (ds.x_train[3, :, :, 1] == 103).all() and (ds.x_train[3, :, :, 2] == 203).all()
    assert (ds.x_test[0, :, :, 1] == 100 + 5 * n).all()
    assert ds.y_train.dtype == np.int64 and ds.y_train.tolist() == [i % 10 for i in range(5 * n)]
    assert ds.class_names == CIFAR_CLASSES and ds.value_range == (0, 255)


def test_pickle_folder(tmp_path):
    write_pickles(tmp_path / "root" / "cifar-10-batches-py")
    ds = data.load("cifar10", data_dir=tmp_path / "root")
    check_pickle_arrays(ds)
    assert ds.provenance == "CIFAR-10 (Krizhevsky's python batches)"


def test_pickle_archive_in_the_keras_cache(tmp_path):
    folder = write_pickles(tmp_path / "src" / "cifar-10-batches-py")
    archive = tmp_path / "keras" / "datasets" / "cifar-10-python.tar.gz"
    archive.parent.mkdir(parents=True)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    ds = data.load("cifar10")
    check_pickle_arrays(ds)
    assert ds.provenance == "CIFAR-10 (Krizhevsky's python batches, cifar-10-python.tar.gz)"


def test_keras3_cache_layout(tmp_path):
    write_pickles(tmp_path / "keras" / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py")
    check_pickle_arrays(data.load("cifar10"))


def test_short_pickle_is_corrupt(tmp_path):
    folder = write_pickles(tmp_path / "d")
    target = folder / "data_batch_3"
    target.write_bytes(target.read_bytes()[:500])
    with pytest.raises(DataCorrupt, match="data_batch_3"):
        data.load("cifar10", data_dir=folder)


def test_pickle_with_wrong_row_size_is_corrupt(tmp_path):
    folder = write_pickles(tmp_path / "d")
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3000), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(DataCorrupt, match="test_batch.*3072"):
        data.load("cifar10", data_dir=folder)


class _Evil:
    def __reduce__(self):
        return (os.getcwd, ())


def test_pickle_calling_anything_else_is_refused(tmp_path):
    folder = write_pickles(tmp_path / "d")
    with open(folder / "data_batch_1", "wb") as f:
        pickle.dump({b"data": _Evil(), b"labels": []}, f)
    with pytest.raises(DataCorrupt, match="data_batch_1.*refusing"):
        data.load("cifar10", data_dir=folder)


# --------------------------------------------------------------------------- JPEG


def check_jpeg_arrays(ds, n_train=2, n_test=1):
    assert ds.x_train.shape == (10 * n_train, 32, 32, 3) and ds.x_train.dtype == np.uint8
    assert ds.x_test.shape == (10 * n_test, 32, 32, 3)
    assert ds.y_train.tolist() == [c for c in range(10) for _ in range(n_train)]
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        for img, label in zip(x, y):
            # JPEG is lossy: a solid colour comes back within a few levels.
            assert np.abs(img.astype(int) - class_colour(label)).max() <= 4
    assert ds.class_names == CIFAR_CLASSES
    assert ds.provenance.startswith("CIFAR-10 (JPEG)")


def test_jpeg_tree(tmp_path):
    write_jpeg_tree(tmp_path / "cifar10-jpg")
    ds = data.load("cifar10", data_dir=tmp_path)
    check_jpeg_arrays(ds)
    assert ds.provenance == "CIFAR-10 (JPEG) (image folder train/<class>/...)"


def test_jpeg_archive_is_decoded_once_then_cached(tmp_path, monkeypatch, home):
    tree = write_jpeg_tree(tmp_path / "tree")
    archive = write_tar_xz(tree, tmp_path / "shared" / "cifar10-jpg" / "cifar10-jpg.tar.xz")
    ds = data.load("cifar10", data_dir=tmp_path / "shared")
    check_jpeg_arrays(ds)
    assert ds.provenance == f"CIFAR-10 (JPEG) (image archive {archive.name})"
    assert str(tmp_path) not in ds.provenance
    assert list((home / "data" / "cache").rglob("*.npz"))

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again instead of using the cache")

    monkeypatch.setattr(image_folder, "_decode_one", no_decoding)
    again = data.load("cifar10", data_dir=tmp_path / "shared")
    assert np.array_equal(again.x_train, ds.x_train) and np.array_equal(again.y_test, ds.y_test)
    # The tree decodes to the very same arrays as its archive.
    monkeypatch.undo()
    monkeypatch.setenv("KERASDL_HOME", str(home))
    from_tree = data.load("cifar10", data_dir=tree)
    assert np.array_equal(from_tree.x_train, ds.x_train)


def test_archive_cache_follows_content_not_mtime(tmp_path, home):
    from kerasdl.data import cache

    tree = write_jpeg_tree(tmp_path / "tree")
    archive = write_tar_xz(tree, tmp_path / "a.tar.xz")
    stamp = cache.file_stamp(archive)
    os.utime(archive, ns=(1, 1))  # copied afresh: new mtime, same bytes -> same cache
    assert cache.file_stamp(archive) == stamp
    archive.write_bytes(archive.read_bytes() + b"\0")  # other bytes -> another cache
    assert cache.file_stamp(archive) != stamp


def test_undecodable_jpeg_is_corrupt(tmp_path):
    tree = write_jpeg_tree(tmp_path / "cifar10-jpg")
    (tree / "train" / "cat" / "0099.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    with pytest.raises(DataCorrupt, match="0099.jpg"):
        data.load("cifar10", data_dir=tmp_path)


def test_truncated_archive_is_corrupt(tmp_path):
    tree = write_jpeg_tree(tmp_path / "tree")
    archive = write_tar_xz(tree, tmp_path / "d" / "cifar10-jpg.tar.xz")
    archive.write_bytes(archive.read_bytes()[:300])
    with pytest.raises(DataCorrupt, match="cifar10-jpg.tar.xz"):
        data.load("cifar10", data_dir=tmp_path / "d")


def test_pickles_win_over_jpegs_in_the_same_folder(tmp_path):
    write_jpeg_tree(tmp_path / "d")
    write_pickles(tmp_path / "d")
    assert "python batches" in data.load("cifar10", data_dir=tmp_path / "d").provenance


def test_download_channels_first_is_transposed(monkeypatch):
    monkeypatch.setenv("KERASDL_OFFLINE", "0")
    x = np.zeros((2, 3, 32, 32), np.uint8)
    x[:, 2] = 7  # blue
    fake = SimpleNamespace(load_data=lambda: ((x, np.array([[1], [2]])), (x, np.array([[3], [4]]))))
    monkeypatch.setattr(registry, "keras_dataset", lambda name: fake)
    ds = data.load("cifar10")
    assert ds.x_train.shape == (2, 32, 32, 3) and (ds.x_train[..., 2] == 7).all()
    assert ds.y_train.tolist() == [1, 2] and ds.y_train.dtype == np.int64


def test_image_bytes_helper_sanity():
    # The fixture's JPEG really is a JPEG (guards the tests above against a
    # Pillow that silently writes something else).
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, format="JPEG")
    assert buf.getvalue()[:2] == b"\xff\xd8"
