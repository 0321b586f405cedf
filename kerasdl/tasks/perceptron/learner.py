"""The multi-class perceptron by hand: one weight vector per class, bias input 1.

A point x (with a 1 appended for the bias) gets the class of the highest score
s_j = w_j . x. The perceptron criterion

    L(W) = sum_i ( max_j s_ij - s_i,y_i )

is zero exactly when every training point is classified correctly, and its
gradient is X^T (onehot(prediction) - onehot(label)): a misclassified point
pulls its true class's weights towards it and pushes the predicted class's
away; a correct point contributes nothing. The two ways of applying it:

- batch: one step W <- W - lr * grad L per epoch, the sum over all points,
  computed with the weights of the start of the epoch;
- online: the same rule one point at a time, the weights changing after each
  mistake (Rosenblatt's rule).

Everything is `keras.ops`, so the same code runs on TensorFlow, JAX and PyTorch.
"""

import keras
import numpy as np
from keras import ops

from kerasdl.errors import UserError

INITS = ("zeros", "normal")

# Points scored at once between two mistakes of the online rule (see online_epoch).
LOOKAHEAD = 128


def with_bias(x):
    """(N, ...) -> (N, D + 1): flattened, a constant 1 appended for the bias."""
    x = ops.convert_to_tensor(x, dtype="float32")
    x = ops.reshape(x, (ops.shape(x)[0], -1))
    return ops.concatenate([x, ops.ones((ops.shape(x)[0], 1), dtype="float32")], axis=1)


def _float(x):
    return ops.convert_to_tensor(x, dtype="float32")


def gradient(weights, xb, y):
    """dL/dW = X^T (onehot(argmax_j s_ij) - onehot(y_i)), shape (D + 1, C)."""
    weights, xb = _float(weights), _float(xb)
    num_classes = ops.shape(weights)[1]
    predicted = ops.argmax(ops.matmul(xb, weights), axis=1)
    delta = ops.one_hot(predicted, num_classes) - ops.one_hot(
        ops.convert_to_tensor(y, dtype="int32"), num_classes)
    return ops.matmul(ops.transpose(xb), delta)


def batch_step(weights, xb, y, lr):
    """One batch update: W - lr * dL/dW over all of (xb, y)."""
    return _float(weights) - lr * gradient(weights, xb, y)


def online_epoch(weights, xb, y, lr, order=None, lookahead=LOOKAHEAD):
    """One pass of Rosenblatt's rule in `order` (default: as given).

    For each point in turn: if argmax_j s_j != y, then w_y += lr x and
    w_pred -= lr x. Returns (new weights, number of mistakes made on the way).

    The same rule, computed fast: the weights change only at a mistake, so the
    scores of the next `lookahead` points are computed at once with the
    current weights; every point before the first mistake among them is
    correct, exactly as it would be one at a time. One small product per
    mistake instead of one per point: the result is identical to the plain
    loop (the tests check that), and the eager backends stay fast.
    """
    weights, xb = _float(weights), _float(xb)
    num_classes = ops.shape(weights)[1]
    labels = np.asarray(y).astype(np.int64)
    if order is not None:
        order = np.asarray(order).astype(np.int64)
        xb, labels = ops.take(xb, ops.convert_to_tensor(order, dtype="int32"), axis=0), labels[order]
    n, i, mistakes = len(labels), 0, 0
    size = min(lookahead, n)
    while i < n:
        # Windows of one size, the last one ending at n: on JAX each new shape compiles
        # its ops again (60 points, lookahead 128: 42 window sizes, 5 s of compiling).
        start = min(i, n - size)
        window = xb[start:start + size]
        predicted = ops.convert_to_numpy(ops.argmax(ops.matmul(window, weights), axis=1))[i - start:]
        wrong = np.flatnonzero(predicted != labels[i:start + size])
        if not len(wrong):
            i = start + size
            continue
        j = i + int(wrong[0])
        delta = (ops.one_hot(int(predicted[wrong[0]]), num_classes)
                 - ops.one_hot(int(labels[j]), num_classes))
        weights = weights - lr * ops.outer(xb[j], delta)
        mistakes += 1
        i = j + 1
    return weights, mistakes


class Perceptron:
    """A (D + 1) x C weight matrix trained by `batch_step` or `online_epoch`."""

    def __init__(self, num_features, num_classes, lr=1.0, init="zeros", init_scale=0.01, seed=None):
        if init not in INITS:
            raise UserError(f"init={init!r}: choose one of {', '.join(INITS)}")
        if lr <= 0:
            raise UserError(f"lr={lr}: the learning rate must be positive")
        self.lr = float(lr)
        self.seed = keras.random.SeedGenerator(seed)
        shape = (int(num_features) + 1, int(num_classes))
        if init == "zeros":
            self.weights = ops.zeros(shape, dtype="float32")
        else:
            self.weights = init_scale * keras.random.normal(shape, seed=self.seed)

    def predict(self, xb):
        """Class indices for points that already carry the bias input (`with_bias`)."""
        return ops.convert_to_numpy(ops.argmax(ops.matmul(xb, self.weights), axis=1)).astype(np.int64)

    def accuracy(self, xb, y):
        return float(np.mean(self.predict(xb) == np.asarray(y)))

    def batch_epoch(self, xb, y):
        """One batch update; returns the number of misclassified points it used."""
        mistakes = int(np.sum(self.predict(xb) != np.asarray(y)))
        if mistakes:
            self.weights = batch_step(self.weights, xb, y, self.lr)
        return mistakes

    def online_epoch(self, xb, y, shuffle=True):
        """One online pass (in a fresh seeded order when `shuffle`); returns the mistakes."""
        order = None
        if shuffle:
            order = ops.convert_to_numpy(keras.random.shuffle(ops.arange(len(y)), seed=self.seed))
        self.weights, mistakes = online_epoch(self.weights, xb, y, self.lr, order)
        return mistakes

    def weight_images(self, image_shape):
        """The class weights without the bias, as (C, *image_shape) images."""
        w = ops.convert_to_numpy(self.weights)[:-1]
        return np.transpose(w).reshape((-1,) + tuple(image_shape))
