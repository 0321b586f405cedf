"""Texts -> padded token ids: the cleaning, the vocabulary and Keras's TextVectorization.

Why the vectorizer sits beside the model, not inside it: TextVectorization
runs on TensorFlow strings, and JAX and PyTorch models have no string tensors.
So the trained model (model.keras) takes token ids and runs on every backend,
and `text.json` beside it holds everything that turns raw text into those ids:
the cleaning switch, the vocabulary (in id order) and the sequence length.
`TextEncoder.load(text.json).encode(["what a day"])` rebuilds the same
TextVectorization and gives the same ids on any backend, which is what
`python -m kerasdl predict RUN_DIR "what a day"` does.

Ids: 0 is padding (masked by the model's Embedding), 1 is `[UNK]` (a word not
in the vocabulary), 2... the vocabulary, most frequent word first. Texts are
cut after `sequence_length` tokens and padded at the end.
"""

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kerasdl.errors import UserError
from kerasdl.tasks.emotion_rnn.cleaning import clean_all

FILE = "text.json"
PADDING, UNKNOWN = 0, 1  # TextVectorization's ids for "" and "[UNK]"
FORMAT = 1  # text.json's layout; bump on a change a reader must know of


def build_vocabulary(cleaned, min_count=2, max_tokens=None):
    """The words of `cleaned` texts seen at least `min_count` times, most frequent
    first (ties alphabetical, so the order is the same on every run), at most
    `max_tokens` of them (None: all)."""
    counts = Counter(word for text in cleaned for word in text.split())
    words = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
    return words[:max_tokens] if max_tokens else words


@dataclass
class TextEncoder:
    vocabulary: list        # words in id order, from id 2 on
    sequence_length: int    # tokens per text after cutting and padding
    tweets: bool = True     # the tweet cleaning (cleaning.clean), else lower case and word tokens

    def __post_init__(self):
        self.vocabulary = [str(w) for w in self.vocabulary]
        self._layer = None

    @property
    def vocabulary_size(self):
        """Rows of the embedding: the words, padding and [UNK]."""
        return len(self.vocabulary) + 2

    def clean(self, texts):
        return clean_all(texts, self.tweets)

    def layer(self):
        """Keras's TextVectorization with this vocabulary, built once."""
        if self._layer is None:
            import keras

            self._layer = keras.layers.TextVectorization(
                vocabulary=self.vocabulary, standardize=None, split="whitespace",
                output_mode="int", output_sequence_length=self.sequence_length, name="text_vectorization")
        return self._layer

    def encode(self, texts, cleaned=False, batch_size=4096):
        """Token ids (N, sequence_length) int32 of raw texts (or of already `cleaned` ones)."""
        import keras

        texts = np.asarray(texts if cleaned else self.clean(texts), dtype=object)
        if texts.size == 0:
            return np.zeros((0, self.sequence_length), np.int32)
        layer = self.layer()
        parts = [keras.ops.convert_to_numpy(layer(texts[k:k + batch_size].astype(str)))
                 for k in range(0, len(texts), batch_size)]
        return np.concatenate(parts).astype(np.int32)

    # === text.json ===

    def to_json(self):
        return {"format": FORMAT, "kind": "token_ids", "tweets": self.tweets,
                "sequence_length": self.sequence_length, "vocabulary": self.vocabulary,
                "ids": {"padding": PADDING, "unknown": UNKNOWN, "first_word": 2}}

    @classmethod
    def load(cls, path):
        """The encoder a run saved (text.json); one UserError line for a file that is not one."""
        path = Path(path)
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            encoder = cls(vocabulary=list(saved["vocabulary"]), sequence_length=int(saved["sequence_length"]),
                          tweets=bool(saved.get("tweets", True)))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise UserError(f"{path}: not a readable text encoder ({type(e).__name__}: {e}); "
                            "expected the text.json a text task writes beside its model") from None
        if saved.get("format", FORMAT) > FORMAT:
            raise UserError(f"{path}: written by a newer kerasdl (format {saved['format']}); update kerasdl")
        if encoder.sequence_length < 1 or not all(encoder.vocabulary):
            raise UserError(f"{path}: a sequence length below 1 or an empty word in the vocabulary")
        return encoder
