"""The two objectives, in keras.ops: SimCLR's NT-Xent and the triplet margin loss.

NT-Xent (Chen et al. 2020): a batch of N images gives 2N projections, two views
each. For view i with partner p(i), over the 2N - 1 other views k,

    loss_i = -log( exp(s(i, p(i)) / T) / sum_{k != i} exp(s(i, k) / T) )

with s the cosine similarity and T the temperature; the loss is the mean over
all 2N views. Its value when every projection is the same vector is
log(2N - 1): the positive is one of 2N - 1 equal candidates.

Triplet margin loss (Schroff et al. 2015): for an anchor a, a positive p of its
class and a negative n of another class, max(d(a, p) - d(a, n) + margin, 0),
with d the Euclidean distance between unit-length embeddings. The triplets come
from the batch: `random_triplet_loss` draws one positive and one negative per
anchor (the course's random triplets), `batch_hard_triplet_loss` takes the
farthest positive and the nearest negative (Hermans et al. 2017), and
`batch_all_triplet_loss` averages every triplet of the batch that still violates
the margin (Hermans et al.'s "batch all", BA≠0).
"""

from keras import ops

# Masked entries of a similarity or distance matrix: far outside any real value, yet
# finite in float32 so that exp() and max() stay exact on every backend.
_BIG = 1e9


def unit(x):
    """Rows scaled to length 1 (all-zero rows stay zero)."""
    x = ops.cast(ops.convert_to_tensor(x), "float32")
    return x / ops.maximum(ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True)), 1e-12)


def nt_xent(z1, z2, temperature=0.5, return_accuracy=False):
    """NT-Xent of two batches of projections (N, D), row i of each two views of image i.

    Returns the mean loss over the 2N views (a scalar tensor); with `return_accuracy`,
    also the share of views whose most similar other view is their partner."""
    z = unit(ops.concatenate([z1, z2], axis=0))
    n2 = ops.shape(z)[0]
    n = n2 // 2
    logits = ops.matmul(z, ops.transpose(z)) / temperature
    logits = ops.where(ops.eye(n2, dtype="bool"), -_BIG, logits)  # a view is not its own candidate
    partner = ops.concatenate([ops.arange(n, n2), ops.arange(0, n)])
    log_probabilities = logits - ops.logsumexp(logits, axis=1, keepdims=True)
    picked = ops.take_along_axis(log_probabilities, partner[:, None], axis=1)[:, 0]
    loss = -ops.mean(picked)
    if not return_accuracy:
        return loss
    hits = ops.cast(ops.equal(ops.argmax(logits, axis=1), partner), "float32")
    return loss, ops.mean(hits)


def pairwise_distances(e):
    """Euclidean distances between the rows of `e` (N, D): (N, N), exactly 0 on the diagonal."""
    e = ops.cast(e, "float32")
    squared = ops.sum(ops.square(e), axis=1)
    d2 = squared[:, None] - 2.0 * ops.matmul(e, ops.transpose(e)) + squared[None, :]
    d2 = ops.where(ops.eye(ops.shape(e)[0], dtype="bool"), 0.0, ops.maximum(d2, 0.0))
    # sqrt has an infinite gradient at 0: take it of a value kept away from 0, then zero it.
    zero = ops.less_equal(d2, 1e-12)
    return ops.where(zero, 0.0, ops.sqrt(ops.where(zero, 1.0, d2)))


def _masks(labels):
    """(positive, negative) boolean (N, N) masks: same label and not itself; other label."""
    labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
    same = ops.equal(labels[:, None], labels[None, :])
    eye = ops.eye(ops.shape(labels)[0], dtype="bool")
    return ops.logical_and(same, ops.logical_not(eye)), ops.logical_not(same)


def triplet_margin(d_ap, d_an, margin):
    """max(d(a, p) - d(a, n) + margin, 0), element-wise."""
    return ops.relu(d_ap - d_an + margin)


def _masked_mean(values, valid):
    valid = ops.cast(valid, "float32")
    return ops.sum(values * valid) / ops.maximum(ops.sum(valid), 1.0)


def random_triplet_loss(embeddings, labels, margin=0.5, scores=None):
    """Mean triplet loss with one random positive and one random negative per anchor.

    `scores` (N, N), uniform noise, picks them: for each anchor, the positive with the
    highest score among its class-mates and the negative with the highest among the
    others. Anchors without a class-mate (or without another class) in the batch
    are left out of the mean."""
    d = pairwise_distances(unit(embeddings))
    positive, negative = _masks(labels)
    scores = ops.cast(scores, "float32")
    pick_p = ops.argmax(ops.where(positive, scores, -_BIG), axis=1)
    pick_n = ops.argmax(ops.where(negative, scores, -_BIG), axis=1)
    d_ap = ops.take_along_axis(d, pick_p[:, None], axis=1)[:, 0]
    d_an = ops.take_along_axis(d, pick_n[:, None], axis=1)[:, 0]
    valid = ops.logical_and(ops.any(positive, axis=1), ops.any(negative, axis=1))
    return _masked_mean(triplet_margin(d_ap, d_an, margin), valid)


def batch_hard_triplet_loss(embeddings, labels, margin=0.5):
    """Mean triplet loss of each anchor's hardest triplet in the batch: its farthest
    class-mate and its nearest image of another class."""
    d = pairwise_distances(unit(embeddings))
    positive, negative = _masks(labels)
    d_ap = ops.max(ops.where(positive, d, -_BIG), axis=1)
    d_an = ops.min(ops.where(negative, d, _BIG), axis=1)
    valid = ops.logical_and(ops.any(positive, axis=1), ops.any(negative, axis=1))
    return _masked_mean(triplet_margin(d_ap, d_an, margin), valid)


def batch_all_triplet_loss(embeddings, labels, margin=0.5):
    """Mean triplet loss over every (anchor, positive, negative) of the batch whose loss is
    above 0: the triplets already satisfied do not dilute the ones left to learn."""
    d = pairwise_distances(unit(embeddings))
    positive, negative = _masks(labels)
    terms = triplet_margin(d[:, :, None], d[:, None, :], margin)  # (anchor, positive, negative)
    valid = ops.logical_and(positive[:, :, None], negative[:, None, :])
    return _masked_mean(terms, ops.logical_and(valid, ops.greater(terms, 0.0)))
