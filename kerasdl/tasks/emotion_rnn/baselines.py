"""What an RNN must beat: the majority class, and TF-IDF features with logistic regression.

Both see the same cleaned tokens, training split and validation split as the
RNNs. The logistic regression's inverse regularisation C is chosen on the
validation split, as the RNNs' epoch is.
"""

import time

import numpy as np

# Logistic regression's C, tried in turn; the best validation accuracy wins.
C_GRID = (0.3, 1.0, 3.0)


def majority(y_train, n_test):
    """The most frequent training class, predicted for every test text."""
    return np.full(n_test, np.bincount(y_train).argmax(), dtype=np.int64)


def _words(text):
    return text.split()


def tfidf_logistic(train, y_train, val, y_val, test, c_grid=C_GRID, seed=0):
    """TF-IDF of word 1- and 2-grams (seen in 2+ training texts, sublinear counts) and a
    multinomial logistic regression. Returns (test predictions, {"C", "val_accuracy",
    "features", "seconds"})."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    tfidf = TfidfVectorizer(tokenizer=_words, token_pattern=None, lowercase=False, ngram_range=(1, 2),
                            min_df=2, sublinear_tf=True)
    x_train = tfidf.fit_transform(train)
    x_val, x_test = tfidf.transform(val), tfidf.transform(test)
    best = None
    for c in c_grid:
        model = LogisticRegression(C=c, max_iter=1000, random_state=seed).fit(x_train, y_train)
        accuracy = float((model.predict(x_val) == y_val).mean()) if len(y_val) else 0.0
        if best is None or accuracy > best[1]:
            best = (c, accuracy, model)
    c, accuracy, model = best
    return model.predict(x_test).astype(np.int64), {
        "C": c, "val_accuracy": accuracy, "features": int(x_train.shape[1]),
        "seconds": round(time.perf_counter() - started, 1)}
