"""image_folder: train/<class>/*.png|jpg trees (+ test/, val/), options and the cache."""

import os
import shutil
import tarfile

import numpy as np
import pytest
from PIL import Image

from kerasdl import data
from kerasdl.data import image_folder, registry
from kerasdl.data.image_folder import parse_grayscale, parse_image_size
from kerasdl.errors import DataCorrupt, DataNotFound, UserError


@pytest.fixture(autouse=True)
def isolated(isolated_data):
    return isolated_data


def save(path, array, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path, format=fmt)


def write_tree(root, layout, size=(6, 5), mode="RGB", suffix=".png"):
    """layout: {split: {class: count}}; pixel (0, 0) holds 10*class index + image number."""
    for split, classes in layout.items():
        for c, (name, count) in enumerate(sorted(classes.items())):
            for i in range(count):
                shape = size + ((3,) if mode == "RGB" else ())
                img = np.full(shape, 10 * c + i, np.uint8)
                save(root / split / name / f"img{i}{suffix}", img)
    return root


LAYOUT = {"train": {"cats": 3, "dogs": 2, "birds": 2}, "test": {"cats": 1, "dogs": 1}}


def test_png_tree_classes_sorted_and_pixels_exact(tmp_path):
    root = write_tree(tmp_path / "pets", LAYOUT)
    ds = data.load("image_folder", data_dir=root)
    assert ds.class_names == ["birds", "cats", "dogs"]  # sorted; "birds" missing from test
    assert ds.x_train.shape == (7, 6, 5, 3) and ds.x_train.dtype == np.uint8
    assert ds.y_train.tolist() == [0, 0, 1, 1, 1, 2, 2] and ds.y_test.tolist() == [1, 2]
    assert ds.x_train[:, 0, 0, 0].tolist() == [0, 1, 10, 11, 12, 20, 21]  # PNG is lossless
    assert ds.x_val is None and ds.value_range == (0, 255)
    assert ds.provenance == "image folder pets (train/<class>/..., 3 classes, 6x5x3)"


def test_jpg_tree_and_validation_folder(tmp_path):
    root = write_tree(tmp_path / "r", {"train": {"a": 2, "b": 2}, "test": {"a": 1, "b": 1},
                                       "validation": {"b": 1}}, size=(16, 16), suffix=".jpg")
    ds = data.load("image_folder", data_dir=root)
    assert ds.x_train.shape == (4, 16, 16, 3)
    assert ds.x_val.shape == (1, 16, 16, 3) and ds.y_val.tolist() == [1]
    assert ds.split_validation()[2] is ds.x_val


def test_grayscale_auto_forced_and_mixed(tmp_path):
    grey = write_tree(tmp_path / "grey", LAYOUT, mode="L")
    assert data.load("image_folder", data_dir=grey).x_train.shape == (7, 6, 5, 1)
    ds = data.load("image_folder", data_dir=grey, grayscale=False)
    assert ds.x_train.shape == (7, 6, 5, 3)
    colour = write_tree(tmp_path / "colour", LAYOUT)
    assert data.load("image_folder", data_dir=colour, grayscale="true").input_shape == (6, 5, 1)
    save(colour / "train" / "cats" / "grey.png", np.full((6, 5), 99))  # one grey among colour
    mixed = data.load("image_folder", data_dir=colour)
    assert mixed.input_shape == (6, 5, 3)
    assert (mixed.x_train[mixed.x_train[:, 0, 0, 0] == 99] == 99).all()


def test_sizes_that_differ_need_image_size(tmp_path):
    root = write_tree(tmp_path / "r", LAYOUT)
    save(root / "train" / "dogs" / "big.png", np.zeros((9, 9, 3)))
    with pytest.raises(UserError, match="differ in size.*image_size=H,W") as info:
        data.load("image_folder", data_dir=root)
    assert "big.png" in str(info.value)
    ds = data.load("image_folder", data_dir=root, image_size="4,3")
    assert ds.x_train.shape == (8, 4, 3, 3) and ds.x_test.shape == (2, 4, 3, 3)


def test_decoded_arrays_are_cached_and_invalidated(tmp_path, monkeypatch):
    root = write_tree(tmp_path / "r", LAYOUT)
    first = data.load("image_folder", data_dir=root)
    real_decode = image_folder._decode_one

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again instead of using the cache")

    monkeypatch.setattr(image_folder, "_decode_one", no_decoding)
    second = data.load("image_folder", data_dir=root)
    assert np.array_equal(second.x_train, first.x_train) and second.class_names == first.class_names
    # Another option is another cache entry; a changed file is decoded again.
    monkeypatch.setattr(image_folder, "_decode_one", real_decode)
    assert data.load("image_folder", data_dir=root, image_size=3).input_shape == (3, 3, 3)
    save(root / "train" / "cats" / "img0.png", np.full((6, 5, 3), 200))
    os.utime(root / "train" / "cats" / "img0.png", ns=(1, 1))
    monkeypatch.setattr(image_folder, "_decode_one", no_decoding)
    with pytest.raises(AssertionError, match="decoded again"):
        data.load("image_folder", data_dir=root)
    monkeypatch.setattr(image_folder, "_decode_one", real_decode)
    assert data.load("image_folder", data_dir=root).x_train[2, 0, 0, 0] == 200


def test_missing_or_incomplete_roots(tmp_path, monkeypatch):
    with pytest.raises(UserError, match="needs --data-dir"):
        data.load("image_folder")
    with pytest.raises(DataNotFound, match="does not exist"):
        data.load("image_folder", data_dir=tmp_path / "nowhere")
    (tmp_path / "flat" / "cats").mkdir(parents=True)
    with pytest.raises(DataNotFound, match="no train/"):
        data.load("image_folder", data_dir=tmp_path / "flat")
    only_train = write_tree(tmp_path / "t", {"train": {"a": 1}})
    with pytest.raises(UserError, match="no test/"):
        data.load("image_folder", data_dir=only_train)
    empty = tmp_path / "e"
    (empty / "train" / "a").mkdir(parents=True)
    (empty / "test").mkdir()
    (empty / "train" / "a" / "notes.txt").write_text("no images here")
    with pytest.raises(DataNotFound, match="no images"):
        data.load("image_folder", data_dir=empty)
    monkeypatch.setenv("KERASDL_DATA_DIR", str(write_tree(tmp_path / "env", LAYOUT)))
    assert data.load("image_folder").num_classes == 3


def test_test_class_unknown_to_train_is_an_error(tmp_path):
    root = write_tree(tmp_path / "r", {"train": {"a": 1}, "test": {"a": 1, "zebra": 1}})
    with pytest.raises(UserError, match="zebra"):
        data.load("image_folder", data_dir=root)


def test_undecodable_image_is_corrupt(tmp_path):
    root = write_tree(tmp_path / "r", LAYOUT)
    (root / "test" / "cats" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(DataCorrupt, match="broken.jpg"):
        data.load("image_folder", data_dir=root)


def test_archive_as_root(tmp_path):
    root = write_tree(tmp_path / "r", LAYOUT)
    archive = tmp_path / "pets.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="pets")  # a top folder above train/ is fine
    ds = data.load("image_folder", data_dir=archive)
    assert np.array_equal(ds.x_train, data.load("image_folder", data_dir=root).x_train)
    found = {r["name"]: r for r in data.describe(archive)}["image_folder"]["found"]
    assert found == str(archive)


def test_option_parsing():
    assert parse_image_size(None) is None
    assert parse_image_size("32,28") == (32, 28) == parse_image_size("32x28")
    assert parse_image_size(16) == (16, 16) == parse_image_size("16") == parse_image_size([16, 16])
    for bad in ("a,b", "0,3", "1,2,3"):
        with pytest.raises(UserError, match="image_size"):
            parse_image_size(bad)
    assert parse_grayscale(None) is None and parse_grayscale("auto") is None
    assert parse_grayscale("yes") is True and parse_grayscale("0") is False
    with pytest.raises(UserError, match="grayscale"):
        parse_grayscale("maybe")


def test_a_tree_is_decoded_into_a_cache_folder_read_from_disk(tmp_path, monkeypatch):
    root = write_tree(tmp_path / "r", LAYOUT)
    first = data.load("image_folder", data_dir=root)
    assert isinstance(first.x_train, np.memmap) and not first.x_train.flags.writeable
    expected = np.array(first.x_train)
    del first  # its map of the file cut short below
    [folder] = image_folder.cache.paths.cache_dir().glob("image_folder/*")
    assert (folder / "complete").is_file() and (folder / "x_train.npy").is_file()
    # A cache folder cut short (a disk that filled up, a copy interrupted) is decoded again.
    (folder / "x_train.npy").write_bytes((folder / "x_train.npy").read_bytes()[:200])
    np.testing.assert_array_equal(data.load("image_folder", data_dir=root).x_train, expected)
    # A decode stopped half-way leaves no folder behind, and none that counts as complete.
    real_decode = image_folder._decode_one
    monkeypatch.setattr(image_folder, "_decode_one", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    other = write_tree(tmp_path / "other", LAYOUT)
    with pytest.raises(KeyboardInterrupt):
        data.load("image_folder", data_dir=other)
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(".")] == []
    # One that a killed process left (kill -9: no clean-up) goes at the next decode of it.
    monkeypatch.setattr(image_folder, "_decode_one", real_decode)
    (folder.parent / f".{folder.name}.999999999.tmp").mkdir()
    shutil.rmtree(folder)
    data.load("image_folder", data_dir=root)
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(".")] == []


def test_without_a_writable_cache_a_tree_is_decoded_into_memory(tmp_path, monkeypatch, capsys):
    root = write_tree(tmp_path / "r", LAYOUT)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv("KERASDL_CACHE_DIR", str(blocker))
    ds = data.load("image_folder", data_dir=root)
    assert not isinstance(ds.x_train, np.memmap) and ds.x_train[:, 0, 0, 0].tolist() == [0, 1, 10, 11, 12, 20, 21]
    assert "could not cache decoded images" in capsys.readouterr().err


def test_images_on_disk_too_large_for_a_task_holding_them_in_memory_are_one_line(tmp_path, monkeypatch,
                                                                                    run_cli):
    from kerasdl import memory

    root = write_tree(tmp_path / "r", LAYOUT)  # 9 images of 6x5 RGB pixels: 810 bytes decoded
    data.load("image_folder", data_dir=root)  # decoded into the cache while memory is plenty
    monkeypatch.setattr(memory, "free_memory", lambda: 1_000)
    with pytest.raises(UserError, match=r"^image_folder: its decoded images take 810 B and 1000 B of "
                                         r"memory is free; this task holds its images in memory .*"
                                         r"\(--set train_limit=N --set test_limit=N\)$"):
        data.load("image_folder", data_dir=root)
    # Those that read a few rows, or stream (classify, vae, semisupervised, gan, contrastive), or take a
    # subset (copied) load it.
    assert len(data.load("image_folder", data_dir=root, in_memory=False).x_train) == 7
    assert len(data.load("image_folder", data_dir=root, train_limit=2, test_limit=2).x_train) == 2
    monkeypatch.setattr(memory, "free_memory", lambda: None)  # not known: no refusal
    data.load("image_folder", data_dir=root)
    # As a task meets it: one line, exit 2, no run folder (a task that streams, told not to).
    monkeypatch.setattr(memory, "free_memory", lambda: 1_000)
    for task, options in (("adversarial", ()), ("semisupervised", ("--stream", "no"))):
        code, _, err = run_cli(task, "--quick", "--dataset", "image_folder", "--data-dir", root, *options,
                               "--set", "train_limit=none", "--set", "test_limit=none", "--out", tmp_path / "runs")
        assert code == 2 and err.strip().splitlines()[-1].startswith("kerasdl: error: image_folder: its decoded")
        assert not any((tmp_path / "runs").glob(f"{task}/*/metrics.json"))
