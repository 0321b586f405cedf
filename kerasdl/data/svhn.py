"""SVHN (cropped digits, "format 2"): the .mat files, or TFDS `svhn_cropped`.

The .mat files store X as (32, 32, 3, N) and y as (N, 1) with the label 10 for
the digit 0; here x is (N, 32, 32, 3) uint8 and y the digit itself.
"""

import numpy as np

from kerasdl.data.registry import (Dataset, Hit, Locator, register, short_error, tfds_data_dir,
                                   tfds_prepared)
from kerasdl.errors import DataCorrupt

SVHN_CLASSES = [str(d) for d in range(10)]
MAT_FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}
TFDS_NAME = "svhn_cropped"


def read_mat(path):
    """(x (N, 32, 32, 3) uint8, y (N,) int64) from one format-2 .mat file."""
    import scipy.io  # lazily: scipy.io takes a moment to import

    try:
        mat = scipy.io.loadmat(str(path))
    except NotImplementedError as exc:  # MATLAB v7.3 is HDF5, which loadmat cannot read
        raise DataCorrupt(f"{path} is a MATLAB v7.3 file ({exc}); SVHN's format-2 files "
                          "are v5 .mat") from None
    except Exception as exc:  # noqa: BLE001 -- scipy raises ValueError, TypeError, OSError...
        raise DataCorrupt(f"{path} is not a readable .mat file "
                          f"({type(exc).__name__}: {exc})") from None
    if "X" not in mat or "y" not in mat:
        raise DataCorrupt(f"{path} lacks the variables X and y of SVHN's format-2 files")
    x, y = np.asarray(mat["X"]), np.asarray(mat["y"]).reshape(-1)
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != len(y):
        raise DataCorrupt(f"{path}: X {x.shape} and y {mat['y'].shape} do not fit "
                          "(expected (32, 32, 3, N) and (N, 1))")
    y = y.astype(np.int64)
    if len(y) and (y.min() < 0 or y.max() > 10):
        raise DataCorrupt(f"{path}: labels outside 1..10")
    y[y == 10] = 0  # SVHN writes the digit 0 as label 10
    x = np.ascontiguousarray(x.transpose(3, 0, 1, 2)).astype(np.uint8, copy=False)
    return x, y


def _probe(folder):
    if all((folder / name).is_file() for name in MAT_FILES.values()):
        return Hit(folder, "mat")
    return tfds_prepared(folder, TFDS_NAME)


def _tfds_load(data_dir, download):
    """tfds.load of the whole svhn_cropped as numpy; imported here only."""
    import tensorflow_datasets as tfds

    train, test = tfds.load(TFDS_NAME, split=["train", "test"], batch_size=-1,
                            as_supervised=True, data_dir=None if data_dir is None else str(data_dir),
                            download=download)
    (x_train, y_train), (x_test, y_test) = tfds.as_numpy(train), tfds.as_numpy(test)
    return Dataset(
        name="svhn", x_train=np.asarray(x_train, dtype=np.uint8), y_train=np.asarray(y_train),
        x_test=np.asarray(x_test, dtype=np.uint8), y_test=np.asarray(y_test),
        class_names=SVHN_CLASSES, value_range=(0, 255),
        provenance=(f"SVHN (TFDS {TFDS_NAME}, downloaded by tensorflow_datasets)" if download
                    else f"SVHN (TFDS {TFDS_NAME})"),
    )


def _read(hit):
    if hit.kind == "tfds":
        try:
            return _tfds_load(hit.path.parent, download=False)
        except Exception as exc:  # noqa: BLE001 -- TFDS errors are many and deep
            raise DataCorrupt(f"{hit.path} holds no loadable TFDS {TFDS_NAME} "
                              f"({short_error(exc)})") from None
    x_train, y_train = read_mat(hit.path / MAT_FILES["train"])
    x_test, y_test = read_mat(hit.path / MAT_FILES["test"])
    return Dataset(
        name="svhn", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
        class_names=SVHN_CLASSES, value_range=(0, 255),
        provenance="SVHN (Stanford's format-2 .mat files)",
    )


def _download():
    return _tfds_load(tfds_data_dir(), download=True)


SVHN = Locator(
    name="svhn",
    aliases=("svhn", "SVHN", "svhn-cropped"),
    probe=_probe,
    read=_read,
    download=_download,
    fallback=f"download via TFDS {TFDS_NAME}",
    caches=("keras", "tfds"),
    provide="put SVHN's format-2 files train_32x32.mat and test_32x32.mat "
            "(http://ufldl.stanford.edu/housenumbers/) in one of those folders",
)


@register("svhn", "SVHN street-view house numbers, 32x32 RGB digits, "
          "73,257 train / 26,032 test", locator=SVHN)
def load_svhn(data_dir=None, download=True):
    return SVHN.load(data_dir, download)

