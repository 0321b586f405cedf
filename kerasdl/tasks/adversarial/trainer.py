"""FGSM adversarial training: a classifier that trains on clean + adversarial batches.

`AdversarialTrainer` wraps any Keras classifier (probabilities out, inputs in
`value_range`). Each step it builds the FGSM batch of the current weights on
the fly and minimises

    (1 - adv_weight) * L(x, y) + adv_weight * L(x_adv, y)

(Goodfellow, Shlens, Szegedy 2015, the course's recipe with adv_weight = 0.5).
By default the attack is the random-start FGSM of "Fast is better than free"
(Wong, Rice, Kolter 2020): x + U(-eps, eps), one signed step of size
alpha = 1.25 * eps, projected back to the eps-ball — the cheap fix for the
"catastrophic overfitting" that plain FGSM training falls into
(reports/adversarial.md: PGD accuracy fell as plain FGSM training went on).

Epsilon warm-up: over the first `epsilon_warmup_steps` training steps the
training eps ramps linearly from 0 to `epsilon` (eps_k = epsilon * min(1, k / W)
at step k = 0, 1, ...), so the network learns the clean task before it meets
the full attack. The step k is the trainer's own non-trainable counter, not
the optimizer's `iterations`: the JAX trainer does not hand the optimizer's
variables to `compute_loss` (reading them there fails), while a model's own
non-trainable variables are threaded through the step on every backend, and
are saved with the weights, so a reloaded or resumed model continues its ramp.

Only `compute_loss` is overridden, which the trainer of every backend calls:
the input gradient it needs comes from `training.backends.input_gradient`, which
differentiates the model's `stateless_call` — under JAX the values it reads
are the tracers of the trainer's own `jax.grad`, so nothing leaks out of the
trace, and the attack's forward pass never moves batch-norm statistics.
Evaluation (`evaluate`, validation in `fit`) attacks too, in inference mode
and at the full eps, so `val_adv_accuracy` is the FGSM accuracy on the
validation data.
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
        alpha: step of random-start FGSM at the full eps; None: 1.25 * epsilon. It
            follows the warm-up's ramp as eps does.
        epsilon_warmup_steps: training steps over which eps ramps from 0 to `epsilon`
            (0: the full eps from the first step).
        value_range: (low, high) of valid pixels; adversarial images are clipped to it.
        seed: seed of the random start.
    """

    def __init__(self, classifier, epsilon=0.1, adv_weight=0.5, random_start=True, alpha=None,
                 epsilon_warmup_steps=0, value_range=(0.0, 1.0), seed=None, **kwargs):
        super().__init__(**kwargs)
        if not epsilon > 0:
            raise UserError(f"epsilon={epsilon!r}: expected a perturbation size > 0")
        if not 0.0 <= adv_weight <= 1.0:
            raise UserError(f"adv_weight={adv_weight!r}: expected a share in [0, 1]")
        if alpha is not None and not alpha > 0:
            raise UserError(f"alpha={alpha!r}: expected a step size > 0 (or None for 1.25 * epsilon)")
        if not (int(epsilon_warmup_steps) == epsilon_warmup_steps and epsilon_warmup_steps >= 0):
            raise UserError(f"epsilon_warmup_steps={epsilon_warmup_steps!r}: expected a whole number "
                            "of steps >= 0")
        if not value_range[1] > value_range[0]:
            raise UserError(f"value_range={value_range!r}: expected (low, high) with low < high")
        # === Layers ===
        self.classifier = classifier
        # === Config ===
        self.epsilon = float(epsilon)
        self.adv_weight = float(adv_weight)
        self.random_start = bool(random_start)
        self.alpha = None if alpha is None else float(alpha)
        self.epsilon_warmup_steps = int(epsilon_warmup_steps)
        self.value_range = (float(value_range[0]), float(value_range[1]))
        self.seed = seed
        # === State ===
        self.seed_generator = keras.random.SeedGenerator(seed)
        # The training steps taken, for the warm-up (one count for all replicas, as the
        # optimizer's `iterations`).
        self.adversarial_steps = self.add_weight(shape=(), initializer="zeros", dtype="int32",
                                                 trainable=False, aggregation="only_first_replica",
                                                 name="adversarial_steps")
        self.adv_loss_tracker = keras.metrics.Mean(name="adv_loss")
        self.adv_accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="adv_accuracy")
        # The measured L-infinity size of the perturbation, max |x_adv - x| over the batch:
        # the eps of the step (pixel scale of value_range) where no pixel range clips it all.
        self.epsilon_tracker = keras.metrics.Mean(name="epsilon")

    def build(self, input_shape):
        if not self.classifier.built:
            self.classifier.build(input_shape)
        self.built = True

    def call(self, inputs, training=False):
        return self.classifier(inputs, training=training)

    def step_epsilon(self, training=False):
        """The attack's eps for the coming step: in training, epsilon * min(1, k / W) at
        step k of the warm-up of W = `epsilon_warmup_steps` steps; else `epsilon`."""
        if not (training and self.epsilon_warmup_steps):
            return self.epsilon
        k = ops.cast(self.adversarial_steps, "float32")
        return self.epsilon * ops.minimum(1.0, k / float(self.epsilon_warmup_steps))

    def adversarial_batch(self, x, y, training=False, epsilon=None):
        """The (random-start) FGSM images of `x` for the current weights, at `epsilon`
        (None: the full eps; a tensor inside a train step); no gradient flows."""
        x = ops.cast(x, "float32")
        epsilon = self.epsilon if epsilon is None else epsilon

        def grad_fn(x_, y_):
            return input_gradient(self.classifier, crossentropy, x_, y_, training=training)

        if self.random_start:
            # alpha scales with the step's eps: 1.25 eps (or alpha / epsilon of it) all along.
            alpha = 1.25 * epsilon if self.alpha is None else self.alpha / self.epsilon * epsilon
            start = random_start(x, epsilon, self.seed_generator, self.value_range)
            x_adv = project(start + alpha * ops.sign(grad_fn(start, y)), x, epsilon, self.value_range)
        else:
            x_adv = fgsm_step(grad_fn, x, y, epsilon, self.value_range)
        return ops.stop_gradient(x_adv)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        clean = super().compute_loss(x, y, y_pred, sample_weight, training=training)
        # The random layers inside the classifier (augmentation, dropout) draw the same values
        # in the attack as in the adversarial forward pass below: both read the classifier's
        # seed generators where the clean forward pass left them, and the attack, a
        # stateless_call whose updated state input_gradient discards, does not advance them.
        # So the perturbation is computed for the very flip and shift it is then shown under,
        # while the clean half of the batch had a draw of its own (the clean forward pass
        # advanced the seeds). tests/test_adversarial.py checks both, on every backend, with
        # a model whose only random layer is a flip.
        x_adv = self.adversarial_batch(x, y, training=training, epsilon=self.step_epsilon(training))
        y_adv = self(x_adv, training=training)
        adversarial = super().compute_loss(x_adv, y, y_adv, sample_weight, training=training)
        self.adv_loss_tracker.update_state(adversarial)
        self.adv_accuracy_tracker.update_state(y, y_adv)
        self.epsilon_tracker.update_state(ops.max(ops.abs(x_adv - ops.cast(x, "float32"))))
        if training:
            self.adversarial_steps.assign_add(1)
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
            "epsilon_warmup_steps": self.epsilon_warmup_steps,
            "value_range": list(self.value_range),
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["classifier"] = keras.saving.deserialize_keras_object(config["classifier"])
        config["value_range"] = tuple(config["value_range"])
        return cls(**config)
