"""Digit sets stored as rows of numbers: Leiden's 16x16 CSVs and scikit-learn's 8x8 digits."""

import importlib.util
from pathlib import Path

import numpy as np

from kerasdl.data.registry import Dataset, Hit, Locator, register
from kerasdl.errors import DataCorrupt

DIGIT_CLASSES = [str(d) for d in range(10)]

# --------------------------------------------------------------------------- leiden_digits

LEIDEN_FILES = {"x_train": "train_in.csv", "y_train": "train_out.csv",
                "x_test": "test_in.csv", "y_test": "test_out.csv"}


def _read_csv(path, columns):
    try:
        rows = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise DataCorrupt(f"{path} is not a CSV of numbers "
                          f"({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    if rows.shape[1] != columns:
        raise DataCorrupt(f"{path}: {rows.shape[1]} values a row, expected {columns}")
    return rows


def _read_leiden(hit):
    files = {role: hit.path / name for role, name in LEIDEN_FILES.items()}
    arrays = {}
    for split in ("train", "test"):
        xp, yp = files[f"x_{split}"], files[f"y_{split}"]
        x = _read_csv(xp, 256)
        y = _read_csv(yp, 1).reshape(-1)
        if len(x) != len(y):
            raise DataCorrupt(f"{xp} has {len(x)} rows but {yp} has {len(y)}: "
                              "every image needs exactly one label")
        if np.abs(x).max(initial=0) > 1 + 1e-6:
            raise DataCorrupt(f"{xp}: values outside [-1, 1]")
        if len(y) and (np.any(y != np.round(y)) or y.min() < 0 or y.max() > 9):
            raise DataCorrupt(f"{yp}: labels must be whole numbers 0..9")
        arrays[f"x_{split}"] = x.astype(np.float32).reshape(-1, 16, 16, 1)
        arrays[f"y_{split}"] = y.astype(np.int64)
    return Dataset(name="leiden_digits", class_names=DIGIT_CLASSES, value_range=(-1, 1),
                   provenance="Leiden digits (the course's CSV files)", **arrays)


def _probe_leiden(folder):
    if all((folder / name).is_file() for name in LEIDEN_FILES.values()):
        return Hit(folder, "csv")
    return None


LEIDEN_DIGITS = Locator(
    name="leiden_digits",
    aliases=("leiden-digits", "leiden_digits", "leiden"),
    probe=_probe_leiden,
    read=_read_leiden,
    download=None,
    no_download_reason="no download exists (the files come from the Leiden Deep Learning course)",
    provide="put the course's train_in.csv, train_out.csv, test_in.csv and test_out.csv "
            "in one of those folders",
)


@register("leiden_digits", "Leiden course digits, 16x16 grey in [-1, 1], "
          "1,707 train / 1,000 test", locator=LEIDEN_DIGITS)
def load_leiden_digits(data_dir=None):
    return LEIDEN_DIGITS.load(data_dir, download=False)


# --------------------------------------------------------------------------- digits


class _Bundled:
    """describe() for scikit-learn's digits: the CSV inside the installed package
    (found without importing sklearn, which is slow to import)."""

    fallback = "bundled with scikit-learn"

    def find(self, data_dir=None):
        spec = importlib.util.find_spec("sklearn")
        if spec is None or not spec.submodule_search_locations:
            return None, []
        path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "digits.csv.gz"
        return (Hit(path, "sklearn") if path.is_file() else None), [str(path)]


@register("digits", "scikit-learn's 8x8 digits, values 0..16, 1,797 images split "
          "80/20 (stratified, seeded)", locator=_Bundled())
def load_digits(data_dir=None, test_size=0.2, seed=0):
    """sklearn.datasets.load_digits() has no train/test split of its own: this one
    is stratified and seeded (`seed`, default 0), `test_size` of the images for
    testing (default 0.2, i.e. 1,437 train / 360 test). `data_dir` is ignored:
    the data ship with scikit-learn."""
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_load_digits()
    x = bunch.images.astype(np.float32)[..., None]
    y = bunch.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=float(test_size), random_state=int(seed), stratify=y)
    return Dataset(
        name="digits", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
        class_names=DIGIT_CLASSES, value_range=(0, 16),
        provenance=(f"scikit-learn load_digits() (1,797 8x8 images), stratified "
                    f"{1 - float(test_size):.0%}/{float(test_size):.0%} split, seed {seed}"),
    )
