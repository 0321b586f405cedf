"""CIFAR-10: the original python pickles (folder or .tar.gz), a JPEG tree
(folder or .tar.xz, as in the project's shared data), or keras.datasets.

Within one folder the pickles win over JPEGs: they are the lossless original.
Labels always index CIFAR_CLASSES, also for the JPEG tree (whose folders are
named after the classes), so models trained on either agree on what 3 means.
"""

import io
import lzma
import pickle
import tarfile
import zlib
from pathlib import Path

import numpy as np

from kerasdl.data import image_folder, registry
from kerasdl.data.registry import Dataset, Hit, Locator, register
from kerasdl.errors import DataCorrupt

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck"]
BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
PICKLE_ARCHIVES = ("cifar-10-python.tar.gz", "cifar-10-batches-py.tar.gz")
JPEG_ARCHIVE_GLOBS = ("cifar10*.tar.xz", "cifar-10*.tar.xz", "cifar10*.tar.gz", "cifar10*.tar")


class _BatchUnpickler(pickle.Unpickler):
    """The CIFAR batches are pickles; unpickling runs whatever the file names, so
    only the handful of numpy callables a batch dict needs is allowed."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("copyreg", "_reconstructor"),
        ("builtins", "bytearray"), ("__builtin__", "bytearray"),
        ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module.startswith("numpy.core.") and hasattr(np, "_core"):
            # The original batches name numpy 1's module; numpy 2 warns on that alias.
            module = "numpy._core." + module[len("numpy.core."):]
        return super().find_class(module, name)


def read_batch(data, shown):
    """(x (N, 32, 32, 3) uint8, y (N,) int64) from one pickled batch's bytes."""
    try:
        batch = _BatchUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as exc:  # noqa: BLE001 -- unpickling can fail in a dozen ways
        raise DataCorrupt(f"{shown} is not a readable CIFAR batch pickle "
                          f"({type(exc).__name__}: {exc})") from None
    if not isinstance(batch, dict):
        raise DataCorrupt(f"{shown}: expected a dict with b'data' and b'labels'")
    pixels = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if pixels is None or labels is None:
        raise DataCorrupt(f"{shown}: no b'data' / b'labels' in the batch")
    pixels, labels = np.asarray(pixels), np.asarray(labels)
    if pixels.ndim != 2 or pixels.shape[1] != 3072 or len(pixels) != len(labels):
        raise DataCorrupt(f"{shown}: data {pixels.shape}, labels {labels.shape}; expected "
                          "(N, 3072) and (N,)")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DataCorrupt(f"{shown}: labels outside 0..9")
    # Rows are channel-first (1024 red, 1024 green, 1024 blue values); Keras wants
    # channels last.
    x = pixels.astype(np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), labels.astype(np.int64)


def _from_batches(read_bytes, where, provenance):
    xs, ys = [], []
    for name in BATCHES:
        x, y = read_batch(read_bytes(name), f"{where}/{name}")
        xs.append(x)
        ys.append(y)
    return Dataset(
        name="cifar10",
        x_train=np.concatenate(xs[:5]), y_train=np.concatenate(ys[:5]),
        x_test=xs[5], y_test=ys[5], class_names=CIFAR_CLASSES,
        provenance=provenance, value_range=(0, 255),
    )


def _read_pickle_folder(folder):
    def read_bytes(name):
        try:
            return (folder / name).read_bytes()
        except OSError as exc:
            raise DataCorrupt(f"{folder / name} cannot be read ({exc})") from None

    return _from_batches(read_bytes, str(folder), "CIFAR-10 (Krizhevsky's python batches)")


def _read_pickle_archive(archive):
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            missing = [b for b in BATCHES if b not in members]
            if missing:
                raise DataCorrupt(f"{archive} lacks {', '.join(missing)}")
            contents = {b: tar.extractfile(members[b]).read() for b in BATCHES}
    except (tarfile.TarError, lzma.LZMAError, zlib.error, EOFError, OSError) as exc:
        raise DataCorrupt(f"{archive} is not a readable tar archive "
                          f"(truncated or corrupt: {type(exc).__name__}: {exc})") from None
    return _from_batches(contents.__getitem__, str(archive),
                         f"CIFAR-10 (Krizhevsky's python batches, {Path(archive).name})")


def _is_jpeg_tree(folder):
    splits = image_folder.find_splits(folder)
    return ("train" in splits and "test" in splits
            and any((splits["train"] / c).is_dir() for c in CIFAR_CLASSES))


def _probe(folder):
    if all((folder / b).is_file() for b in BATCHES):
        return Hit(folder, "pickles")
    for name in PICKLE_ARCHIVES:
        if (folder / name).is_file():
            return Hit(folder / name, "pickle_archive")
    if _is_jpeg_tree(folder):
        return Hit(folder, "jpeg_tree")
    for pattern in JPEG_ARCHIVE_GLOBS:
        for path in sorted(folder.glob(pattern)):
            if path.is_file() and not path.name.startswith(PICKLE_ARCHIVES):
                return Hit(path, "jpeg_archive")
    return None


def _read(hit):
    if hit.kind == "pickles":
        return _read_pickle_folder(hit.path)
    if hit.kind == "pickle_archive":
        return _read_pickle_archive(hit.path)
    what = f"CIFAR-10 (JPEG) {hit.path}"
    if hit.kind == "jpeg_tree":
        arrays = image_folder.load_tree(hit.path, class_names=CIFAR_CLASSES, what=what)
    else:
        arrays = image_folder.load_archive(hit.path, class_names=CIFAR_CLASSES, what=what,
                                           total=60_000)
    for split in ("train", "test"):
        x = arrays[f"x_{split}"]
        if x.shape[1:] != (32, 32, 3):
            raise DataCorrupt(f"{hit.path}: {split} images are {x.shape[1:]}, "
                              "CIFAR-10 images are 32x32 RGB")
    source = ("image folder train/<class>/..." if hit.kind == "jpeg_tree"
              else f"image archive {hit.path.name}")
    # "(JPEG)": re-encoding lost a little detail, so reports must not pass these
    # accuracies off as ones on the original CIFAR-10.
    return image_folder.arrays_to_dataset(
        "cifar10", arrays, f"CIFAR-10 (JPEG) ({source})", class_names=CIFAR_CLASSES)


def _download():
    """Step 5: keras.datasets.cifar10 (see registry.keras_dataset)."""
    (x_train, y_train), (x_test, y_test) = registry.keras_dataset("cifar10").load_data()
    x_train, x_test = np.asarray(x_train), np.asarray(x_test)
    if x_train.shape[1] == 3 and x_train.shape[-1] != 3:  # image_data_format channels_first
        x_train, x_test = x_train.transpose(0, 2, 3, 1), x_test.transpose(0, 2, 3, 1)
    return Dataset(
        name="cifar10", x_train=x_train, y_train=np.asarray(y_train).reshape(-1),
        x_test=x_test, y_test=np.asarray(y_test).reshape(-1), class_names=CIFAR_CLASSES,
        provenance="CIFAR-10 (Krizhevsky's python batches, downloaded by keras.datasets)",
        value_range=(0, 255),
    )


CIFAR10 = Locator(
    name="cifar10",
    aliases=("cifar10", "cifar-10", "cifar-10-batches-py",
             "cifar-10-batches-py-target/cifar-10-batches-py",  # where Keras 3 unpacks it
             "cifar10-jpg", "cifar-10-jpg"),
    probe=_probe,
    read=_read,
    download=_download,
    fallback="download via keras.datasets",
    provide="put the CIFAR-10 python batches (cifar-10-batches-py/ with data_batch_1..5 and "
            "test_batch, or cifar-10-python.tar.gz), or a JPEG tree train/<class>/*.jpg + "
            "test/<class>/*.jpg (or cifar10-jpg.tar.xz holding one), in one of those folders",
)


@register("cifar10", "CIFAR-10 photos, 32x32 RGB, 10 classes, 50,000 train / 10,000 test",
          locator=CIFAR10)
def load_cifar10(data_dir=None, download=True):
    return CIFAR10.load(data_dir, download)
