"""The clock's arithmetic: the common-sense error, encodings, the cyclic loss and metrics."""

import numpy as np
import pytest

from kerasdl.tasks.clock import times as ct


def minutes(hour, minute):
    return ct.to_minutes(np.array([[hour, minute]]))[0]


def test_common_sense_error_hand_made_cases():
    assert ct.common_sense_error(minutes(11, 55), minutes(0, 5)) == 10
    assert ct.common_sense_error(minutes(0, 5), minutes(11, 55)) == 10
    assert ct.common_sense_error(minutes(6, 0), minutes(0, 0)) == 360
    assert ct.common_sense_error(minutes(3, 15), minutes(3, 15)) == 0
    assert ct.common_sense_error(minutes(1, 0), minutes(10, 0)) == 180  # 3 hours the other way round
    # Never more than 360, whatever the inputs (even outside 0-719).
    rng = np.random.default_rng(0)
    e = ct.common_sense_error(rng.uniform(-2000, 2000, 500), rng.uniform(-2000, 2000, 500))
    assert e.min() >= 0 and e.max() <= 360


def test_to_minutes_and_format():
    assert minutes(12, 30) == 30  # hour 12 is hour 0
    assert minutes(11, 59) == 719
    assert ct.format_time(0) == "12:00"
    assert ct.format_time(minutes(3, 7)) == "03:07"
    assert ct.format_time(719.6) == "12:00"  # rounds to the next minute, wraps


def test_encodings_decode_back():
    labels = np.array([[0, 0], [11, 59], [6, 30], [3, 1]])
    m = ct.to_minutes(labels)
    np.testing.assert_allclose(ct.encode_hours(m)[:, 0], [0, 11 + 59 / 60, 6.5, 3 + 1 / 60], rtol=1e-6)
    for formulation in ("regression_mse", "regression_cyclic"):
        np.testing.assert_array_equal(ct.decode(formulation, ct.encode(formulation, labels)), m)
    target = ct.encode("multihead", labels)
    np.testing.assert_array_equal(target["hour"], [0, 11, 6, 3])
    one_hot = np.eye(12)[target["hour"]]
    np.testing.assert_array_equal(ct.decode("multihead", {"hour": one_hot, "minute": target["minute"]}), m)


def test_multihead_minute_near_sixty_stays_in_its_hour():
    # 2:59.7 must not read 2:00 (rounding 59.7 -> 60 would wrap the minute alone).
    minute = ct.encode_angle(np.array([59.7]), 60)
    hour = np.eye(12)[[2]]
    assert ct.decode("multihead", {"hour": hour, "minute": minute})[0] == minutes(2, 59)


def test_classes_are_read_at_their_centre():
    # N=24: slices of 30 minutes, 0:00-0:29 is class 0, read as 0:15.
    assert ct.encode_class(np.array([0, 29, 30, 719]), 24).tolist() == [0, 0, 1, 23]
    np.testing.assert_allclose(ct.class_centres(24)[:2], [15, 45])
    probs = np.eye(24)[ct.encode_class(np.array([0, 719]), 24)]
    np.testing.assert_allclose(ct.decode("classification", probs, 24), [15, 705])
    err = ct.common_sense_error([0, 719], ct.decode("classification", probs, 24))
    np.testing.assert_allclose(err, [15, 14])
    # N=720: every minute its own class, centre half a minute later.
    assert ct.common_sense_error(minutes(4, 20), ct.class_centres(720)[minutes(4, 20)]) == 0.5


@pytest.mark.backends
def test_cyclic_loss_hand_values_and_finite_differences_around_the_wrap():
    from keras import ops

    def loss_at(true_min, pred_min, period=720):
        t = ct.encode_angle(np.array([true_min]), period)
        p = ct.encode_angle(np.array([pred_min]), period)
        return float(ops.convert_to_numpy(ct.cyclic_loss(t, p))[0])

    assert loss_at(0, 0) == pytest.approx(0, abs=1e-6)
    assert loss_at(0, 360) == pytest.approx(4, abs=1e-5)  # opposite: chord 2, squared
    assert loss_at(0, 180) == pytest.approx(2, abs=1e-5)  # a quarter turn: 2 - 2 cos 90
    # Symmetric across the wrap: 11:55 vs 0:05 costs what 0:05 vs 0:15 does.
    assert loss_at(minutes(11, 55), minutes(0, 5)) == pytest.approx(loss_at(5, 15), rel=1e-4)
    # Derivative in the predicted time, by central differences, at and around 12:00:
    # finite, continuous across the wrap, and equal to the analytic 2 sin(d) * dphi/dmin.
    h = 0.05
    for true in (719.5, 0.0, 0.5):
        for pred in (719.0, 719.9, 0.0, 0.1, 1.0):
            numeric = (loss_at(true, pred + h) - loss_at(true, pred - h)) / (2 * h)
            d = 2 * np.pi * (pred - true) / 720
            analytic = 2 * np.sin(d) * 2 * np.pi / 720
            assert np.isfinite(numeric)
            assert numeric == pytest.approx(analytic, abs=2e-5)


@pytest.mark.backends
def test_cyclic_loss_trains_through_the_wrap():
    """The backend's own gradients, through a tiny model, on targets on both sides of
    12:00: finite weights, and the loss goes down."""
    import keras

    keras.utils.set_random_seed(0)
    x = np.eye(4, dtype="float32")
    target = ct.encode_angle(np.array([719.0, 0.0, 1.0, 718.0]))
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=ct.cyclic_loss)
    first = float(model.train_on_batch(x, target))
    for _ in range(30):
        last = float(model.train_on_batch(x, target))
    assert np.isfinite(first) and np.isfinite(last) and last < 0.1 * first
    assert all(np.isfinite(w).all() for w in model.get_weights())


@pytest.mark.backends
def test_error_metrics_in_minutes():
    from keras import ops

    t = ct.encode_angle(np.array([59.0, 10.0]), 60)
    p = ct.encode_angle(np.array([1.0, 40.0]), 60) * 3.0  # the metric ignores the length
    err = ops.convert_to_numpy(ct.minute_error_min(t, p))
    np.testing.assert_allclose(err, [2, 30], atol=1e-3)
    hours = ops.convert_to_numpy(ct.hours_error_min(np.array([[11.9], [6.0]], "float32"),
                                                       np.array([[0.1], [0.0]], "float32")))
    np.testing.assert_allclose(hours.reshape(-1), [12, 360], atol=1e-3)


def test_metrics_and_loss_are_registered_for_reloading():
    import keras

    for name in ("cyclic_loss", "error_min", "minute_error_min", "hours_error_min"):
        assert keras.saving.get_registered_object(f"kerasdl>{name}") is getattr(ct, name)
