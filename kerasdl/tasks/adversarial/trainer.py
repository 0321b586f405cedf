"""FGSM adversarial training: a classifier that trains on clean + adversarial batches.

`AdversarialTrainer` wraps any Keras classifier (probabilities out, inputs in
`value_range`). Each step it builds the FGSM batch of the current weights on
the fly and minimises

    (1 - adv_weight) * L(x, y) + adv_weight * L(x_adv, y)

(Goodfellow, Shlens, Szegedy 2015, the course's recipe with adv_weight = 0.5).
With `random_start=True` the attack is the random-start FGSM of "Fast is
better than free" (Wong, Rice, Kolter 2020): x + U(-eps, eps), one signed step
of size alpha = 1.25 * eps, projected back to the eps-ball — the cheap fix for
the "catastrophic overfitting" that plain FGSM training can fall into.

Only `compute_loss` is overridden, which the trainer of every backend calls:
the input gradient it needs comes from `training.backends.input_gradient`, which
differentiates the model's `stateless_call` — under JAX the values it reads
are the tracers of the trainer's own `jax.grad`, so nothing leaks out of the
trace, and the attack's forward pass never moves batch-norm statistics.
Evaluation (`evaluate`, validation in `fit`) attacks too, in inference mode,
so `val_adv_accuracy` is the FGSM accuracy on the validation data.
"""

import keras
from keras import ops

from kerasdl.errors import UserError
from kerasdl.tasks.adversarial.attacks import crossentropy, fgsm_step, project, random_start
from kerasdl.training.backends.input_gradient import input_gradient


@keras.saving.register_keras_serializable(package="kerasdl")
class AdversarialTrainer(keras.Model):
    """`classifier` trained on clean and FGSM examples; predicts like `classifier`.

    Args:
        classifier: a Keras model mapping images in `value_range` to class probabilities.
        epsilon: the attack's L-infinity radius, in the pixel scale of `value_range`.
        adv_weight: share of the adversarial loss in the objective (0.5: equal mix).
        random_start: random-start FGSM (Wong et al. 2020) instead of plain FGSM.
        alpha: step of random-start FGSM; None: 1.25 * epsilon.
        value_range: (low, high) of valid pixels; adversarial images are clipped to it.
        seed: seed of the random start.
    """

    def __init__(self, classifier, epsilon=0.1, adv_weight=0.5, random_start=False, alpha=None,
                 value_range=(0.0, 1.0), seed=None, **kwargs):
        super().__init__(**kwargs)
        if not epsilon > 0:
            raise UserError(f"epsilon={epsilon!r}: expected a perturbation size > 0")
        if not 0.0 <= adv_weight <= 1.0:
            raise UserError(f"adv_weight={adv_weight!r}: expected a share in [0, 1]")
        if alpha is not None and not alpha > 0:
            raise UserError(f"alpha={alpha!r}: expected a step size > 0 (or None for 1.25 * epsilon)")
        if not value_range[1] > value_range[0]:
            raise UserError(f"value_range={value_range!r}: expected (low, high) with low < high")
        # === Layers ===
        self.classifier = classifier
        # === Config ===
        self.epsilon = float(epsilon)
        self.adv_weight = float(adv_weight)
        self.random_start = bool(random_start)
        self.alpha = None if alpha is None else float(alpha)
        self.value_range = (float(value_range[0]), float(value_range[1]))
        self.seed = seed
        # === State ===
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.adv_loss_tracker = keras.metrics.Mean(name="adv_loss")
        self.adv_accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="adv_accuracy")

    def build(self, input_shape):
        if not self.classifier.built:
            self.classifier.build(input_shape)
        self.built = True

    def call(self, inputs, training=False):
        return self.classifier(inputs, training=training)

    def adversarial_batch(self, x, y, training=False):
        """The (random-start) FGSM images of `x` for the current weights; no gradient flows."""
        x = ops.cast(x, "float32")

        def grad_fn(x_, y_):
            return input_gradient(self.classifier, crossentropy, x_, y_, training=training)

        if self.random_start:
            alpha = 1.25 * self.epsilon if self.alpha is None else self.alpha
            start = random_start(x, self.epsilon, self.seed_generator, self.value_range)
            x_adv = project(start + alpha * ops.sign(grad_fn(start, y)), x, self.epsilon,
                            self.value_range)
        else:
            x_adv = fgsm_step(grad_fn, x, y, self.epsilon, self.value_range)
        return ops.stop_gradient(x_adv)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        clean = super().compute_loss(x, y, y_pred, sample_weight, training=training)
        x_adv = self.adversarial_batch(x, y, training=training)
        y_adv = self(x_adv, training=training)
        adversarial = super().compute_loss(x_adv, y, y_adv, sample_weight, training=training)
        self.adv_loss_tracker.update_state(adversarial)
        self.adv_accuracy_tracker.update_state(y, y_adv)
        # A convex mix: model losses (regularisers) keep their weight of one.
        return (1.0 - self.adv_weight) * clean + self.adv_weight * adversarial

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "classifier": keras.saving.serialize_keras_object(self.classifier),
            "epsilon": self.epsilon,
            "adv_weight": self.adv_weight,
            "random_start": self.random_start,
            "alpha": self.alpha,
            "value_range": list(self.value_range),
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["classifier"] = keras.saving.deserialize_keras_object(config["classifier"])
        config["value_range"] = tuple(config["value_range"])
        return cls(**config)
