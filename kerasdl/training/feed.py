"""Training on images that stay on disk: batches read from memory-mapped arrays.

An image folder is decoded once into .npy files that are memory-mapped, not loaded
(`kerasdl.data.cache`). Given to `model.fit` as arrays they would be copied whole into
memory (TensorFlow makes one tensor of them), so a data set larger than memory is fed by
`RowBatches` instead: each batch reads its own rows, and memory holds a few batches
whatever the size of the data set. `streams` decides: on disk and larger than a quarter of
the memory free now (a container's limit counts), or as `--stream` says.
"""

import math

import keras
import numpy as np

from kerasdl.config import field, one_of
from kerasdl.memory import free_memory

STREAM_CHOICES = ("auto", "yes", "no")
MEMORY_SHARE = 0.25  # of the free memory: more than this, and `auto` streams


def stream_field():
    """The `stream` field of a task's Config that reads its images this way."""
    return field("auto", "read each batch from the decoded images on disk instead of holding them "
                 "in memory: yes, no, or auto (an image folder larger than a quarter of the free "
                 "memory)", one_of(*STREAM_CHOICES))


def streams(x, choice="auto"):
    """Whether to feed `x` (the training images) batch by batch from disk: `choice` 'yes' or
    'no', or 'auto': when `x` is memory-mapped and larger than MEMORY_SHARE of free memory."""
    if choice != "auto":
        return choice == "yes"
    free = free_memory()
    return isinstance(x, np.memmap) and free is not None and x.nbytes > MEMORY_SHARE * free


def size(split):
    """The number of examples of a split given as (x, y, rows) (see `Dataset.split_rows`)."""
    x, _, rows = split
    return len(x) if rows is None else len(rows)


def in_memory(split):
    """A split given as (x, y, rows) with its rows copied into memory: (x[rows], y[rows], None)."""
    x, y, rows = split
    return split if rows is None else (x[rows], None if y is None else y[rows], None)


def arguments(split, batch_size, stream, shuffle=False, seed=0, transform=None):
    """The data arguments of `fit`, `evaluate` or `predict` for a split given as (x, y, rows)
    (`y` None for `predict`): the arrays in memory, or with `stream` x=RowBatches reading
    them from disk (shuffled per epoch if `shuffle`: fit shuffles arrays itself).
    `transform`: a function of a batch of images (with `stream`), else of the whole array."""
    if stream:
        batches = RowBatches(*split, batch_size=batch_size, shuffle=shuffle, seed=seed, transform=transform)
        # fit would also reorder the batches, by Python's global random state: a resumed run
        # would then see them in another order than an uninterrupted one
        return {"x": batches, **({"shuffle": False} if shuffle else {})}
    x, y, _ = in_memory(split)
    x = x if transform is None else transform(x)
    return {"x": x, "batch_size": batch_size, **({} if y is None else {"y": y})}


def images(x, stream, batch_size=256):
    """What `predict` reads of images `x`: the array, or with `stream` its batches from disk."""
    return arguments((x, None, None), batch_size, stream)["x"]


def validation_data(args):
    """`fit`'s validation_data from `arguments`' result."""
    return args["x"] if "y" not in args else (args["x"], args["y"])


def callbacks(args):
    """The callbacks `fit` needs for `arguments`' result (a shuffled RowBatches follows the
    epochs)."""
    return args["x"].callbacks() if isinstance(args["x"], RowBatches) else []


def rows_of(split, n):
    """The first `n` examples of a split given as (x, y, rows), still as (x, y, rows)."""
    x, y, rows = split
    return x, y, (np.arange(min(n, len(x))) if rows is None else rows[:n])


class RowBatches(keras.utils.PyDataset):
    """Batches of `batch_size` of the rows `rows` (default: all) of `x` and `y`, read when
    asked for, `transform` applied to each batch of `x` (e.g. scaling to a model's range). With
    `shuffle`, epoch e visits the rows in an order drawn from (seed, e), so that a resumed run
    sees the batches an uninterrupted one would: pass `callbacks()` to `fit`, which tells it
    the epoch."""

    def __init__(self, x, y=None, rows=None, batch_size=128, shuffle=False, seed=0, transform=None):
        super().__init__()
        self.x, self.y, self.batch_size, self.transform = x, y, int(batch_size), transform
        self.rows = np.arange(len(x)) if rows is None else np.asarray(rows)
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0
        self._order, self._order_epoch = None, None

    def __len__(self):
        return math.ceil(len(self.rows) / self.batch_size)

    def order(self, epoch):
        """The rows in the order epoch `epoch` visits them."""
        if not self.shuffle:
            return self.rows
        return np.random.default_rng([self.seed, epoch]).permutation(self.rows)

    def __getitem__(self, index):
        if index < 0 or index >= len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        if self._order_epoch != self.epoch:
            self._order, self._order_epoch = self.order(self.epoch), self.epoch
        # Rows of a batch read in file order: the same batch, fewer seeks.
        rows = np.sort(self._order[index * self.batch_size:(index + 1) * self.batch_size])
        x = np.asarray(self.x[rows])
        x = x if self.transform is None else self.transform(x)
        return x if self.y is None else (x, np.asarray(self.y[rows]))

    def callbacks(self):
        return [_FollowEpochs(self)] if self.shuffle else []


class _FollowEpochs(keras.callbacks.Callback):
    """Tells a `RowBatches` which epoch begins (a resumed fit starts past 0)."""

    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.epoch = epoch
