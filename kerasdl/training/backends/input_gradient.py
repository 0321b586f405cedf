"""The gradient of a loss with respect to a model's INPUT, on every backend.

Keras has no backend-neutral API for d loss / d x, so this module holds one
small function per backend behind one interface, picked once by
`keras.backend.backend()`:

    input_gradient(model, loss_fn, x, y, training=False)   -> d loss_fn(y, model(x)) / d x
    input_gradient_fn(model, loss_fn, training=False)      -> a compiled (x, y) -> gradient
    differentiable_input_gradient(fn, x)                   -> d sum(fn(x)) / d x, differentiable again

Every backend differentiates the model's `stateless_call` with the current
variable values: the forward pass of an attack never touches the model's
state, so an attack run in training mode (as adversarial training does) does
not move batch-norm statistics or the dropout seed. That also makes the
function safe inside a traced train step: under JAX, `compute_loss` runs in a
`StatelessScope` whose variable values are tracers of the outer `jax.grad`,
and `v.value` returns exactly those.

`input_gradient` is plain (no compilation) so it can be called inside a
train step that is already traced; `input_gradient_fn` compiles once for
attacks on many batches (tf.function / jax.jit; torch runs eagerly).

Attacks use the gradient as data. A gradient penalty (WGAN-GP) trains on it:
`differentiable_input_gradient` calls `fn` itself (inside a GAN step, with
the variables the step differentiates) and keeps the gradient differentiable
with respect to the weights `fn` uses, so the loss that contains it can be
differentiated a second time.
"""

import keras


def _values(model):
    """The current values of the model's variables (the traced ones inside a train step)."""
    return ([v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables])


def _forward_loss(model, loss_fn, trainable, non_trainable, x, y, training):
    y_pred, _ = model.stateless_call(trainable, non_trainable, x, training=training)
    return loss_fn(y, y_pred)


# --- TensorFlow: GradientTape ----------------------------------------------------

def _tensorflow(model, loss_fn, x, y, training=False):
    import tensorflow as tf

    x = tf.convert_to_tensor(x)
    trainable, non_trainable = _values(model)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = _forward_loss(model, loss_fn, trainable, non_trainable, x, y, training)
    return tape.gradient(loss, x)


def _tensorflow_differentiable(fn, x):
    import tensorflow as tf

    with tf.GradientTape() as tape:  # nested inside the step's tape: second order works
        tape.watch(x)
        y = fn(x)
    return tape.gradient(y, x)


def _tensorflow_fn(model, loss_fn, training=False):
    import tensorflow as tf

    traced = {}

    def gradient(x, y):
        x, y = tf.convert_to_tensor(x), tf.convert_to_tensor(y)
        key = (x.shape[1:], x.dtype, y.shape[1:], y.dtype)
        if key not in traced:
            # Traced once for any number of images (a batch dimension of None): an attack's
            # test set, its last batch, the PGD subset and the validation images are one
            # graph, not one trace each (one model's attacks in adversarial --quick: 0.73 s
            # against 1.24, reports/bench.md, "Figures").
            traced[key] = tf.function(
                lambda x, y: _tensorflow(model, loss_fn, x, y, training),
                input_signature=[tf.TensorSpec([None, *x.shape[1:]], x.dtype),
                                 tf.TensorSpec([None, *y.shape[1:]], y.dtype)])
        return traced[key](x, y)

    return gradient


# --- JAX: jax.grad over the stateless call ---------------------------------------

def _jax_grad(model, loss_fn, trainable, non_trainable, x, y, training):
    import jax

    def loss_of_x(x_):
        return _forward_loss(model, loss_fn, trainable, non_trainable, x_, y, training)

    return jax.grad(loss_of_x)(x)


def _jax(model, loss_fn, x, y, training=False):
    import jax.numpy as jnp

    trainable, non_trainable = _values(model)
    return _jax_grad(model, loss_fn, trainable, non_trainable, jnp.asarray(x), y, training)


def _jax_differentiable(fn, x):
    import jax
    import jax.numpy as jnp

    return jax.grad(lambda v: jnp.sum(fn(v)))(x)


def _jax_fn(model, loss_fn, training=False):
    import jax
    import jax.numpy as jnp

    # Variables are arguments, not constants, so the compiled function sees the
    # model's current weights on every call.
    compiled = jax.jit(lambda tv, ntv, x, y: _jax_grad(model, loss_fn, tv, ntv, x, y, training))

    def gradient(x, y):
        trainable, non_trainable = _values(model)
        return compiled(trainable, non_trainable, jnp.asarray(x), jnp.asarray(y))

    return gradient


# --- PyTorch: autograd -------------------------------------------------------------

def _torch(model, loss_fn, x, y, training=False):
    import torch

    x = keras.ops.convert_to_tensor(x).detach().clone().requires_grad_(True)
    y = keras.ops.convert_to_tensor(y)
    trainable, non_trainable = _values(model)
    # Keras evaluates under torch.no_grad(); an attack needs the graph anyway.
    with torch.enable_grad():
        loss = _forward_loss(model, loss_fn, trainable, non_trainable, x, y, training)
        # autograd.grad (not backward) leaves the weights' .grad untouched, so a
        # train step that later calls loss.backward() sees only its own gradients.
        (gradient,) = torch.autograd.grad(loss, [x])
    return gradient.detach()


def _torch_differentiable(fn, x):
    import torch

    x = x.detach().requires_grad_(True)
    y = fn(x)
    (grad,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    return grad


def _torch_fn(model, loss_fn, training=False):
    return lambda x, y: _torch(model, loss_fn, x, y, training)


# --- the interface -------------------------------------------------------------------

# {backend: (gradient, compiled gradient, differentiable gradient)}, chosen at each call
# as two_optimizers.py does (the backend is fixed for the process; the lookup is free).
_IMPLEMENTATIONS = {
    "tensorflow": (_tensorflow, _tensorflow_fn, _tensorflow_differentiable),
    "jax": (_jax, _jax_fn, _jax_differentiable),
    "torch": (_torch, _torch_fn, _torch_differentiable),
}


def _implementation(kind):
    return _IMPLEMENTATIONS[keras.backend.backend()][kind]


def input_gradient(model, loss_fn, x, y, training=False):
    """d loss_fn(y, model(x)) / d x, a backend tensor shaped like `x`.

    `loss_fn(y_true, y_pred)` must return a scalar (a Keras loss does).
    `training` picks the model's mode (batch norm, dropout) for the forward
    pass; the model's state is never updated. Plain (not compiled): safe to call
    inside a train step that the backend already traces.
    """
    return _implementation(0)(model, loss_fn, x, y, training)


def input_gradient_fn(model, loss_fn, training=False):
    """A compiled `(x, y) -> input_gradient(model, loss_fn, x, y, training)`.

    Build it once and call it on many batches: it reads the model's current
    weights at every call.
    """
    return _implementation(1)(model, loss_fn, training)


def differentiable_input_gradient(fn, x):
    """The gradient of sum(fn(x)) with respect to x, itself differentiable with
    respect to the weights `fn` uses (so a penalty on it can be trained).

    `fn` is called as it is (in a GAN step: the critic, with the variables the
    step differentiates); `x` is a backend tensor. On PyTorch the gradient is
    taken at a fresh leaf, a detached copy of `x`.
    """
    return _implementation(2)(fn, x)
