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

None of them has a download: Oxford's and AT&T's servers serve other formats.
"""

import zipfile

import numpy as np

from kerasdl.data.registry import Dataset, Hit, Locator, register
from kerasdl.errors import DataCorrupt


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



def _read_flowers(hit):
    a = _read_npz(hit.path, ("x", "y", "split", "class_names"))
    x, y, split = a["x"], a["y"].astype(np.int64) - 1, a["split"].astype(str)
    _check_images(hit.path, x, 3)
    names = [str(c) for c in a["class_names"]]
    if y.min() < 0 or y.max() >= len(names):
        raise DataCorrupt(f"{hit.path}: labels run {y.min() + 1}..{y.max() + 1}; "
                          f"expected 1..{len(names)}")
    part = {s: split == s for s in ("train", "valid", "test")}
    if not part["train"].any() or not part["test"].any():
        raise DataCorrupt(f"{hit.path}: split has no 'train' or no 'test' entries")
    has_val = part["valid"].any()
    return Dataset(
        name="flowers102",
        x_train=x[part["train"]], y_train=y[part["train"]],
        x_test=x[part["test"]], y_test=y[part["test"]],
        x_val=x[part["valid"]] if has_val else None, y_val=y[part["valid"]] if has_val else None,
        class_names=names, value_range=(0, 255),
        provenance=f"Oxford Flowers 102 at 64x64 ({hit.path}; {part['train'].sum()} train / "
                   f"{part['valid'].sum()} val / {part['test'].sum()} test, not Oxford's official split)",
    )

_FLOWERS = Locator(
    name="flowers102", aliases=("flowers102", "flowers"),
    probe=_npz_probe("flowers102_64x64.npz"), read=_read_flowers,
    provide="put flowers102_64x64.npz (x uint8 (N,64,64,3), y 1-102, split, class_names) "
            "in data/flowers102/",
    no_download_reason="no download: the 64x64 file is prepared from the Oxford JPEGs",
)


@register("flowers102", "Oxford Flowers 102, 8,189 colour images at 64x64, 102 classes "
          "(flowers102_64x64.npz)", locator=_FLOWERS)
def load_flowers102(data_dir=None):
    return _FLOWERS.load(data_dir)


# --------------------------------------------------------------------------- faces



def _read_faces(hit):
    a = _read_npz(hit.path, ("images", "target"))
    x, y = a["images"], a["target"].astype(np.int64)
    if x.ndim == 3:
        x = x[..., None]
    _check_images(hit.path, x, 1)
    # The last two images of each person are held out, so every subject is in both splits.
    test = np.zeros(len(y), dtype=bool)
    for person in np.unique(y):
        test[np.flatnonzero(y == person)[-2:]] = True
    return Dataset(
        name="faces", x_train=x[~test], y_train=y[~test], x_test=x[test], y_test=y[test],
        class_names=[f"person {p + 1}" for p in range(int(y.max()) + 1)], value_range=(0, 255),
        provenance=f"Olivetti faces, 64x64 grey, 40 people ({hit.path}; "
                   f"{(~test).sum()} train / {test.sum()} test: the last 2 images of each person)",
    )

_FACES = Locator(
    name="faces", aliases=("faces", "olivetti"),
    probe=_npz_probe("olivetti_faces.npz"), read=_read_faces,
    provide="put olivetti_faces.npz (images uint8 (400,64,64), target) in data/faces/",
    no_download_reason="no download: scikit-learn's fetch_olivetti_faces needs the network "
                       "and stores floats; the .npz keeps the uint8 pixels",
)


@register("faces", "Olivetti faces: 400 grey 64x64 faces of 40 people (olivetti_faces.npz)",
          locator=_FACES)
def load_faces(data_dir=None):
    return _FACES.load(data_dir)




def _read_caltech(hit):
    x = _read_npz(hit.path, ("images",))["images"]
    _check_images(hit.path, x, 3)
    test = np.arange(len(x)) % 10 == 9
    y = np.zeros(len(x), dtype=np.int64)
    return Dataset(
        name="caltech_faces", x_train=x[~test], y_train=y[~test], x_test=x[test], y_test=y[test],
        class_names=["face"], value_range=(0, 255),
        provenance=f"Caltech-101 Faces_easy, 64x64 colour, one class ({hit.path}; "
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
