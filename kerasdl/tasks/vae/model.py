"""A convolutional variational autoencoder (Kingma & Welling 2014).

    encoder  pixels -> rescale to [0, 1] -> stride-2 convs -> dense -> (z_mean, z_log_var)
    Sampler  z = z_mean + exp(z_log_var / 2) * eps,   eps ~ N(0, I)   (the reparameterisation)
    decoder  z -> dense -> stride-2 transposed convs -> pixel logits (Bernoulli decoder)

The `VAE` model overrides `compute_loss`, which every backend's trainer calls
inside its own gradient step, so one `fit` works on TensorFlow, JAX and PyTorch:

    loss = reconstruction + beta * KL,   per image, averaged over the batch
    reconstruction = sum over pixels of BCE(x, sigmoid(logits))      (-log p(x|z))
    KL = -1/2 sum_j (1 + log s_j^2 - m_j^2 - s_j^2)                  (KL(q(z|x) || N(0, I)))

With beta = 1 the loss is the negative ELBO in nats per image. The encoder
takes the data set's own pixel values (uint8 0-255, or its value range) and
rescales inside the model, so a saved model encodes the same arrays it was
trained on; the decoder returns logits and `VAE.decode` their sigmoid, images
in [0, 1].
"""

import math

import keras
from keras import layers, ops

from kerasdl.errors import UserError


@keras.saving.register_keras_serializable(package="kerasdl")
class Sampler(layers.Layer):
    """Draws z ~ N(z_mean, exp(z_log_var)) with the reparameterisation trick.

    The noise comes from the layer's own `SeedGenerator`: seeded runs repeat,
    and the generator's state is a variable the trainers carry through `fit`.
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        eps = keras.random.normal(ops.shape(z_mean), dtype=z_mean.dtype, seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def _spatial_sizes(size, stages):
    """Sizes after each stride-2 'same' conv: 28 -> [28, 14, 7]."""
    sizes = [size]
    for _ in range(stages):
        sizes.append(math.ceil(sizes[-1] / 2))
    return sizes


def check_shape(input_shape, filters):
    """UserError unless the images are big enough for len(filters) stride-2 convs."""
    if len(input_shape) != 3:
        raise UserError(f"the VAE needs images (H, W, C); received input shape {tuple(input_shape)}")
    if not filters or any(f <= 0 for f in filters):
        raise UserError(f"filters={filters!r}: expected positive filter counts, e.g. 32,64")
    if min(input_shape[:2]) < 2 ** len(filters):
        raise UserError(f"images of {input_shape[0]}x{input_shape[1]} are too small for "
                        f"{len(filters)} stride-2 convolutions: use fewer filters")


def build_encoder(input_shape, latent_dim, filters=(32, 64), hidden=256, value_range=(0, 255),
                  name="encoder"):
    """Pixels (H, W, C) -> [z_mean, z_log_var], each (latent_dim,)."""
    check_shape(input_shape, filters)
    if latent_dim < 1:
        raise UserError(f"latent_dim={latent_dim}: expected at least 1")
    lo, hi = value_range
    # === Functional model ===
    inputs = keras.Input(shape=tuple(input_shape), name="pixels")
    x = layers.Rescaling(1.0 / (hi - lo), offset=-lo / (hi - lo), name="rescale")(inputs)
    for k, width in enumerate(filters, 1):
        x = layers.Conv2D(width, 3, strides=2, padding="same", activation="relu", name=f"conv{k}")(x)
    x = layers.Flatten(name="flatten")(x)
    if hidden:
        x = layers.Dense(hidden, activation="relu", name="hidden")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    return keras.Model(inputs, [z_mean, z_log_var], name=name)


def build_decoder(output_shape, latent_dim, filters=(32, 64), hidden=256, name="decoder"):
    """z (latent_dim,) -> pixel logits (H, W, C): the encoder mirrored.

    Encoder conv k maps filters[k-1] -> filters[k] channels and halves the
    image; decoder transposed conv k maps them back and doubles it, the last
    one straight to the image's channels. Sizes that are not powers of two
    (28 -> 14 -> 7 -> 14 -> 28 works; 30 -> ... -> 32) are cropped at the end.
    """
    check_shape(output_shape, filters)
    height, width, channels = output_shape
    hs, ws = _spatial_sizes(height, len(filters)), _spatial_sizes(width, len(filters))
    # === Functional model ===
    inputs = keras.Input(shape=(latent_dim,), name="z")
    x = inputs
    if hidden:
        x = layers.Dense(hidden, activation="relu", name="hidden")(x)
    x = layers.Dense(hs[-1] * ws[-1] * filters[-1], activation="relu", name="expand")(x)
    x = layers.Reshape((hs[-1], ws[-1], filters[-1]), name="reshape")(x)
    crop_h, crop_w = (hs[-1] << len(filters)) - height, (ws[-1] << len(filters)) - width
    widths = [channels, *filters[:-1]]
    for k in range(len(filters), 0, -1):
        last = k == 1
        x = layers.Conv2DTranspose(widths[k - 1], 3, strides=2, padding="same",
                                   activation=None if last else "relu",
                                   name="logits" if last and not (crop_h or crop_w) else f"deconv{k}")(x)
    if crop_h or crop_w:
        x = layers.Cropping2D(((0, crop_h), (0, crop_w)), name="logits")(x)
    return keras.Model(inputs, x, name=name)


def kl_divergence(z_mean, z_log_var):
    """KL(N(m, exp(log_var)) || N(0, I)) per example, summed over latent dimensions.

    Arrays or tensors of any backend in, a backend tensor out: every step is a
    keras.ops call (a numpy array minus a torch tensor would fail)."""
    z_mean, z_log_var = ops.convert_to_tensor(z_mean), ops.convert_to_tensor(z_log_var)
    terms = ops.subtract(ops.subtract(ops.add(1.0, z_log_var), ops.square(z_mean)), ops.exp(z_log_var))
    return ops.multiply(-0.5, ops.sum(terms, axis=-1))


def reconstruction_loss(target, logits):
    """-log p(x|z) of a Bernoulli decoder per example: BCE with logits summed over pixels.

    Written out (max(l, 0) - l*x + log(1 + exp(-|l|))) so it is stable for any
    logit and takes targets anywhere in [0, 1], not only 0/1.
    """
    logits, target = ops.convert_to_tensor(logits), ops.convert_to_tensor(target)
    per_pixel = ops.add(ops.subtract(ops.relu(logits), ops.multiply(logits, target)),
                        ops.log1p(ops.exp(ops.negative(ops.abs(logits)))))
    return ops.sum(ops.reshape(per_pixel, (ops.shape(per_pixel)[0], -1)), axis=-1)


@keras.saving.register_keras_serializable(package="kerasdl")
class VAE(keras.Model):
    """encoder -> Sampler -> decoder, trained by `fit` on images alone (no labels).

    `call` returns a dict: `z_mean`, `z_log_var`, `z` (a sample) and `logits`
    of the reconstruction. `encode` gives latent means, `decode` images in [0, 1],
    `reconstruct` both in turn (deterministic: it decodes the means).
    """

    def __init__(self, encoder, decoder, beta=1.0, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(**kwargs)
        if beta < 0:
            raise UserError(f"beta={beta}: the KL weight must be >= 0")
        self.encoder = encoder
        self.decoder = decoder
        self.beta = float(beta)
        self.value_range = tuple(float(v) for v in value_range)
        self.seed = seed
        # === Layers ===
        self.sampler = Sampler(seed=seed, name="sampler")
        # === Metric trackers (what fit's logs and history show) ===
        self.total_loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    def build(self, input_shape=None):
        # The encoder and decoder are functional models, built when they were made;
        # the sampler holds no weights (its seed state exists from __init__).
        self.built = True

    @property
    def latent_dim(self):
        return int(self.decoder.inputs[0].shape[-1])

    def call(self, inputs, training=False):
        z_mean, z_log_var = self.encoder(inputs, training=training)
        z = self.sampler([z_mean, z_log_var])
        logits = self.decoder(z, training=training)
        return {"z_mean": z_mean, "z_log_var": z_log_var, "z": z, "logits": logits}

    def scale(self, x):
        """Pixels in the data set's value range -> targets in [0, 1]."""
        lo, hi = self.value_range
        return ops.clip((ops.cast(x, "float32") - lo) / (hi - lo), 0.0, 1.0)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        del y, sample_weight, training  # unsupervised: the image is its own target
        reconstruction = reconstruction_loss(self.scale(x), ops.cast(y_pred["logits"], "float32"))
        kl = kl_divergence(ops.cast(y_pred["z_mean"], "float32"),
                           ops.cast(y_pred["z_log_var"], "float32"))
        total = reconstruction + self.beta * kl
        # Per-example vectors: a smaller last batch counts by its size.
        self.total_loss_tracker.update_state(total)
        self.reconstruction_loss_tracker.update_state(reconstruction)
        self.kl_loss_tracker.update_state(kl)
        return ops.mean(total)

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    # --- inference helpers (numpy in, numpy out) -----------------------------
    def encode(self, x, batch_size=256):
        """Latent means and log-variances of images `x`: two (N, latent_dim) arrays."""
        z_mean, z_log_var = self.encoder.predict(x, batch_size=batch_size, verbose=0)
        return z_mean, z_log_var

    def decode(self, z, batch_size=256):
        """Images in [0, 1], (N, H, W, C), from latent codes `z`."""
        logits = self.decoder.predict(z, batch_size=batch_size, verbose=0)
        return ops.convert_to_numpy(ops.sigmoid(logits))

    def reconstruct(self, x, batch_size=256):
        return self.decode(self.encode(x, batch_size)[0], batch_size)

    # === Config ===
    def get_config(self):
        config = super().get_config()
        config.update({
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
            "beta": self.beta,
            "value_range": list(self.value_range),
            "seed": self.seed,
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        config["decoder"] = keras.saving.deserialize_keras_object(config["decoder"])
        return cls(**config)


def vae(input_shape, latent_dim=16, filters=(32, 64), hidden=256, beta=1.0, value_range=(0, 255),
        seed=None, name="vae"):
    """The builder: plain values in, an uncompiled, built `VAE` out."""
    encoder = build_encoder(input_shape, latent_dim, filters, hidden, value_range)
    decoder = build_decoder(input_shape, latent_dim, filters, hidden)
    model = VAE(encoder, decoder, beta=beta, value_range=value_range, seed=seed, name=name)
    model.build((None, *input_shape))
    return model
