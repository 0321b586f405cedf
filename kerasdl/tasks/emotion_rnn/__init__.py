"""Tweet emotions with recurrent networks: GRU / LSTM / SimpleRNN on word2vec embeddings, against baselines.

The course's text experiment: tweets labelled happiness, neutral or sadness,
classified by recurrent networks over word embeddings. The default run trains a
bidirectional GRU on gensim Word2Vec vectors learned from the training tweets,
and beside it, so that a reader sees what each part adds:

- the other cells (LSTM, SimpleRNN) with the same settings (`compare=cells`);
- the same GRU from GloVe vectors and from a random start (`compare=embeddings`);
- the majority class and TF-IDF + logistic regression (`compare=baselines`).

Text pipeline: cleaning.py (stated in the report), a vocabulary of the training
split's words, Keras's TextVectorization for ids and padding (encoder.py).
The model takes token ids, so it trains on every backend; the vectorizer travels
beside it in the run folder (text.json), so `python -m kerasdl predict RUN_DIR
"what a day"` reads raw text. Epochs: early stopping on validation accuracy,
the best epoch's weights kept. `python -m kerasdl tune emotion-rnn --tuner grid`
runs the course's grid (search_space below).
"""

import dataclasses
import re
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from kerasdl import data, plots, report
from kerasdl.config import TaskConfig, field, fraction, non_negative, one_of, positive
from kerasdl.data.text import check_columns, find_vectors
from kerasdl.errors import UserError
from kerasdl.tasks.emotion_rnn import baselines, cleaning, embeddings, figures
from kerasdl.tasks.emotion_rnn import model as rnn_models
from kerasdl.tasks.emotion_rnn.encoder import FILE as ENCODER_FILE
from kerasdl.tasks.emotion_rnn.encoder import TextEncoder, build_vocabulary
from kerasdl.training.progress import fit_options

NAME = "emotion-rnn"

COURSE = {"gru": 0.52, "lstm": 0.51, "bar": 0.47}  # the course's test accuracies, and its pass bar
COMPARE = ("baselines", "cells", "embeddings")
CELL_NAMES = {"simple": "SimpleRNN", "gru": "GRU", "lstm": "LSTM"}


def _embeddings(value):
    if value in ("word2vec", "random") or (isinstance(value, str) and value.strip()):
        return None
    return "expected word2vec, random or the path of a vectors file"


def _compare(value):
    if tuple(value) == ("none",) or (value and all(v in COMPARE for v in value)):
        return None
    return f"choose from {', '.join(COMPARE)}, or none alone"


@dataclass
class Config(TaskConfig):
    dataset: str = field("tweet_emotions", "tweet_emotions (the course's CSVs) or text_csv (your "
                         "train.csv [+ test.csv] in --data-dir)", one_of("tweet_emotions", "text_csv"))
    text_column: str | None = field(None, "the CSV's text column", shown="the data set's: content "
                                    "(tweet_emotions), text (text_csv)")
    label_column: str | None = field(None, "the CSV's label column", shown="the data set's: emotion "
                                     "(tweet_emotions), label (text_csv)")
    clean: bool = field(True, "tweet cleaning (HTML entities, URLs, @mentions, emoticons, repeated "
                        "letters); false: lower case and word tokens only")
    dedupe: bool = field(True, "drop training texts that repeat an earlier one (after cleaning)")
    max_length: int = field(40, "tokens per text: longer texts are cut, shorter padded (masked)", positive)
    min_count: int = field(2, "a word enters the vocabulary when seen this often in training; "
                           "rarer words read as [UNK]", positive)
    max_tokens: int | None = field(20000, "at most this many vocabulary words (None: all)", positive)
    embeddings: str = field("word2vec", "word2vec (gensim, trained on the training texts), random, or "
                            "PATH of vectors: word2vec .bin/.txt, GloVe .txt[.gz], gensim .kv", _embeddings)
    embedding_dim: int = field(100, "word2vec / random: vector size (the course: 100 or 300)", positive)
    word2vec_epochs: int = field(30, "word2vec: passes over the training texts (10 scored 1.4 points lower "
                                 "validation accuracy: the corpus is small)", positive)
    fine_tune: bool = field(True, "train the embedding with the network (false: frozen)")
    cell: str = field("gru", "recurrent cell: simple, gru or lstm", one_of(*rnn_models.CELLS))
    bidirectional: bool = field(True, "read each text both ways")
    layers: int = field(1, "recurrent layers", positive)
    hidden: int = field(128, "units per recurrent layer (and direction)", positive)
    dropout: float = field(0.5, "dropout after each recurrent layer", fraction)
    optimizer: str = field("adam", "adam, or sgd with momentum", one_of("adam", "sgd"))
    learning_rate: float = field(1e-3, "the optimizer's learning rate", positive)
    momentum: float = field(0.9, "sgd's momentum", fraction)
    epochs: int = field(10, "at most this many passes over the training set", positive)
    patience: int = field(2, "stop after this many epochs without a better validation accuracy "
                          "(the best epoch's weights are kept)", positive)
    batch_size: int = field(64, "texts per gradient step", positive)
    validation_fraction: float = field(0.1, "share of the training texts held out (stratified) for "
                                       "early stopping and the curves", fraction)
    compare: tuple[str, ...] = field(COMPARE, "also train: baselines (majority, TF-IDF + logistic "
                                     "regression), cells (the other two cells), embeddings (the other "
                                     "starts among word2vec, GloVe, random); none: the model alone", _compare)
    pretrained: str | None = field(None, "compare=embeddings: the GloVe-like vectors to compare with",
                                   shown="the first glove*.txt[.gz] in the data folders' glove/")
    train_limit: int | None = field(None, "use at most this many training texts (None: all)", positive)
    test_limit: int | None = field(None, "use at most this many test texts (None: all)", positive)
    seed: int = field(0, "seeds the split, word2vec, the weights and dropout", non_negative)
    data_dir: str | None = field(None, "look here first for the data set")

    def check(self):
        if self.validation_fraction <= 0:
            raise UserError(f"validation_fraction={self.validation_fraction}: expected a share above 0; "
                            "early stopping and the curves need validation texts")


# One small GRU beside the baselines (which take no training steps): a smoke test of seconds
# (reports/bench.md, "--quick wall times"). Each further RNN adds about 4 s of TensorFlow
# tracing; `--quick --set compare=baselines,cells,embeddings` smoke-tests them all, as CI does.
QUICK = dict(train_limit=600, test_limit=200, epochs=1, hidden=16, embedding_dim=16, word2vec_epochs=1,
             max_length=20, batch_size=32, compare=("baselines",))

# What `python -m kerasdl tune emotion-rnn` maximises: the accuracy on the validation
# split (held out of train), never the test set's.
TUNE_OBJECTIVE = ("val_accuracy", "max")


def search_space(hp, config):
    """The course's grid, 16 configurations for the Config's cell: hidden {128, 256} x dropout
    {0.1, 0.5} x learning rate {1e-3, 1e-4} x optimizer {Adam, SGD with momentum 0.9}. A trial
    trains the one model (compare=none); the cell, bidirectional and embeddings stay the Config's."""
    return {
        "hidden": hp.Choice("hidden", [128, 256]),
        "dropout": hp.Choice("dropout", [0.1, 0.5]),
        "learning_rate": hp.Choice("learning_rate", [1e-3, 1e-4]),
        "optimizer": hp.Choice("optimizer", ["adam", "sgd"]),
        "compare": hp.Fixed("compare", "none"),
    }


def _embedding_name(value):
    if value in ("word2vec", "random"):
        return value
    return re.sub(r"[^A-Za-z0-9._-]+", "-", Path(value).name.split(".")[0]) or "vectors"


def variant(config):
    """reports/emotion-rnn.md: a section per data set, cell and starting embedding."""
    return (f"{config.dataset}-{'bi' if config.bidirectional else ''}{config.cell}-"
            f"{_embedding_name(config.embeddings)}")


def check(config):
    """Before the run folder: the data set can be had, the vectors files exist."""
    data.check_available(config.dataset, config.data_dir)
    check_columns(config.dataset, config.data_dir, config.text_column, config.label_column)
    for name in ("embeddings", "pretrained"):
        value = getattr(config, name)
        if value not in (None, "word2vec", "random") and not Path(value).is_file():
            raise UserError(f"{name}={value}: no such file; give word2vec (.bin, .txt), GloVe "
                            "(.txt[.gz]) or gensim KeyedVectors (.kv) vectors"
                            + (", or word2vec / random" if name == "embeddings" else ""))


# === Data ===

def load_data(config):
    options = {k: getattr(config, k) for k in ("text_column", "label_column") if getattr(config, k)}
    if config.dataset == "text_csv":
        options["seed"] = config.seed  # its test split, when there is no test.csv
    return data.load(config.dataset, data_dir=config.data_dir, train_limit=config.train_limit,
                     test_limit=config.test_limit, subset_seed=config.seed, **options)


def prepare(config, ds):
    """Cleaned texts and labels of the three splits, and what was dropped on the way.

    Training texts are cleaned, then duplicates (`dedupe`) and texts left empty
    by the cleaning are dropped, before the validation split, so that no text
    sits on both sides of it. The test set is cleaned and kept whole."""
    cleaned = cleaning.clean_all(ds.x_train, config.clean)
    keep = cleaning.first_occurrences(cleaned) if config.dedupe else np.arange(len(cleaned))
    duplicates = len(cleaned) - len(keep)
    nonempty = keep[np.array([bool(cleaned[k]) for k in keep], dtype=bool)] if len(keep) else keep
    kept = dataclasses.replace(ds, x_train=cleaned[nonempty], y_train=ds.y_train[nonempty], x_val=None, y_val=None)
    x_train, y_train, x_val, y_val = kept.split_validation(config.validation_fraction, seed=config.seed)
    x_test = cleaning.clean_all(ds.x_test, config.clean)
    if not len(x_train) or not len(x_val):
        raise UserError(f"{ds.name}: {len(nonempty)} training texts left after cleaning; too few for a "
                        f"training and a validation split (validation_fraction={config.validation_fraction})")
    seen = set(kept.x_train)
    return {"train": (x_train, y_train), "val": (x_val, y_val), "test": (x_test, ds.y_test),
            "duplicates": duplicates, "empty": len(keep) - len(nonempty),
            "test_seen_in_train": int(sum(t in seen for t in x_test))}


# === Embeddings ===

def starts(config):
    """The embedding starts to train from, the Config's first: [(name, source)], source
    "word2vec", "random" or a path; and a note when the comparison's GloVe was not found."""
    main = (_embedding_name(config.embeddings), config.embeddings)
    if "embeddings" not in config.compare:
        return [main], None
    pretrained, note = config.pretrained, None
    if pretrained is None:
        found, looked = find_vectors(config.data_dir)
        pretrained = None if found is None else str(found)
        if found is None:
            note = (f"GloVe left out of the comparison: no glove*.txt[.gz] in {', '.join(looked[:4])}"
                    f"{' ...' if len(looked) > 4 else ''} (give one with --set pretrained=PATH)")
    others = [("word2vec", "word2vec")]
    if pretrained is not None:
        others.append((_embedding_name(pretrained), pretrained))
    others.append(("random", "random"))
    return [main] + [o for o in others if o[1] != config.embeddings and o[0] != main[0]], note


def start_vectors(source, config, sentences):
    """KeyedVectors for a start (None for random), and how long they took to train or read."""
    started = time.perf_counter()
    if source == "random":
        vectors = None
    elif source == "word2vec":
        vectors = embeddings.word2vec(sentences, config.embedding_dim, seed=config.seed,
                                      epochs=config.word2vec_epochs)
    else:
        vectors = embeddings.load_vectors(source)
    return vectors, time.perf_counter() - started


# === Models ===

def model_key(config, cell, start):
    return f"{'bi' if config.bidirectional else ''}{cell}-{start}"


def train_model(config, encoder, cell, matrix, dim, splits, num_classes):
    """Build, compile and fit one classifier; (model, history dict, seconds, best epoch)."""
    keras.utils.set_random_seed(config.seed)  # every model starts from the same seed
    net = rnn_models.build(encoder.vocabulary_size, num_classes, encoder.sequence_length, embedding_dim=dim,
                           matrix=matrix, fine_tune=config.fine_tune, cell=cell,
                           bidirectional=config.bidirectional, layers=config.layers, hidden=config.hidden,
                           dropout=config.dropout, seed=config.seed)
    net.compile(optimizer=rnn_models.optimizer(config.optimizer, config.learning_rate, config.momentum),
                loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    stop = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=config.patience,
                                         restore_best_weights=True)
    (x_train, y_train), (x_val, y_val) = splits["train"], splits["val"]
    started = time.perf_counter()
    history = net.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=config.epochs,
                      batch_size=config.batch_size, shuffle=True, **fit_options([stop]))
    seconds = time.perf_counter() - started
    history = history.history
    best = int(np.argmax(history["val_accuracy"])) + 1 if history.get("val_accuracy") else len(history["loss"])
    return net, history, seconds, best


def scores(y_true, y_pred, num_classes):
    """Accuracy, macro-F1, per-class precision and recall, the confusion counts."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = list(range(num_classes))
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {"accuracy": float(np.mean(y_true == y_pred)) if len(y_true) else None,
            "macro_f1": float(np.mean(f1)), "precision": precision.tolist(), "recall": recall.tolist(),
            "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist()}


def predict_classes(net, ids, batch_size=512):
    return np.asarray(net.predict(ids, batch_size=batch_size, verbose=0)).argmax(axis=-1)


# === The run ===

def run(config, run):
    # === Data ===
    ds = load_data(config)
    splits = prepare(config, ds)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = splits["train"], splits["val"], splits["test"]
    num_classes = len(ds.class_names)
    print(f"{ds.name}: {len(x_train)} train / {len(x_val)} validation / {len(x_test)} test texts, "
          f"{num_classes} classes ({splits['duplicates']} duplicates, {splits['empty']} empty dropped); "
          f"{ds.provenance}")
    balance = {name: np.bincount(y, minlength=num_classes).tolist()
               for name, y in (("train", y_train), ("validation", y_val), ("test", y_test))}
    run.save_figure(figures.class_balance(balance, ds.class_names, f"{ds.name}: texts per class"),
                    "class_balance.png")

    # === Tokens: the vocabulary of the training split, TextVectorization ===
    vocabulary = build_vocabulary(x_train, config.min_count, config.max_tokens)
    encoder = TextEncoder(vocabulary, config.max_length, config.clean)
    ids = {name: (encoder.encode(x, cleaned=True), y) for name, (x, y) in
           (("train", splits["train"]), ("val", splits["val"]), ("test", splits["test"]))}
    lengths = np.array([len(t.split()) for t in x_train])
    run.write_json(ENCODER_FILE, encoder.to_json())
    run.write_json("classes.json", {"class_names": ds.class_names})
    sentences = [t.split() for t in x_train]

    # === Every model: the Config's, then the comparisons ===
    plan, glove_note = starts(config)
    trainings = [(config.cell, plan[0])]
    if "cells" in config.compare:
        trainings += [(cell, plan[0]) for cell in rnn_models.CELLS if cell != config.cell]
    trainings += [(config.cell, start) for start in plan[1:]]
    vectors_cache, rows, histories, confusions, start_rows = {}, [], {}, {}, {}
    main_key = model_key(config, config.cell, plan[0][0])
    for cell, (start, source) in trainings:
        key = model_key(config, cell, start)
        if start not in vectors_cache:
            vectors, seconds = start_vectors(source, config, sentences)
            if vectors is None:
                matrix, dim, found = None, config.embedding_dim, np.zeros(len(vocabulary), bool)
            else:
                matrix, found = embeddings.embedding_matrix(vocabulary, vectors, seed=config.seed)
                dim = vectors.vector_size
            oov_words, oov_tokens = embeddings.oov_shares(vocabulary, found, x_train)
            vectors_cache[start] = (matrix, dim)
            start_rows[start] = {"start": start, "source": _describe_start(source), "dimensions": dim,
                                 "vectors": None if vectors is None else len(vectors),
                                 "oov_vocabulary": oov_words if vectors is not None else None,
                                 "oov_tokens": oov_tokens if vectors is not None else None,
                                 "seconds": round(seconds, 1)}
            del vectors
        matrix, dim = vectors_cache[start]
        print(f"--- {key}: {CELL_NAMES[cell]}, embedding start {start} ({dim} dimensions)")
        net, history, seconds, best = train_model(config, encoder, cell, matrix, dim, ids, num_classes)
        histories[key] = history
        run.write_history(history, "history.csv" if key == main_key else f"history_{key}.csv")
        run.save_model(net, "model.keras" if key == main_key else f"models/{key}.keras")
        val = scores(y_val, predict_classes(net, ids["val"][0]), num_classes)
        test = scores(y_test, predict_classes(net, ids["test"][0]), num_classes)
        confusions[key] = test["confusion"]
        rows.append({"model": key, "kind": f"{'bidirectional ' if config.bidirectional else ''}{CELL_NAMES[cell]}",
                     "start": start, "parameters": int(net.count_params()), "epochs": len(history["loss"]),
                     "best_epoch": best, "train_seconds": round(seconds, 1), "val_accuracy": val["accuracy"],
                     "test_accuracy": test["accuracy"], "test_macro_f1": test["macro_f1"],
                     "precision": test["precision"], "recall": test["recall"]})
        print(f"{key}: validation accuracy {val['accuracy']:.4f}, test accuracy {test['accuracy']:.4f}, "
              f"macro-F1 {test['macro_f1']:.4f} ({seconds:.0f} s)")
        if key == main_key:
            check_reload(run, ds.x_test[:64], predict_classes(net, ids["test"][0][:64]))
        del net
        keras.backend.clear_session()

    # === Baselines ===
    if "baselines" in config.compare:
        majority = baselines.majority(y_train, len(y_test))
        test = scores(y_test, majority, num_classes)
        confusions["majority"] = test["confusion"]
        rows.append({"model": "majority", "kind": f"always {ds.class_names[majority[0]] if len(majority) else '-'}",
                     "val_accuracy": float(np.mean(y_val == np.bincount(y_train).argmax())),
                     "test_accuracy": test["accuracy"], "test_macro_f1": test["macro_f1"],
                     "precision": test["precision"], "recall": test["recall"]})
        print("--- tfidf: TF-IDF + logistic regression")
        predicted, info = baselines.tfidf_logistic(x_train, y_train, x_val, y_val, x_test, seed=config.seed)
        test = scores(y_test, predicted, num_classes)
        confusions["tfidf"] = test["confusion"]
        rows.append({"model": "tfidf", "kind": f"TF-IDF 1-2-grams + logistic regression (C={info['C']:g})",
                     "parameters": info["features"] * num_classes + num_classes,
                     "train_seconds": info["seconds"], "val_accuracy": info["val_accuracy"],
                     "test_accuracy": test["accuracy"], "test_macro_f1": test["macro_f1"],
                     "precision": test["precision"], "recall": test["recall"]})
        print(f"tfidf: test accuracy {test['accuracy']:.4f}, macro-F1 {test['macro_f1']:.4f}")

    # === Figures ===
    main = next(r for r in rows if r["model"] == main_key)
    run.save_figure(plots.learning_curves(histories[main_key], title=f"{main_key} on {ds.name}"),
                    "learning_curves.png")
    if len(histories) > 1:
        run.save_figure(plots.epoch_curves(
            {"validation accuracy": {k: h["val_accuracy"] for k, h in histories.items()},
             "training loss": {k: h["loss"] for k, h in histories.items()}},
            title="every recurrent model", percent=("validation accuracy",)), "curves.png")
    tfidf = next((r for r in rows if r["model"] == "tfidf"), None)
    references = [("the course's GRU (52%)", COURSE["gru"])]
    if tfidf is not None:
        references.append((f"TF-IDF ({100 * tfidf['test_accuracy']:.1f}%)", tfidf["test_accuracy"]))
    run.save_figure(figures.model_comparison(rows, references, title=f"{ds.name}: test accuracy and macro-F1"),
                    "comparison.png")
    run.save_figure(figures.confusion_matrices(confusions, ds.class_names), "confusion_matrices.png")

    # === Metrics and report ===
    run.write_csv("results.csv", [{k: v for k, v in r.items() if k not in ("precision", "recall")} for r in rows])
    first = start_rows[plan[0][0]]
    metrics = {"dataset": ds.name, "model": main_key, "test_accuracy": main["test_accuracy"],
               "test_macro_f1": main["test_macro_f1"], "val_accuracy": main["val_accuracy"],
               "best_epoch": main["best_epoch"], "epochs": main["epochs"], "parameters": main["parameters"],
               "train_seconds": main["train_seconds"],
               "all_train_seconds": round(sum(r.get("train_seconds") or 0 for r in rows), 1),
               "vocabulary": encoder.vocabulary_size, "oov_vocabulary_share": first["oov_vocabulary"],
               "oov_token_share": first["oov_tokens"], "train_texts": len(y_train), "val_texts": len(y_val),
               "test_texts": len(y_test), "duplicates_dropped": splits["duplicates"],
               "course_test_accuracy": COURSE["gru"],
               "beats_course": bool(main["test_accuracy"] > COURSE["gru"])}
    if tfidf is not None:
        metrics.update(tfidf_test_accuracy=tfidf["test_accuracy"], tfidf_test_macro_f1=tfidf["test_macro_f1"],
                       beats_tfidf=bool(main["test_accuracy"] > tfidf["test_accuracy"]))
    for r in rows:
        if r["model"] != main_key:
            for name in ("val_accuracy", "test_accuracy", "test_macro_f1"):
                metrics[f"{r['model']}_{name}"] = r.get(name)
    text = dict(lengths=lengths, splits=splits, balance=balance, starts=list(start_rows.values()),
                glove_note=glove_note, vocabulary=len(vocabulary))
    run.write_report(_report(config, ds, rows, metrics, text, run))
    return metrics


HEADLINE = ("model", "test_accuracy", "test_macro_f1", "val_accuracy", "tfidf_test_accuracy",
            "majority_test_accuracy", "train_seconds")


def _describe_start(source):
    if source == "word2vec":
        return "gensim Word2Vec on the training texts"
    if source == "random":
        return "random (Keras's uniform +-0.05)"
    return Path(source).name


def check_reload(run, raw_texts, expected):
    """model.keras and text.json, read back as `predict` reads them, classify raw test
    texts as the trained model did."""
    reloaded = keras.saving.load_model(run.path("model.keras"), safe_mode=True)
    encoder = TextEncoder.load(run.path(ENCODER_FILE))
    again = predict_classes(reloaded, encoder.encode(raw_texts))
    if not np.array_equal(again, expected):
        raise RuntimeError("model.keras + text.json do not classify the test texts as the trained model did")


def _report(config, ds, rows, m, text, run):
    names = ds.class_names
    main = rows[0]
    parts = [report.header(run, f"Emotions in tweets: {main['kind']} on {_describe_start(config.embeddings)} "
                                f"({ds.name})", data=ds.provenance)]
    verdicts = [f"course's GRU {100 * COURSE['gru']:.0f}%: {_margin(main['test_accuracy'], COURSE['gru'])}"]
    if "tfidf_test_accuracy" in m:
        verdicts.append(f"TF-IDF + logistic regression {100 * m['tfidf_test_accuracy']:.2f}%: "
                        f"{_margin(main['test_accuracy'], m['tfidf_test_accuracy'])}")
    parts.append(f"**{main['model']}: test accuracy {100 * main['test_accuracy']:.2f}%, macro-F1 "
                 f"{main['test_macro_f1']:.4f}.** Against the targets: {'; '.join(verdicts)}.")
    table = [{"model": r["model"], "what": r["kind"], "start": r.get("start", "-"),
              "parameters": r.get("parameters"), "epochs (best)": (f"{r['epochs']} ({r['best_epoch']})"
                                                                   if "epochs" in r else "-"),
              "train time": report.duration(r.get("train_seconds")), "val accuracy": r["val_accuracy"],
              "test accuracy": r["test_accuracy"], "test macro-F1": r["test_macro_f1"]} for r in rows]
    parts.append(report.table(table, bold=[main["model"]]))
    per_class = [{"model": r["model"], **{f"{c} P / R": f"{r['precision'][k]:.3f} / {r['recall'][k]:.3f}"
                                          for k, c in enumerate(names)}} for r in rows]
    parts += ["Per class on the test set, precision / recall:", report.table(per_class)]
    gap = _validation_gap(rows)
    if gap:
        parts.append(gap)

    starts_table = [{"start": s["start"], "vectors": s["source"], "dimensions": s["dimensions"],
                     "words with a vector": report.fmt(s["vectors"]),
                     "OOV share of the vocabulary": report.percent(s["oov_vocabulary"], 1),
                     "OOV share of training tokens": report.percent(s["oov_tokens"], 1)} for s in text["starts"]]
    parts += [f"Embedding starts ({'fine-tuned' if config.fine_tune else 'frozen'}; an out-of-vocabulary "
              "word starts from a random vector, N(0, s^2) with s the vectors' standard deviation; the "
              "vocabulary's OOV share counts its words without a vector, the token share their occurrences "
              "in the training texts, [UNK] included):", report.table(starts_table)]
    if text["glove_note"]:
        parts.append(text["glove_note"] + ".")

    balance = [{"split": split, "texts": sum(counts),
                **{c: f"{n:,} ({n / max(sum(counts), 1):.1%})" for c, n in zip(names, counts)}}
               for split, counts in text["balance"].items()]
    splits = text["splits"]
    lengths = text["lengths"]
    empty = f", and {splits['empty']:,} left empty by the cleaning" if splits["empty"] else ""
    parts += ["Class balance:", report.table(balance),
              f"Cleaning ({'tweets' if config.clean else 'plain'}): "
              f"{cleaning.CLEANING if config.clean else cleaning.PLAIN}. "
              f"{report.plural(splits['duplicates'], 'training text')} repeating an earlier one "
              f"{'were' if config.dedupe else 'were not'} dropped"
              f"{empty}; "
              f"{splits['test_seen_in_train']:,} test texts also occur in training (kept: the test set is the "
              f"course's). Validation: a stratified {config.validation_fraction:.0%} of the training texts.",
              f"Tokens: a vocabulary of {text['vocabulary']:,} words (seen {config.min_count}+ times in the "
              f"training split; ids 0 padding, 1 [UNK]), Keras's TextVectorization cutting and padding to "
              f"{config.max_length} tokens (median text {np.median(lengths):.0f} tokens, "
              f"{np.mean(lengths > config.max_length):.2%} cut). The model takes the token ids, so it trains on "
              "every backend; text.json beside it holds the cleaning switch, the vocabulary and the length, "
              "and `python -m kerasdl predict RUN_DIR \"what a day\"` reads raw text with them.",
              f"Network: Embedding (padding masked) -> {config.layers} x {main['kind']} ({config.hidden} units"
              f"{' a direction' if config.bidirectional else ''}, dropout {config.dropout}) -> softmax; "
              f"{'Adam' if config.optimizer == 'adam' else f'SGD (momentum {config.momentum})'}, learning rate "
              f"{config.learning_rate}, batch {config.batch_size}, at most {report.plural(config.epochs, 'epoch')}, "
              f"stopped after {config.patience} without a better validation accuracy, the best epoch's "
              "weights kept. Every model starts from the same seed.",
              "The course: GRU 52%, LSTM 51% test accuracy on these files (pass bar 47%), GoogleNews word2vec "
              "vectors (not available here).",
              report.budget(run, m["all_train_seconds"], _trained(rows, main)),
              report.figure("comparison.png", "test accuracy and macro-F1 of every model"),
              report.figure("learning_curves.png", "learning curves")]
    if (run.path("curves.png")).is_file():
        parts.append(report.figure("curves.png", "every recurrent model's curves"))
    parts += [report.figure("confusion_matrices.png", "confusion matrices"),
              report.figure("class_balance.png", "class balance")]
    return report.join(*parts)


def _trained(rows, main):
    """'5 recurrent models (2.1 min for bigru-word2vec) and 2 baselines'."""
    recurrent = sum("epochs" in r for r in rows)
    text = (f"{report.plural(recurrent, 'recurrent model')} ({report.duration(main['train_seconds'])} for "
            f"{main['model']})")
    return text + (f" and {report.plural(len(rows) - recurrent, 'baseline')}" if len(rows) > recurrent else "")


def _validation_gap(rows, threshold=0.03):
    """A sentence when the trained models' validation accuracy (held out of the training file)
    runs well above their test accuracy: the test texts are then not like the training texts,
    and validation numbers overstate what a model does on them. None otherwise."""
    gaps = [r["val_accuracy"] - r["test_accuracy"] for r in rows
            if r["model"] != "majority" and r.get("val_accuracy") is not None and r.get("test_accuracy") is not None]
    if not gaps or np.median(gaps) < threshold:
        return None
    spread = f"{100 * min(gaps):.1f} to {100 * max(gaps):.1f} points"
    said = (f"every trained model scores {spread} (median {100 * np.median(gaps):.1f}) higher" if min(gaps) > 0
            else f"the trained models score a median {100 * np.median(gaps):.1f} points ({spread}) higher")
    return (f"Validation against test: {said} on the validation split, held out of the training file, than "
            "on the test file: the test texts differ from the training texts, and the validation accuracy, "
            "which chooses the epoch (and the grid's configuration), overstates the test accuracy.")


def _margin(value, reference):
    points = 100 * (value - reference)
    return f"beaten by {points:.2f} points" if points > 0 else f"missed by {-points:.2f} points"
