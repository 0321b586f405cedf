"""The `emotion-rnn` task: cleaning and tokens on hand-made strings, the embedding matrix,
masked padding, a few training steps, and a --quick run on a tiny CSV that `predict` then
reads raw text with. (Reading the CSVs themselves: test_data_text.py.)"""

import json

import numpy as np
import pytest

from conftest import complete_run_folder
from kerasdl.errors import UserError
from kerasdl.tasks.emotion_rnn import embeddings
from kerasdl.tasks.emotion_rnn import model as rnn_models
from kerasdl.tasks.emotion_rnn.cleaning import clean, clean_all, first_occurrences
from kerasdl.tasks.emotion_rnn.encoder import TextEncoder, build_vocabulary

CLASSES = ["happiness", "neutral", "sadness"]


# === Cleaning ===

@pytest.mark.parametrize("raw, cleaned", [
    ("@Bob_1 I LOVE this!!! http://t.co/xY www.a.com", "<user> i love this ! <url> <url>"),
    ("&lt;3 you &amp; me :) :-D (: ;p", "<heart> you me <smile> <smile> <smile> <smile>"),
    ("so sad :( :'( :/ ):", "so sad <sadface> <sadface> <sadface> <sadface>"),
    ("Soooo tired, yaaaay", "soo tired yaay"),                       # 3+ repeats kept twice
    ("don't I'll it's we're you've I'd I'm can't",
     "do n't i 'll it 's we 're you 've i 'd i 'm ca n't"),          # GloVe's contractions
    ("#happy day, re:dave at 12:30 ?!?", "happy day re dave at 12 30 ?"),  # ":d" of re:dave no smile
    ("it\u2019s ok, wasn\u00ef\u00bf\u00bdt it", "it 's ok was n't it"),  # look-alike / broken apostrophes
    ("Café naïve", "café naïve"),                                    # letters of any alphabet
    ("snake_case ... ---", "snake case"),
    ("... !", "!"),
    ("...", ""),
])
def test_tweet_cleaning(raw, cleaned):
    assert clean(raw) == cleaned


def test_plain_cleaning_is_lower_case_and_word_tokens_only():
    assert clean("@Bob :) Soooo GOOD &amp; don't!!", tweets=False) == "bob soooo good amp do n't !"
    assert clean_all(["A b", "C"], tweets=False).tolist() == ["a b", "c"]


def test_duplicates_are_the_later_copies():
    assert first_occurrences(["a", "b", "a", "c", "b"]).tolist() == [0, 1, 3]


def test_prepare_drops_duplicates_and_empty_texts_before_the_validation_split():
    from kerasdl import data
    from kerasdl.tasks.emotion_rnn import Config, prepare

    x = [f"text number {k}" for k in range(20)] + ["Text number 3!!", "text number 3 !", "...", "@a"]
    y = [k % 2 for k in range(20)] + [1, 1, 0, 0]
    ds = data.Dataset("toy", np.array(x, dtype=object), np.array(y), np.array(["Text number 1", "new"], dtype=object),
                      np.array([1, 0]), ["a", "b"], "toy texts")
    splits = prepare(Config(validation_fraction=0.2), ds)
    (x_train, _), (x_val, _), (x_test, _) = splits["train"], splits["val"], splits["test"]
    assert splits["duplicates"] == 1 and splits["empty"] == 1  # "text number 3 !" twice; "..." empties
    assert len(x_train) + len(x_val) == 22 and not set(x_train) & set(x_val)
    assert "text number 3 !" in set(x_train) | set(x_val) and "<user>" in set(x_train) | set(x_val)
    assert x_test.tolist() == ["text number 1", "new"] and splits["test_seen_in_train"] == 1


# === Tokens ===

def test_the_vocabulary_is_by_frequency_then_alphabetical_from_min_count():
    texts = ["b a c", "a b d", "a e", "e"]
    assert build_vocabulary(texts, min_count=2) == ["a", "b", "e"]
    assert build_vocabulary(texts, min_count=1) == ["a", "b", "e", "c", "d"]
    assert build_vocabulary(texts, min_count=1, max_tokens=2) == ["a", "b"]


def test_the_encoder_cleans_cuts_pads_and_marks_unknown_words(tmp_path):
    encoder = TextEncoder(["day", "a", "what", "<smile>"], sequence_length=5)
    ids = encoder.encode(["what a day", "WHAT a Day :) what a day", "what a night!!", "..."])
    assert ids.dtype == np.int32 and ids.shape == (4, 5)
    assert ids.tolist() == [[4, 3, 2, 0, 0],      # ids 2... are the words in order; 0 pads
                            [4, 3, 2, 5, 4],      # cleaned first, cut after 5 tokens
                            [4, 3, 1, 1, 0],      # "night" and "!" are [UNK]
                            [0, 0, 0, 0, 0]]      # nothing left after cleaning
    assert encoder.encode(["what a day"], cleaned=True).tolist() == [[4, 3, 2, 0, 0]]
    assert encoder.encode([]).shape == (0, 5) and encoder.vocabulary_size == 6

    path = tmp_path / "text.json"
    path.write_text(json.dumps(encoder.to_json()))
    again = TextEncoder.load(path)
    assert again.vocabulary == encoder.vocabulary and again.sequence_length == 5 and again.tweets
    assert np.array_equal(again.encode(["WHAT a Day :) what a day"]), ids[1:2])


@pytest.mark.parametrize("content, fragment", [
    ("{not json", "not a readable text encoder (JSONDecodeError"),
    ('{"sequence_length": 5}', "not a readable text encoder (KeyError"),
    ('{"format": 99, "vocabulary": ["a"], "sequence_length": 5}', "written by a newer kerasdl"),
    ('{"vocabulary": ["a", ""], "sequence_length": 5}', "an empty word in the vocabulary"),
])
def test_a_bad_text_json_is_one_line(tmp_path, content, fragment):
    path = tmp_path / "text.json"
    path.write_text(content)
    with pytest.raises(UserError) as caught:
        TextEncoder.load(path)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


# === Embeddings ===

def _vectors(words, dim, seed=0):
    from gensim.models import KeyedVectors

    vectors = KeyedVectors(vector_size=dim)
    vectors.add_vectors(list(words), np.random.default_rng(seed).normal(0, 0.4, (len(words), dim)).astype(np.float32))
    return vectors


def test_embedding_rows_are_the_words_vectors_and_oov_rows_random_at_their_scale():
    known = [f"w{k}" for k in range(300)]
    vectors = _vectors(known, 20)
    vocabulary = ["w5", "zz0", "w0"] + [f"zz{k}" for k in range(1, 300)] + ["w7"]
    matrix, found = embeddings.embedding_matrix(vocabulary, vectors, seed=1)
    assert matrix.shape == (len(vocabulary) + 2, 20) and matrix.dtype == np.float32
    assert found.tolist()[:3] == [True, False, True] and found.sum() == 3
    assert np.all(matrix[0] == 0)  # padding
    for k, word in enumerate(vocabulary):
        if word in vectors.key_to_index:
            np.testing.assert_array_equal(matrix[k + 2], vectors[word])  # exactly the word's vector
    # [UNK] (row 1) and the words without a vector: N(0, s^2), s the vectors' standard deviation
    oov = matrix[[1] + [k + 2 for k, f in enumerate(found) if not f]]
    assert len(oov) == 301 and len({row.tobytes() for row in oov}) == 301
    assert abs(oov.std() / vectors.vectors.std() - 1) < 0.05 and abs(oov.mean()) < 0.02
    again, _ = embeddings.embedding_matrix(vocabulary, vectors, seed=1)
    other, _ = embeddings.embedding_matrix(vocabulary, vectors, seed=2)
    assert np.array_equal(again, matrix)  # seeded
    assert not np.allclose(other[1], matrix[1]) and np.array_equal(other[2], matrix[2])

    words_oov, tokens_oov = embeddings.oov_shares(["w5", "zz0", "w0"], found[:3], ["w5 zz0 w5", "w0 new"])
    assert words_oov == pytest.approx(1 / 3) and tokens_oov == pytest.approx(2 / 5)


def test_vectors_files_gensim_reads(tmp_path):
    vectors = _vectors(["good", "bad", "day"], 4)
    glove = tmp_path / "glove.txt"  # GloVe: no header line
    glove.write_text("".join(f"{w} {' '.join(f'{v:.6f}' for v in vectors[w])}\n" for w in vectors.index_to_key))
    vectors.save_word2vec_format(str(tmp_path / "w2v.txt"), binary=False)
    vectors.save_word2vec_format(str(tmp_path / "w2v.bin"), binary=True)
    vectors.save(str(tmp_path / "vectors.kv"))
    for name in ("glove.txt", "w2v.txt", "w2v.bin", "vectors.kv"):
        loaded = embeddings.load_vectors(tmp_path / name)
        assert loaded.index_to_key == ["good", "bad", "day"], name
        np.testing.assert_allclose(loaded["day"], vectors["day"], atol=1e-5, err_msg=name)

    (tmp_path / "junk.txt").write_text("this is not\na vectors file\n")
    for path, fragment in ((tmp_path / "junk.txt", "not readable as word vectors"),
                           (tmp_path / "none.txt", "no such file")):
        with pytest.raises(UserError) as caught:
            embeddings.load_vectors(path)
        assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_word2vec_is_seeded():
    sentences = [["i", "love", "this", "day"], ["so", "sad", "today"], ["what", "a", "day"]] * 5
    first = embeddings.word2vec(sentences, dim=8, seed=3, epochs=2)
    again = embeddings.word2vec(sentences, dim=8, seed=3, epochs=2)
    other = embeddings.word2vec(sentences, dim=8, seed=4, epochs=2)
    assert first.vector_size == 8 and "day" in first.key_to_index
    np.testing.assert_array_equal(first.vectors, again.vectors)
    assert not np.allclose(first["day"], other["day"])


# === The network ===

@pytest.mark.backends
@pytest.mark.parametrize("cell", ["simple", "gru", "lstm"])
def test_padding_is_left_out_of_the_output(cell):
    """The same text with more padding gives the same output, even with the padding row's
    vector made huge; one more word changes it (the comparison is not vacuous)."""
    import keras

    keras.utils.set_random_seed(0)
    vocabulary_size, dim = 12, 6
    matrix = np.random.default_rng(0).normal(0, 0.5, (vocabulary_size, dim)).astype(np.float32)
    matrix[0] = 50.0  # were padding read, it would swamp everything
    options = dict(embedding_dim=dim, matrix=matrix, cell=cell, bidirectional=True, layers=2, hidden=5, dropout=0.0)
    short = rnn_models.build(vocabulary_size, 3, 6, **options)
    long = rnn_models.build(vocabulary_size, 3, 11, **options)
    long.set_weights(short.get_weights())
    texts = np.array([[5, 3, 7, 0, 0, 0], [4, 0, 0, 0, 0, 0], [2, 9, 9, 8, 1, 6]], np.int32)
    padded = np.concatenate([texts, np.zeros((3, 5), np.int32)], axis=1)
    out_short = np.asarray(short.predict(texts, verbose=0))
    out_long = np.asarray(long.predict(padded, verbose=0))
    np.testing.assert_allclose(out_long, out_short, atol=1e-5)
    one_more = np.array([[5, 3, 7, 2, 0, 0]], np.int32)
    assert not np.allclose(np.asarray(short.predict(one_more, verbose=0))[0], out_short[0], atol=1e-4)


@pytest.mark.backends
@pytest.mark.parametrize("fine_tune", [True, False])
def test_a_few_steps_lower_the_loss(fine_tune):
    """Class = whether token 2 or token 3 occurs in the text; a frozen embedding stays as it was."""
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    n, length, vocabulary_size = 64, 8, 10
    ids = rng.integers(4, vocabulary_size, (n, length)).astype(np.int32)
    y = rng.integers(0, 2, n)
    ids[np.arange(n), rng.integers(0, 4, n)] = np.where(y == 1, 3, 2)
    ids[np.arange(length)[None] >= rng.integers(4, length + 1, n)[:, None]] = 0  # padding at the end
    matrix = rng.normal(0, 0.3, (vocabulary_size, 6)).astype(np.float32)
    net = rnn_models.build(vocabulary_size, 2, length, embedding_dim=6, matrix=matrix, fine_tune=fine_tune,
                           cell="gru", hidden=8, dropout=0.1)
    net.compile(optimizer=rnn_models.optimizer("adam", 0.02), loss="sparse_categorical_crossentropy")
    before = float(net.evaluate(ids, y, batch_size=n, verbose=0))
    net.fit(ids, y, batch_size=16, epochs=4, shuffle=False, verbose=0)
    after = float(net.evaluate(ids, y, batch_size=n, verbose=0))
    assert np.isfinite(after) and after < before - 0.1, (before, after)
    embedding = keras.ops.convert_to_numpy(net.get_layer("embedding").embeddings)
    assert np.array_equal(embedding, matrix) != fine_tune


def test_sgd_has_momentum_and_adam_its_learning_rate():
    sgd = rnn_models.optimizer("sgd", 0.01, momentum=0.9)
    adam = rnn_models.optimizer("adam", 1e-4)
    assert type(sgd).__name__ == "SGD" and sgd.momentum == 0.9
    assert type(adam).__name__ == "Adam" and float(np.asarray(adam.learning_rate)) == pytest.approx(1e-4)


# === The task end to end, on a tiny CSV ===

WORDS = {"happiness": ["love", "great", "yay", "fun", "happy :)"],
         "neutral": ["bus", "work", "today", "going", "the"],
         "sadness": ["sad", "miss", "cry", "tired", ":("]}
FILLER = ["i", "am", "so", "it", "is", "a", "day", "what", "@bob", "http://x.co"]


def _tweets(n, seed):
    rng = np.random.default_rng(seed)
    rows = ["emotion,content"]
    for k in range(n):
        label = CLASSES[k % 3]
        words = list(rng.choice(FILLER, 3, replace=False)) + list(rng.choice(WORDS[label], 2, replace=False))
        rows.append(f'{label},"{" ".join(words)} {k}"')
    return "\n".join(rows) + "\n"


@pytest.fixture
def tiny_tweets(isolated_data, tmp_path):
    """The course's layout with 60 training and 24 test tweets, and 8-d 'GloVe' vectors
    of some of their words in glove/: the comparison finds them."""
    folder = tmp_path / "tiny" / "tweet-emotions"
    folder.mkdir(parents=True)
    (folder / "trainEmotions.csv").write_text(_tweets(60, 1))
    (folder / "testEmotions.csv").write_text(_tweets(24, 2))
    (tmp_path / "tiny" / "glove").mkdir()
    vectors = _vectors(["love", "sad", "bus", "day", "<user>"], 8)
    (tmp_path / "tiny" / "glove" / "glove.tiny.8d.txt").write_text(
        "".join(f"{w} {' '.join(f'{v:.5f}' for v in vectors[w])}\n" for w in vectors.index_to_key))
    return tmp_path / "tiny"


def test_the_embedding_comparison_finds_glove_in_the_data_folders(tiny_tweets, tmp_path):
    from kerasdl.tasks.emotion_rnn import Config, starts

    glove = str(tiny_tweets / "glove" / "glove.tiny.8d.txt")
    plan, note = starts(Config(data_dir=str(tiny_tweets)))
    assert plan == [("word2vec", "word2vec"), ("glove", glove), ("random", "random")] and note is None
    plan, note = starts(Config(data_dir=str(tiny_tweets), embeddings=glove))
    assert plan == [("glove", glove), ("word2vec", "word2vec"), ("random", "random")]
    plan, note = starts(Config(data_dir=str(tmp_path / "elsewhere"), embeddings="random"))
    assert plan == [("random", "random"), ("word2vec", "word2vec")] and "GloVe left out" in note
    assert starts(Config(data_dir=str(tiny_tweets), compare=("baselines",)))[0] == [("word2vec", "word2vec")]


def test_quick_writes_a_complete_run_folder_that_predict_reads_raw_text_with(run_cli, home, tiny_tweets, tmp_path):
    code, out, err = run_cli("emotion-rnn", "--quick", "--data-dir", tiny_tweets, "--set", "compare=baselines",
                             "--out", home / "runs")
    assert code == 0, err
    folder = complete_run_folder(home / "runs", "emotion-rnn")
    for name in ("model.keras", "text.json", "classes.json", "history.csv", "results.csv", "learning_curves.png",
                 "comparison.png", "confusion_matrices.png", "class_balance.png"):
        assert (folder / name).is_file(), name
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["model"] == "bigru-word2vec" and metrics["train_texts"] + metrics["val_texts"] == 60
    assert metrics["test_texts"] == 24 and metrics["majority_test_accuracy"] == pytest.approx(1 / 3)
    for key in ("test_accuracy", "test_macro_f1", "val_accuracy", "tfidf_test_accuracy", "oov_token_share"):
        assert 0 <= metrics[key] <= 1, key
    report = (folder / "report.md").read_text()
    for fragment in ("| bigru-word2vec |", "| tfidf |", "| majority |", "course's GRU 52%", "Class balance",
                     "comparison.png", "confusion_matrices.png"):
        assert fragment in report, fragment
    assert json.loads((folder / "classes.json").read_text())["class_names"] == CLASSES

    texts = tmp_path / "more.txt"
    texts.write_text("so sad today :(\n\nI love it!\n")
    output = tmp_path / "predictions.json"
    code, out, err = run_cli("predict", folder, "what a day", "...", texts, "--top", "3", "--output", output)
    assert code == 0, err
    predictions = json.loads(output.read_text())["predictions"]
    assert len(predictions) == 4  # two texts given, two lines of the file; "..." cleans to nothing
    for p in predictions:
        assert sorted(entry["class"] for entry in p["top"]) == CLASSES
        assert sum(entry["probability"] for entry in p["top"]) == pytest.approx(1, abs=1e-4)
    code, out, err = run_cli("predict", folder, "what a day")
    assert code == 0, err
    assert out.split("\n")[1].split()[-2] in CLASSES, out  # "what a day  <class>  <probability>"


@pytest.mark.parametrize("options, fragment", [
    (["--set", "text_column=tweet"], "no column 'tweet' (its columns: emotion, content)"),
    (["--set", "embeddings=/no/such/vectors.bin"], "embeddings=/no/such/vectors.bin: no such file"),
    (["--set", "compare=cells,none"], "compare="),
])
def test_bad_options_are_one_line_before_any_training(run_cli, home, tiny_tweets, options, fragment):
    code, out, err = run_cli("emotion-rnn", "--quick", "--data-dir", tiny_tweets, *options, "--out", home / "runs")
    assert code == 2, err
    errors = [line for line in err.splitlines() if line.startswith("kerasdl: error:")]
    assert len(errors) == 1 and fragment in errors[0] and "Traceback" not in err, err
    assert not (home / "runs" / "emotion-rnn").exists()  # caught before the run folder is made


def test_the_report_says_when_validation_overstates_the_test_accuracy():
    from kerasdl.tasks.emotion_rnn import _validation_gap

    rows = [{"model": "bigru-word2vec", "val_accuracy": 0.66, "test_accuracy": 0.51},
            {"model": "tfidf", "val_accuracy": 0.665, "test_accuracy": 0.52},
            {"model": "majority", "val_accuracy": 0.37, "test_accuracy": 0.37}]  # not a trained model
    assert "every trained model scores 14.5 to 15.0 points (median 14.8) higher" in _validation_gap(rows)
    assert _validation_gap([{"model": "tfidf", "val_accuracy": 0.66, "test_accuracy": 0.65}]) is None
