"""Labelled texts in CSV files: the course's tweet emotions, or any CSV with a text and a label column.

- `tweet_emotions`: the course's `trainEmotions.csv` (14,504 tweets) and
  `testEmotions.csv` (4,837), columns `emotion,content`, three classes
  (happiness, neutral, sadness). Found by the registry's resolution order,
  directly in a root or in its `tweet-emotions/` subfolder; no download exists.
- `text_csv`: a user's own `train.csv` (and `test.csv`; without one, a seeded
  stratified share of train is held out as the test set), in `--data-dir` or
  its `text-csv/` subfolder. Columns `text,label` unless told otherwise.

Both take `text_column` / `label_column`, so any CSV with a header line, one
text column and one label column is read. The texts are returned as they are
(numpy arrays of str); cleaning them is the task's modelling choice. Labels are
strings; the class names are the training file's labels, sorted, and a test
label the training file does not have is refused (a model cannot predict a
class it never saw). A row whose text or label is empty is dropped (and
counted in the provenance).

Also here: `find_vectors`, the pretrained word vectors (GloVe) a text task may
compare with, found by the same resolution order in a `glove/` subfolder.
"""

import csv
import io
from collections import Counter
from pathlib import Path

import numpy as np

from kerasdl.data.registry import Dataset, Hit, Locator, register, search_roots
from kerasdl.errors import DataCorrupt

TWEET_FILES = {"train": "trainEmotions.csv", "test": "testEmotions.csv"}
TWEET_COLUMNS = {"text_column": "content", "label_column": "emotion"}
CSV_FILES = {"train": "train.csv", "test": "test.csv"}
CSV_COLUMNS = {"text_column": "text", "label_column": "label"}


# === Reading one CSV ===

def _decode(path, raw):
    """The file's text, UTF-8 (a byte-order mark is dropped), or DataCorrupt naming the byte."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise DataCorrupt(f"{path}: not UTF-8 text (byte 0x{raw[e.start]:02x} on line {line}); "
                          "save it as UTF-8, e.g. iconv -f latin1 -t utf-8 FILE > NEW") from None


def read_csv(path, text_column, label_column):
    """(texts, labels, rows dropped) of one CSV with a header line; both lists of str.

    Rows whose text or label is empty are dropped and counted. DataCorrupt,
    one line naming the file, for an empty file, a missing column, a file with no
    row, bytes that are not UTF-8 or a line the csv module cannot parse.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataCorrupt(f"{path}: unreadable ({e.strerror or e})") from None
    text = _decode(path, raw)
    if not text.strip():
        raise DataCorrupt(f"{path}: empty file; expected a CSV whose header line names a text column "
                          f"({text_column!r}) and a label column ({label_column!r})")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)  # a stray quote is an error, not a merged row
    try:
        header = [name.strip() for name in next(reader)]
        _check_header(path, header, text_column, label_column)
        t, y = header.index(text_column), header.index(label_column)
        texts, labels, dropped = [], [], 0
        for row in reader:
            if not row:
                continue  # a blank line
            value = row[t].strip() if t < len(row) else ""
            label = row[y].strip() if y < len(row) else ""
            if not value or not label:
                dropped += 1
                continue
            texts.append(value)
            labels.append(label)
    except csv.Error as e:
        raise DataCorrupt(f"{path}: not a readable CSV (line {reader.line_num}: {e})") from None
    if not texts:
        raise DataCorrupt(f"{path}: no rows with both a {text_column!r} and a {label_column!r} "
                          "value below the header")
    return texts, labels, dropped


def _check_header(path, header, text_column, label_column):
    for role, column in (("text", text_column), ("label", label_column)):
        if column not in header:
            raise DataCorrupt(f"{path}: no column {column!r} (its columns: {', '.join(header)}); "
                              f"name the {role} column with --set {role}_column=NAME")


def check_columns(name, data_dir=None, text_column=None, label_column=None):
    """Before a run folder exists: the CSV files of text data set `name` (tweet_emotions,
    text_csv), where they are found, have the text and label columns. Reads header lines
    only; whatever else is wrong with a file, its loader says later."""
    known = {"tweet_emotions": (TWEETS, TWEET_FILES, TWEET_COLUMNS), "text_csv": (TEXT_CSV, CSV_FILES, CSV_COLUMNS)}
    if name not in known:
        return
    locator, files, columns = known[name]
    try:
        hit, _ = locator.find(data_dir)
    except OSError:
        return
    for path in (hit.path / file for file in files.values()) if hit is not None else ():
        try:
            with open(path, encoding="utf-8-sig", newline="") as f:
                first = f.readline()
        except (OSError, UnicodeDecodeError):
            continue
        if first.strip():
            header = [column.strip() for column in next(csv.reader([first]))]
            _check_header(path, header, text_column or columns["text_column"],
                          label_column or columns["label_column"])


def _unseen_labels(train_path, test_path, train_labels, test_labels):
    known = set(train_labels)
    unseen = Counter(label for label in test_labels if label not in known)
    if unseen:
        listed = ", ".join(f"{label!r} ({n} rows)" for label, n in unseen.most_common(5))
        raise DataCorrupt(f"{test_path}: label(s) {listed} do not occur in {Path(train_path).name}; a model "
                          "cannot predict a class it never saw: drop those rows or add training examples")


def labelled_texts(name, train_path, test_path, text_column, label_column, source,
                   test_fraction=0.2, seed=0):
    """A text Dataset from a training CSV and a test CSV (None: hold out `test_fraction`
    of train, stratified, seeded). x arrays hold str, y the index into the class names."""
    x_train, train_labels, dropped = read_csv(train_path, text_column, label_column)
    classes = sorted(set(train_labels))
    index = {c: k for k, c in enumerate(classes)}
    y_train = np.array([index[c] for c in train_labels], dtype=np.int64)
    x_train = np.array(x_train, dtype=object)
    if test_path is not None:
        x_test, test_labels, dropped_test = read_csv(test_path, text_column, label_column)
        _unseen_labels(train_path, test_path, train_labels, test_labels)
        dropped += dropped_test
        x_test = np.array(x_test, dtype=object)
        y_test = np.array([index[c] for c in test_labels], dtype=np.int64)
        split = "its own test file"
    else:
        whole = Dataset(name, x_train, y_train, x_train[:0], y_train[:0], classes, source)
        x_train, y_train, x_test, y_test = whole.split_validation(test_fraction, seed=seed)
        split = f"a stratified {test_fraction:.0%} of train held out as the test set (seed {seed})"
    note = f", {dropped} rows without text or label dropped" if dropped else ""
    return Dataset(name=name, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                   class_names=classes, value_range=(0, 1),
                   provenance=f"{source}; {len(x_train):,} train / {len(x_test):,} test texts, "
                              f"{split}{note}")


# === tweet_emotions ===

def _probe_tweets(folder):
    if all((folder / name).is_file() for name in TWEET_FILES.values()):
        return Hit(folder, "csv")
    return None


def _read_tweets(hit, text_column=TWEET_COLUMNS["text_column"], label_column=TWEET_COLUMNS["label_column"]):
    return labelled_texts("tweet_emotions", hit.path / TWEET_FILES["train"], hit.path / TWEET_FILES["test"],
                          text_column, label_column, "the course's tweet emotions (trainEmotions.csv, "
                          "testEmotions.csv)")


TWEETS = Locator(
    name="tweet_emotions",
    aliases=("tweet-emotions", "tweet_emotions"),
    probe=_probe_tweets,
    read=_read_tweets,
    download=None,
    no_download_reason="no download exists (the files come from the course)",
    provide="put the course's trainEmotions.csv and testEmotions.csv in one of those folders",
)


@register("tweet_emotions", "the course's tweets labelled happiness / neutral / sadness, "
          "14,504 train / 4,837 test (CSV)", locator=TWEETS)
def load_tweet_emotions(data_dir=None, text_column=None, label_column=None):
    """`text_column` / `label_column` (None: content / emotion) name the CSV's columns."""
    return TWEETS.load(data_dir, download=False, text_column=text_column or TWEET_COLUMNS["text_column"],
                       label_column=label_column or TWEET_COLUMNS["label_column"])


# === text_csv: a user's own ===

def _probe_csv(folder):
    if (folder / CSV_FILES["train"]).is_file():
        return Hit(folder, "csv")
    return None


def _read_csv_set(hit, text_column, label_column, test_fraction, seed):
    test = hit.path / CSV_FILES["test"]
    return labelled_texts("text_csv", hit.path / CSV_FILES["train"], test if test.is_file() else None,
                          text_column, label_column, "a user's CSV of labelled texts",
                          test_fraction=test_fraction, seed=seed)


TEXT_CSV = Locator(
    name="text_csv",
    aliases=("text-csv", "text_csv"),
    probe=_probe_csv,
    read=_read_csv_set,
    download=None,
    no_download_reason="it is a user's own data set",
    provide="put your train.csv (and test.csv) with a header line naming a text and a label "
            "column in one of those folders",
)


@register("text_csv", "any labelled texts: train.csv (+ test.csv) with a text and a label "
          "column, from --data-dir", locator=TEXT_CSV)
def load_text_csv(data_dir=None, text_column=None, label_column=None, test_fraction=0.2, seed=0):
    """`text_column` / `label_column` (None: text / label); without a test.csv,
    `test_fraction` of train (stratified, seeded by `seed`) is the test set."""
    return TEXT_CSV.load(data_dir, download=False, text_column=text_column or CSV_COLUMNS["text_column"],
                         label_column=label_column or CSV_COLUMNS["label_column"],
                         test_fraction=test_fraction, seed=seed)


# === Pretrained word vectors ===

VECTOR_FOLDERS = ("glove",)
VECTOR_PATTERNS = ("glove*.txt", "glove*.txt.gz")


def find_vectors(data_dir=None):
    """(path of the first GloVe text file in the resolution order or None, folders looked in):
    each root directly and its glove/ subfolder; the smallest file first where several lie
    in one folder (the 50-d vectors before the 300-d ones)."""
    looked = []
    for root in search_roots(data_dir):
        for folder in (root, *(root / sub for sub in VECTOR_FOLDERS)):
            looked.append(str(folder))
            if folder.is_dir():
                found = sorted({p for pattern in VECTOR_PATTERNS for p in folder.glob(pattern) if p.is_file()},
                               key=lambda p: (p.stat().st_size, p.name))
                if found:
                    return found[0], looked
    return None, looked
