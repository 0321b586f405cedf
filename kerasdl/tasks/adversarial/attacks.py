"""Adversarial attacks on image classifiers: FGSM and PGD, in keras.ops.

    FGSM  x_adv = clip(x + eps * sign(grad_x L(x, y)))                       (Goodfellow et al. 2015)
    PGD   x_0 = clip(x + U(-eps, eps));  x_{k+1} = P(x_k + alpha * sign(grad_x L(x_k, y)))
          where P projects onto the eps-ball around x and the pixel range    (Madry et al. 2018)

Pixels live in `value_range` (the model's input scale, [0, 1] by default)
and eps is measured in that scale. The gradient with respect to the input
comes from `kerasdl.training.backends.input_gradient`, the one per-backend
piece; everything else here is backend-neutral.

The step functions (`fgsm_step`, `pgd_steps`, `random_start`, `project`)
take a gradient function `grad_fn(x, y)`, so the same code runs inside a
traced train step (adversarial training) and in an evaluation loop.
"""

import numpy as np
import keras
from keras import ops

from kerasdl.errors import UserError
from kerasdl.training.backends.input_gradient import input_gradient_fn


def crossentropy(y_true, y_pred):
    """Summed cross-entropy of integer labels under predicted probabilities.

    Keras's own loss clips probabilities to [1e-7, 1 - 1e-7]; the upper clip
    zeroes the gradient of every confident prediction, and FGSM would leave
    those images untouched (gradient masking by saturation, and on JAX/PyTorch
    only: TensorFlow's Keras loss recovers the logits). Here only the lower end
    is floored. Summed, not averaged, so each image's gradient does not shrink
    with the batch size.
    """
    y_pred = ops.cast(y_pred, "float32")
    labels = ops.reshape(ops.cast(y_true, "int32"), (-1, 1))
    p_true = ops.take_along_axis(y_pred, labels, axis=-1)
    return -ops.sum(ops.log(ops.maximum(p_true, 1e-30)))


def _check(epsilon, value_range):
    if not epsilon >= 0:
        raise UserError(f"epsilon={epsilon!r}: expected a perturbation size >= 0 (pixel scale)")
    lo, hi = value_range
    if not hi > lo:
        raise UserError(f"value_range={value_range!r}: expected (low, high) with low < high")


def project(x_adv, x, epsilon, value_range=(0.0, 1.0)):
    """Clip `x_adv` to the L-infinity ball of radius eps around `x`, then to the pixel range."""
    lo, hi = value_range
    x_adv, x = ops.convert_to_tensor(x_adv), ops.convert_to_tensor(x)
    x_adv = ops.clip(x_adv, x - epsilon, x + epsilon)
    return ops.clip(x_adv, lo, hi)


def random_start(x, epsilon, seed=None, value_range=(0.0, 1.0)):
    """x + U(-eps, eps) per pixel, inside the pixel range (`seed`: int or SeedGenerator).

    `epsilon` may be a tensor (the warm-up's eps inside a train step): the noise is drawn
    in [-1, 1] and scaled, the same numbers as drawing in [-eps, eps]."""
    x = ops.convert_to_tensor(x)
    noise = epsilon * keras.random.uniform(ops.shape(x), minval=-1.0, maxval=1.0, seed=seed,
                                           dtype=x.dtype)
    return project(x + noise, x, epsilon, value_range)


def fgsm_from_gradient(x, gradient, epsilon, value_range=(0.0, 1.0)):
    """The FGSM image for a gradient already computed (one gradient serves every eps)."""
    lo, hi = value_range
    x, gradient = ops.convert_to_tensor(x), ops.convert_to_tensor(gradient)
    return ops.clip(x + epsilon * ops.sign(gradient), lo, hi)


def fgsm_step(grad_fn, x, y, epsilon, value_range=(0.0, 1.0)):
    """One signed-gradient step of size eps from `x` (the whole FGSM attack)."""
    return fgsm_from_gradient(x, grad_fn(x, y), epsilon, value_range)


def pgd_steps(grad_fn, x, y, epsilon, alpha, steps, start, value_range=(0.0, 1.0)):
    """`steps` signed-gradient steps of size alpha from `start`, each projected
    back to the eps-ball around `x` and the pixel range."""
    x_adv = start
    for _ in range(steps):
        x_adv = project(x_adv + alpha * ops.sign(grad_fn(x_adv, y)), x, epsilon, value_range)
    return x_adv


# --- attacks on a model --------------------------------------------------------------

def _prepare(model, x, y, epsilon, value_range, loss, training, grad_fn):
    _check(epsilon, value_range)
    x = ops.convert_to_tensor(np.asarray(x, dtype="float32") if isinstance(x, np.ndarray) else x)
    y = ops.convert_to_tensor(y)
    grad_fn = grad_fn or input_gradient_fn(model, loss or crossentropy, training=training)
    return x, y, grad_fn


def fgsm(model, x, y, epsilon, value_range=(0.0, 1.0), loss=None, training=False, grad_fn=None):
    """Fast Gradient Sign Method: x + eps * sign(grad_x loss), clipped to the pixel range.

    `loss(y_true, y_pred)` defaults to `crossentropy`; `grad_fn(x, y)` (from
    `input_gradient_fn`) may be passed to reuse one compiled gradient.
    """
    x, y, grad_fn = _prepare(model, x, y, epsilon, value_range, loss, training, grad_fn)
    return fgsm_step(grad_fn, x, y, epsilon, value_range)


def pgd(model, x, y, epsilon, steps=10, alpha=None, random_init=True, seed=None,
        value_range=(0.0, 1.0), loss=None, training=False, grad_fn=None):
    """Projected gradient descent (L-infinity): `steps` steps of size `alpha`
    (default 2.5 * eps / steps, Madry et al.), from a random point of the
    eps-ball when `random_init`."""
    if steps < 1:
        raise UserError(f"steps={steps!r}: PGD needs at least one step")
    x, y, grad_fn = _prepare(model, x, y, epsilon, value_range, loss, training, grad_fn)
    alpha = 2.5 * epsilon / steps if alpha is None else alpha
    start = random_start(x, epsilon, seed, value_range) if random_init else x
    return pgd_steps(grad_fn, x, y, epsilon, alpha, steps, start, value_range)


def attack_predictions(model, x, y, attack, epsilons, batch_size=256, value_range=(0.0, 1.0),
                       keep=0, steps=10, alpha=None, seed=None, progress=None, grad_fn=None):
    """Predicted classes under `attack` ('fgsm' or 'pgd') for each eps, batch by batch.

    Returns ({eps: int array of predictions}, {eps: the first `keep` adversarial
    images}). FGSM computes one gradient per batch and reuses it for every eps.
    `progress`: an optional wrapper of the batch iterator (a progress bar).
    `grad_fn`: the model's `input_gradient_fn` (crossentropy, inference mode), to compile
    it once for several attacks on one model.
    """
    if attack not in ("fgsm", "pgd"):
        raise UserError(f"attack={attack!r}: choose fgsm or pgd")
    for eps in epsilons:
        _check(eps, value_range)
    grad_fn = grad_fn or input_gradient_fn(model, crossentropy, training=False)
    seed = seed if seed is None or isinstance(seed, keras.random.SeedGenerator) \
        else keras.random.SeedGenerator(seed)
    preds = {eps: [] for eps in epsilons}
    kept = {eps: [] for eps in epsilons}
    starts = range(0, len(x), batch_size)
    for start in (progress(starts) if progress else starts):
        xb = ops.convert_to_tensor(np.asarray(x[start:start + batch_size], dtype="float32"))
        yb = ops.convert_to_tensor(np.asarray(y[start:start + batch_size]))
        gradient = grad_fn(xb, yb) if attack == "fgsm" else None
        for eps in epsilons:
            if attack == "fgsm":
                x_adv = fgsm_from_gradient(xb, gradient, eps, value_range)
            else:
                x_adv = pgd(model, xb, yb, eps, steps=steps, alpha=alpha, seed=seed,
                            value_range=value_range, grad_fn=grad_fn)
            # A plain call, not predict_on_batch: the last batch's other size would
            # make TensorFlow retrace its predict function.
            preds[eps].append(np.argmax(ops.convert_to_numpy(model(x_adv, training=False)), axis=-1))
            x_adv = ops.convert_to_numpy(x_adv)
            have = sum(len(k) for k in kept[eps])
            if have < keep:
                kept[eps].append(x_adv[:keep - have])
    preds = {eps: np.concatenate(p) for eps, p in preds.items()}
    kept = {eps: (np.concatenate(k) if k else np.zeros((0,) + tuple(x.shape[1:]), "float32"))
            for eps, k in kept.items()}
    return preds, kept
