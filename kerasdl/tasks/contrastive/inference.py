"""What `python -m kerasdl predict` does with a contrastive run: embeddings and nearest neighbours.

The run folder's `model.keras` is the encoder (pixels -> embedding); beside it,
`gallery.npz` holds the embeddings of the test images with their labels and
the class names. For each input, predict gives its embedding (in the JSON
output) and its nearest gallery images by cosine similarity (the table: rank,
class, gallery index, similarity).
"""

import io
from pathlib import Path

import numpy as np

from kerasdl.errors import UserError

GALLERY = "gallery.npz"


class Gallery:
    """Reference embeddings with their labels, searched by cosine similarity."""

    def __init__(self, embeddings, labels, class_names, value_range=(0, 255)):
        self.embeddings = np.asarray(embeddings, np.float32)
        self.labels = np.asarray(labels).astype(np.int64)
        self.class_names = [str(c) for c in class_names]
        self.value_range = tuple(float(v) for v in value_range)

    def save(self, path):
        from kerasdl import runs

        buf = io.BytesIO()
        np.savez(buf, embeddings=self.embeddings, labels=self.labels,
                 class_names=np.array(self.class_names), value_range=np.array(self.value_range))
        return runs.atomic_write(path, buf.getvalue())

    @classmethod
    def load(cls, path):
        try:
            with np.load(Path(path), allow_pickle=False) as f:
                return cls(f["embeddings"], f["labels"], f["class_names"].tolist(), f["value_range"].tolist())
        except (OSError, KeyError, ValueError) as e:
            raise UserError(f"{path}: not a readable gallery of embeddings ({e})") from None

    def query(self, embeddings, k=1):
        """(indices (N, k), cosine similarities (N, k)) of the nearest gallery rows, nearest first."""
        from kerasdl.tasks.distance.learners import nearest_neighbours

        k = min(k, len(self.embeddings))
        index, distance = nearest_neighbours(np.asarray(embeddings, np.float32), self.embeddings, k, "cosine")
        return index, 1.0 - distance


def predict(model, gallery, names, x, top=1, batch_size=256):
    """One dict per input: {"input", "embedding": [...], "top": [{"class", "neighbour",
    "similarity"}, ...]}, the `top` nearest gallery images first."""
    h = np.asarray(model.predict(x, batch_size=batch_size, verbose=0), np.float32)
    index, similarity = gallery.query(h, top)
    return [{"input": name, "embedding": [float(v) for v in row],
             "top": [{"class": gallery.class_names[gallery.labels[i]], "neighbour": int(i),
                      "similarity": float(s)} for i, s in zip(found, sims)]}
            for name, row, found, sims in zip(names, h, index, similarity)]
