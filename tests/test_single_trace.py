"""kerasdl.training.backends.single_trace: on TensorFlow a compiled model's metrics, loss and
optimizer are built before the first trace, so the training step is traced once, and training
sees the same batches and ends with the same weights; nothing changes on other backends."""

import keras
import numpy as np
import pytest

from kerasdl.training import backends
from kerasdl.training.backends import single_trace


def _tensorflow_trainer():
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    return TensorFlowTrainer


def test_prepare_applies_on_tensorflow_only_and_once():
    applied = single_trace.prepare()
    assert applied == (keras.backend.backend() == "tensorflow")
    assert backends.prepare()["single_trace"] == applied
    if applied:
        trainer = _tensorflow_trainer()
        patched = trainer._maybe_symbolic_build
        assert single_trace.prepare() and trainer._maybe_symbolic_build is patched  # not wrapped twice


def _fit(keras_own=False, epochs=2, **fit_kwargs):
    """(train_step traces, optimizer built before the first step, loss per epoch, weights) of a
    small fit with accuracy and dropout."""
    trainer = _tensorflow_trainer()
    patched = trainer._maybe_symbolic_build
    if keras_own:
        trainer._maybe_symbolic_build = patched.__wrapped__
    try:
        keras.utils.set_random_seed(0)
        rng = np.random.default_rng(0)
        x = rng.normal(size=(70, 6)).astype("float32")
        y = (x[:, 0] > 0).astype("int64")
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dropout(0.3), keras.layers.Dense(2, activation="softmax")])
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        traces, built = [], []
        step = model.train_step
        model.train_step = lambda data: (traces.append(1), step(data))[1]
        first = keras.callbacks.LambdaCallback(on_train_begin=lambda logs: built.append(model.optimizer.built))
        history = model.fit(x[:60], y[:60], batch_size=16, epochs=epochs, validation_data=(x[60:], y[60:]),
                            verbose=0, callbacks=[first], **fit_kwargs)
        return len(traces), built[0], history.history, [w.numpy() for w in model.weights]
    finally:
        trainer._maybe_symbolic_build = patched


def test_the_step_is_traced_once_and_trains_exactly_as_before():
    if not single_trace.prepare():
        pytest.skip("applies on TensorFlow only")
    traces, built, history, weights = _fit()
    keras_traces, keras_built, keras_history, keras_weights = _fit(keras_own=True)
    assert (traces, keras_traces) == (1, 2) and (built, keras_built) == (True, False)
    assert history == keras_history  # the same batches in the same order: the same losses
    for ours, theirs in zip(weights, keras_weights, strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_steps_per_epoch_keeps_keras_own_build():
    """One iterator across epochs: a batch read to build would be taken from training."""
    if not single_trace.prepare():
        pytest.skip("applies on TensorFlow only")
    traces, _, history, _ = _fit(epochs=1, steps_per_epoch=3)
    keras_traces, _, keras_history, _ = _fit(keras_own=True, epochs=1, steps_per_epoch=3)
    assert traces == keras_traces == 2 and history == keras_history
