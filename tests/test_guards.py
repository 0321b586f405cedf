"""A loss that becomes NaN or infinite stops `fit` at once with one line naming where."""

import numpy as np
import pytest

import keras

from kerasdl.training import guards
from kerasdl.training.progress import fit_options

pytestmark = pytest.mark.backends


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


def test_a_nan_loss_stops_fit_naming_the_epoch_and_step(monkeypatch):
    monkeypatch.setenv("KERASDL_QUIET", "1")
    x = np.ones((64, 3), np.float32)
    x[20] = np.nan  # the 6th batch of 4 holds it: the loss (a running mean) is NaN from step 6 on
    y = np.zeros(64, np.int64)
    with pytest.raises(guards.TrainingDiverged, match=r"loss became nan at epoch 1, step 10; "
                                                      r".*learning rate"):
        _model().fit(x, y, batch_size=4, epochs=2, shuffle=False, **fit_options())


def test_a_finite_loss_trains_to_the_end(monkeypatch):
    monkeypatch.setenv("KERASDL_QUIET", "1")
    x = np.random.default_rng(0).normal(size=(32, 3)).astype(np.float32)
    history = _model().fit(x, (x[:, 0] > 0).astype(np.int64), batch_size=4, epochs=2, **fit_options())
    assert len(history.history["loss"]) == 2


def test_every_loss_in_the_logs_is_checked_and_validation_is_not():
    guard = guards.StopOnNonFiniteLoss()
    guard.on_epoch_end(0, {"loss": 0.5, "val_loss": float("nan")})  # validation: not training
    with pytest.raises(guards.TrainingDiverged, match="g_loss became inf at the end of epoch 3"):
        guard.on_epoch_end(2, {"d_loss": 0.7, "g_loss": float("inf")})
