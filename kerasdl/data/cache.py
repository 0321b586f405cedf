"""Decoded arrays cached in `kerasdl.paths.cache_dir()`: as one .npz, or as a folder of .npy
files that are read from disk as they are used.

Decoding tens of thousands of JPEGs takes a while; loading the same pixels from
an uncompressed .npz takes a fraction of a second. The key names the source
(path, size and mtime of every file), so an edited or replaced source is
decoded again instead of serving stale pixels.

A folder of .npy files (`folder_path`, `read_folder`, `publish_folder`) is for data that
need not fit in memory: its images are memory-mapped (np.memmap), so the operating system
reads the rows a batch asks for, and a decoder writes each image into its row as it goes.
"""

import hashlib
import os
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np

from kerasdl import paths


def key_of(*parts):
    """A short stable hash of anything with a stable repr (paths, sizes, options)."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:20]


HASH_LIMIT = 256 * 2**20  # files up to this size are keyed by content: ~0.1 s for the 18 MB CIFAR archive


def file_stamp(path):
    """What changes when a file is replaced: (resolved path, size, sha256 of the
    content) for files up to HASH_LIMIT bytes, else (resolved path, size, mtime in
    ns). Content, not mtime, where affordable: a data folder copied afresh (as
    these machines do at every start) keeps its caches."""
    path = Path(path)
    st = path.stat()
    if st.st_size <= HASH_LIMIT:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(2**20), b""):
                digest.update(block)
        return (str(path.resolve()), st.st_size, digest.hexdigest())
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def cache_path(kind, key):
    return paths.cache_dir() / kind / f"{key}.npz"


def read(path):
    """The cached arrays as a dict, or None when absent or unreadable (a broken
    cache file is rebuilt, never reported: it is ours, not the user's data)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError):
        return None


def write(path, arrays):
    """Save atomically (others may read the cache at the same moment); a cache
    that cannot be written only costs speed, so it warns instead of failing."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Uncompressed on purpose: pixel data barely compresses and zlib would
        # make every later load several times slower.
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except OSError as exc:
        print(f"kerasdl: warning: could not cache decoded arrays in {path}: {exc}",
              file=sys.stderr)
        try:
            tmp.unlink()
        except OSError:
            pass


def folder_path(kind, key):
    return paths.cache_dir() / kind / key


def read_folder(folder):
    """{name: array} of a cached folder (the image arrays `x_*` memory-mapped, read-only;
    the rest in memory), or None when absent or broken (then it is decoded again)."""
    folder = Path(folder)
    if not (folder / "complete").is_file():
        return None
    try:
        return {path.stem: np.load(path, allow_pickle=False,
                                   mmap_mode="r" if path.stem.startswith("x_") else None)
                for path in sorted(folder.glob("*.npy"))}
    except (OSError, ValueError, EOFError):
        return None


def new_folder(folder):
    """A fresh temporary folder beside `folder`, for `publish_folder` to move into place.
    Those that processes no longer running left (killed while decoding) are removed."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    for stale in folder.parent.glob(f".{folder.name}.*.tmp"):
        if not _running(stale.suffixes[-2].lstrip(".")):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


def _running(pid):
    """Whether a process with this id (a string) runs on this machine."""
    try:
        os.kill(int(pid), 0)  # PermissionError: it runs, as another user
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        pass
    return True


def publish_folder(tmp, folder):
    """Mark `tmp` complete and rename it to `folder` in one step: a reader sees the whole
    folder or none. A broken folder in the way is replaced; one that another process has
    just published is kept, and `tmp` dropped."""
    tmp, folder = Path(tmp), Path(folder)
    (tmp / "complete").touch()
    if folder.exists() and read_folder(folder) is None:
        shutil.rmtree(folder, ignore_errors=True)
    try:
        os.replace(tmp, folder)
    except OSError:  # another process published first (a non-empty folder cannot be replaced)
        shutil.rmtree(tmp, ignore_errors=True)
