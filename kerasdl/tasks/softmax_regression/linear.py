"""Logistic and softmax regression by hand, and early stopping on validation accuracy.

Both models are the sigmoid network of kerasdl.scratch.networks without a hidden layer,
so forward pass, gradient and update are the same written-out code:

    logistic regression  p = sigmoid([x, 1] W),  loss = binary cross-entropy + (l2/2) |w|^2
    softmax regression   p = softmax([x, 1] W),  loss = cross-entropy        + (l2/2) |W|^2
    gradient (both)      dL/dW = [x, 1]^T (p - y) / N + l2 W   (no penalty on the bias weights)

Mini-batch gradient descent is `networks.fit`, which can evaluate every so
many gradient steps; `EarlyStopping` ends a run when none of the last
`patience` evaluations of the validation accuracy improved on the best one
(the course used 25), and puts back the weights of the best evaluation.
"""

import numpy as np
from keras import ops

from kerasdl.scratch.networks import SigmoidMLP
from kerasdl.training import checkpoint


def logistic_regression(n_features, l2=0.0, replicas=None, dtype="float32"):
    """Binary logistic regression; weights start at zero (the loss is convex)."""
    return SigmoidMLP(_zeros(n_features, 1, replicas, dtype), loss="binary_cross_entropy", l2=l2)


def softmax_regression(n_features, n_classes, l2=0.0, replicas=None, dtype="float32"):
    """Multinomial (softmax) regression; weights start at zero (the loss is convex)."""
    return SigmoidMLP(_zeros(n_features, n_classes, replicas, dtype), loss="cross_entropy", l2=l2)


def _zeros(n_in, n_out, replicas, dtype):
    """One weight matrix of zeros, (n_in + 1, n_out) with the bias input, per replica if any."""
    return [ops.zeros(((replicas,) if replicas else ()) + (n_in + 1, n_out), dtype=dtype)]


class EarlyStopping:
    """Stop a replica when none of its last `patience` evaluations beat its best `monitor`.

    `update(epoch, rows, net)` is called by `networks.fit` after each
    evaluation with that evaluation's history rows (`epoch` may be fractional
    when it evaluates more often than once per epoch); it keeps each replica's
    best weights, and returns which replicas go on. Patience counts
    evaluations, not epochs. `restore(net)` puts the best weights back;
    `best_epoch`/`best_step` and `stop_epoch`/`stop_step` say when (one per
    replica; the steps are the rows' `step`, or the evaluation's number if
    the rows have none), `evaluations` how many each had.
    """

    def __init__(self, patience=25, monitor="val_accuracy", replicas=None):
        if patience < 1:
            raise ValueError(f"patience={patience}: expected at least 1 evaluation")
        self.patience = patience
        self.monitor = monitor
        count = replicas or 1
        self.best = np.full(count, -np.inf)
        self.best_epoch, self.stop_epoch = np.zeros(count), np.zeros(count)
        self.best_step, self.stop_step = np.zeros(count, dtype=int), np.zeros(count, dtype=int)
        self.evaluations, self.best_evaluation = np.zeros(count, dtype=int), np.zeros(count, dtype=int)
        self.active = np.ones(count, dtype=bool)
        self.best_weights = None

    def update(self, epoch, rows, net):
        improved = np.zeros_like(self.active)
        for row in rows:
            r = row["replica"]
            self.evaluations[r] += 1
            self.stop_epoch[r], self.stop_step[r] = epoch, row.get("step", self.evaluations[r])
            if row[self.monitor] > self.best[r]:
                self.best[r], improved[r] = row[self.monitor], True
                self.best_epoch[r], self.best_step[r] = epoch, self.stop_step[r]
                self.best_evaluation[r] = self.evaluations[r]
        self.best_weights = self._select(improved, net.weights, self.best_weights, net.replicas)
        self.active &= (self.evaluations - self.best_evaluation) < self.patience
        return self.active if net.replicas else self.active[0]

    _COUNTERS = ("best", "best_epoch", "stop_epoch", "best_step", "stop_step", "evaluations",
                 "best_evaluation", "active")

    def checkpoint_state(self):
        """{name: array}: what it carries from one evaluation to the next (`networks.fit`
        checkpoints it with the loop's state)."""
        weights = {f"best_weights_{k}": ops.convert_to_numpy(w) for k, w in enumerate(self.best_weights or [])}
        return {**{k: np.array(getattr(self, k)) for k in self._COUNTERS}, **weights}

    def restore_checkpoint_state(self, state):
        for key in self._COUNTERS:
            setattr(self, key, np.array(state[key]))
        self.best_weights = [ops.convert_to_tensor(v) for v in checkpoint.numbered(state, "best_weights_")] or None

    def restore(self, net):
        if self.best_weights is not None:
            net.weights = list(self.best_weights)
        return net

    @staticmethod
    def _select(mask, new, old, replicas):
        """Per replica: the new weights where `mask`, else the old ones."""
        if old is None or mask.all():
            return list(new)
        if not mask.any():
            return old
        if not replicas:  # a single network: mask has one entry
            return list(new) if mask[0] else old
        keep = ops.convert_to_tensor(mask.reshape(-1, 1, 1))
        return [ops.where(keep, n, o) for n, o in zip(new, old)]
