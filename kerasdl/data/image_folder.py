"""Image trees `train/<class>/*.png|jpg` (+ `test/`, optional `val/`) decoded to arrays.

The one decoder for image files: the `image_folder` data set uses it on a
folder, and CIFAR-10 (JPEG) uses it on the folder or straight on the
`.tar.xz` archive (streamed member by member: unpacking 60,000 small files to
disk first would only cost time and inodes). Decoded arrays are cached as .npz
(see cache.py), so only the first load pays for Pillow.
"""

import io
import lzma
import os
import shutil
import sys
import tarfile
import time
import zlib
from pathlib import Path, PurePosixPath

import numpy as np

from kerasdl.data import cache
from kerasdl.data.registry import Dataset, Hit, register, user_data_dir
from kerasdl.errors import DataCorrupt, DataNotFound, UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
# Folder name -> split. Several spellings of "validation" are in common use.
SPLIT_DIRS = {"train": "train", "test": "test",
              "val": "val", "valid": "val", "validation": "val"}
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")
CACHE_VERSION = 1  # bump when the decoded layout changes, to ignore old caches


# --------------------------------------------------------------------------- options


def parse_image_size(value):
    """None, 32, "32", "32,32", "32x32" or (32, 32) -> (H, W) or None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        items = value.replace("x", ",").replace("X", ",").split(",")
    elif isinstance(value, (int, np.integer)):
        items = [value, value]
    else:
        items = list(value)
    try:
        size = tuple(int(str(v).strip()) for v in items)
    except ValueError:
        size = ()
    if len(size) == 1:
        size = size * 2
    if len(size) != 2 or min(size) < 1:
        raise UserError(f"image_size must be H,W (e.g. image_size=32,32), got {value!r}")
    return size


def parse_grayscale(value):
    """None/'auto' (grey only when every image is grey), or a yes/no value."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto")):
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise UserError(f"grayscale must be true, false or auto, got {value!r}")


# --------------------------------------------------------------------------- sources


def find_splits(root):
    """{'train': Path, 'test': Path, 'val': Path} for the split folders present."""
    found = {}
    root = Path(root)
    for folder, split in SPLIT_DIRS.items():
        path = root / folder
        if split not in found and path.is_dir():
            found[split] = path
    return found


def _is_image(name):
    return name.lower().endswith(IMAGE_SUFFIXES) and not name.startswith(".")


def tree_files(root):
    """[(split, class, path)] for every image under root's split folders, sorted."""
    files = []
    for split, split_dir in find_splits(root).items():
        for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
            for dirpath, dirnames, filenames in os.walk(class_dir):
                dirnames.sort()
                for name in sorted(filenames):
                    if _is_image(name):
                        files.append((split, class_dir.name, Path(dirpath) / name))
    return files


def _archive_entries(archive):
    """(split, class, shown name, bytes) for each image in a tar archive, streamed
    in archive order ('r|*': forward-only, so xz is decompressed exactly once)."""
    try:
        with tarfile.open(archive, "r|*") as tar:
            for member in tar:
                if not member.isfile() or not _is_image(PurePosixPath(member.name).name):
                    continue
                parts = [p for p in PurePosixPath(member.name).parts if p not in (".", "")]
                # Accept a top-level folder above train/ (e.g. cifar10-jpg/train/...).
                for i, part in enumerate(parts[:-2]):
                    if part in SPLIT_DIRS:
                        data = tar.extractfile(member).read()
                        yield SPLIT_DIRS[part], parts[i + 1], f"{archive}:{member.name}", data
                        break
    except (tarfile.TarError, lzma.LZMAError, zlib.error, EOFError, OSError) as exc:
        raise DataCorrupt(f"{archive} is not a readable tar archive "
                          f"(truncated or corrupt: {type(exc).__name__}: {exc})") from None


# --------------------------------------------------------------------------- decoding


class _Progress:
    """'decoding N images' on stderr, every ~10%; silent under KERASDL_QUIET."""

    def __init__(self, what, total=None):
        self.what, self.total, self.done, self.t0 = what, total, 0, time.time()
        self.quiet = os.environ.get("KERASDL_QUIET", "").strip() not in ("", "0")
        self.step_every = max((total or 10_000) // 10, 1)
        self._say(f"kerasdl: decoding {total or 'the'} images of {what} (once; then cached)")

    def _say(self, text):
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)

    def step(self):
        self.done += 1
        if self.done % self.step_every == 0:
            of = f"/{self.total}" if self.total else ""
            self._say(f"kerasdl:   {self.done}{of} images, {time.time() - self.t0:.1f} s")

    def finish(self):
        self._say(f"kerasdl: decoded {self.done} images in {time.time() - self.t0:.1f} s")
        return time.time() - self.t0


def _decode_one(source, shown, image_size, grayscale):
    """One image as uint8 (H, W) for grey or (H, W, 3) for colour."""
    from PIL import Image  # lazily: only the first, uncached load needs Pillow

    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as img:
            img.load()
            grey = img.mode in GREY_MODES if grayscale is None else grayscale
            img = img.convert("L" if grey else "RGB")
            if image_size is not None and img.size != (image_size[1], image_size[0]):
                img = img.resize((image_size[1], image_size[0]), Image.BILINEAR)
            return np.asarray(img, dtype=np.uint8)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DataCorrupt(f"{shown} cannot be decoded as an image "
                          f"({type(exc).__name__}: {exc})") from None


def decode(entries, what, *, class_names=None, image_size=None, grayscale=None, total=None):
    """Decode (split, class, shown name, path-or-bytes) entries into arrays.

    Labels index `class_names` when given (a folder outside it is an error),
    else the sorted names of the training classes. Within a split, examples are
    ordered by (label, file name), so a folder and its archive give the same
    arrays. Returns a dict: x_train, y_train, x_test, y_test, [x_val, y_val],
    class_names; plus the decode time in seconds under 'seconds'.
    """
    progress = _Progress(what, total)
    items = {"train": [], "test": [], "val": []}
    first = None  # (shown name, (H, W)) of the first image, for the size check
    for split, cls, shown, source in entries:
        if class_names is not None and cls not in class_names:
            raise DataCorrupt(f"{shown}: unexpected class folder {cls!r} "
                              f"(expected one of {', '.join(class_names)})")
        arr = _decode_one(source, shown, image_size, grayscale)
        first = first or (shown, arr.shape[:2])
        _same_size(first, shown, arr.shape[:2])
        items[split].append((cls, str(shown), arr))
        progress.step()
    seconds = progress.finish()
    class_names = _class_names(what, {split: {cls for cls, _, _ in rows} for split, rows in items.items()},
                               class_names)
    index = {c: i for i, c in enumerate(class_names)}
    # Auto mode with a mix of grey and colour files: colour wins, grey is repeated.
    colour = any(arr.ndim == 3 for split in items.values() for _, _, arr in split)
    h, w = first[1]
    channels = 3 if colour else 1

    out = {"class_names": np.array(class_names, dtype=str), "seconds": np.float64(seconds)}
    for split, rows in items.items():
        if split == "val" and not rows:
            continue
        rows.sort(key=lambda r: (index[r[0]], r[1]))
        x = np.empty((len(rows), h, w, channels), dtype=np.uint8)
        for i, (_, _, arr) in enumerate(rows):
            x[i] = arr[..., None] if arr.ndim == 2 else arr
        out[f"x_{split}"] = x
        out[f"y_{split}"] = np.array([index[r[0]] for r in rows], dtype=np.int64)
    return out


def _cached(kind, key, build):
    path = cache.cache_path(kind, key)
    arrays = cache.read(path)
    if arrays is None:
        arrays = build()
        cache.write(path, arrays)
        arrays["cache_hit"] = False
    else:
        arrays["cache_hit"] = True
    arrays["cache_file"] = str(path)
    return arrays


def load_tree(root, *, class_names=None, image_size=None, grayscale=None, what=None):
    """Arrays of an image tree, from the cache when the tree is unchanged. The images are
    memory-mapped from the cache (see cache.py): a tree larger than memory can be read,
    batch by batch (`kerasdl.training.feed`)."""
    root = Path(root)
    files = tree_files(root)
    if not files:
        raise DataNotFound(f"no images found in {root}: expected train/<class>/*.png|jpg|jpeg "
                           "and test/<class>/... (optionally val/<class>/...)")
    stamps = []
    for _, _, path in files:
        st = path.stat()
        stamps.append((str(path.relative_to(root)), st.st_size, st.st_mtime_ns))
    key = cache.key_of("tree", CACHE_VERSION, str(root.resolve()), stamps,
                       class_names and list(class_names), image_size, grayscale)
    folder = cache.folder_path("image_folder", key)
    arrays = cache.read_folder(folder)
    hit = arrays is not None
    if not hit:
        what = what or str(root)
        try:
            tmp = cache.new_folder(folder)
        except OSError as exc:  # no cache folder: decode into memory, as for an archive
            print(f"kerasdl: warning: could not cache decoded images in {folder}: {exc}",
                  file=sys.stderr)
            arrays = decode(((split, cls, str(path), path) for split, cls, path in files), what,
                            class_names=class_names, image_size=image_size, grayscale=grayscale,
                            total=len(files))
        else:
            try:
                decode_to_folder(files, what, tmp, class_names=class_names,
                                 image_size=image_size, grayscale=grayscale)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            cache.publish_folder(tmp, folder)
            arrays = cache.read_folder(folder)
            if arrays is None:
                raise DataCorrupt(f"the decoded images of {what} were written to {folder} but "
                                  "cannot be read back: check that disk (space, permissions)")
    arrays["seconds"] = float(arrays["seconds"])
    arrays["cache_hit"], arrays["cache_file"] = hit, str(folder)
    return arrays


def decode_to_folder(files, what, folder, *, class_names=None, image_size=None, grayscale=None):
    """Decode [(split, class, path)] into `folder` as x_<split>.npy (uint8, N x H x W x C),
    y_<split>.npy, class_names.npy and seconds.npy, one image at a time: memory holds one
    image, not the data set. The same arrays, order and checks as `decode`; the image size and
    the channels come first, from the files' headers."""
    from PIL import Image

    if class_names is not None:
        for _, cls, path in files:
            if cls not in class_names:
                raise DataCorrupt(f"{path}: unexpected class folder {cls!r} "
                                  f"(expected one of {', '.join(class_names)})")
    found = {split: {cls for s, cls, _ in files if s == split} for split in ("train", "test", "val")}
    class_names = _class_names(what, found, class_names)
    index = {c: i for i, c in enumerate(class_names)}
    progress = _Progress(what, len(files))
    # Pass 1, headers only: every image's size, and whether any is in colour.
    first, colour = None, grayscale is False
    for _, _, path in files:
        try:
            with Image.open(path) as img:
                size, grey = (img.size[1], img.size[0]), img.mode in GREY_MODES
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise DataCorrupt(f"{path} cannot be decoded as an image "
                              f"({type(exc).__name__}: {exc})") from None
        colour = colour or (grayscale is None and not grey)
        if image_size is None:
            first = first or (path, size)
            _same_size(first, path, size)
    h, w = image_size or first[1]
    # Pass 2: each image decoded into its row.
    started = time.time()
    for split in ("train", "test", "val"):
        rows = sorted(((index[cls], str(path), path) for s, cls, path in files if s == split))
        if split == "val" and not rows:
            continue
        shape = (len(rows), h, w, 3 if colour else 1)
        x = (np.lib.format.open_memmap(folder / f"x_{split}.npy", mode="w+", dtype=np.uint8,
                                       shape=shape) if rows else np.zeros(shape, np.uint8))
        for i, (_, shown, path) in enumerate(rows):
            arr = _decode_one(path, shown, image_size, grayscale)
            _same_size((shown, (h, w)), shown, arr.shape[:2])
            x[i] = arr[..., None] if arr.ndim == 2 else arr
            progress.step()
        if rows:
            x.flush()
            del x
        else:
            np.save(folder / f"x_{split}.npy", x)
        np.save(folder / f"y_{split}.npy", np.array([r[0] for r in rows], dtype=np.int64))
    np.save(folder / "class_names.npy", np.array(class_names, dtype=str))
    progress.finish()
    np.save(folder / "seconds.npy", np.float64(time.time() - started))


def _class_names(what, found, class_names):
    """The class names, given or else the training classes sorted, checked against the
    classes `found` in each split ({split: set of class folders})."""
    if not found["train"]:
        raise DataNotFound(f"no training images found in {what}: expected "
                           "train/<class>/*.png|jpg|jpeg (and test/<class>/...)")
    if class_names is not None:
        return list(class_names)
    class_names = sorted(found["train"])
    for split in ("test", "val"):
        extra = sorted(found[split] - set(class_names))
        if extra:
            raise UserError(f"{what}: {split}/ has class folder(s) {', '.join(extra)} "
                            "that train/ lacks; every class needs training images")
    return class_names


def _same_size(first, shown, size):
    """The UserError for images of different sizes without image_size."""
    if tuple(size) != tuple(first[1]):
        (h0, w0), (h1, w1) = first[1], size
        raise UserError(
            f"images differ in size ({first[0]} is {h0}x{w0}, {shown} is {h1}x{w1}): "
            f"pass --set image_size=H,W to resize them all (e.g. image_size={h0},{w0})"
        )


def load_archive(archive, *, class_names=None, image_size=None, grayscale=None,
                 what=None, total=None):
    """Arrays of an image tree packed in a tar archive (.tar, .tar.gz, .tar.xz),
    cached by the archive's path, size and mtime: decoded once."""
    key = cache.key_of("archive", CACHE_VERSION, cache.file_stamp(archive),
                       class_names and list(class_names), image_size, grayscale)
    return _cached("image_folder", key, lambda: decode(
        _archive_entries(archive), what or str(archive), class_names=class_names,
        image_size=image_size, grayscale=grayscale, total=total))


def arrays_to_dataset(name, arrays, provenance, class_names=None):
    has_val = "x_val" in arrays
    return Dataset(
        name=name,
        x_train=arrays["x_train"], y_train=arrays["y_train"],
        x_test=arrays["x_test"], y_test=arrays["y_test"],
        class_names=list(class_names or [str(c) for c in arrays["class_names"]]),
        provenance=provenance, value_range=(0, 255),
        x_val=arrays["x_val"] if has_val else None,
        y_val=arrays["y_val"] if has_val else None,
    )


# --------------------------------------------------------------------------- data set

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.bz2")


class _FolderLocator:
    """image_folder has no search path: it reads the folder it is given."""

    fallback = None

    def find(self, data_dir=None):
        root = user_data_dir(data_dir)
        if root is None:
            return None, []
        if root.is_file() and root.name.lower().endswith(ARCHIVE_SUFFIXES):
            return Hit(root, "archive"), [str(root)]
        return (Hit(root, "tree") if "train" in find_splits(root) else None), [str(root)]


@register(
    "image_folder",
    "your own images: ROOT/train/<class>/*.png|jpg, ROOT/test/<class>/... "
    "(optional val/); --data-dir ROOT, --set image_size=H,W, --set grayscale=true",
    locator=_FolderLocator(),
)
def load_image_folder(data_dir=None, image_size=None, grayscale=None):
    """Classes are the sorted names of train/'s subfolders (a class missing from
    test/ is fine). Images of different sizes need `image_size` (H, W): resizing
    silently would hide a mixed-up folder. `grayscale` None means automatic:
    one channel when every image is grey, else RGB."""
    image_size = parse_image_size(image_size)
    grayscale = parse_grayscale(grayscale)
    root = user_data_dir(data_dir)
    if root is None:
        raise UserError("image_folder needs --data-dir ROOT (or KERASDL_DATA_DIR), a folder "
                        "holding train/<class>/*.png|jpg and test/<class>/...")
    if root.is_file() and root.name.lower().endswith(ARCHIVE_SUFFIXES):
        arrays = load_archive(root, image_size=image_size, grayscale=grayscale)
    else:
        if not root.is_dir():
            raise DataNotFound(f"image folder {root} does not exist: pass --data-dir ROOT "
                               "holding train/<class>/*.png|jpg and test/<class>/...")
        splits = find_splits(root)
        if "train" not in splits:
            raise DataNotFound(f"image folder {root} has no train/ subfolder: expected "
                               "train/<class>/*.png|jpg and test/<class>/...")
        if "test" not in splits:
            raise UserError(f"image folder {root} has no test/ subfolder: put held-out "
                            "images in test/<class>/... (same class names as train/)")
        arrays = load_tree(root, image_size=image_size, grayscale=grayscale)
    if len(arrays["x_test"]) == 0:
        raise UserError(f"image folder {root} has no test images in test/<class>/...")
    classes = [str(c) for c in arrays["class_names"]]
    if len(classes) < 2:
        raise UserError(f"image folder {root}: train/ holds {len(classes)} class folder "
                        f"({', '.join(classes) or 'none'}); a classifier needs at least two, "
                        "one subfolder per class")
    x = arrays["x_train"]
    # The folder's name, not its path: the provenance goes into reports (see Dataset).
    kind = "image archive" if root.is_file() else "image folder"
    return arrays_to_dataset(
        "image_folder", arrays,
        f"{kind} {root.resolve().name} (train/<class>/..., {len(classes)} classes, "
        f"{x.shape[1]}x{x.shape[2]}x{x.shape[3]})",
    )
