"""Text data sets from CSV files made in temp folders: the course's layout, a user's own
columns, and one clear line for every file that cannot be read."""

import numpy as np
import pytest

from kerasdl import data
from kerasdl.data import text
from kerasdl.errors import DataCorrupt, DataNotFound

TRAIN = ('emotion,content\n'
         'happiness,"Good morning, world :)"\n'
         'sadness,missing you\n'
         'neutral,@bob the bus is late\n'
         'happiness,yay\n'
         'sadness,\n')  # a row without text: dropped
TEST = 'emotion,content\nneutral,what a day\nsadness,so tired\n'


def _tweets(root, train=TRAIN, test=TEST):
    folder = root / "tweet-emotions"
    folder.mkdir(parents=True)
    for name, content in (("trainEmotions.csv", train), ("testEmotions.csv", test)):
        (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return folder


def test_the_course_files_are_found_in_their_subfolder_and_read(isolated_data, tmp_path):
    _tweets(tmp_path / "mine")
    ds = data.load("tweet_emotions", data_dir=tmp_path / "mine")
    assert ds.class_names == ["happiness", "neutral", "sadness"]  # the training labels, sorted
    assert list(ds.x_train) == ["Good morning, world :)", "missing you", "@bob the bus is late", "yay"]
    assert ds.y_train.tolist() == [0, 2, 1, 0] and ds.y_train.dtype == np.int64
    assert list(ds.x_test) == ["what a day", "so tired"] and ds.y_test.tolist() == [1, 2]
    assert "1 rows without text or label dropped" in ds.provenance
    assert str(tmp_path) not in ds.provenance  # the provenance names the source, not the machine
    found = {row["name"]: row["found"] for row in data.describe(tmp_path / "mine")}
    assert found["tweet_emotions"] == str(tmp_path / "mine" / "tweet-emotions")


def test_a_byte_order_mark_and_any_column_names(isolated_data, tmp_path):
    folder = tmp_path / "own"
    folder.mkdir()
    (folder / "train.csv").write_bytes("\ufeffid,tweet,mood\n1,hello there,up\n2,meh,down\n3,nice,up\n".encode())
    (folder / "test.csv").write_text("id,tweet,mood\n9,hi,up\n")
    ds = data.load("text_csv", data_dir=folder, text_column="tweet", label_column="mood")
    assert ds.class_names == ["down", "up"]
    assert list(ds.x_train) == ["hello there", "meh", "nice"] and ds.y_train.tolist() == [1, 0, 1]
    assert list(ds.x_test) == ["hi"] and ds.y_test.tolist() == [1]


def test_without_a_test_file_a_stratified_share_is_held_out(isolated_data, tmp_path):
    rows = "".join(f"text {k},{'ab'[k % 2]}\n" for k in range(40))
    (tmp_path / "train.csv").write_text("text,label\n" + rows)
    ds = data.load("text_csv", data_dir=tmp_path, test_fraction=0.25, seed=3)
    assert len(ds.x_test) == 10 and np.bincount(ds.y_test).tolist() == [5, 5]
    assert sorted(ds.x_train.tolist() + ds.x_test.tolist()) == sorted(f"text {k}" for k in range(40))
    again = data.load("text_csv", data_dir=tmp_path, test_fraction=0.25, seed=3)
    assert again.x_test.tolist() == ds.x_test.tolist()


@pytest.mark.parametrize("train, fragments", [
    ("label,body\nhappiness,hi\n", ["trainEmotions.csv: no column 'content'", "its columns: label, body",
                                    "--set text_column=NAME"]),
    ("content\nhi\n", ["no column 'emotion'", "--set label_column=NAME"]),
    ("", ["trainEmotions.csv: empty file", "'content'", "'emotion'"]),
    ("  \n\n", ["empty file"]),
    ("emotion,content\n", ["no rows with both a 'content' and a 'emotion' value"]),
    ("emotion,content\nhappiness,caf\xe9\n".encode("latin-1"), ["not UTF-8 text (byte 0xe9 on line 2)", "iconv"]),
    ('emotion,content\nhappiness,"never closed\x00\n', ["not a readable CSV (line"]),
])
def test_a_bad_csv_is_one_clear_line(isolated_data, tmp_path, train, fragments):
    _tweets(tmp_path, train=train)
    with pytest.raises(DataCorrupt) as caught:
        data.load("tweet_emotions", data_dir=tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_test_labels_the_training_file_lacks_are_refused(isolated_data, tmp_path):
    _tweets(tmp_path, test="emotion,content\nanger,grr\nanger,argh\nneutral,ok\n")
    with pytest.raises(DataCorrupt, match=r"testEmotions.csv: label\(s\) 'anger' \(2 rows\) do not occur in "
                                          r"trainEmotions.csv; a model cannot predict a class it never saw"):
        data.load("tweet_emotions", data_dir=tmp_path)


def test_missing_files_name_the_places_looked_at(isolated_data):
    with pytest.raises(DataNotFound, match="data set 'tweet_emotions' not found: .*tweet-emotions/.*"
                                           "trainEmotions.csv and testEmotions.csv"):
        data.load("tweet_emotions")


def test_glove_vectors_are_found_by_the_resolution_order(isolated_data, tmp_path):
    assert text.find_vectors(tmp_path)[0] is None
    (tmp_path / "glove").mkdir()
    big, small = tmp_path / "glove" / "glove.6B.300d.txt", tmp_path / "glove" / "glove.6B.50d.txt.gz"
    big.write_text("a " + " ".join(["0.1"] * 300) + "\n")
    small.write_bytes(b"x" * 10)
    found, looked = text.find_vectors(tmp_path)
    assert found == small  # the smaller file first
    assert str(tmp_path / "glove") in looked


def test_the_real_tweet_files(shared_data):
    ds = data.load("tweet_emotions", data_dir=shared_data)
    assert (len(ds.x_train), len(ds.x_test)) == (14504, 4837)
    assert dict(zip(ds.class_names, np.bincount(ds.y_train).tolist())) == {
        "happiness": 5430, "neutral": 5182, "sadness": 3892}
