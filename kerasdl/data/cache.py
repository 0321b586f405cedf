"""Decoded arrays cached as .npz in `kerasdl.paths.cache_dir()`.

Decoding tens of thousands of JPEGs takes a while; loading the same pixels from
an uncompressed .npz takes a fraction of a second. The key names the source
(path, size and mtime of every file), so an edited or replaced source is
decoded again instead of serving stale pixels.
"""

import hashlib
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

from kerasdl import paths


def key_of(*parts):
    """A short stable hash of anything with a stable repr (paths, sizes, options)."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:20]


def file_stamp(path):
    """(resolved path, size, mtime in ns): what changes when a file is replaced."""
    st = Path(path).stat()
    return (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


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
