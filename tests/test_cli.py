"""The command line: listing, help, and one clear line for every kind of bad input."""

import json
import subprocess
import sys

import pytest

from conftest import complete_run_folder


def test_list_names_every_available_task(run_cli):
    code, out, _ = run_cli("list")
    assert code == 0
    assert out.splitlines()[0].startswith("classify ")


def test_top_level_help_lists_commands_and_tasks(run_cli):
    code, out, _ = run_cli("--help")
    assert code == 0
    assert "data" in out and "classify" in out and "--backend" in out


def test_task_help_shows_every_option_and_config_default(run_cli):
    with pytest.raises(SystemExit) as exit_info:
        run_cli("classify", "--help")
    assert exit_info.value.code == 0


def test_task_help_text(capsys, home):
    from kerasdl import cli

    with pytest.raises(SystemExit):
        cli.main(["classify", "--help"])
    out = capsys.readouterr().out
    for option in ("--backend", "--seed", "--epochs", "--batch-size", "--data-dir", "--out",
                   "--quick", "--set", "--publish"):
        assert option in out
    assert "--dataset VALUE" in out and "(default: fashion_mnist)" in out
    assert "examples per gradient step (default: 128)" in out  # the field's comment is its help


@pytest.mark.parametrize("args, message", [
    (["nosuchtask"], "unknown task or command 'nosuchtask'"),
    (["clasify"], "did you mean 'classify'"),
    (["classify", "--no-such-option"], "unrecognized arguments: --no-such-option"),
    (["classify", "--set", "epochs=many"], "epochs=many: expected an integer"),
    (["classify", "--set", "nokey=1"], "--set nokey: unknown key"),
    (["classify", "--set", "epochs"], "expected key=value"),
    (["classify", "--set", "model=transformer"], "model='transformer': choose one of mlp, cnn"),
    (["classify", "--epochs", "0"], "epochs=0: expected a positive number"),
    (["classify", "--data-dir", "/no/such/dir"], "--data-dir /no/such/dir: no such directory"),
    (["classify", "--backend", "theano"], "invalid choice: 'theano'"),
    (["classify", "--quick", "--publish"], "--publish takes a full run"),
    (["data", "frobnicate"], "invalid choice: 'frobnicate'"),
    (["report", "/no/such/run"], "not a finished run folder"),
])
def test_bad_input_is_one_line_and_exit_2(run_cli, args, message):
    code, out, err = run_cli(*args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("kerasdl: error: ")
    assert message in lines[0]
    assert "Traceback" not in err


def test_config_fields_are_options_too(run_cli, tmp_path, monkeypatch):
    from kerasdl import data

    _fake_fashion(monkeypatch, data)
    code, _, err = run_cli("classify", "--quick", "--model", "mlp", "--hidden", "8",
                           "--out", tmp_path)
    assert code == 0, err
    config = json.loads(next((tmp_path / "classify").iterdir()).joinpath("config.json").read_text())
    assert config["config"]["model"] == "mlp" and config["config"]["hidden"] == [8]


def test_unknown_dataset_is_one_line_and_exit_2(run_cli, tmp_path):
    code, _, err = run_cli("classify", "--quick", "--set", "dataset=nosuchset", "--out", tmp_path)
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("kerasdl: error: ")
    assert "nosuchset" in err and "Traceback" not in err


def test_missing_data_set_is_one_line_and_exit_2(run_cli, tmp_path):
    # leiden_digits cannot be downloaded: with an empty data dir it is nowhere.
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli("classify", "--quick", "--set", "dataset=leiden_digits",
                           "--data-dir", empty, "--out", tmp_path / "runs")
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("kerasdl: error: ") and "leiden_digits" in last
    assert "Traceback" not in err


def test_internal_error_is_one_line_unless_debug(run_cli, monkeypatch, tmp_path):
    from kerasdl.tasks import classify

    def broken(config, run):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(classify, "run", broken)
    code, _, err = run_cli("classify", "--quick", "--out", tmp_path)
    assert code == 1
    assert err.strip().splitlines()[-1] == (
        "kerasdl: internal error: RuntimeError: boom (run again with --debug for the traceback)")
    with pytest.raises(RuntimeError):
        run_cli("classify", "--quick", "--out", tmp_path, "--debug")


def test_classify_quick_writes_a_complete_run_folder(run_cli, tmp_path, monkeypatch):
    from kerasdl import data

    _fake_fashion(monkeypatch, data)
    code, out, err = run_cli("classify", "--quick", "--out", tmp_path, "--seed", "3",
                             "--set", "widths=8,16", "--set", "epochs=2")
    assert code == 0, err
    folder = complete_run_folder(tmp_path, "classify")
    config = json.loads((folder / "config.json").read_text())
    assert config["seed"] == 3 and config["config"]["epochs"] == 2
    assert config["config"]["widths"] == [8, 16]
    assert config["backend"] and config["versions"]["keras"]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert 0 <= metrics["test_accuracy"] <= 1 and metrics["parameters"] > 0
    history = (folder / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,") and len(history) == 3
    for name in ("model.keras", "learning_curves.png", "confusion_matrix.png", "misclassified.png"):
        assert (folder / name).is_file()


def _fake_fashion(monkeypatch, data):
    """Replace data.load with a tiny synthetic Fashion-MNIST-shaped set."""
    import numpy as np

    real_load = data.load

    def load(name, data_dir=None, **options):
        if name != "fashion_mnist":
            return real_load(name, data_dir=data_dir, **options)
        rng = np.random.default_rng(0)
        y_train, y_test = rng.integers(0, 10, 200), rng.integers(0, 10, 60)
        # class k is brighter in row k: learnable in a few steps
        def images(y):
            x = rng.integers(0, 60, (len(y), 28, 28, 1)).astype("uint8")
            x[np.arange(len(y)), y * 2] = 250
            return x
        return data.Dataset("fashion_mnist", images(y_train), y_train, images(y_test), y_test,
                            [f"c{k}" for k in range(10)], "synthetic", value_range=(0, 255))

    monkeypatch.setattr(data, "load", load)


def test_python_dash_m_entry_point_runs_in_a_fresh_process():
    proc = subprocess.run([sys.executable, "-m", "kerasdl", "list"], capture_output=True, text=True)
    assert proc.returncode == 0 and "classify" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "kerasdl", "nosuch"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
