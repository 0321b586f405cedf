"""A GAN's training step: two models, two optimizers, one `fit`.

Keras has no backend-neutral way to update two sets of weights with two
optimizers in one step. This module holds exactly that: the step, one small
function per backend picked once by `keras.backend.backend()`, and the one
optimizer that holds both for `fit`:

    train_step_function()          -> step(model, data) on TensorFlow and PyTorch,
                                      step(model, state, data) on JAX (stateless)
    optimizer_pair(d, g, g_vars)   -> the one optimizer `fit` sees, owning both

The losses are not here: each step differentiates the model's own
`discriminator_loss(real)` / `generator_loss(batch_size)`, backend-neutral
`keras.ops` code of the model (the GAN task's losses.py). A model handed to a
step provides:

    generator, discriminator        keras models
    d_optimizer, g_optimizer        keras optimizers (both built)
    d_steps                         discriminator (critic) updates per generator update
    discriminator_loss(real)        -> (loss, logs dict); samples its own noise
    generator_loss(batch_size)      -> (loss, logs dict)
    record(logs)                    -> updates the metric trackers, returns their results

One `fit` batch is `d_steps` discriminator updates on that batch (fresh noise
each time) followed by one generator update, as in the keras-io WGAN-GP example.
"""

import keras
from keras import ops


# --------------------------------------------------------------------------- train steps


def real_batch(data):
    """fit(x) hands the step `x`, `(x,)` or `(x, y)`: the real images are the first."""
    while isinstance(data, (tuple, list)):
        data = data[0]
    return data


def _tensorflow_step(model, data):
    import tensorflow as tf

    real = real_batch(data)
    d_vars = model.discriminator.trainable_variables
    g_vars = model.generator.trainable_variables
    for _ in range(model.d_steps):
        with tf.GradientTape() as tape:
            d_loss, d_logs = model.discriminator_loss(real)
        model.d_optimizer.apply(tape.gradient(d_loss, d_vars), d_vars)
    with tf.GradientTape() as tape:
        g_loss, g_logs = model.generator_loss(ops.shape(real)[0])
    model.g_optimizer.apply(tape.gradient(g_loss, g_vars), g_vars)
    return model.record({**d_logs, **g_logs})


def _torch_step(model, data):
    import torch

    real = real_batch(data)
    d_vars = model.discriminator.trainable_variables
    g_vars = model.generator.trainable_variables
    for _ in range(model.d_steps):
        model.zero_grad()
        d_loss, d_logs = model.discriminator_loss(real)
        d_loss.backward()
        with torch.no_grad():
            model.d_optimizer.apply([v.value.grad for v in d_vars], d_vars)
    model.zero_grad()  # the generator's loss also fills the discriminator's .grad
    g_loss, g_logs = model.generator_loss(ops.shape(real)[0])
    g_loss.backward()
    with torch.no_grad():
        model.g_optimizer.apply([v.value.grad for v in g_vars], g_vars)
    return model.record({**d_logs, **g_logs})


def _positions(variables, subset):
    where = {id(v): i for i, v in enumerate(variables)}
    return [where[id(v)] for v in subset]


def _jax_layout(model):
    """Where the generator's and discriminator's weights and optimizer slots sit in
    the flat lists of the JAX trainer's state (computed once, in Python)."""
    layout = getattr(model, "_two_optimizer_layout", None)
    if layout is None:
        opt_vars = model.optimizer.variables
        layout = {
            "d": _positions(model.trainable_variables, model.discriminator.trainable_variables),
            "g": _positions(model.trainable_variables, model.generator.trainable_variables),
            "d_opt": _positions(opt_vars, model.d_optimizer.variables),
            "g_opt": _positions(opt_vars, model.g_optimizer.variables),
        }
        model._two_optimizer_layout = layout
    return layout


def _jax_step(model, state, data):
    import jax

    trainable, non_trainable, opt_values, metric_values = (list(s) for s in state)
    real = real_batch(data)
    layout = _jax_layout(model)

    def put(values, positions, new):
        values = list(values)
        for i, v in zip(positions, new):
            values[i] = v
        return values

    def scoped_loss(own, trainable, non_trainable, part):
        """The model's loss with the variables bound to traced values; also returns
        the non-trainable variables it updated (batch-norm statistics, seeds)."""
        trainable = put(trainable, layout[part], own)
        mapping = list(zip(model.trainable_variables, trainable))
        mapping += list(zip(model.non_trainable_variables, non_trainable))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            if part == "d":
                loss, logs = model.discriminator_loss(real)
            else:
                loss, logs = model.generator_loss(real.shape[0])
        updated = [scope.get_current_value(v) for v in model.non_trainable_variables]
        non_trainable = [u if u is not None else v for u, v in zip(updated, non_trainable)]
        return loss, (logs, non_trainable)

    def update(part, optimizer, trainable, non_trainable, opt_values):
        own = [trainable[i] for i in layout[part]]
        own_opt = [opt_values[i] for i in layout[f"{part}_opt"]]
        grad_fn = jax.value_and_grad(lambda *a: scoped_loss(*a, part), has_aux=True)
        (_, (logs, non_trainable)), grads = grad_fn(own, trainable, non_trainable)
        own, own_opt = optimizer.stateless_apply(own_opt, grads, own)
        return (put(trainable, layout[part], own), non_trainable,
                put(opt_values, layout[f"{part}_opt"], own_opt), logs)

    for _ in range(model.d_steps):
        trainable, non_trainable, opt_values, d_logs = update(
            "d", model.d_optimizer, trainable, non_trainable, opt_values)
    trainable, non_trainable, opt_values, g_logs = update(
        "g", model.g_optimizer, trainable, non_trainable, opt_values)

    with keras.StatelessScope(state_mapping=list(zip(model.metrics_variables, metric_values))) as scope:
        logs = model.record({**d_logs, **g_logs})
    metric_values = [scope.get_current_value(v) if scope.get_current_value(v) is not None else m
                     for v, m in zip(model.metrics_variables, metric_values)]
    return logs, (trainable, non_trainable, opt_values, metric_values)


_STEPS = {"tensorflow": _tensorflow_step, "jax": _jax_step, "torch": _torch_step}


def train_step_function():
    """The step for the backend Keras runs on (chosen once, when the model is built)."""
    return _STEPS[keras.backend.backend()]


def optimizer_pair(d_optimizer, g_optimizer, generator_variables):
    """One Keras optimizer that owns both: `fit` (on JAX: its stateless state) sees
    `model.optimizer`, so both optimizers' slots must live under it. The steps
    above call `d_optimizer` and `g_optimizer` directly."""
    g_ids = {id(v) for v in generator_variables}
    return keras.optimizers.MultiOptimizer(
        lambda v: g_optimizer if id(v) in g_ids else d_optimizer, name="gan_optimizers")
