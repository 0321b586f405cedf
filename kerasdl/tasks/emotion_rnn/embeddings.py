"""Word vectors for the Embedding layer: gensim Word2Vec on the training tweets, or vectors from a file.

`embedding_matrix(vocabulary, vectors, seed)` lays them out by token id (see
encoder.py), the rows the model's Embedding starts from:

- row 0 (padding): zeros; the Embedding masks it, so it never reaches the RNN;
- a vocabulary word the vectors know: its vector, exactly;
- `[UNK]` (row 1) and every word the vectors do not know: drawn from
  N(0, s^2), s the standard deviation of all the vectors' values, seeded by
  `seed`: as large as a real vector, so the out-of-vocabulary words start
  distinct and can be learned when the embedding is fine-tuned.

`load_vectors(path)` reads what gensim reads: word2vec binary (`.bin`), word2vec
text (a `count dim` header line) and GloVe text (no header), either gzipped, and
gensim's own KeyedVectors / Word2Vec files (`.kv`, `.model`: Python pickles, so
load only files you trust).
"""

import gzip
import zlib
from pathlib import Path

import numpy as np

from kerasdl.errors import UserError

TEXT_SUFFIXES = (".txt", ".vec", ".txt.gz", ".vec.gz")
BINARY_SUFFIXES = (".bin", ".bin.gz")
GENSIM_SUFFIXES = (".kv", ".model", ".wv")


def _stable_hash(text):
    """gensim seeds each word's first vector with hashfxn(word + seed); Python's own
    hash() changes from process to process (PYTHONHASHSEED), so the same seed would
    give other vectors on every run. CRC-32 does not."""
    return zlib.crc32(text.encode("utf-8"))


def word2vec(sentences, dim=100, seed=0, epochs=10, window=5, min_count=1):
    """gensim Word2Vec (CBOW) trained on `sentences` (lists of tokens): its KeyedVectors.

    One worker thread and a stable hash make it reproducible: the same sentences
    and seed give the same vectors (gensim's own advice for determinism)."""
    from gensim.models import Word2Vec

    model = Word2Vec(sentences=sentences, vector_size=int(dim), window=window, min_count=min_count,
                     workers=1, seed=int(seed), epochs=int(epochs), hashfxn=_stable_hash)
    return model.wv


def _suffix(path):
    name = path.name.lower()
    return next((s for s in (*BINARY_SUFFIXES, *TEXT_SUFFIXES, *GENSIM_SUFFIXES) if name.endswith(s)), path.suffix)


def _has_header(path):
    """Whether a word2vec-style text file starts with a 'count dim' line (GloVe's do not)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        first = f.readline().split()
    return len(first) == 2 and all(part.isdigit() for part in first)


def load_vectors(path):
    """gensim KeyedVectors from a file (see the module docstring); UserError in one line."""
    from gensim.models import KeyedVectors

    path = Path(path)
    if not path.is_file():
        raise UserError(f"embeddings={path}: no such file; give word2vec (.bin, .txt), GloVe (.txt[.gz]) "
                        "or gensim KeyedVectors (.kv) vectors, or word2vec / random")
    suffix = _suffix(path)
    try:
        if suffix in GENSIM_SUFFIXES:
            from gensim.utils import SaveLoad

            loaded = SaveLoad.load(str(path))
            vectors = getattr(loaded, "wv", loaded)  # a whole Word2Vec model holds its vectors as .wv
            if not isinstance(vectors, KeyedVectors):
                raise ValueError(f"holds a {type(loaded).__name__}, not word vectors")
        elif suffix in BINARY_SUFFIXES:
            vectors = KeyedVectors.load_word2vec_format(str(path), binary=True)
        else:
            vectors = KeyedVectors.load_word2vec_format(str(path), binary=False, no_header=not _has_header(path))
    except Exception as e:  # noqa: BLE001 -- gensim and pickle raise many kinds; one line for all
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise UserError(f"embeddings={path}: not readable as word vectors ({type(e).__name__}: {first[:200]}); "
                        "expected word2vec binary (.bin), word2vec or GloVe text (.txt, .txt.gz) or "
                        "gensim KeyedVectors (.kv)") from None
    if len(vectors) == 0 or vectors.vector_size < 1:
        raise UserError(f"embeddings={path}: holds no vectors")
    return vectors


def embedding_matrix(vocabulary, vectors, seed=0):
    """(matrix (len(vocabulary) + 2, dim) float32, found: bool per vocabulary word).

    Row 0 padding (zeros), row 1 [UNK], row k + 2 the k-th vocabulary word; rows of
    words the vectors lack, and [UNK], drawn from N(0, s^2) (module docstring)."""
    dim = vectors.vector_size
    scale = float(np.std(vectors.vectors))
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0.0, scale, (len(vocabulary) + 2, dim)).astype(np.float32)
    matrix[0] = 0.0
    found = np.array([word in vectors.key_to_index for word in vocabulary], dtype=bool)
    rows = np.flatnonzero(found)
    if len(rows):
        matrix[rows + 2] = vectors[[vocabulary[k] for k in rows]]
    return matrix, found


def oov_shares(vocabulary, found, cleaned):
    """(share of vocabulary words without a vector, share of the word occurrences in
    `cleaned` texts that get no vector: not in the vocabulary, or in it without one)."""
    has_vector = {w for w, f in zip(vocabulary, found) if f}
    words = [w for text in cleaned for w in text.split()]
    missing = sum(w not in has_vector for w in words)
    return (float(1 - found.mean()) if len(found) else 1.0,
            missing / len(words) if words else 0.0)
