"""kerasdl.training.backends.warmup_schedule: Keras's warm-up + cosine schedule gives the same
learning rates without a conditional in TensorFlow's graph; nothing changes on other backends."""

import keras
import numpy as np
import pytest

from kerasdl.training import backends
from kerasdl.training.backends import warmup_schedule

CosineDecay = keras.optimizers.schedules.CosineDecay


def test_prepare_applies_on_tensorflow_only_and_once():
    applied = warmup_schedule.prepare()
    assert applied == (keras.backend.backend() == "tensorflow")
    assert backends.prepare()["warmup_schedule"] == applied
    if applied:
        patched = CosineDecay.__call__
        assert warmup_schedule.prepare() and CosineDecay.__call__ is patched  # not wrapped twice
        assert not hasattr(patched.__wrapped__, "__wrapped__")


@pytest.mark.parametrize("warmup_steps, alpha", [(0, 0.0), (1, 0.0), (5, 0.0), (5, 0.1), (12, 0.2)])
def test_the_learning_rates_are_keras_own(warmup_steps, alpha):
    if not warmup_schedule.prepare():
        pytest.skip("applies on TensorFlow only")
    schedule = CosineDecay(0.01, decay_steps=20, alpha=alpha, warmup_target=0.1, warmup_steps=warmup_steps)
    keras_own = CosineDecay.__call__.__wrapped__
    # before, at and after the warm-up's end, through the decay and past its end
    for step in [0, 1, 2, 4, 5, 6, 11, 12, 13, 20, 25, 31, 32, 33, 100]:
        ours, theirs = float(schedule(step)), float(keras_own(schedule, step))
        assert ours == pytest.approx(theirs, rel=1e-6, abs=1e-9), step
    no_warmup = CosineDecay(0.01, decay_steps=20, alpha=alpha)
    assert float(no_warmup(7)) == pytest.approx(float(keras_own(no_warmup, 7)), rel=1e-7)


def test_the_training_graph_has_no_conditional_and_the_schedule_saves_as_keras_own():
    if not warmup_schedule.prepare():
        pytest.skip("applies on TensorFlow only")
    import tensorflow as tf

    schedule = CosineDecay(0.01, decay_steps=20, warmup_target=0.1, warmup_steps=3)
    step = tf.Variable(0, dtype="int64")
    def op_kinds(function):
        return {op.type for op in tf.function(function).get_concrete_function().graph.get_operations()}

    assert op_kinds(lambda: CosineDecay.__call__.__wrapped__(schedule, step)) & {"If", "StatelessIf"}  # Keras's
    kinds = op_kinds(lambda: schedule(step))
    assert not kinds & {"If", "StatelessIf"} and "SelectV2" in kinds
    config = keras.saving.serialize_keras_object(schedule)
    assert config["class_name"] == "CosineDecay" and config["module"].startswith("keras")
    again = keras.saving.deserialize_keras_object(config)
    assert float(again(2)) == pytest.approx(float(schedule(2)))
