"""flowers102 and faces: the local .npz files first, then the real download --
TFDS oxford_flowers102 and scikit-learn's fetch_olivetti_faces, each mocked at
the library boundary (tensorflow_datasets.load, sklearn.datasets.fetch_olivetti_faces)
with tiny fake data in the libraries' own layouts."""

from types import SimpleNamespace

import numpy as np
import pytest

from kerasdl import data
from kerasdl.data import images64
from kerasdl.errors import DataCorrupt, DataNotFound

NAMES = [f"flower {k}" for k in range(102)]


@pytest.fixture(autouse=True)
def isolated(isolated_data):  # scikit-learn's cache too is tmp_path / "sklearn"
    return isolated_data


def online(monkeypatch):
    monkeypatch.setenv("KERASDL_OFFLINE", "0")


# --------------------------------------------------------------------------- flowers102


def fake_tfds_load(monkeypatch, examples, calls):
    """Replace tensorflow_datasets.load: `examples` maps a TFDS split to a list of
    (image uint8 (H, W, 3), label 0-101, file name); every call is recorded."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    spec = {"image": tf.TensorSpec((None, None, 3), tf.uint8),
            "label": tf.TensorSpec((), tf.int64), "file_name": tf.TensorSpec((), tf.string)}

    def split_ds(rows):
        def gen():
            for image, label, name in rows:
                yield {"image": image, "label": np.int64(label), "file_name": name}

        return tf.data.Dataset.from_generator(gen, output_signature=spec)

    def load(name, split, data_dir, download, shuffle_files, with_info):
        calls.append(dict(name=name, split=split, data_dir=data_dir, download=download))
        info = SimpleNamespace(
            features={"label": SimpleNamespace(names=NAMES)},
            splits={s: SimpleNamespace(num_examples=len(examples[s])) for s in examples})
        return [split_ds(examples[s]) for s in split], info

    monkeypatch.setattr(tfds, "load", load)


def two_tone(h, w, centre=200, sides=0):
    """An image whose central square is `centre` and the rest `sides`."""
    image = np.full((h, w, 3), sides, np.uint8)
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    image[top:top + side, left:left + side] = centre
    return image


def flower_examples():
    rng = np.random.default_rng(0)
    wide = rng.integers(0, 256, (64, 100, 3), dtype=np.uint8)  # crop only: columns 18..81
    tall = rng.integers(0, 256, (101, 64, 3), dtype=np.uint8)  # crop only: rows 18..81
    return {
        "train": [(two_tone(96, 160), 0, b"image_00003.jpg"), (wide, 5, b"image_00001.jpg")],
        "validation": [(two_tone(150, 90, centre=90, sides=255), 101, b"image_00002.jpg")],
        "test": [(tall, 7, b"image_00004.jpg")],
    }


def test_flowers_download_crops_resizes_and_keeps_tfds_labels(tmp_path, monkeypatch):
    online(monkeypatch)
    calls, examples = [], flower_examples()
    fake_tfds_load(monkeypatch, examples, calls)
    ds = data.load("flowers102")
    assert calls == [dict(name="oxford_flowers102", split=["train", "validation", "test"],
                          data_dir=str(tmp_path / "tfds"), download=True)]
    for x in (ds.x_train, ds.x_val, ds.x_test):
        assert x.dtype == np.uint8 and x.shape[1:] == (64, 64, 3)
    assert (len(ds.x_train), len(ds.x_val), len(ds.x_test)) == (2, 1, 1)
    # TFDS labels already run 0-101, as the loader's do: no shift on this path.
    assert ds.y_train.dtype == np.int64 and ds.y_train.tolist() == [5, 0]  # sorted by file name
    assert ds.y_val.tolist() == [101] and ds.y_test.tolist() == [7]
    assert ds.class_names == NAMES and ds.num_classes == 102 and ds.value_range == (0, 255)
    # Centre crop: a crop of side 64 is not resized, so it is the exact middle...
    wide, tall = examples["train"][1][0], examples["test"][0][0]
    assert np.array_equal(ds.x_train[0], wide[:, 18:82])
    assert np.array_equal(ds.x_test[0], tall[18:82])
    # ...and larger images are the middle square shrunk: no pixel of the sides leaks in.
    assert np.abs(ds.x_train[1].astype(int) - 200).max() <= 1
    assert np.abs(ds.x_val[0].astype(int) - 90).max() <= 1
    assert ds.provenance == ("Oxford Flowers 102 at 64x64 (TFDS oxford_flowers102 downloaded by "
                             "tensorflow_datasets, centre-cropped and resized to 64x64; 2 train / "
                             "1 val / 1 test, Oxford's official split)")


def test_flowers_download_through_tfds_own_mock_data(monkeypatch):
    """The real tfds.load call against the real builder's features, with TFDS's own
    random mock examples (images of random sizes) in place of the download."""
    import tensorflow_datasets as tfds

    online(monkeypatch)
    with tfds.testing.mock_data(num_examples=3, policy=tfds.testing.MockPolicy.USE_CODE):
        ds = data.load("flowers102")
    for split in ("train", "val", "test"):
        x, y = getattr(ds, f"x_{split}"), getattr(ds, f"y_{split}")
        assert x.shape == (3, 64, 64, 3) and x.dtype == np.uint8
        assert y.dtype == np.int64 and 0 <= y.min() and y.max() <= 101
    assert len(ds.class_names) == 102 and ds.class_names[0] == "pink primrose"


def test_flowers_download_happens_once_then_the_cache_serves(monkeypatch):
    online(monkeypatch)
    calls = []
    fake_tfds_load(monkeypatch, flower_examples(), calls)
    first = data.load("flowers102")
    monkeypatch.setattr("tensorflow_datasets.load", lambda *a, **k: pytest.fail("TFDS called again"))
    second = data.load("flowers102")
    assert len(calls) == 1
    for split in ("train", "val", "test"):
        assert np.array_equal(getattr(first, f"x_{split}"), getattr(second, f"x_{split}"))
        assert np.array_equal(getattr(first, f"y_{split}"), getattr(second, f"y_{split}"))
    assert second.provenance == first.provenance  # no cache path: it goes into reports


def write_flowers_npz(folder, x, y_1_based, split):
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "flowers102_64x64.npz", x=x, y=np.asarray(y_1_based, np.uint8),
             image_id=np.arange(1, len(x) + 1), split=np.array(split), class_names=np.array(NAMES))


def test_flowers_local_file_wins_and_both_paths_agree(isolated_data, tmp_path, monkeypatch):
    """The same three 64x64 flowers as the local file (labels 1-102) and from TFDS
    (labels 0-101) give the same arrays, labels and dtype."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    tfds_labels = [0, 41, 101]
    write_flowers_npz(isolated_data / "data" / "flowers102", x, [k + 1 for k in tfds_labels],
                      ["train", "valid", "test"])
    online(monkeypatch)
    calls = []
    fake_tfds_load(monkeypatch, {"train": [(x[0], 0, b"image_00001.jpg")],
                                 "validation": [(x[1], 41, b"image_00002.jpg")],
                                 "test": [(x[2], 101, b"image_00003.jpg")]}, calls)
    local = data.load("flowers102")
    assert calls == [] and "(flowers102_64x64.npz; " in local.provenance
    assert str(tmp_path) not in local.provenance
    (isolated_data / "data" / "flowers102" / "flowers102_64x64.npz").unlink()
    downloaded = data.load("flowers102")
    assert len(calls) == 1
    for split in ("train", "val", "test"):
        a, b = getattr(local, f"x_{split}"), getattr(downloaded, f"x_{split}")
        assert a.dtype == b.dtype == np.uint8 and np.array_equal(a, b)
        assert getattr(local, f"y_{split}").tolist() == getattr(downloaded, f"y_{split}").tolist()
    assert local.y_train.tolist() == [0] and local.y_test.tolist() == [101]
    assert local.value_range == downloaded.value_range == (0, 255)


def test_flowers_offline_is_one_line_naming_the_places(tmp_path, monkeypatch):
    calls = []
    fake_tfds_load(monkeypatch, flower_examples(), calls)
    with pytest.raises(DataNotFound) as info:
        data.load("flowers102")
    msg = str(info.value)
    assert calls == [] and "\n" not in msg
    assert "data set 'flowers102' not found" in msg and "KERASDL_OFFLINE=1" in msg
    for place in (tmp_path / "data", tmp_path / "keras" / "datasets", tmp_path / "tfds"):
        assert str(place) in msg
    assert "flowers102_64x64.npz" in msg


def test_flowers_tfds_failure_becomes_one_line(monkeypatch):
    online(monkeypatch)

    def broken(*a, **k):
        raise RuntimeError("Failed to get url https://www.robots.ox.ac.uk/...\nmore\nlines")

    monkeypatch.setattr("tensorflow_datasets.load", broken)
    with pytest.raises(DataNotFound) as info:
        data.load("flowers102")
    msg = str(info.value)
    assert "download failed (RuntimeError: Failed to get url" in msg and "\n" not in msg


def test_flowers_prepared_tfds_cache_is_step_4(tmp_path, monkeypatch):
    """A machine that downloaded once finds TFDS's copy offline (download=False)."""
    (tmp_path / "tfds" / "oxford_flowers102" / "2.1.1.incomplete42").mkdir(parents=True)
    with pytest.raises(DataNotFound):  # a failed download does not count
        data.load("flowers102")
    version = tmp_path / "tfds" / "oxford_flowers102" / "2.1.1"
    version.mkdir()
    (version / "dataset_info.json").write_text("{}")
    calls = []
    fake_tfds_load(monkeypatch, flower_examples(), calls)
    ds = data.load("flowers102")  # still offline
    assert [c["download"] for c in calls] == [False] and len(ds.x_train) == 2
    found = {r["name"]: r for r in data.describe()}["flowers102"]["found"]
    assert found == str(tmp_path / "tfds" / "oxford_flowers102")


def test_flowers_broken_tfds_cache_is_corrupt(tmp_path, monkeypatch):
    version = tmp_path / "tfds" / "oxford_flowers102" / "2.1.1"
    version.mkdir(parents=True)
    (version / "dataset_info.json").write_text("{}")

    def broken(*a, **k):
        raise ValueError("dataset_info.json is empty")

    monkeypatch.setattr("tensorflow_datasets.load", broken)
    with pytest.raises(DataCorrupt, match="oxford_flowers102.*dataset_info.json is empty"):
        data.load("flowers102")


def test_centre_crop_resize_takes_the_middle_square():
    image = two_tone(40, 120, centre=255, sides=0)
    out = images64.centre_crop_resize(image, size=20)
    assert out.shape == (20, 20, 3) and out.dtype == np.uint8 and out.min() >= 254
    grey = np.arange(64 * 80, dtype=np.uint8).reshape(80, 64, 1)
    assert np.array_equal(images64.centre_crop_resize(grey)[..., 0], grey[8:72, :, 0])


# --------------------------------------------------------------------------- faces


def olivetti_pixels(people=3, per_person=10, seed=0):
    """uint8 faces 0..242 as in olivettifaces.mat (both extremes present)."""
    x = np.random.default_rng(seed).integers(0, 243, (people * per_person, 64, 64), dtype=np.uint8)
    x[0, 0, 0], x[0, 0, 1] = 0, 242
    return x


def fake_fetch(monkeypatch, pixels, calls):
    """Replace sklearn.datasets.fetch_olivetti_faces; like scikit-learn it returns
    the pixels min-max scaled to float32 [0, 1], contiguous subjects 0..K-1."""
    import sklearn.datasets

    def fetch(data_home=None, *, shuffle=False, random_state=0, download_if_missing=True, **_):
        calls.append(dict(data_home=data_home, shuffle=shuffle, download_if_missing=download_if_missing))
        faces = np.float32(pixels)
        faces = faces - faces.min()
        faces /= faces.max()
        target = np.repeat(np.arange(len(pixels) // 10), 10)
        return SimpleNamespace(images=faces, data=faces.reshape(len(faces), -1), target=target)

    monkeypatch.setattr(sklearn.datasets, "fetch_olivetti_faces", fetch)


def test_faces_download_gives_the_local_files_uint8_pixels(isolated_data, tmp_path, monkeypatch):
    pixels = olivetti_pixels()
    folder = isolated_data / "data" / "faces"
    folder.mkdir(parents=True)
    np.savez(folder / "olivetti_faces.npz", images=pixels,
             target=np.repeat(np.arange(3), 10).astype(np.uint8))
    online(monkeypatch)
    calls = []
    fake_fetch(monkeypatch, pixels, calls)
    local = data.load("faces")
    assert calls == [] and "olivetti_faces.npz" in local.provenance  # the local file wins
    (folder / "olivetti_faces.npz").unlink()
    downloaded = data.load("faces")
    assert calls == [dict(data_home=str(tmp_path / "sklearn"), shuffle=False, download_if_missing=True)]
    assert downloaded.x_train.shape == (24, 64, 64, 1) and downloaded.x_test.shape == (6, 64, 64, 1)
    for split in ("train", "test"):
        a, b = getattr(local, f"x_{split}"), getattr(downloaded, f"x_{split}")
        assert a.dtype == b.dtype == np.uint8 and np.array_equal(a, b)
        assert np.array_equal(getattr(local, f"y_{split}"), getattr(downloaded, f"y_{split}"))
    assert downloaded.y_train.dtype == np.int64 and sorted(np.bincount(downloaded.y_test)) == [2, 2, 2]
    assert local.value_range == downloaded.value_range == (0, 255)
    assert local.class_names == downloaded.class_names == ["person 1", "person 2", "person 3"]
    assert "(downloaded by scikit-learn fetch_olivetti_faces; " in downloaded.provenance
    assert "(olivetti_faces.npz; " in local.provenance
    assert str(tmp_path) not in local.provenance + downloaded.provenance


def test_faces_offline_is_one_line_naming_the_places(tmp_path, monkeypatch):
    calls = []
    fake_fetch(monkeypatch, olivetti_pixels(), calls)
    with pytest.raises(DataNotFound) as info:
        data.load("faces")
    msg = str(info.value)
    assert calls == [] and "\n" not in msg
    assert "data set 'faces' not found" in msg and "KERASDL_OFFLINE=1" in msg
    for place in (tmp_path / "data", tmp_path / "sklearn"):
        assert str(place) in msg
    assert "olivetti_faces.npz" in msg


def test_faces_scikit_learn_cache_is_step_4(tmp_path, monkeypatch):
    (tmp_path / "sklearn").mkdir()
    (tmp_path / "sklearn" / "olivetti_py3.pkz").write_bytes(b"joblib")
    calls = []
    fake_fetch(monkeypatch, olivetti_pixels(), calls)
    ds = data.load("faces")  # offline
    assert calls == [dict(data_home=str(tmp_path / "sklearn"), shuffle=False, download_if_missing=False)]
    assert ds.x_train.dtype == np.uint8 and len(ds.x_train) == 24
    found = {r["name"]: r for r in data.describe()}["faces"]["found"]
    assert found == str(tmp_path / "sklearn" / "olivetti_py3.pkz")


def test_faces_real_scikit_learn_cache_matches_the_shared_file(shared_data, tmp_path):
    """No mock: scikit-learn's own fetch_olivetti_faces reads a cache file written as
    it writes one (the .mat's uint8 faces, one row each), from the real pixels."""
    import joblib

    path = shared_data / "faces" / "olivetti_faces.npz"
    if not path.is_file():
        pytest.skip(f"{path} absent")
    with np.load(path) as f:
        images = f["images"]
    (tmp_path / "sklearn").mkdir()
    joblib.dump(images.transpose(0, 2, 1).reshape(len(images), -1),
                tmp_path / "sklearn" / "olivetti_py3.pkz", compress=6)
    from_sklearn = data.load("faces")  # offline: step 4, scikit-learn's cache
    local = data.load("faces", data_dir=shared_data)
    assert "scikit-learn" in from_sklearn.provenance and "olivetti_faces.npz" in local.provenance
    for split in ("train", "test"):
        assert np.array_equal(getattr(local, f"x_{split}"), getattr(from_sklearn, f"x_{split}"))
        assert np.array_equal(getattr(local, f"y_{split}"), getattr(from_sklearn, f"y_{split}"))


def test_faces_unexpected_scaling_is_a_failed_download(monkeypatch):
    online(monkeypatch)
    pixels = np.minimum(olivetti_pixels(), 200)  # brightest 200, not 242: the floats are not k/242
    fake_fetch(monkeypatch, pixels, [])
    with pytest.raises(DataNotFound, match=r"download failed \(ValueError: fetch_olivetti_faces"):
        data.load("faces")


# --------------------------------------------------------------------------- data list


def test_describe_names_the_download_step(run_cli):
    rows = {r["name"]: r for r in data.describe()}
    assert rows["flowers102"]["fallback"].startswith("download via TFDS oxford_flowers102")
    assert rows["faces"]["fallback"] == "download via scikit-learn fetch_olivetti_faces"
    code, out, _ = run_cli("data", "list")
    lines = out.splitlines()
    where = {line.split()[0]: lines[i + 1] for i, line in enumerate(lines[:-1]) if line[:1].strip()}
    assert code == 0
    assert "download via TFDS oxford_flowers102" in where["flowers102"]
    assert "download via scikit-learn fetch_olivetti_faces" in where["faces"]
