"""The `clock` task end to end (--quick), its config checks, and reading a saved model."""

import json

import numpy as np
import pytest

from conftest import complete_run_folder
from kerasdl.errors import UserError


def test_quick_run_writes_a_complete_folder(run_cli, home):
    code, out, err = run_cli("clock", "--quick", "--out", home / "runs")
    assert code == 0, err
    folder = complete_run_folder(home / "runs", "clock")
    for name in ("history.csv", "results.csv", "model.keras", "multihead.keras", "error_curves.png",
                 "error_histograms.png", "error_by_time.png", "worst_readings.png"):
        assert (folder / name).is_file(), name
    metrics = json.loads((folder / "metrics.json").read_text())
    for key in ("multihead", "classification_24", "regression_cyclic", "regression_mse"):
        assert 0 <= metrics[f"{key}_test_mean_min"] <= 360
    report = (folder / "report.md").read_text()
    assert "11.71" in report and "| multihead |" in report and "error_curves.png" in report
    assert ("## Reading analog clocks: regression_mse, regression_cyclic, classification_24, multihead "
            "on clocks (480 images), 1 epoch\n") in report

    import keras

    from kerasdl.tasks.clock import read_time

    model = keras.saving.load_model(folder / "model.keras")
    reading = read_time(model, np.full((150, 150), 200, np.uint8))
    assert len(reading) == 5 and reading[2] == ":" and 1 <= int(reading[:2]) <= 12


def test_config_checks():
    from kerasdl.tasks.clock import Config

    with pytest.raises(UserError, match="classes"):
        Config(classes=(25,))
    with pytest.raises(UserError, match="formulations"):
        Config(formulations=("ordinal",))
    with pytest.raises(UserError, match="formulations=all,multihead: .*or all alone"):
        Config(formulations=("all", "multihead"))
    with pytest.raises(UserError, match="dataset"):
        Config(dataset="mnist")
    assert Config().formulations == ("multihead",)
    everything = Config(formulations=("all",)).formulations
    assert everything[0] == "multihead" and len(everything) == 4


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
