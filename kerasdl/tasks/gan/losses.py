"""The GAN objectives, in keras.ops: binary cross-entropy on logits (DCGAN) and the
Wasserstein loss with its gradient penalty (WGAN-GP).

    DCGAN     D: -log D(x) - log(1 - D(G(z)))     G: -log D(G(z))   (non-saturating)
    WGAN-GP   critic: E f(G(z)) - E f(x) + lambda E (||grad f(x_hat)||_2 - 1)^2
              generator: -E f(G(z))

x_hat are points on the lines between real and generated samples (Gulrajani
et al. 2017). The penalty's gradient with respect to the critic's input is the
one per-backend piece (`training.backends.input_gradient`); everything else
here is backend-neutral and used by `model.GAN`'s `discriminator_loss` and
`generator_loss`, which the per-backend steps differentiate.
"""

from keras import ops

from kerasdl.training.backends.input_gradient import differentiable_input_gradient

GRADIENT_PENALTY_WEIGHT = 10.0  # lambda of Gulrajani et al. (2017)


def bce_discriminator_loss(real_logits, fake_logits):
    """Binary cross-entropy with logits: real -> 1, fake -> 0, the two means added.
    softplus(-l) = -log sigmoid(l) and softplus(l) = -log(1 - sigmoid(l)), stably."""
    return ops.mean(ops.softplus(-real_logits)) + ops.mean(ops.softplus(fake_logits))


def bce_generator_loss(fake_logits):
    """The non-saturating generator loss: -log D(G(z)), i.e. BCE of fakes against 1."""
    return ops.mean(ops.softplus(-fake_logits))


def wasserstein_critic_loss(real_scores, fake_scores):
    """The critic maximises E[f(real)] - E[f(fake)]; as a loss, its negative."""
    return ops.mean(fake_scores) - ops.mean(real_scores)


def wasserstein_generator_loss(fake_scores):
    return -ops.mean(fake_scores)


def interpolate(real, fake, alpha):
    """Points on the lines between real and fake samples: real + alpha (fake - real);
    `alpha` has one value per sample, shape (N,)."""
    real, fake = ops.convert_to_tensor(real), ops.convert_to_tensor(fake)
    alpha = ops.reshape(ops.cast(alpha, real.dtype), (-1,) + (1,) * (len(real.shape) - 1))
    return ops.add(real, ops.multiply(alpha, ops.subtract(fake, real)))


def gradient_penalty(critic, real, fake, alpha):
    """mean over samples of (||d critic(x_hat) / d x_hat||_2 - 1)^2 at the interpolates.

    The penalty trains the critic only: `fake` should carry no gradient to the
    generator (the caller stops it), and on PyTorch the interpolates are a fresh
    leaf. The critic must not use batch statistics (no BatchNormalization): the
    penalty is defined per sample, as in the WGAN-GP paper.
    """
    x_hat = interpolate(real, fake, alpha)
    grads = differentiable_input_gradient(lambda x: critic(x, training=True), x_hat)
    grads = ops.reshape(grads, (ops.shape(grads)[0], -1))
    norms = ops.sqrt(ops.sum(ops.square(grads), axis=1) + 1e-12)
    return ops.mean(ops.square(norms - 1.0))
