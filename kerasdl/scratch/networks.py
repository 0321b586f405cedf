"""Sigmoid networks written by hand: forward pass, backpropagation and the update in keras.ops.

One implementation serves the whole family the course builds by hand:

    2-2-1 XOR net       sizes (2, 2, 1), loss "mse"                  sigmoid output
    784-128-10 MLP      sizes (784, 128, 10), loss "cross_entropy"   softmax output
    logistic regression sizes (784, 1), loss "binary_cross_entropy"  sigmoid output, no hidden layer
    softmax regression  sizes (784, 10), loss "cross_entropy"        softmax output, no hidden layer

Hidden layers are sigmoids. Each layer's weights are one matrix of shape
(fan_in + 1, fan_out): the last row holds the weights of the *bias input*, a
constant 1 appended to the layer's input, as the course draws the XOR net
(W1 is 3x2, W2 is 3x1). With the three losses above the error at the output's
pre-activation z takes one of two forms, and backpropagation is shared:

    cross_entropy, binary_cross_entropy:  dL/dz = (p - y) / N
    mse (sigmoid output):                 dL/dz = 2 (p - y) p (1 - p) / (N K)

A network may hold a population of R independent *replicas* (weights with a
leading axis R): the same batch goes through all of them at once, each with
its own learning rate, so a learning-rate sweep or a hundred XOR seeds train
in the time of one. Nothing here is backend-specific and nothing uses
autodiff or Keras's own activations, losses or optimizers; `to_keras` copies
trained weights into ordinary Dense layers only to save and reuse the model.
"""

import json

import numpy as np
from keras import ops

LOSSES = ("mse", "cross_entropy", "binary_cross_entropy")
INITS = ("uniform", "normal", "glorot")


# --- activations and losses, by hand -----------------------------------------

def sigmoid(z):
    return 1.0 / (1.0 + ops.exp(-z))


def softplus(z):
    """log(1 + e^z), without overflow for large |z|."""
    return ops.maximum(z, 0.0) + ops.log(1.0 + ops.exp(-ops.abs(z)))


def log_softmax(z):
    """log of the softmax over the last axis, shifted by the maximum for stability."""
    shifted = z - ops.max(z, axis=-1, keepdims=True)
    return shifted - ops.log(ops.sum(ops.exp(shifted), axis=-1, keepdims=True))


def with_bias_input(a):
    """Append the constant bias input 1 to every row of `a` (..., n) -> (..., n + 1)."""
    return ops.concatenate([a, ops.ones_like(a[..., :1])], axis=-1)


def _transpose(a):
    return ops.swapaxes(a, -1, -2)


def _per_replica(value, like):
    """A scalar, or one value per replica reshaped (R, 1, 1) to scale weight matrices."""
    value = ops.convert_to_tensor(value, dtype=ops.dtype(like))
    return ops.reshape(value, (-1, 1, 1)) if len(value.shape) else value


# --- initialisation ------------------------------------------------------------

def init_weights(sizes, init="glorot", scale=1.0, replicas=None, seed=None, dtype="float32"):
    """Weight matrices (fan_in + 1, fan_out) per layer, with a leading axis R if `replicas`.

    uniform  every weight (bias inputs included) from U[-scale, scale]
    normal   every weight from N(0, (scale/2)^2) truncated at 2 sd, so it lies in [-scale, scale]
    glorot   U[-a, a], a = scale * sqrt(6 / (fan_in + fan_out)); bias weights 0
    """
    import keras

    if init not in INITS:
        raise ValueError(f"init={init!r}: expected one of {INITS}")
    generator = keras.random.SeedGenerator(seed)
    lead = (replicas,) if replicas else ()
    weights = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        shape = lead + (fan_in + 1, fan_out)
        if init == "uniform":
            w = keras.random.uniform(shape, -scale, scale, dtype=dtype, seed=generator)
        elif init == "normal":
            w = keras.random.truncated_normal(shape, stddev=scale / 2, dtype=dtype, seed=generator)
        else:
            limit = scale * float(np.sqrt(6.0 / (fan_in + fan_out)))
            w = keras.random.uniform(lead + (fan_in, fan_out), -limit, limit, dtype=dtype, seed=generator)
            w = ops.concatenate([w, ops.zeros(lead + (1, fan_out), dtype=dtype)], axis=-2)
        weights.append(w)
    return weights


def replicate(weights, copies):
    """Repeat weights `copies` times along a new (or the existing) replica axis:
    a population whose replicas start from the same weights (for a fair sweep)."""
    out = []
    for w in weights:
        w = w if len(w.shape) == 3 else w[None]
        out.append(ops.tile(w, (copies, 1, 1)))
    return out


# --- the network ----------------------------------------------------------------

class SigmoidMLP:
    """A dense network with sigmoid hidden layers, trained by hand-written backprop.

    `weights`: list of (fan_in + 1, fan_out) tensors, or (R, fan_in + 1, fan_out)
    for R replicas. `loss`: "mse" (sigmoid output), "binary_cross_entropy"
    (sigmoid output) or "cross_entropy" (softmax output). `l2`: the penalty
    (l2 / 2) * sum of squared weights, bias-input weights excluded.
    Targets `y` are (N, K): one-hot rows for cross_entropy, 0/1 or reals otherwise.
    """

    def __init__(self, weights, loss="cross_entropy", l2=0.0):
        if loss not in LOSSES:
            raise ValueError(f"loss={loss!r}: expected one of {LOSSES}")
        self.weights = list(weights)
        self.loss_name = loss
        self.l2 = float(l2)

    @classmethod
    def create(cls, sizes, loss="cross_entropy", init="glorot", scale=1.0, replicas=None,
               seed=None, l2=0.0, dtype="float32"):
        return cls(init_weights(sizes, init, scale, replicas, seed, dtype), loss=loss, l2=l2)

    @property
    def sizes(self):
        return tuple([self.weights[0].shape[-2] - 1] + [w.shape[-1] for w in self.weights])

    @property
    def replicas(self):
        """R for a population of replicas, None for a single network."""
        return self.weights[0].shape[0] if len(self.weights[0].shape) == 3 else None

    # === forward ===
    def forward(self, x):
        """The bias-augmented input of every layer [x~, h1~, ...], the output's z and p = f(z)."""
        inputs = []
        a = ops.convert_to_tensor(x)
        for k, w in enumerate(self.weights):
            inputs.append(with_bias_input(a))
            z = ops.matmul(inputs[-1], w)
            last = k == len(self.weights) - 1
            a = ops.exp(log_softmax(z)) if last and self.loss_name == "cross_entropy" else sigmoid(z)
        return inputs, z, a

    def predict(self, x):
        return self.forward(x)[2]

    def _data_loss(self, z, p, y):
        """Mean loss over the batch (per replica), from the output z and p = f(z)."""
        if self.loss_name == "mse":
            return ops.mean(ops.square(p - y), axis=(-2, -1))
        if self.loss_name == "binary_cross_entropy":
            # -[y log p + (1 - y) log(1 - p)] with log p = -softplus(-z), log(1 - p) = -softplus(z)
            return ops.mean(y * softplus(-z) + (1.0 - y) * softplus(z), axis=(-2, -1))
        return ops.mean(-ops.sum(y * log_softmax(z), axis=-1), axis=-1)

    def _penalty(self):
        if not self.l2:
            return 0.0
        return 0.5 * self.l2 * sum(ops.sum(ops.square(w[..., :-1, :]), axis=(-2, -1)) for w in self.weights)

    def loss(self, x, y):
        """The objective (data loss + L2 penalty): a scalar, or one value per replica."""
        _, z, p = self.forward(x)
        return self._data_loss(z, p, ops.convert_to_tensor(y)) + self._penalty()

    # === backward ===
    def gradients(self, x, y):
        """(loss, output p, [dL/dW per layer]) by backpropagation, written out."""
        inputs, z, p = self.forward(x)
        y = ops.convert_to_tensor(y)
        n, k = y.shape[-2], y.shape[-1]
        if self.loss_name == "mse":
            delta = 2.0 * (p - y) * p * (1.0 - p) / (n * k)
        else:  # softmax + cross-entropy and sigmoid + binary cross-entropy share dL/dz
            delta = (p - y) / n
        grads = [None] * len(self.weights)
        for layer in reversed(range(len(self.weights))):
            grads[layer] = ops.matmul(_transpose(inputs[layer]), delta)
            if layer:
                # back through the weights (not the bias input's) and the sigmoid's a (1 - a)
                a_in = inputs[layer][..., :-1]
                delta = ops.matmul(delta, _transpose(self.weights[layer][..., :-1, :])) * a_in * (1.0 - a_in)
        if self.l2:
            grads = [g + self.l2 * _without_bias_row(w) for g, w in zip(grads, self.weights)]
        return self._data_loss(z, p, y) + self._penalty(), p, grads

    # === update ===
    def step(self, x, y, learning_rate):
        """One gradient-descent step; `learning_rate` a number or one per replica.

        Returns the loss and output before the step (for running training metrics).
        """
        loss, p, grads = self.gradients(x, y)
        rate = _per_replica(learning_rate, self.weights[0])
        self.weights = [w - rate * g for w, g in zip(self.weights, grads)]
        return loss, p

    # === saving ===
    def to_keras(self, replica=None, input_shape=None, value_range=None, name="scratch_mlp"):
        """A keras.Model with the same weights (Dense layers), to save and predict with.

        `input_shape`/`value_range` put the data preprocessing into the model:
        inputs of that shape and range are rescaled to [0, 1] and flattened.
        """
        import keras
        from keras import layers

        weights = [ops.convert_to_numpy(w) for w in self.weights]
        if replica is not None:
            weights = [w[replica] for w in weights]
        elif self.replicas:
            raise ValueError("a population of replicas: pick one with replica=")
        inputs = keras.Input(shape=tuple(input_shape or (self.sizes[0],)), name="inputs")
        h = inputs
        if value_range is not None:
            lo, hi = value_range
            h = layers.Rescaling(1.0 / (hi - lo), offset=-lo / (hi - lo), name="rescale")(h)
        if input_shape is not None and len(input_shape) > 1:
            h = layers.Flatten(name="flatten")(h)
        softmax_out = self.loss_name == "cross_entropy"
        for k, w in enumerate(weights, 1):
            last = k == len(weights)
            dense = layers.Dense(w.shape[1], activation="softmax" if last and softmax_out else "sigmoid",
                                 name="outputs" if last else f"hidden{k}")
            h = dense(h)
            dense.set_weights([w[:-1], w[-1]])
        return keras.Model(inputs, h, name=name)


def _without_bias_row(w):
    return ops.concatenate([w[..., :-1, :], ops.zeros_like(w[..., -1:, :])], axis=-2)


# --- evaluation and mini-batch training ------------------------------------------------

def targets(labels, num_classes, loss):
    """Integer labels -> the (N, K) targets a loss expects (one-hot, or a 0/1 column)."""
    labels = np.asarray(labels)
    if loss == "cross_entropy":
        return np.eye(num_classes, dtype="float32")[labels]
    return labels.reshape(-1, 1).astype("float32")


def correct(p, y):
    """Right answers per replica: argmax for K > 1 outputs, the side of 0.5 for one output."""
    if p.shape[-1] == 1:
        hits = ops.all(ops.equal(p > 0.5, y > 0.5), axis=-1)
    else:
        hits = ops.equal(ops.argmax(p, axis=-1), ops.argmax(y, axis=-1))
    return ops.sum(ops.cast(hits, "float32"), axis=-1)


def evaluate(net, x, y, batch_size=2000):
    """(mean loss, accuracy) over (x, y), each a float or an array with one value per replica."""
    n = len(x)
    loss_sum, hits = 0.0, 0.0
    for start in range(0, n, batch_size):
        xb = ops.convert_to_tensor(x[start:start + batch_size])
        yb = ops.convert_to_tensor(y[start:start + batch_size])
        _, z, p = net.forward(xb)
        loss_sum = loss_sum + net._data_loss(z, p, yb) * len(xb)
        hits = hits + correct(p, yb)
    loss = ops.convert_to_numpy(loss_sum / n + net._penalty())
    return loss, ops.convert_to_numpy(hits) / n


def fit(net, x, y, learning_rate, epochs, batch_size, seed=0, eval_sets=None, early_stopping=None,
        progress_desc=None, eval_every=None):
    """Mini-batch gradient descent over shuffled epochs; returns the history rows.

    `learning_rate`: a number, or one per replica. `eval_every`: gradient
    steps between evaluations, counted across epochs (the last step is always
    evaluated); None or 0: after every epoch. Each evaluation adds a row per
    active replica: step (gradient steps so far), epoch (the epoch number when
    evaluating after every epoch, else passes over the data so far, e.g. 2.5),
    replica, learning_rate, the running mean training loss and accuracy of the
    batches since the previous evaluation, and `<name>_loss`/`<name>_accuracy`
    for every (x, y) in `eval_sets`. `early_stopping` (an object with
    `update(epoch, history_rows, net) -> active mask`, e.g. the
    softmax-regression task's `linear.EarlyStopping`) is called after every
    evaluation; it freezes replicas that stopped, by a learning rate of 0, and
    ends the loop when none is left; with `checkpoint_state()` and
    `restore_checkpoint_state(state)` its state is kept across `--resume`.

    In a run, the state at the end of an epoch is checkpointed
    (`checkpoint.for_loop`) and a resumed run starts from it: the weights,
    the shuffling generator, the history, the running sums; the same final
    weights as a run never interrupted.
    """
    from kerasdl.training import checkpoint
    from kerasdl.training.progress import progress

    rng = np.random.default_rng(seed)
    n = len(x)
    last_step = epochs * -(-n // batch_size)
    replicas = net.replicas
    rates = np.broadcast_to(np.asarray(learning_rate, dtype="float32"), (replicas,) if replicas else ())
    active = np.ones(rates.shape, dtype=bool)
    x_all, y_all = ops.convert_to_tensor(x), ops.convert_to_tensor(y)
    history, step, first_epoch = [], 0, 1
    loss_sum, hits, seen = 0.0, 0.0, 0
    saved = checkpoint.for_loop()

    def state(epoch):
        return {**{f"w{k}": ops.convert_to_numpy(w) for k, w in enumerate(net.weights)},
                "rng": np.array(json.dumps(rng.bit_generator.state)), "epoch": np.array(epoch),
                "step": np.array(step), "history": np.array(json.dumps(history)), "active": active,
                "loss_sum": ops.convert_to_numpy(loss_sum), "hits": ops.convert_to_numpy(hits),
                "seen": np.array(seen),
                **({f"early_stopping__{k}": v for k, v in early_stopping.checkpoint_state().items()}
                   if early_stopping is not None else {})}

    restored = saved.restore()
    if restored is not None:
        net.weights = [ops.convert_to_tensor(restored[f"w{k}"]) for k in range(len(net.weights))]
        rng.bit_generator.state = json.loads(str(restored["rng"]))
        history, step, seen = json.loads(str(restored["history"])), int(restored["step"]), int(restored["seen"])
        active = restored["active"]
        if seen:  # sums since the last evaluation (eval_every not a whole epoch)
            loss_sum, hits = ops.convert_to_tensor(restored["loss_sum"]), ops.convert_to_tensor(restored["hits"])
        if early_stopping is not None:
            prefix = "early_stopping__"
            early_stopping.restore_checkpoint_state({k[len(prefix):]: v for k, v in restored.items()
                                                     if k.startswith(prefix)})
        if bool(restored["finished"]):
            return history
        first_epoch = int(restored["epoch"]) + 1
    for epoch in range(first_epoch, epochs + 1):
        order = ops.convert_to_tensor(rng.permutation(n).astype("int32"))
        desc = f"{progress_desc or 'training'}: epoch {epoch}/{epochs}"
        for start in progress(range(0, n, batch_size), desc=desc):
            idx = order[start:start + batch_size]
            xb, yb = ops.take(x_all, idx, axis=0), ops.take(y_all, idx, axis=0)
            loss, p = net.step(xb, yb, rates * active)
            loss_sum = loss_sum + loss * idx.shape[0]
            hits = hits + correct(p, yb)
            step, seen = step + 1, seen + idx.shape[0]
            due = step % eval_every == 0 if eval_every else start + batch_size >= n
            if not (due or step == last_step):
                continue
            at = round(epoch - 1 + min(start + batch_size, n) / n, 4) if eval_every else epoch
            rows = _eval_rows(step, at, rates, ops.convert_to_numpy(loss_sum) / seen,
                              ops.convert_to_numpy(hits) / seen)
            loss_sum, hits, seen = 0.0, 0.0, 0
            for name, (xe, ye) in (eval_sets or {}).items():
                loss_e, acc_e = evaluate(net, xe, ye)
                for row, le, ae in zip(rows, np.atleast_1d(loss_e), np.atleast_1d(acc_e)):
                    row[f"{name}_loss"], row[f"{name}_accuracy"] = float(le), float(ae)
            rows = [row for row, on in zip(rows, np.atleast_1d(active)) if on]
            history += rows
            if early_stopping is not None:
                active = np.asarray(early_stopping.update(at, rows, net)).reshape(active.shape)
                if not active.any():
                    saved.save(state(epoch), f"epoch {epoch}", finished=True)
                    return history
        if epoch < epochs and saved.due():
            saved.save(state(epoch), f"epoch {epoch}")
    saved.save(state(epochs), f"epoch {epochs}", finished=True)
    return history


def by_replica(history):
    """History rows -> {replica: {column: [values per evaluation]}}, for plotting."""
    out = {}
    for row in history:
        columns = out.setdefault(row["replica"], {})
        for key, value in row.items():
            columns.setdefault(key, []).append(value)
    return out


def _eval_rows(step, epoch, rates, loss, accuracy):
    return [{"step": step, "epoch": epoch, "replica": r, "learning_rate": float(rate), "loss": float(lo),
             "accuracy": float(ac)}
            for r, (rate, lo, ac) in enumerate(zip(np.atleast_1d(rates), np.atleast_1d(loss),
                                                   np.atleast_1d(accuracy)))]


def precise_dtype():
    """'float64' where keras.ops computes in it (TensorFlow), else 'float32'.

    Keras promotes float64 to float32 on JAX (without x64) and PyTorch, so a
    gradient check there runs in float32 with a larger step and tolerance.
    """
    import warnings

    with warnings.catch_warnings():  # JAX warns that it truncates float64: that is what we ask
        warnings.simplefilter("ignore")
        one = ops.ones((1, 1), dtype="float64")
    return "float64" if ops.dtype(ops.matmul(one, one)) == "float64" else "float32"


def gradient_check(net, x, y, eps=None):
    """Largest |backprop - finite difference| / largest |finite difference|, per layer.

    `eps` defaults to 1e-6 in float64 and 1e-2 in float32 (where round-off
    swamps smaller steps); expect errors near 1e-8 and 1e-3 respectively.
    """
    dtype = ops.dtype(net.weights[0])
    eps = eps or (1e-6 if dtype == "float64" else 1e-2)
    x, y = ops.convert_to_tensor(x, dtype=dtype), ops.convert_to_tensor(y, dtype=dtype)
    _, _, grads = net.gradients(x, y)
    errors = []
    for analytic, numeric in zip(grads, numerical_gradients(net, x, y, eps)):
        analytic = ops.convert_to_numpy(analytic).astype("float64")
        errors.append(float(np.abs(analytic - numeric).max() / max(np.abs(numeric).max(), 1e-12)))
    return errors


def numerical_gradients(net, x, y, eps=1e-5):
    """Central differences (L(w + eps) - L(w - eps)) / 2 eps of the loss for every weight.

    The check of `SigmoidMLP.gradients`: slow (two forward passes per weight),
    so for small networks. With replicas the losses are summed, which leaves
    each replica's gradient its own.
    """
    dtype = ops.dtype(net.weights[0])
    base = [ops.convert_to_numpy(w).astype("float64") for w in net.weights]
    grads = []
    for k, w in enumerate(base):
        g = np.zeros_like(w)
        for idx in np.ndindex(w.shape):
            values = []
            for sign in (1.0, -1.0):
                trial = w.copy()
                trial[idx] += sign * eps
                weights = list(net.weights)
                weights[k] = ops.convert_to_tensor(trial, dtype=dtype)
                values.append(float(ops.sum(SigmoidMLP(weights, net.loss_name, net.l2).loss(x, y))))
            g[idx] = (values[0] - values[1]) / (2 * eps)
        grads.append(g)
    return grads
