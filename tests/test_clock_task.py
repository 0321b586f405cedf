"""The `clock` task end to end (--quick), its config checks, and reading a saved model."""

import json

import numpy as np
import pytest

from conftest import complete_run_folder
from kerasdl.errors import UserError


def test_quick_run_writes_a_complete_folder(run_cli, home):
    # two readers (the other two: the next test), so that the comparison is checked too
    code, out, err = run_cli("clock", "--quick", "--set", "formulations=classification,multihead",
                             "--out", home / "runs")
    assert code == 0, err
    folder = complete_run_folder(home / "runs", "clock")
    for name in ("history.csv", "results.csv", "model.keras", "models/classification_24.keras",
                 "error_curves.png", "error_histograms.png", "error_by_time.png", "worst_readings.png"):
        assert (folder / name).is_file(), name
    # model.keras is the multi-head reader; models/ holds the others, no copy of it.
    assert not (folder / "models" / "multihead.keras").exists() and not (folder / "multihead.keras").exists()
    metrics = json.loads((folder / "metrics.json").read_text())
    for key in ("multihead", "classification_24"):
        assert 0 <= metrics[f"{key}_test_mean_min"] <= 360
    report = (folder / "report.md").read_text()
    assert "11.71" in report and "| multihead |" in report and "error_curves.png" in report
    assert "## Reading analog clocks: classification_24, multihead on clocks (480 images), 1 epoch\n" in report

    import keras

    from kerasdl.tasks.clock import read_time

    model = keras.saving.load_model(folder / "model.keras")
    assert isinstance(model.output, dict)  # the multi-head reader
    reading = read_time(model, np.full((150, 150), 200, np.uint8))
    assert len(reading) == 5 and reading[2] == ":" and 1 <= int(reading[:2]) <= 12


@pytest.mark.one_backend  # which file becomes model.keras; the readers' maths: test_clock_models
def test_a_run_without_the_multihead_reader_saves_its_best_as_model_keras(run_cli, home):
    code, out, err = run_cli("clock", "--quick", "--set", "formulations=regression_mse,regression_cyclic",
                             "--set", "n=160", "--out", home / "runs")
    assert code == 0, err
    folder = complete_run_folder(home / "runs", "clock")
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["model_keras"] == metrics["best"] in ("regression_mse", "regression_cyclic")
    assert (folder / "model.keras").is_file()
    assert (folder / "models" / "regression_mse.keras").is_file()
    assert (folder / "models" / "regression_cyclic.keras").is_file()


def test_config_checks():
    from kerasdl.tasks.clock import Config

    with pytest.raises(UserError, match="classes"):
        Config(classes=(25,))
    with pytest.raises(UserError, match="formulations"):
        Config(formulations=("ordinal",))
    with pytest.raises(UserError, match="formulations=all,multihead: .*or all alone"):
        Config(formulations=("all", "multihead"))
    with pytest.raises(UserError, match="^formulations=: expected at least one"):
        Config(formulations=())
    with pytest.raises(UserError, match="dataset"):
        Config(dataset="mnist")
    with pytest.raises(UserError, match="^size=8: expected 16 or more"):
        Config(size=8)
    with pytest.raises(UserError, match="^rotation=200.0: expected a value in \\[0, 180\\]"):
        Config(rotation=200.0)
    # split_validation needs a share in (0, 1): refused before the run, not in the middle of it
    with pytest.raises(UserError, match="^validation_fraction=0.0: expected a value in \\(0, 1\\)"):
        Config(validation_fraction=0.0)
    with pytest.raises(UserError, match="^learning_rate=nan: expected a finite number"):
        Config(learning_rate=float("nan"))
    with pytest.raises(UserError, match="^input_size=8: too small for 4 pooling blocks"):
        Config(input_size=8)
    assert Config(input_size=8, widths=(4, 4, 4)).input_size == 8
    assert Config().formulations == ("multihead",)
    everything = Config(formulations=("all",)).formulations
    assert everything[0] == "multihead" and len(everything) == 4


def _faint_clocks(n, seed):
    """Low-contrast 16x16 images (pixels 100-141) whose hour is a slightly brighter row:
    like real conv outputs, the first layer's outputs vary little. Minute 30 throughout."""
    rng = np.random.default_rng(seed)
    hours = rng.integers(0, 12, n)
    x = rng.integers(100, 130, (n, 16, 16, 1)).astype("uint8")
    for k in range(12):
        x[hours == k, k + 2, :] += 12
    return x, np.stack([hours, np.full(n, 30)], axis=1)


def test_each_reader_takes_batch_norm_momentum_from_its_training_steps(monkeypatch):
    """What the slow test below shows in training: train_one builds its reader for the run's
    steps (epochs x batches), and every batch norm layer gets that run's momentum."""
    import keras

    from kerasdl.tasks import clock
    from kerasdl.training.fit import bn_momentum

    config = clock.Config(input_size=16, widths=(8, 16), dense=32, epochs=3, batch_size=64)
    asked = []

    def build_model(config, formulation, input_shape, n_classes=None, steps=None):
        asked.append(steps)
        raise KeyboardInterrupt  # stop before training

    x, y = _faint_clocks(130, seed=0)  # 3 batches of 64
    monkeypatch.setattr(clock, "build_model", build_model)
    with pytest.raises(KeyboardInterrupt):
        clock.train_one(config, "multihead", "multihead", None, x, y, x[:8], y[:8])
    assert asked == [9]
    monkeypatch.undo()
    for formulation in clock.FORMULATIONS:
        model = clock.build_model(config, formulation, (16, 16, 1), 72, steps=9)
        momenta = [layer.momentum for layer in model._flatten_layers()
                   if isinstance(layer, keras.layers.BatchNormalization)]
        assert momenta and momenta == pytest.approx([bn_momentum(9)] * len(momenta)), formulation


@pytest.mark.slow  # 200 steps of the reader, twice: 1-2 min on 2 cores
@pytest.mark.backends
def test_a_short_run_saves_a_reader_that_scores_what_it_trained_to(monkeypatch):
    """200 steps of the task's own training (train_one): the multi-head reader, in
    inference mode (batch norm's moving statistics), reads the hour about as well as
    it did in training. With Keras's usual momentum 0.99 it reads at chance
    (measured: 0.99 in training, 0.13 read)."""
    import keras

    from kerasdl.tasks import clock

    x, y = _faint_clocks(2560, seed=0)
    x_val, y_val = _faint_clocks(256, seed=1)
    config = clock.Config(input_size=16, widths=(8, 16), dense=32, dropout=0.0, epochs=5, batch_size=64)

    def train():
        keras.utils.set_random_seed(0)
        model, history, _ = clock.train_one(config, "multihead", "multihead", None, x, y, x_val, y_val)
        read = clock.read_minutes(model, "multihead", x)
        return history["hour_accuracy"][-1], float(np.mean(read // 60 == y[:, 0]))

    trained, read = train()
    assert trained > 0.8 and read > trained - 0.05, (trained, read)
    # The test can fail: with the usual momentum the start (variance 1) still dominates.
    monkeypatch.setattr(clock.fitting, "bn_momentum", lambda steps: 0.99)
    trained, read = train()
    assert read < trained - 0.3, (trained, read)


def test_report_sections_by_readers():
    from kerasdl.tasks.clock import Config, variant

    assert variant(Config()) == "clocks"
    assert variant(Config(formulations=("all",))) == "clocks-all"
    assert variant(Config(formulations=("regression_mse",))) == "clocks-regression_mse"


def test_missing_course_files_is_one_line(run_cli, home, tmp_path):
    code, out, err = run_cli("clock", "--set", "dataset=clock_photos", "--data-dir", tmp_path,
                             "--out", home / "runs")
    assert code == 2
    assert "clock_photos" in err and "images.npy" in err and "Traceback" not in err
