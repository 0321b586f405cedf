"""64x64 image sets for the generative tasks: Oxford Flowers 102 and two face sets.

All three are single `.npz` files (see shared/data/README.md for where they
came from) found by the registry's resolution order, directly in a root or in
its `flowers102/` / `faces/` subfolder:

- `flowers102`: `flowers102_64x64.npz`, all 8,189 Oxford Flowers 102 images
  centre-cropped to 64x64 RGB, labels 1-102 (stored 0-101 here), with the
  file's own train/valid/test split of 6552/818/819.
- `faces`: `olivetti_faces.npz`, 400 grey 64x64 faces of 40 people (the
  Olivetti / AT&T faces). Grey, but labelled: a classifier trained on the
  subjects gives the features of the GAN's Fréchet distance. Images 9 and 10
  of each person are the test split (80 images), the other 8 train (320).
- `caltech_faces`: `caltech101_faces_easy_64x64.npz`, 435 colour face photos
  (Caltech-101 "Faces_easy"); one class, so no classifier can be trained on
  it: a GAN runs on it, but reports no Fréchet distance. Every 10th image is
  the test split.

When no local file is found, two of them are downloaded (the last step of the
resolution order), and give the same arrays as the local files do:

- `flowers102` from TFDS `oxford_flowers102` (Oxford's own split, train /
  validation / test = 1020 / 1020 / 6149; labels 0-101 there as here). Every
  image is centre-cropped to a square and resized to 64x64, as the local file
  was; the result is kept in kerasdl's cache (cache.py), so the download and
  the resizing happen once. A prepared TFDS copy is found in the TFDS cache
  (step 4), so a machine that downloaded once also works offline.
- `faces` from scikit-learn's `fetch_olivetti_faces`, which min-max scales the
  uint8 pixels (0..242 in its source file) to float32 in [0, 1]: multiplied
  back by 242 they are the local file's uint8 pixels again. scikit-learn's
  own cache (`olivetti_py3.pkz` in `~/scikit_learn_data`) is step 4.

`caltech_faces` has no download: the 64x64 file is prepared from Caltech-101's
JPEGs.
"""

import zipfile

import numpy as np

from kerasdl.data import cache, image_folder
from kerasdl.data.registry import (Dataset, Hit, Locator, register, short_error,
                                   sklearn_data_dir, tfds_data_dir, tfds_prepared)
from kerasdl.errors import DataCorrupt

SIZE = 64


def _npz_probe(filename):
    def probe(folder):
        path = folder / filename
        return Hit(path, "npz") if path.is_file() else None

    return probe


def _read_npz(path, keys):
    """The arrays `keys` of an .npz, or DataCorrupt naming the file."""
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in keys if k not in f.files]
            if missing:
                raise DataCorrupt(f"{path}: missing array(s) {', '.join(missing)}; "
                                  f"expected {', '.join(keys)}")
            return {k: f[k] for k in keys}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataCorrupt(f"{path}: not a readable .npz ({type(exc).__name__}); "
                          "replace it with a fresh copy") from None


def _check_images(path, x, channels):
    if x.ndim != 4 or x.shape[1:3] != (64, 64) or x.shape[3] != channels or x.dtype != np.uint8:
        raise DataCorrupt(f"{path}: images have shape {x.shape} {x.dtype}; "
                          f"expected (N, 64, 64, {channels}) uint8")


# --------------------------------------------------------------------------- flowers102

FLOWERS_TFDS = "oxford_flowers102"
FLOWERS_SPLITS = {"train": "train", "validation": "valid", "test": "test"}  # TFDS -> local file
FLOWERS_CACHE_VERSION = 1  # bump when the cropping or resizing changes, to ignore old caches


def centre_crop_resize(image, size=SIZE):
    """The central square of an image (H, W[, C]) resized to size x size RGB uint8
    with Pillow's bicubic filter (antialiased when shrinking), as the local
    flowers102_64x64.npz was made. The crop offsets round down."""
    from PIL import Image  # lazily: only an uncached download needs Pillow

    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    img = Image.fromarray(np.ascontiguousarray(image[top:top + side, left:left + side])).convert("RGB")
    if side != size:
        img = img.resize((size, size), Image.BICUBIC)
    return np.asarray(img, dtype=np.uint8)


def _flowers_probe(folder):
    path = folder / "flowers102_64x64.npz"
    if path.is_file():
        return Hit(path, "npz")
    return tfds_prepared(folder, FLOWERS_TFDS)


def _flowers_dataset(x, y, split, names, source, split_note):
    part = {s: split == s for s in ("train", "valid", "test")}
    has_val = part["valid"].any()
    return Dataset(
        name="flowers102",
        x_train=x[part["train"]], y_train=y[part["train"]],
        x_test=x[part["test"]], y_test=y[part["test"]],
        x_val=x[part["valid"]] if has_val else None, y_val=y[part["valid"]] if has_val else None,
        class_names=names, value_range=(0, 255),
        provenance=f"Oxford Flowers 102 at 64x64 ({source}; {part['train'].sum()} train / "
                   f"{part['valid'].sum()} val / {part['test'].sum()} test, {split_note})",
    )


def _read_flowers(hit):
    if hit.kind == "tfds":
        try:
            return _flowers_tfds(hit.path.parent, download=False)
        except Exception as exc:  # noqa: BLE001 -- TFDS errors are many and deep
            raise DataCorrupt(f"{hit.path} holds no loadable TFDS {FLOWERS_TFDS} "
                              f"({short_error(exc)})") from None
    a = _read_npz(hit.path, ("x", "y", "split", "class_names"))
    x, y, split = a["x"], a["y"].astype(np.int64) - 1, a["split"].astype(str)
    _check_images(hit.path, x, 3)
    names = [str(c) for c in a["class_names"]]
    if y.min() < 0 or y.max() >= len(names):
        raise DataCorrupt(f"{hit.path}: labels run {y.min() + 1}..{y.max() + 1}; "
                          f"expected 1..{len(names)}")
    if not (split == "train").any() or not (split == "test").any():
        raise DataCorrupt(f"{hit.path}: split has no 'train' or no 'test' entries")
    return _flowers_dataset(x, y, split, names, hit.path.name, "not Oxford's official split")


def _flowers_tfds(data_dir, download):
    """TFDS oxford_flowers102 centre-cropped to 64x64, from kerasdl's cache after
    the first time. The arrays are laid out as the local file's: x, y (0-101
    here: TFDS already counts from 0), split (train / valid / test), class_names."""
    path = cache.cache_path("flowers102", cache.key_of(FLOWERS_TFDS, FLOWERS_CACHE_VERSION, SIZE))
    arrays = cache.read(path)
    if arrays is None:
        arrays = _flowers_from_tfds(data_dir, download)
        cache.write(path, arrays)
    how = " downloaded by tensorflow_datasets" if download else ""
    return _flowers_dataset(arrays["x"], arrays["y"].astype(np.int64), arrays["split"].astype(str),
                            [str(c) for c in arrays["class_names"]],
                            f"TFDS {FLOWERS_TFDS}{how}, centre-cropped and resized to 64x64",
                            "Oxford's official split")


def _flowers_from_tfds(data_dir, download):
    import tensorflow_datasets as tfds  # lazily: it is slow to import and needs TensorFlow

    splits, info = tfds.load(FLOWERS_TFDS, split=list(FLOWERS_SPLITS), data_dir=str(data_dir),
                             download=download, shuffle_files=False, with_info=True)
    names = list(info.features["label"].names)
    try:  # only for the progress lines: never fail a download over it
        total = sum(info.splits[s].num_examples for s in FLOWERS_SPLITS)
    except (KeyError, AttributeError, TypeError):
        total = None
    progress = image_folder._Progress(f"TFDS {FLOWERS_TFDS} to crop to 64x64", total)
    rows = []
    for ds, split in zip(splits, FLOWERS_SPLITS.values()):
        for example in tfds.as_numpy(ds):
            label = int(example["label"])
            if not 0 <= label < len(names):
                raise ValueError(f"{FLOWERS_TFDS}: label {label} outside 0..{len(names) - 1}")
            rows.append((split, _text(example["file_name"]), label,
                         centre_crop_resize(example["image"])))
            progress.step()
    progress.finish()
    rows.sort(key=lambda r: r[1])  # image_00001.jpg first: Oxford's order, as the local file
    return dict(x=np.stack([r[3] for r in rows]) if rows else np.zeros((0, SIZE, SIZE, 3), np.uint8),
                y=np.array([r[2] for r in rows], dtype=np.int64),
                split=np.array([r[0] for r in rows], dtype=str),
                class_names=np.array(names, dtype=str))


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


_FLOWERS = Locator(
    name="flowers102", aliases=("flowers102", "flowers"),
    probe=_flowers_probe, read=_read_flowers,
    download=lambda: _flowers_tfds(tfds_data_dir(), download=True),
    fallback=f"download via TFDS {FLOWERS_TFDS} (centre-cropped to 64x64, then cached)",
    caches=("keras", "tfds"),
    provide="put flowers102_64x64.npz (x uint8 (N,64,64,3), y 1-102, split, class_names) "
            "in data/flowers102/",
)


@register("flowers102", "Oxford Flowers 102, 8,189 colour images at 64x64, 102 classes "
          "(flowers102_64x64.npz, or TFDS oxford_flowers102)", locator=_FLOWERS)
def load_flowers102(data_dir=None, download=True):
    return _FLOWERS.load(data_dir, download)


# --------------------------------------------------------------------------- faces

OLIVETTI_MAX = 242  # the brightest pixel of olivettifaces.mat, which scikit-learn scales to 1.0
OLIVETTI_PKZ = "olivetti_py3.pkz"  # scikit-learn's cache of the download (sklearn adds "_py3")


def _faces_probe(folder):
    for name, kind in (("olivetti_faces.npz", "npz"), (OLIVETTI_PKZ, "sklearn")):
        if (folder / name).is_file():
            return Hit(folder / name, kind)
    return None


def _faces_dataset(x, y, source):
    if x.ndim == 3:
        x = x[..., None]
    # The last two images of each person are held out, so every subject is in both splits.
    test = np.zeros(len(y), dtype=bool)
    for person in np.unique(y):
        test[np.flatnonzero(y == person)[-2:]] = True
    return Dataset(
        name="faces", x_train=x[~test], y_train=y[~test], x_test=x[test], y_test=y[test],
        class_names=[f"person {p + 1}" for p in range(int(y.max()) + 1)], value_range=(0, 255),
        provenance=f"Olivetti faces, 64x64 grey, 40 people ({source}; "
                   f"{(~test).sum()} train / {test.sum()} test: the last 2 images of each person)",
    )


def _read_faces(hit):
    if hit.kind == "sklearn":
        try:
            return _faces_sklearn(hit.path.parent, download=False)
        except Exception as exc:  # noqa: BLE001 -- joblib / sklearn errors vary
            raise DataCorrupt(f"{hit.path} is no loadable scikit-learn Olivetti cache "
                              f"({short_error(exc)})") from None
    a = _read_npz(hit.path, ("images", "target"))
    x, y = a["images"], a["target"].astype(np.int64)
    _check_images(hit.path, x[..., None] if x.ndim == 3 else x, 1)
    return _faces_dataset(x, y, hit.path.name)


def _faces_sklearn(data_home, download):
    """scikit-learn's Olivetti faces as the local file's uint8 pixels: its floats
    are the pixels divided by OLIVETTI_MAX (a min-max scaling from 0)."""
    from sklearn.datasets import fetch_olivetti_faces  # lazily: sklearn is slow to import

    bunch = fetch_olivetti_faces(data_home=str(data_home), shuffle=False,
                                 download_if_missing=download)
    images = np.asarray(bunch.images, dtype=np.float64)
    if images.ndim != 3 or images.shape[1:] != (SIZE, SIZE) or not len(images):
        raise ValueError(f"fetch_olivetti_faces gave images of shape {images.shape}, "
                         "expected (400, 64, 64)")
    pixels = images * OLIVETTI_MAX
    x = np.rint(pixels)
    if x.min() < 0 or x.max() > 255 or np.abs(pixels - x).max() > 1e-3:
        raise ValueError(f"fetch_olivetti_faces gave values that are not 0..{OLIVETTI_MAX} "
                         f"divided by {OLIVETTI_MAX}")
    where = ("downloaded by scikit-learn fetch_olivetti_faces" if download
             else "scikit-learn fetch_olivetti_faces")
    return _faces_dataset(x.astype(np.uint8), np.asarray(bunch.target).astype(np.int64), where)


_FACES = Locator(
    name="faces", aliases=("faces", "olivetti"),
    probe=_faces_probe, read=_read_faces,
    download=lambda: _faces_sklearn(sklearn_data_dir(), download=True),
    fallback="download via scikit-learn fetch_olivetti_faces",
    caches=("keras", "sklearn"),
    provide="put olivetti_faces.npz (images uint8 (400,64,64), target) in data/faces/",
)


@register("faces", "Olivetti faces: 400 grey 64x64 faces of 40 people (olivetti_faces.npz, "
          "or scikit-learn fetch_olivetti_faces)", locator=_FACES)
def load_faces(data_dir=None, download=True):
    return _FACES.load(data_dir, download)


def _read_caltech(hit):
    x = _read_npz(hit.path, ("images",))["images"]
    _check_images(hit.path, x, 3)
    test = np.arange(len(x)) % 10 == 9
    y = np.zeros(len(x), dtype=np.int64)
    return Dataset(
        name="caltech_faces", x_train=x[~test], y_train=y[~test], x_test=x[test], y_test=y[test],
        class_names=["face"], value_range=(0, 255),
        provenance=f"Caltech-101 Faces_easy, 64x64 colour, one class ({hit.path.name}; "
                   f"{(~test).sum()} train / {test.sum()} test: every 10th image)",
    )

_CALTECH = Locator(
    name="caltech_faces", aliases=("faces", "caltech_faces"),
    probe=_npz_probe("caltech101_faces_easy_64x64.npz"), read=_read_caltech,
    provide="put caltech101_faces_easy_64x64.npz (images uint8 (N,64,64,3)) in data/faces/",
)


@register("caltech_faces", "Caltech-101 Faces_easy: 435 colour 64x64 face photos, one class "
          "(caltech101_faces_easy_64x64.npz)", locator=_CALTECH)
def load_caltech_faces(data_dir=None):
    return _CALTECH.load(data_dir)
