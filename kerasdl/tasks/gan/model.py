"""GANs: the DCGAN generator and discriminator for 64x64 images, the 2-D MLPs, and
the `GAN` model whose `fit` trains both with two optimizers.

The DCGAN follows Radford et al. (2016), the architecture of the course:
the generator projects z to a 4x4 map and doubles it four times with 4x4
transposed convolutions (batch norm + ReLU, tanh out); the discriminator halves
the image four times with 4x4 strided convolutions (LeakyReLU 0.2, batch norm
after the first) and ends in one logit. Weights start from N(0, 0.02).
Images are in [-1, 1] (the tanh range). For WGAN-GP the critic uses layer norm
instead of batch norm: the gradient penalty is per sample (Gulrajani et al.).

`GAN.train_step` hands over to `kerasdl.training.backends.two_optimizers`,
the one place with per-backend code, which differentiates the model's own
`discriminator_loss` and `generator_loss`; their math (losses.py) is
`keras.ops` only.
"""

import keras
from keras import layers, ops

from kerasdl.errors import UserError
from kerasdl.tasks.gan import losses
from kerasdl.training.backends import two_optimizers

LOSSES = ("bce", "wasserstein")


def _init(seed=None):
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02, seed=seed)


def dcgan_generator(z_dim=100, image_shape=(64, 64, 3), width=64, seed=None, bn_momentum=0.99,
                    name="generator"):
    """z (z_dim,) -> image `image_shape` in [-1, 1]; `width` filters in the last hidden layer
    (8, 4, 2, 1 x width from the 4x4 map up; the DCGAN paper's 64x64 model has width 128).
    `bn_momentum`: batch norm's moving-average momentum, for the run's length
    (`kerasdl.training.fit.bn_momentum`): samples drawn in inference mode use the
    moving statistics, which must have forgotten their start by the end of training."""
    height, wide, channels = image_shape
    if height != wide or height % 16 or height < 16:
        raise UserError(f"image shape {image_shape}: the DCGAN needs square images whose side "
                        "is a multiple of 16 (e.g. 64x64)")
    if z_dim < 1 or width < 1:
        raise UserError(f"z_dim={z_dim}, width={width}: expected positive integers")
    start = height // 16
    # === Functional model ===
    z = keras.Input(shape=(z_dim,), name="z")
    x = layers.Dense(start * start * 8 * width, use_bias=False, kernel_initializer=_init(seed),
                     name="project")(z)
    x = layers.Reshape((start, start, 8 * width), name="project_reshape")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name="project_bn")(x)
    x = layers.ReLU(name="project_relu")(x)
    for k, mult in enumerate((4, 2, 1), 1):
        x = layers.Conv2DTranspose(mult * width, 4, strides=2, padding="same", use_bias=False,
                                   kernel_initializer=_init(seed), name=f"up{k}")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"up{k}_bn")(x)
        x = layers.ReLU(name=f"up{k}_relu")(x)
    images = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", activation="tanh",
                                    kernel_initializer=_init(seed), dtype="float32",
                                    name="image")(x)
    return keras.Model(z, images, name=name)


def dcgan_discriminator(image_shape=(64, 64, 3), width=64, norm="batch", seed=None,
                        bn_momentum=0.99, name="discriminator"):
    """image -> one logit (or critic score). `norm`: 'batch' (DCGAN), 'layer' (WGAN-GP
    critic) or 'none'; `bn_momentum` as in `dcgan_generator`."""
    if norm not in ("batch", "layer", "none"):
        raise UserError(f"norm={norm!r}: choose batch, layer or none")
    height = image_shape[0]
    if height % 16 or height < 16:
        raise UserError(f"image shape {image_shape}: the DCGAN needs a side that is a multiple of 16")
    # === Functional model ===
    images = keras.Input(shape=tuple(image_shape), name="images")
    x = images
    for k, mult in enumerate((1, 2, 4, 8), 1):
        x = layers.Conv2D(mult * width, 4, strides=2, padding="same", use_bias=(k == 1 or norm == "none"),
                          kernel_initializer=_init(seed), name=f"down{k}")(x)
        if k > 1 and norm == "batch":
            x = layers.BatchNormalization(momentum=bn_momentum, name=f"down{k}_bn")(x)
        elif k > 1 and norm == "layer":
            x = layers.LayerNormalization(axis=(1, 2, 3), name=f"down{k}_ln")(x)
        x = layers.LeakyReLU(0.2, name=f"down{k}_lrelu")(x)
    x = layers.Flatten(name="flatten")(x)
    logit = layers.Dense(1, kernel_initializer=_init(seed), dtype="float32", name="logit")(x)
    return keras.Model(images, logit, name=name)


def mlp_generator(z_dim=2, out_dim=2, hidden=(64, 64), name="generator"):
    """The 2-D GAN's generator: z -> ReLU layers -> a point (linear output)."""
    z = keras.Input(shape=(z_dim,), name="z")
    x = z
    for k, units in enumerate(hidden, 1):
        x = layers.Dense(units, activation="relu", name=f"dense{k}")(x)
    points = layers.Dense(out_dim, dtype="float32", name="points")(x)
    return keras.Model(z, points, name=name)


def mlp_discriminator(in_dim=2, hidden=(64, 64), name="discriminator"):
    """The 2-D GAN's discriminator: a point -> LeakyReLU layers -> one logit."""
    points = keras.Input(shape=(in_dim,), name="points")
    x = points
    for k, units in enumerate(hidden, 1):
        x = layers.Dense(units, name=f"dense{k}")(x)
        x = layers.LeakyReLU(0.2, name=f"dense{k}_lrelu")(x)
    logit = layers.Dense(1, dtype="float32", name="logit")(x)
    return keras.Model(points, logit, name=name)


def _has_batch_norm(model):
    return any(isinstance(layer, layers.BatchNormalization) for layer in model._flatten_layers())


@keras.saving.register_keras_serializable(package="kerasdl")
class GAN(keras.Model):
    """A generator and a discriminator trained together by `fit(real_images)`.

    loss='bce': the DCGAN objective on logits (non-saturating generator loss).
    loss='wasserstein': WGAN-GP; the discriminator is a critic updated `d_steps`
    times per generator step, with a gradient penalty of weight `gp_weight`.
    `compile(d_optimizer=..., g_optimizer=...)` takes the two optimizers.
    """

    def __init__(self, generator, discriminator, loss="bce", d_steps=1,
                 gp_weight=losses.GRADIENT_PENALTY_WEIGHT, seed=None, **kwargs):
        super().__init__(**kwargs)
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}. Received: loss={loss!r}")
        if int(d_steps) < 1:
            raise ValueError(f"d_steps must be >= 1. Received: d_steps={d_steps}")
        if loss == "wasserstein" and _has_batch_norm(discriminator):
            raise ValueError("a WGAN-GP critic must not use BatchNormalization (the gradient "
                             "penalty is per sample): use layer norm or none")
        # === Models ===
        self.generator = generator
        self.discriminator = discriminator
        # === Config ===
        self.loss_kind = loss
        self.d_steps = int(d_steps)
        self.gp_weight = float(gp_weight)
        self.seed = seed
        self.z_dim = int(generator.inputs[0].shape[-1])
        self.seed_generator = keras.random.SeedGenerator(seed)
        # === Metric trackers ===
        names = ["d_loss", "g_loss"] + (["d_real", "d_fake"] if loss == "bce"
                                         else ["wasserstein", "gradient_penalty"])
        self.trackers = {n: keras.metrics.Mean(name=n) for n in names}
        self._train_step = two_optimizers.train_step_function()
        self.built = True  # both parts are built functional models

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, z, training=False):
        return self.generator(z, training=training)

    def sample_z(self, n):
        return keras.random.normal((n, self.z_dim), seed=self.seed_generator)

    # --- the two objectives (backend-neutral; differentiated by two_optimizers) ---

    def discriminator_loss(self, real):
        n = ops.shape(real)[0]
        # The discriminator's update must not reach the generator.
        fake = ops.stop_gradient(self.generator(self.sample_z(n), training=True))
        real_out = self.discriminator(real, training=True)
        fake_out = self.discriminator(fake, training=True)
        if self.loss_kind == "bce":
            loss = losses.bce_discriminator_loss(real_out, fake_out)
            return loss, {"d_loss": loss, "d_real": ops.mean(ops.sigmoid(real_out)),
                          "d_fake": ops.mean(ops.sigmoid(fake_out))}
        alpha = keras.random.uniform((n,), seed=self.seed_generator)
        penalty = losses.gradient_penalty(self.discriminator, real, fake, alpha)
        loss = losses.wasserstein_critic_loss(real_out, fake_out) + self.gp_weight * penalty
        return loss, {"d_loss": loss, "wasserstein": ops.mean(real_out) - ops.mean(fake_out),
                      "gradient_penalty": penalty}

    def generator_loss(self, batch_size):
        fake_out = self.discriminator(self.generator(self.sample_z(batch_size), training=True),
                                      training=True)
        if self.loss_kind == "bce":
            loss = losses.bce_generator_loss(fake_out)
        else:
            loss = losses.wasserstein_generator_loss(fake_out)
        return loss, {"g_loss": loss}

    def record(self, logs):
        for name, value in logs.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    # --- training ---

    def compile(self, d_optimizer=None, g_optimizer=None, **kwargs):
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        pair = two_optimizers.optimizer_pair(self.d_optimizer, self.g_optimizer,
                                             self.generator.trainable_variables)
        super().compile(optimizer=pair, **kwargs)
        pair.build(self.trainable_variables)  # builds both, each on its own model's weights

    def train_step(self, *args):
        return self._train_step(self, *args)

    # --- saving ---

    def get_config(self):
        config = super().get_config()
        config.update({
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "loss": self.loss_kind, "d_steps": self.d_steps, "gp_weight": self.gp_weight,
            "seed": self.seed,
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for part in ("generator", "discriminator"):
            config[part] = keras.saving.deserialize_keras_object(config[part])
        return cls(**config)

    def get_compile_config(self):
        if not getattr(self, "compiled", False):
            return {}
        return {"d_optimizer": keras.saving.serialize_keras_object(self.d_optimizer),
                "g_optimizer": keras.saving.serialize_keras_object(self.g_optimizer)}

    def compile_from_config(self, config):
        self.compile(**{k: keras.saving.deserialize_keras_object(v) for k, v in config.items()})
