"""The clock renderer and the two clock data sets (generated, and the course's files)."""

import numpy as np
import pytest

from kerasdl import data
from kerasdl.data import clocks
from kerasdl.errors import DataCorrupt, DataNotFound


def test_hand_angles_move_like_a_real_clock():
    hour, minute = clocks.hand_angles([3, 0, 11], [30, 0, 59])
    np.testing.assert_allclose(minute, [180, 0, 354])
    np.testing.assert_allclose(hour, [105, 0, 359.5])  # the hour hand moves between hours


def test_renderer_is_deterministic_per_seed():
    a, la, _ = clocks.generate(6, size=48, seed=3)
    b, lb, _ = clocks.generate(6, size=48, seed=3)
    c, lc, _ = clocks.generate(6, size=48, seed=4)
    assert a.dtype == np.uint8 and a.shape == (6, 48, 48) and la.shape == (6, 2)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)
    assert not np.array_equal(a, c)
    assert la[:, 0].min() >= 0 and la[:, 0].max() <= 11 and la[:, 1].min() >= 0 and la[:, 1].max() <= 59
    # Varied, not blank: every image has contrast.
    assert (a.reshape(6, -1).std(axis=1) > 5).all()


def _angles_in_annulus(image, styles, k, r_lo, r_hi):
    """Image angles (degrees clockwise from up) and darkness of the pixels between
    dial radii r_lo and r_hi of clock k (front-on, so radii scale by `scale`)."""
    size = image.shape[0]
    grid = (np.arange(size) + 0.5) / size * 2 - 1
    u, v = np.meshgrid(grid, -grid)
    du, dv = u - styles["cx"][k], v - styles["cy"][k]
    r = np.hypot(du, dv) / styles["scale"][k]
    ring = (r > r_lo) & (r < r_hi)
    return np.degrees(np.arctan2(du, dv))[ring], (255.0 - image[ring])


def _circular_mean(angles, weights):
    a = np.radians(angles)
    return np.degrees(np.arctan2((weights * np.sin(a)).sum(), (weights * np.cos(a)).sum()))


def _angle_diff(a, b):
    return (a - b + 180) % 360 - 180


def test_labels_agree_with_the_drawn_hands():
    """Draw clean, front-on, rotated clocks (dark hands on a white face, no marks)
    and measure where the hands point in the pixels."""
    rng = np.random.default_rng(0)
    n = 8
    styles = clocks.random_styles(n, rng, rotation=60.0, distortion=0.0)
    styles.update(face=np.ones(n), ink=np.zeros(n), hand_ink=np.zeros(n), bg=np.ones(n),
                  bg_gx=np.zeros(n), bg_gy=np.zeros(n), shade=np.zeros(n), numerals=np.zeros(n, bool),
                  quarters=np.zeros(n, bool), hour_ticks=np.zeros(n, bool), minute_ticks=np.zeros(n, bool))
    # Times with the hands well apart, so each can be measured on its own.
    hours = np.array([3, 7, 10, 1, 5, 8, 11, 2])
    minutes = np.array([40, 5, 20, 35, 50, 25, 10, 55])
    images = clocks.render(hours, minutes, styles, size=150, seed=0)
    hour_deg, minute_deg = clocks.hand_angles(hours, minutes)
    for k in range(n):
        seen = styles["rotation"][k]  # the whole clock is turned clockwise by this much
        angles, dark = _angles_in_annulus(images[k], styles, k, styles["hour_len"][k] + 0.06,
                                          styles["min_len"][k] - 0.06)
        measured_minute = _circular_mean(angles, dark)
        assert abs(_angle_diff(measured_minute, minute_deg[k] + seen)) < 2.0, (k, measured_minute)
        angles, dark = _angles_in_annulus(images[k], styles, k, 0.25, styles["hour_len"][k] - 0.04)
        away = np.abs(_angle_diff(angles, measured_minute)) > 30  # leave the minute hand out
        measured_hour = _circular_mean(angles[away], dark[away])
        assert abs(_angle_diff(measured_hour, hour_deg[k] + seen)) < 2.0, (k, measured_hour)


def test_clocks_loader_caches_and_splits(home):
    ds = data.load("clocks", n=40, size=32, seed=1, test_fraction=0.25)
    assert ds.x_train.shape == (30, 32, 32, 1) and ds.x_test.shape == (10, 32, 32, 1)
    assert ds.x_train.dtype == np.uint8 and ds.value_range == (0, 255)
    assert ds.y_train.shape == (30, 2)
    assert "seed 1" in ds.provenance
    cached = list((home / "data" / "cache" / "clocks").glob("*.npz"))
    assert len(cached) == 1
    again = data.load("clocks", n=40, size=32, seed=1, test_fraction=0.25)
    np.testing.assert_array_equal(again.x_test, ds.x_test)
    np.testing.assert_array_equal(again.y_train, ds.y_train)


def test_clock_photos_missing_is_one_clear_line(home, tmp_path):
    with pytest.raises(DataNotFound) as err:
        data.load("clock_photos", data_dir=tmp_path / "nothing-here")
    message = str(err.value)
    assert "images.npy" in message and "labels.npy" in message and "\n" not in message


def test_clock_photos_reads_the_course_files(home, tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "images.npy", rng.integers(0, 256, (20, 150, 150), dtype=np.uint8))
    np.save(tmp_path / "labels.npy", np.stack([rng.integers(0, 12, 20), rng.integers(0, 60, 20)], 1))
    ds = data.load("clock_photos", data_dir=tmp_path)
    assert ds.x_train.shape == (16, 150, 150, 1) and ds.x_test.shape == (4, 150, 150, 1)
    assert ds.y_test.shape == (4, 2)
    np.save(tmp_path / "labels.npy", np.zeros((19, 2), int))  # one label short
    with pytest.raises(DataCorrupt):
        data.load("clock_photos", data_dir=tmp_path)
