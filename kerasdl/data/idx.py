"""IDX files (the format of MNIST and Fashion-MNIST) and the two data sets.

IDX: a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the values. Labels are
magic 2049 (uint8, 1 dimension), images 2051 (uint8, 3 dimensions).
"""

import gzip
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from kerasdl.data import registry
from kerasdl.data.registry import Dataset, Hit, Locator, register
from kerasdl.errors import DataCorrupt

# type code -> big-endian dtype, from the format's description
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"

# role -> file name stem (with or without .gz; some mirrors use '.idx3' for '-idx3')
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def read_idx(path):
    """The array stored in an IDX file (gzip-compressed or raw); DataCorrupt
    naming the file when it is truncated or not IDX."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(2)
        opener = gzip.open if head == _GZIP_MAGIC else open
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataCorrupt(f"{path} cannot be read ({type(exc).__name__}: {exc}); "
                          "the download may be truncated") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        magic = int.from_bytes(data[:4].ljust(4, b"\0"), "big")
        raise DataCorrupt(f"{path} is not an IDX file (magic number {magic}, "
                          "expected 2049 for labels or 2051 for images)")
    dtype, ndim = np.dtype(_IDX_TYPES[data[2]]), data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataCorrupt(f"{path}: IDX header truncated ({len(data)} bytes)")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataCorrupt(f"{path}: {len(data) - header} bytes of data, expected {expected} "
                          f"for shape {shape}: truncated or not the file it is named after")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=False)


def write_idx(path, array):
    """Write `array` as IDX (gzip-compressed when the name ends in .gz); used to
    make test fixtures in the real format."""
    array = np.asarray(array)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_TYPES.items()}
    code = codes[array.dtype.newbyteorder("=")]
    body = struct.pack(">BBBB", 0, 0, code, array.ndim)
    body += struct.pack(f">{array.ndim}I", *array.shape)
    body += array.astype(np.dtype(_IDX_TYPES[code]), copy=False).tobytes()
    path = Path(path)
    with (gzip.open if path.suffix == ".gz" else open)(path, "wb") as f:
        f.write(body)
    return path


def _idx_paths(folder):
    """The four IDX files in folder (each .gz or raw, '-idx' or '.idx'), or None."""
    found = {}
    for role, stem in IDX_FILES.items():
        for name in (stem + ".gz", stem, stem.replace("-idx", ".idx") + ".gz",
                     stem.replace("-idx", ".idx")):
            if (folder / name).is_file():
                found[role] = folder / name
                break
        else:
            return None
    return found


def _read_idx_set(name, files, num_classes=10):
    arrays = {role: read_idx(path) for role, path in files.items()}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        xp, yp = files[f"x_{split}"], files[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1:
            raise DataCorrupt(f"{xp} / {yp}: expected images (N, H, W) and labels (N,), "
                              f"got {x.shape} and {y.shape} (files swapped?)")
        if len(x) != len(y):
            raise DataCorrupt(f"{xp} holds {len(x)} images but {yp} {len(y)} labels")
        if len(y) and (y.min() < 0 or y.max() >= num_classes):
            raise DataCorrupt(f"{yp}: labels outside 0..{num_classes - 1}")
    return arrays


def _read_npz(path):
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except KeyError as exc:
        raise DataCorrupt(f"{path} lacks array {exc} (expected x_train, y_train, x_test, "
                          "y_test as keras.datasets' mnist.npz)") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataCorrupt(f"{path} is not a readable .npz ({type(exc).__name__}: {exc})") from None
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DataCorrupt(f"{path}: x_{split} {x.shape} and y_{split} {y.shape} "
                              "do not fit (expected (N, 28, 28) and (N,))")
    return arrays


def _dataset(name, arrays, class_names, provenance):
    return Dataset(
        name=name,
        x_train=arrays["x_train"][..., None].astype(np.uint8, copy=False),
        y_train=arrays["y_train"].astype(np.int64),
        x_test=arrays["x_test"][..., None].astype(np.uint8, copy=False),
        y_test=arrays["y_test"].astype(np.int64),
        class_names=class_names, provenance=provenance, value_range=(0, 255),
    )


def _keras_download(module_name, name, class_names, provenance):
    """Step 5: keras.datasets.<module>.load_data() (it caches in the Keras cache,
    where step 4 finds it next time)."""

    def download():
        module = registry.keras_dataset(module_name)
        (x_train, y_train), (x_test, y_test) = module.load_data()
        arrays = dict(x_train=np.asarray(x_train), y_train=np.asarray(y_train).reshape(-1),
                      x_test=np.asarray(x_test), y_test=np.asarray(y_test).reshape(-1))
        return _dataset(name, arrays, class_names, provenance)

    return download


# --------------------------------------------------------------------------- mnist

MNIST_CLASSES = [str(d) for d in range(10)]


def _belongs(folder, name):
    """MNIST and Fashion-MNIST ship IDX files with the same names: never take
    a folder named after the other set for this one."""
    folder_name = folder.name.lower()
    if name == "mnist":
        return "fashion" not in folder_name
    return "fashion" in folder_name or "mnist" not in folder_name


def _probe_mnist(folder):
    if (folder / "mnist.npz").is_file():
        return Hit(folder / "mnist.npz", "npz")
    files = _idx_paths(folder) if _belongs(folder, "mnist") else None
    return Hit(folder, "idx", files) if files else None


def _read_mnist(hit):
    # Provenances name the data set and its source, never the folder (see Dataset).
    if hit.kind == "npz":
        return _dataset("mnist", _read_npz(hit.path), MNIST_CLASSES,
                        "MNIST (keras.datasets mnist.npz)")
    return _dataset("mnist", _read_idx_set("mnist", hit.files), MNIST_CLASSES,
                    "MNIST (LeCun's IDX files)")


MNIST = Locator(
    name="mnist",
    aliases=("mnist", "MNIST"),
    probe=_probe_mnist,
    read=_read_mnist,
    download=_keras_download("mnist", "mnist", MNIST_CLASSES,
                             "MNIST (keras.datasets mnist.npz, downloaded)"),
    fallback="download via keras.datasets",
    provide="put mnist.npz (keys x_train, y_train, x_test, y_test) or the four IDX files "
            "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
            "t10k-labels-idx1-ubyte.gz in one of those folders",
)


@register("mnist", "MNIST handwritten digits, 28x28 grey, 60,000 train / 10,000 test",
          locator=MNIST)
def load_mnist(data_dir=None, download=True):
    return MNIST.load(data_dir, download)


# --------------------------------------------------------------------------- fashion_mnist

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def _probe_fashion(folder):
    for npz in ("fashion-mnist.npz", "fashion_mnist.npz"):
        if (folder / npz).is_file():
            return Hit(folder / npz, "npz")
    files = _idx_paths(folder) if _belongs(folder, "fashion_mnist") else None
    return Hit(folder, "idx", files) if files else None


def _read_fashion(hit):
    if hit.kind == "npz":
        return _dataset("fashion_mnist", _read_npz(hit.path), FASHION_CLASSES,
                        f"Fashion-MNIST (Zalando's images as {hit.path.name})")
    package = ", Debian's dataset-fashion-mnist" if registry.in_system_dir(hit.path) else ""
    return _dataset("fashion_mnist", _read_idx_set("fashion_mnist", hit.files), FASHION_CLASSES,
                    f"Fashion-MNIST (Zalando's IDX files{package})")


FASHION_MNIST = Locator(
    name="fashion_mnist",
    aliases=("fashion-mnist", "fashion_mnist", "fashionmnist"),
    probe=_probe_fashion,
    read=_read_fashion,
    download=_keras_download("fashion_mnist", "fashion_mnist", FASHION_CLASSES,
                             "Fashion-MNIST (Zalando's IDX files, downloaded by keras.datasets)"),
    fallback="download via keras.datasets",
    provide="install Debian's package (apt-get install dataset-fashion-mnist), or put the "
            "four IDX files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
            "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz in one of those folders",
)


@register("fashion_mnist", "Fashion-MNIST clothing, 28x28 grey, 10 classes, "
          "60,000 train / 10,000 test", locator=FASHION_MNIST)
def load_fashion_mnist(data_dir=None, download=True):
    return FASHION_MNIST.load(data_dir, download)
