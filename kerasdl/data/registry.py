"""The data registry: the `Dataset` container, `register`/`load`/`names`/`describe`,
and the resolution order every file-backed data set follows.

Resolution order (as README.md, "Data", tells users), first hit wins:

1. the `data_dir` argument, else the environment variable `KERASDL_DATA_DIR`
2. the project's `data/` folder (`kerasdl.paths.data_dir()`)
3. known system locations (`SYSTEM_DIRS`; Debian's `dataset-fashion-mnist`
   installs `/usr/share/datasets/fashion-mnist/`)
4. the Keras cache (`$KERAS_HOME/datasets` or `~/.keras/datasets`), the TFDS
   cache (`$TFDS_DATA_DIR` or `~/tensorflow_datasets`) and, for the sets
   scikit-learn downloads, its cache (`$SCIKIT_LEARN_DATA` or `~/scikit_learn_data`)
5. the real download (`keras.datasets`, `tensorflow_datasets`, scikit-learn's
   `fetch_*`), skipped when
   `KERASDL_OFFLINE=1` or `download=False`

Each root is searched directly and in subfolders named after the data set and
its aliases, so `--data-dir /work/shared/data` works for every set stored there.
When everything fails the user gets a single `DataNotFound` line; a download
library's exception never escapes (it would read like a bug in kerasdl). A file
that is found but unreadable raises `DataCorrupt` naming it, instead of falling
through to the next place: a silently skipped broken copy is never repaired.

This module imports neither keras nor tensorflow: importing keras fixes the
backend for the whole process, and the CLI must be able to list data sets
before it has chosen one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from kerasdl import paths
from kerasdl.errors import DataCorrupt, DataNotFound, UserError

# Step 3. A module-level list (not a constant inside a function) so tests can
# point it at a temp folder: the real machine has Fashion-MNIST installed here.
SYSTEM_DIRS = [Path("/usr/share/datasets")]

# Offline downloads must fail fast: Keras' get_file has no timeout of its own,
# and a firewall that drops packets (instead of refusing) would hang it forever.
DOWNLOAD_SOCKET_TIMEOUT_S = 60


# --------------------------------------------------------------------------- Dataset


@dataclass(eq=False, repr=False)
class Dataset:
    """Arrays of one data set plus what a report needs to say about them.

    Images are (N, H, W, C) with a channel axis, uint8 where the source is uint8
    and float32 otherwise; integer labels are int64 of shape (N,). `value_range`
    is the range the pixel values *can* take (not the observed min/max): scaling
    must not depend on which examples happen to be in a subset.

    `provenance` goes into every report: it names the data set and its source
    (who published the files, in which form, e.g. "MNIST (keras.datasets
    mnist.npz)"), never a path on the machine that ran it -- where the files
    are is what `python -m kerasdl data list` shows.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list
    provenance: str
    value_range: Optional[tuple] = None
    x_val: Optional[np.ndarray] = None
    y_val: Optional[np.ndarray] = None

    def __post_init__(self):
        self.y_train = _labels(self.y_train)
        self.y_test = _labels(self.y_test)
        if self.y_val is not None:
            self.y_val = _labels(self.y_val)
        for split in ("train", "test", "val"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if (x is None) != (y is None) or (x is not None and len(x) != len(y)):
                raise ValueError(
                    f"{self.name}: x_{split} and y_{split} differ in length "
                    f"({_len(x)} vs {_len(y)})"
                )
        names = [] if self.class_names is None else self.class_names  # may be an array
        self.class_names = [str(c) for c in names]
        self._check_labels()
        if self.value_range is None:
            self.value_range = _infer_range(self.x_train)
        self.value_range = tuple(self.value_range)

    def _check_labels(self):
        """Class labels must index the class names: a label out of range would reach the
        loss as a backend error (TensorFlow's "Graph execution error") deep in training."""
        for split in ("train", "test", "val"):
            y = getattr(self, f"y_{split}")
            if y is None or not len(y) or not _is_class_labels(y):
                continue
            lo, hi = int(y.min()), int(y.max())
            if lo < 0 or (self.class_names and hi >= len(self.class_names)):
                expected = f"0..{len(self.class_names) - 1}" if self.class_names else "0 or more"
                raise DataCorrupt(f"{self.name}: {split} labels run from {lo} to {hi}, but the "
                                  f"labels must be {expected} ({len(self.class_names)} class names); "
                                  "fix the labels or the class names")

    # -- shape information
    @property
    def num_classes(self):
        if self.class_names:
            return len(self.class_names)
        ys = [y for y in (self.y_train, self.y_test, self.y_val) if y is not None and len(y)]
        return int(max(int(y.max()) for y in ys)) + 1 if ys else 0

    @property
    def input_shape(self):
        return tuple(self.x_train.shape[1:])

    # -- transforms
    def scaled(self, x):
        """`x` as float32 in [0, 1], using the source's value range."""
        lo, hi = self.value_range
        return ((np.asarray(x, dtype=np.float32) - lo) / float(hi - lo)).astype(np.float32)

    def split_validation(self, fraction=0.1, seed=0):
        """(x_tr, y_tr, x_val, y_val): the source's own validation split when it
        ships one, else a seeded holdout of `fraction` of the training set,
        stratified by class so small classes are not left out of validation."""
        (x, y, train), (x_val, y_val, val) = self.split_rows(fraction, seed)
        if train is None:
            return x, y, x_val, y_val
        return x[train], y[train], x_val[val], y_val[val]

    def split_rows(self, fraction=0.1, seed=0):
        """The split of `split_validation` without copying a pixel (for images on disk): the
        training and the validation split, each as (x, y, rows), the arrays and the indices of
        the split's rows in them (None: every row)."""
        if self.x_val is not None:
            return (self.x_train, self.y_train, None), (self.x_val, self.y_val, None)
        if not 0 < fraction < 1:
            raise UserError(f"validation fraction must be between 0 and 1, got {fraction}")
        n = len(self.y_train)
        rng = np.random.default_rng(seed)
        if _is_class_labels(self.y_train):
            val = []
            for c in np.unique(self.y_train):
                idx = rng.permutation(np.flatnonzero(self.y_train == c))
                val.append(idx[: int(round(fraction * len(idx)))])
            val = np.concatenate(val)
        else:
            val = rng.permutation(n)[: int(round(fraction * n))]
        if len(val) == 0 and n > 1:  # tiny sets: still hold out one example
            val = rng.permutation(n)[:1]
        val = rng.permutation(val)
        keep = np.ones(n, dtype=bool)
        keep[val] = False
        return (self.x_train, self.y_train, np.flatnonzero(keep)), (self.x_train, self.y_train, val)

    def limit(self, n_train=None, n_test=None, seed=0, n_val=None):
        """A new Dataset with at most `n_train` / `n_test` examples per split (used
        for --quick). The subset is seeded and keeps every class when n allows;
        the validation split, if any, is cut to `n_val` (default: `n_test`)."""
        rng = np.random.default_rng(seed)
        n_val = n_test if n_val is None else n_val
        tr = _subset(self.y_train, n_train, rng)
        te = _subset(self.y_test, n_test, rng)
        changes = dict(x_train=self.x_train[tr], y_train=self.y_train[tr],
                       x_test=self.x_test[te], y_test=self.y_test[te])
        if self.x_val is not None:
            va = _subset(self.y_val, n_val, rng)
            changes.update(x_val=self.x_val[va], y_val=self.y_val[va])
        if len(tr) < len(self.y_train) or len(te) < len(self.y_test):
            changes["provenance"] = (
                f"{self.provenance} (subset: {len(tr)} train, {len(te)} test, seed {seed})"
            )
        return dataclasses.replace(self, **changes)

    def __repr__(self):
        parts = [f"train {_shape(self.x_train)}", f"test {_shape(self.x_test)}"]
        if self.x_val is not None:
            parts.append(f"val {_shape(self.x_val)}")
        return (f"Dataset({self.name!r}, {', '.join(parts)}, {self.num_classes} classes, "
                f"range {self.value_range}, {self.provenance!r})")


def _len(a):
    return None if a is None else len(a)


def _shape(x):
    return f"{tuple(x.shape)} {x.dtype}"


def _labels(y):
    """Integer labels become int64 of shape (N,); other targets (regression,
    text) are left as they are."""
    y = np.asarray(y)
    if y.dtype.kind in "biu":
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.reshape(-1)
        return y.astype(np.int64, copy=False)
    return y


def _is_class_labels(y):
    return y.ndim == 1 and y.dtype.kind in "iu"


def _infer_range(x):
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return (0, 255)
    if x.dtype.kind == "f" and x.size:
        lo, hi = float(x.min()), float(x.max())
        return (0, 1) if lo >= 0 and hi <= 1 else (lo, hi)
    return (0, 1)


def _subset(y, n, rng):
    """Indices of a seeded random subset of size n that contains at least one
    example of every class when n >= number of classes (else: random)."""
    total = len(y)
    if n is None or n >= total:
        return np.arange(total)
    n = max(int(n), 0)
    order = rng.permutation(total)
    if _is_class_labels(y):
        # First occurrence of each class in the random order, then fill up.
        _, first = np.unique(y[order], return_index=True)
        firsts = order[np.sort(first)]
        is_rest = np.ones(total, dtype=bool)
        is_rest[firsts] = False
        rest = order[is_rest[order]]
        order = np.concatenate([rng.permutation(firsts), rest])
    return np.sort(order[:n])


# --------------------------------------------------------------------------- roots


def offline():
    return os.environ.get("KERASDL_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def keras_datasets_dir():
    """Where keras.datasets caches its downloads (honours KERAS_HOME like Keras)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


def tfds_data_dir():
    """Where tensorflow_datasets keeps prepared data sets (honours TFDS_DATA_DIR)."""
    return Path(os.environ.get("TFDS_DATA_DIR")
                or os.path.join(os.path.expanduser("~"), "tensorflow_datasets"))


def sklearn_data_dir():
    """Where scikit-learn's fetch_* functions keep their downloads (honours
    SCIKIT_LEARN_DATA like sklearn.datasets.get_data_home, without importing it)."""
    return Path(os.environ.get("SCIKIT_LEARN_DATA")
                or os.path.join(os.path.expanduser("~"), "scikit_learn_data"))


def tfds_prepared(folder, name):
    """`Hit(folder/name, "tfds")` when `folder` holds a prepared TFDS data set
    `name`, else None. A prepared version folder `<name>/<version>/` holds
    dataset_info.json; a failed download leaves only '*.incomplete*' folders,
    which must not count as found. (The one TFDS probe: svhn and flowers102.)"""
    path = Path(folder) / name
    return Hit(path, "tfds") if any(path.glob("*/dataset_info.json")) else None


def in_system_dir(path):
    """Whether `path` lies in one of the SYSTEM_DIRS (step 3: files a system
    package installed), so a provenance can name the package, not the path."""
    path = Path(path)
    return any(path == Path(d) or Path(d) in path.parents for d in SYSTEM_DIRS)


def user_data_dir(data_dir=None):
    """Step 1: the explicit argument beats KERASDL_DATA_DIR."""
    chosen = data_dir if data_dir not in (None, "") else os.environ.get("KERASDL_DATA_DIR")
    return Path(os.path.expanduser(str(chosen))) if chosen else None


def search_roots(data_dir=None, caches=("keras",)):
    """The root folders of steps 1-4, in order, without duplicates."""
    roots = []
    first = user_data_dir(data_dir)
    if first is not None:
        roots.append(first)
    roots.append(paths.data_dir())
    roots.extend(Path(p) for p in SYSTEM_DIRS)
    if "keras" in caches:
        roots.append(keras_datasets_dir())
    if "tfds" in caches:
        roots.append(tfds_data_dir())
    if "sklearn" in caches:
        roots.append(sklearn_data_dir())
    return _unique(roots)


def _unique(items):
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


@contextlib.contextmanager
def socket_timeout(seconds=DOWNLOAD_SOCKET_TIMEOUT_S):
    """Cap every blocking socket operation during a download (see above)."""
    previous = socket.getdefaulttimeout()
    if previous is None:
        socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def keras_dataset(module_name):
    """keras.datasets.<module_name>, imported only when a download is attempted:
    importing keras fixes the backend, which the CLI chooses first. (One
    function, so tests can replace the download without any network.)"""
    import importlib

    return importlib.import_module(f"keras.datasets.{module_name}")


def short_error(exc):
    """'ExcClass: first line of the message' -- enough to act on, no traceback."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if len(first) > 200:
        first = first[:197] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


# --------------------------------------------------------------------------- locating


@dataclass
class Hit:
    """What a probe found in one folder: the path to show, and how to read it."""

    path: Path
    kind: str
    files: dict = dataclasses.field(default_factory=dict)


@dataclass
class Locator:
    """Where one data set's files may sit and how to get them.

    `probe(folder)` looks into one folder and returns a `Hit` or None without
    reading any array (describe() relies on that). `read(hit, **options)` turns
    a hit into a Dataset and raises DataCorrupt for unreadable files.
    `download(**options)` is the last step; every exception it raises becomes
    part of a DataNotFound message.
    """

    name: str
    aliases: tuple
    probe: Callable
    read: Callable
    provide: str  # how to provide the files, for the error message
    download: Optional[Callable] = None
    fallback: Optional[str] = None  # describe()'s line for step 5
    no_download_reason: str = "no download exists for this data set"
    caches: tuple = ("keras",)

    def folders(self, data_dir=None):
        """Every folder probed, in resolution order."""
        out = []
        for root in search_roots(data_dir, self.caches):
            out.append(root)
            out.extend(root / alias for alias in self.aliases)
        return _unique(out)

    def find(self, data_dir=None):
        """(first Hit or None, folders looked at up to and including the hit)."""
        looked = []
        for folder in self.folders(data_dir):
            looked.append(str(folder))
            if folder.is_dir():
                hit = self.probe(folder)
                if hit is not None:
                    return hit, looked
        return None, looked

    def load(self, data_dir=None, download=True, **options):
        hit, looked = self.find(data_dir)
        if hit is not None:
            return self.read(hit, **options)
        if self.download is None:
            reason = self.no_download_reason
        elif offline():
            reason = "download skipped: offline (KERASDL_OFFLINE=1)"
        elif not download:
            reason = "download skipped (download=False)"
        else:
            try:
                with socket_timeout():
                    return self.download(**options)
            except Exception as exc:  # noqa: BLE001 -- any library error becomes one line
                reason = f"download failed ({short_error(exc)})"
        raise DataNotFound(not_found_message(self, data_dir, reason)) from None


def not_found_message(locator, data_dir, reason):
    roots = [str(r) for r in search_roots(data_dir, locator.caches)]
    subs = " or ".join(f"{a}/" for a in locator.aliases)
    where = ", ".join(roots)
    if subs:
        where += f" (each directly and in a subfolder {subs})"
    return (
        f"data set '{locator.name}' not found: looked in {where}; {reason}; "
        f"to provide it, {locator.provide}, or pass --data-dir DIR "
        "(or set KERASDL_DATA_DIR) pointing at a folder that holds them"
    )


# --------------------------------------------------------------------------- registry


@dataclass
class Entry:
    name: str
    description: str
    loader: Callable
    locator: object = None  # a Locator, or anything with find(data_dir) and fallback
    fallback: Optional[str] = None


_REGISTRY: dict = {}


def register(name, description, *, locator=None, fallback=None):
    """Decorator: make `loader(data_dir=None, **options) -> Dataset` loadable as `name`.

    `locator` (a `Locator`, or any object with `find(data_dir) -> (hit, looked)`)
    lets describe() report where the files are without loading them; generated
    data sets leave it out and pass `fallback="generated"`.
    """

    def decorate(loader):
        if name in _REGISTRY and _REGISTRY[name].loader is not loader:
            raise ValueError(f"data set {name!r} is registered twice")
        fb = fallback if fallback is not None else getattr(locator, "fallback", None)
        _REGISTRY[name] = Entry(name, description, loader, locator, fb)
        return loader

    return decorate


def names():
    return sorted(_REGISTRY)


def _entry(name):
    key = str(name).strip().lower().replace("-", "_")
    if key not in _REGISTRY:
        raise UserError(f"unknown data set {name!r}: choose one of {', '.join(names())}")
    return _REGISTRY[key]


def load(name, data_dir=None, train_limit=None, test_limit=None, subset_seed=0, in_memory=True,
         **options):
    """Load a registered data set; see the module docstring for where it looks.

    `train_limit` / `test_limit` keep a subset of at most that many examples
    per split, drawn with `subset_seed` (`Dataset.limit`; the tasks'
    `--set train_limit=...`).
    `in_memory`: the caller copies the images into memory, as every task but `classify` (which
    can read them from disk batch by batch) does; then images on disk (an image folder) that
    would not fit are a UserError here, rather than a run killed for memory half-way.
    Other options are passed to the loader (e.g. `download=False`, or
    image_folder's `image_size`); an option the loader does not take is a UserError.
    """
    ds = _load_all(name, data_dir, options)
    if train_limit is not None or test_limit is not None:
        ds = ds.limit(train_limit, test_limit, seed=subset_seed)
    if in_memory:
        _check_fits_in_memory(ds)
    return ds


# A task that holds its images in memory copies them at least once more (its training split,
# the framework's tensor): more than this share of the free memory, and it would not fit.
IN_MEMORY_SHARE = 0.5


def _check_fits_in_memory(ds):
    from kerasdl.memory import free_memory, size_text

    on_disk = sum(x.nbytes for x in (ds.x_train, ds.x_val, ds.x_test) if isinstance(x, np.memmap))
    free = free_memory() if on_disk else None
    if free is not None and on_disk > IN_MEMORY_SHARE * free:
        raise UserError(
            f"{ds.name}: its decoded images take {size_text(on_disk)} and {size_text(free)} of "
            "memory is free; this task holds its images in memory (classify, vae, semisupervised, "
            "gan and contrastive read them from disk batch by batch): use one of those, or a subset "
            "(--set train_limit=N --set test_limit=N)")


def _load_all(name, data_dir, options):
    entry = _entry(name)
    params = inspect.signature(entry.loader).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    if not takes_any and "download" not in params:
        options.pop("download", None)  # generated or bundled: nothing to download anyway
    if not takes_any:
        accepted = [p for p in params if p != "data_dir"]
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            takes = ", ".join(accepted) if accepted else "no options"
            raise UserError(
                f"data set '{entry.name}' does not take option(s) {', '.join(unknown)} "
                f"(it takes: {takes})"
            )
    if takes_any or "data_dir" in params:
        return entry.loader(data_dir=data_dir, **options)
    return entry.loader(**options)  # a generated set has no files to look for


def describe(data_dir=None):
    """One dict per registered data set, without loading any array:
    name, description, found (str path or None), looked (folders checked),
    fallback (what happens when nothing is found, or None)."""
    out = []
    for name in names():
        entry = _REGISTRY[name]
        found, looked = None, []
        if entry.locator is not None:
            try:
                hit, looked = entry.locator.find(data_dir)
                found = None if hit is None else str(getattr(hit, "path", hit))
            except OSError:  # an unreadable folder is "not found", not a crash
                pass
        out.append(dict(name=name, description=entry.description, found=found,
                        looked=list(looked), fallback=entry.fallback))
    return out


def check_available(name, data_dir=None):
    """Raise now, before a run starts, if data set `name` cannot be had: no file in any
    place of the resolution order and no download to try. Reads no array."""
    entry = _entry(name)
    locator = entry.locator
    if not isinstance(locator, Locator):
        return  # generated, or a locator of its own kind: its loader says what is wrong
    try:
        hit, _ = locator.find(data_dir)
    except OSError:
        return  # an unreadable folder: the loader's message says which
    if hit is not None or (locator.download is not None and not offline()):
        return
    reason = ("download skipped: offline (KERASDL_OFFLINE=1)" if locator.download is not None
              else locator.no_download_reason)
    raise DataNotFound(not_found_message(locator, data_dir, reason))
