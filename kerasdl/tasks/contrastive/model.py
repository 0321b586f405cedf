"""The encoder, the projection head, and the two ways of training them without a classifier.

    encoder  pixels -> rescale to [0, 1] -> VGG-style conv blocks (classifiers.conv_block)
             -> global average pooling: the embedding h, what every evaluation uses
    head     h -> Dense -> BN -> ReLU -> Dense: the projection z the loss sees

`SimCLR` and `TripletEncoder` override `compute_loss`, which every backend's
trainer calls inside its own gradient step, so one `fit` trains them on
TensorFlow, JAX and PyTorch. Their `call` does what the step needs in the
forward pass (augmented views; for random triplets, the noise that picks them),
so every random draw comes from a layer's `SeedGenerator` that the trainers
carry through `fit`.
"""

import keras
from keras import layers, ops

from kerasdl.errors import UserError
from kerasdl.models import classifiers
from kerasdl.tasks.contrastive import losses


def build_encoder(input_shape, widths=(32, 64, 128), convs_per_block=2, value_range=(0, 255),
                  bn_momentum=0.99, name="encoder"):
    """Pixels (H, W, C) -> embedding (widths[-1],): the classify CNN without its classifier."""
    if min(input_shape[0], input_shape[1]) < 2 ** len(widths):
        raise UserError(f"images of {input_shape[0]}x{input_shape[1]} are too small for "
                        f"{len(widths)} pooling blocks: use fewer widths")
    # === Functional model ===
    inputs, x = classifiers.inputs_and_preprocessing(input_shape, value_range, None, None, name)
    for k, filters in enumerate(widths, 1):
        x = classifiers.conv_block(x, filters, convs_per_block, name=f"block{k}",
                                   bn_momentum=bn_momentum)
    outputs = layers.GlobalAveragePooling2D(name="embedding", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


def build_head(input_dim, hidden=256, output_dim=128, bn_momentum=0.99, name="head"):
    """h -> z: SimCLR's projection head (Dense -> BN -> ReLU -> Dense), in float32 at its end."""
    inputs = keras.Input(shape=(input_dim,), name="embedding")
    x = layers.Dense(hidden, use_bias=False, name="hidden")(inputs)
    x = layers.BatchNormalization(momentum=bn_momentum, name="hidden_bn")(x)
    x = layers.ReLU(name="hidden_relu")(x)
    outputs = layers.Dense(output_dim, dtype="float32", name="projection")(x)
    return keras.Model(inputs, outputs, name=name)


def set_bn_momentum(model, momentum):
    """Every batch norm layer of `model` (at any depth) forgets with `momentum`
    (training.fit.bn_momentum: a short fine-tuning run must forget the old statistics)."""
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = momentum


@keras.saving.register_keras_serializable(package="kerasdl")
class NoiseLike(layers.Layer):
    """Uniform noise (N, N) for a batch of N: what picks random triplets, from the layer's
    own SeedGenerator (a draw in `compute_loss` would not advance the JAX trainer's state)."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x):
        n = ops.shape(x)[0]
        return keras.random.uniform((n, n), seed=self.seed_generator)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


class _Trainer(keras.Model):
    """What both objectives share: an encoder, a head, an augmenter, a loss tracker."""

    def __init__(self, encoder, head, augmenter, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.head, self.augmenter = encoder, head, augmenter
        # === Metric trackers (what fit's logs and history show) ===
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def build(self, input_shape=None):
        # encoder and head are functional models, built when made; the augmenter holds no weights.
        self.built = True

    def embed(self, x, batch_size=256):
        """Embeddings h of images `x` (numpy in, numpy out), no augmentation."""
        return self.encoder.predict(x, batch_size=batch_size, verbose=0)


class SimCLR(_Trainer):
    """Two augmented views of each image through one encoder and head; loss NT-Xent.

    `call` returns {"z1", "z2"}, the projections of the two views; both views go
    through the encoder as one batch of 2N, so batch norm sees them together.
    """

    def __init__(self, encoder, head, augmenter, temperature=0.5, **kwargs):
        super().__init__(encoder, head, augmenter, **kwargs)
        self.temperature = float(temperature)
        self.accuracy_tracker = keras.metrics.Mean(name="pair_accuracy")

    def call(self, x, training=False):
        x = ops.cast(x, "float32")
        # The views are random whatever `training` says: a loss on un-augmented views
        # (validation) would compare each image with itself.
        views = ops.concatenate([self.augmenter(x, training=True),
                                 self.augmenter(x, training=True)], axis=0)
        z = self.head(self.encoder(views, training=training), training=training)
        z1, z2 = ops.split(z, 2, axis=0)
        return {"z1": z1, "z2": z2}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        del x, y, sample_weight, training  # unsupervised: each image is its own class
        loss, accuracy = losses.nt_xent(y_pred["z1"], y_pred["z2"], self.temperature,
                                        return_accuracy=True)
        self.loss_tracker.update_state(loss)
        self.accuracy_tracker.update_state(accuracy)
        return loss

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker]


MINING = ("random", "batch_hard", "batch_all")


class TripletEncoder(_Trainer):
    """One augmented view of each labelled image; triplet margin loss on unit-length
    projections, the triplets random (`mining="random"`), batch-hard or batch-all (see losses)."""

    def __init__(self, encoder, head, augmenter, margin=0.5, mining="batch_hard", seed=None,
                 **kwargs):
        super().__init__(encoder, head, augmenter, **kwargs)
        if mining not in MINING:
            raise ValueError(f"mining must be one of {MINING}. Received: mining={mining!r}")
        self.margin, self.mining = float(margin), mining
        self.noise = NoiseLike(seed=seed, name="triplet_noise")

    def call(self, x, training=False):
        x = ops.cast(x, "float32")
        z = self.head(self.encoder(self.augmenter(x, training=training), training=training),
                      training=training)
        return {"z": z, "noise": self.noise(x)}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        del x, sample_weight, training
        if self.mining == "random":
            loss = losses.random_triplet_loss(y_pred["z"], y, self.margin, y_pred["noise"])
        elif self.mining == "batch_all":
            loss = losses.batch_all_triplet_loss(y_pred["z"], y, self.margin)
        else:
            loss = losses.batch_hard_triplet_loss(y_pred["z"], y, self.margin)
        self.loss_tracker.update_state(loss)
        return loss

    @property
    def metrics(self):
        return [self.loss_tracker]
