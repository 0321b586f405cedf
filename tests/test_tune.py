"""`python -m kerasdl tune`: searches on a toy task (tests/toy_tune_task.py, a tiny Keras
regression whose objective is a known function of its hyperparameters), run in-process;
the distributed and SIGTERM tests start real processes. The search spaces of the real
tasks are checked without training."""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import toy_tune_task

TESTS = Path(__file__).resolve().parent


@pytest.fixture
def toy(monkeypatch, home):
    """The toy task registered for this test; returns the tuning folder of its searches."""
    from kerasdl import tasks

    found = tasks._discover()
    monkeypatch.setattr(tasks, "_discover", lambda: {**found, "toytune": ("toy_tune_task", "toy")})
    for name in ("TOYTUNE_LOG", "TOYTUNE_SLEEP", "TOYTUNE_STOP_AFTER", "TOYTUNE_DIE_IN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TOYTUNE_LOG", str(home / "runs.log"))
    return home / "tuning" / "toytune"


@pytest.fixture
def subprocess_env(home, tmp_path, monkeypatch):
    """The environment of a `python -m kerasdl` subprocess that knows the toy task
    (a sitecustomize.py on PYTHONPATH registers it)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        f"import sys\nsys.path.insert(0, {str(TESTS)!r})\nimport toy_tune_task\ntoy_tune_task.install()\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    return dict(os.environ)


def only(folder):
    """The one search folder under `folder`."""
    found = [p for p in folder.iterdir() if p.is_dir()]
    assert len(found) == 1, found
    return found[0]


def trials(search):
    """{trial id: trial.json} of a search folder."""
    return {p.parent.name[len("trial_"):]: json.loads(p.read_text()) for p in search.glob("trial_*/trial.json")}


def table(search):
    with open(search / "trials.csv") as f:
        return list(csv.DictReader(f))


def logged(home):
    path = home / "runs.log"
    return path.read_text().splitlines() if path.exists() else []


# === A search, its files, its progress lines ===

def test_a_search_writes_trials_summary_figures_and_a_line_per_trial(run_cli, toy):
    code, out, err = run_cli("tune", "toytune", "--tuner", "random", "--max-trials", "3")
    assert code == 0, err
    search = only(toy)
    for name in ("trials.csv", "summary.md", "search.json", "objective_by_trial.png",
                 "objective_by_hyperparameter.png"):
        assert (search / name).is_file(), name
    rows = table(search)
    assert len(rows) == 3 and all(r["status"] == "finished" for r in rows)
    scores = [float(r["val_score"]) for r in rows]
    assert scores == sorted(scores, reverse=True)  # best first
    for row in rows:  # the objective is the toy's formula of the trial's values
        assert float(row["val_score"]) == pytest.approx(int(row["units"]) / 10 + 0.5 * (row["mode"] == "b"))
        assert row["epochs"] == "2" and float(row["seconds"]) > 0
    # Each trial is an ordinary run folder of the task.
    for trial_id in trials(search):
        run = search / f"trial_{trial_id}" / "run-1"
        assert json.loads((run / "status.json").read_text())["status"] == "finished"
        assert json.loads((run / "metrics.json").read_text())["val_score"] > 0
    lines = [line for line in out.splitlines() if line.startswith("trial ") and "val_score" in line]
    assert len(lines) == 3
    assert all("best " in line and "2 epochs" in line and " s; " in line and "units=" in line for line in lines)
    summary = (search / "summary.md").read_text()
    best = rows[0]
    assert f"**Best: trial {best['trial']}, val_score {float(best['val_score']):.4g}**" in summary
    assert f"python -m kerasdl toytune --backend {os.environ['KERAS_BACKEND']} --set units={best['units']}" \
        in summary
    assert "![the objective of each trial, and the best so far](objective_by_trial.png)" in summary


def test_options_fix_values_instead_of_searching_them(run_cli, toy):
    code, _, err = run_cli("tune", "toytune", "--tuner", "random", "--max-trials", "2", "--units", "8",
                           "--set", "modes=a")
    assert code == 0, err
    search = only(toy)
    assert {t["hyperparameters"]["values"]["units"] for t in trials(search).values()} == {8}
    assert "units" not in table(search)[0]  # a fixed value is not a column of the searched ones
    assert "Fixed: units=8, modes=a." in (search / "summary.md").read_text()


def test_early_stopping_ends_a_trial_that_stops_improving(run_cli, toy):
    from kerasdl.tune.tuner import PATIENCE

    code, _, err = run_cli("tune", "toytune", "--tuner", "random", "--max-trials", "1", "--set", "modes=flat",
                           "--epochs", "20")
    assert code == 0, err
    # The loss is 0 from the first epoch on: PATIENCE epochs without improvement after it.
    assert table(only(toy))[0]["epochs"] == str(PATIENCE + 1)


# === Resuming ===

def _snapshot(search):
    return {p.parent.name: p.read_bytes() for p in search.glob("trial_*/trial.json")}


def _finished(search):
    return sorted(k for k, t in trials(search).items() if t["status"] == "COMPLETED")


@pytest.mark.one_backend
def test_a_search_stopped_by_an_exception_resumes_where_it_was(run_cli, toy, home, monkeypatch):
    command = ("tune", "toytune", "--tuner", "random", "--max-trials", "4")
    monkeypatch.setenv("TOYTUNE_STOP_AFTER", "2")  # Ctrl-C in the third trial
    code, _, err = run_cli(*command)
    assert code == 130, err
    assert "--resume" not in err  # the trial's own command would not resume the search
    search = only(toy)
    assert len(_finished(search)) == 2
    before = _snapshot(search)
    monkeypatch.delenv("TOYTUNE_STOP_AFTER")
    code, out, err = run_cli(*command)
    assert code == 0, err
    assert "resumed: 2 trials finished" in out
    assert len(trials(search)) == 4 and len(_finished(search)) == 4
    after = _snapshot(search)
    assert all(after[name] == data for name, data in before.items() if json.loads(data)["status"] == "COMPLETED")
    # Every trial ran to its end once: the interrupted one was run again, the finished ones not.
    assert sorted(line.split()[0] for line in logged(home)) == [f"trial_{t}" for t in _finished(search)]
    code, out, _ = run_cli(*command)  # a finished search: nothing more to run
    assert code == 0 and len(trials(search)) == 4 and "running" not in out


@pytest.mark.one_backend
def test_a_search_stopped_by_sigterm_resumes_where_it_was(run_cli, toy, home, subprocess_env):
    command = ("tune", "toytune", "--tuner", "random", "--max-trials", "4")
    env = {**subprocess_env, "TOYTUNE_SLEEP": "1.5"}
    process = subprocess.Popen([sys.executable, "-m", "kerasdl", *command], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120

    def finished():  # trials the oracle has recorded as finished (logged is not yet recorded)
        try:
            return [t for f in toy.glob("*") for t in _finished(f)]
        except ValueError:  # a trial.json being written (KerasTuner writes in place): look again
            return []

    while len(finished()) < 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
    assert len(finished()) == 2, process.stderr.read() if process.poll() is not None else "timed out"
    process.send_signal(signal.SIGTERM)  # during the third trial's sleep
    assert process.wait(timeout=60) == 130
    search = only(toy)
    assert len(_finished(search)) == 2
    before = _snapshot(search)
    code, _, err = run_cli(*command)
    assert code == 0, err
    assert len(trials(search)) == 4 and len(_finished(search)) == 4
    after = _snapshot(search)
    assert all(after[name] == data for name, data in before.items() if json.loads(data)["status"] == "COMPLETED")
    assert len(logged(home)) == 4


@pytest.mark.one_backend
@pytest.mark.parametrize("stop", ["killed", "sigterm"])
def test_a_search_stopped_between_writing_a_new_trial_and_the_oracle_runs_that_trial(
        run_cli, toy, home, monkeypatch, stop):
    """KerasTuner writes a new trial's file (running), then the oracle that lists it as ongoing.
    Stopped in between, the trial was left running for ever and counted toward --max-trials
    (seen in CI: 4 trials, 3 finished). A SIGTERM there waits for the oracle; a kill -9
    (here: an exception where nothing can defer it) is repaired when the search resumes."""
    from keras_tuner.engine import oracle as oracle_module

    from kerasdl import errors

    monkeypatch.setattr(errors, "_signals", [])
    original = oracle_module.Oracle._save_trial

    def save_trial(self, trial):
        original(self, trial)
        if trial.trial_id == "2" and trial.status == "RUNNING":
            if stop == "killed":
                raise KeyboardInterrupt("killed before the oracle was saved")
            os.kill(os.getpid(), signal.SIGTERM)

    command = ("tune", "toytune", "--tuner", "random", "--max-trials", "4")
    with monkeypatch.context() as patched:
        patched.setattr(oracle_module.Oracle, "_save_trial", save_trial)
        code, _, err = run_cli(*command)
    assert code == 130, err
    search = only(toy)
    assert trials(search)["2"]["status"] == "RUNNING" and len(_finished(search)) == 2
    ongoing = json.loads((search / "oracle.json").read_text())["ongoing_trials"]
    assert ongoing == ({} if stop == "killed" else {"tuner0": "2"})
    monkeypatch.setattr(errors, "_signals", [])
    code, _, err = run_cli(*command)
    assert code == 0, err
    assert len(trials(search)) == 4 and len(_finished(search)) == 4
    assert len(logged(home)) == 4  # the stopped trial had not started its run


@pytest.mark.one_backend
def test_overwrite_starts_the_search_over(run_cli, toy, home):
    command = ("tune", "toytune", "--tuner", "random", "--max-trials", "2")
    assert run_cli(*command)[0] == 0
    assert run_cli(*command, "--overwrite")[0] == 0
    assert len(trials(only(toy))) == 2 and len(logged(home)) == 4


@pytest.mark.one_backend
def test_another_search_under_the_same_name_is_refused(run_cli, toy):
    assert run_cli("tune", "toytune", "--tuner", "random", "--max-trials", "1", "--name", "mine")[0] == 0
    code, _, err = run_cli("tune", "toytune", "--tuner", "bayesian", "--max-trials", "1", "--name", "mine")
    assert code == 2 and "holds another search (its tuner differ)" in err


# === Grid ===

@pytest.mark.one_backend
def test_grid_search_resumes_and_runs_every_combination_once(run_cli, toy, home, monkeypatch):
    command = ("tune", "toytune", "--tuner", "grid", "--rate", "0.01", "--set", "modes=a,b")
    monkeypatch.setenv("TOYTUNE_STOP_AFTER", "2")
    assert run_cli(*command)[0] == 130
    monkeypatch.delenv("TOYTUNE_STOP_AFTER")
    code, _, err = run_cli(*command)
    assert code == 0, err
    search = only(toy)
    combinations = sorted((t["hyperparameters"]["values"]["units"], t["hyperparameters"]["values"]["mode"])
                          for t in trials(search).values())
    assert combinations == [(u, m) for u in (2, 4, 8) for m in ("a", "b")]  # the whole grid, once each
    rows = {(int(r["units"]), r["mode"]): r["status"] for r in table(search)}
    assert rows.pop((8, "b")) == "failed"  # the impossible combination
    assert set(rows.values()) == {"finished"}
    assert run_cli(*command)[0] == 0 and len(trials(search)) == 6  # nothing left to run
    # Each factor's effect: the mean objective of the finished trials at each value (val_score =
    # units / 10 + 0.5 for mode b; (8, b) failed): mode a (0.2 + 0.4 + 0.8) / 3, mode b (0.7 + 0.9) / 2.
    summary = (search / "summary.md").read_text()
    assert "| mode | a | 3 | 0.4667 | -0.3333 |" in summary
    assert "| mode | b | 2 | 0.8000 | +0.0000 |" in summary
    assert "| units | 2 | 2 | 0.4500 | -0.3500 |" in summary


@pytest.mark.one_backend
def test_the_grid_oracle_of_kerastuner_loses_its_place_on_reload_and_ours_does_not(tmp_path, capsys):
    """The workaround's reason, kept as a check: reloaded after 2 of the 4 combinations,
    KerasTuner 1.4.8's GridSearchOracle does not go on to the 2 left (it hands out the
    second again, then fails or stops); ours goes on to both (after retrying the second,
    which this bare oracle, with no tuner around it, saved as still running)."""
    import keras_tuner

    from kerasdl.tune.grid import GridOracle

    def after_reload(oracle_class, directory):
        def make():
            oracle = oracle_class(objective=keras_tuner.Objective("score", "max"), max_trials=4)
            oracle._set_project_dir(str(directory), "p")
            hp = oracle.get_space()
            hp.Choice("a", [1, 2])
            hp.Choice("b", [1, 2])
            oracle.update_space(hp)
            return oracle

        def finish(oracle, trial):
            oracle.update_trial(trial.trial_id, {"score": 1.0})
            trial.status = "COMPLETED"
            oracle.end_trial(trial)

        oracle = make()
        for _ in range(2):
            finish(oracle, oracle.create_trial("tuner0"))
        oracle = make()
        oracle.reload()
        handed_out = []
        try:
            for _ in range(4):
                trial = oracle.create_trial("tuner0")
                if trial.status != "RUNNING":
                    break
                handed_out.append((trial.hyperparameters.values["a"], trial.hyperparameters.values["b"]))
                finish(oracle, trial)
        except Exception:  # noqa: BLE001 - KerasTuner's oracle may fail here too (keras-tuner#1055)
            pass
        return handed_out

    left = {(2, 1), (2, 2)}
    assert not left <= set(after_reload(keras_tuner.oracles.GridSearchOracle, tmp_path / "kt"))
    ours = after_reload(GridOracle, tmp_path / "ours")
    assert ours[-2:] == [(2, 1), (2, 2)] and len(ours) == len(set(ours))


# === Failures ===

def test_failed_trials_are_recorded_with_their_reason_and_the_search_goes_on(run_cli, toy):
    code, out, err = run_cli("tune", "toytune", "--tuner", "grid", "--units", "8", "--rate", "0.01",
                             "--set", "modes=a,b,nan,crash")
    assert code == 0, err
    search = only(toy)
    rows = {r["mode"]: r for r in table(search)}
    assert rows["a"]["status"] == "finished"
    reasons = {mode: rows[mode]["reason"] for mode in ("b", "nan", "crash")}
    assert all(rows[mode]["status"] == "failed" for mode in reasons)
    assert "impossible combination" in reasons["b"]
    assert "nan" in reasons["nan"].lower() and "loss" in reasons["nan"]
    assert reasons["crash"] == "RuntimeError: a bug in the task"
    summary = (search / "summary.md").read_text()
    assert "Failed trials:" in summary and "RuntimeError: a bug in the task" in summary
    assert sum("failed:" in line for line in out.splitlines()) == 3


@pytest.mark.one_backend
def test_a_search_where_every_trial_fails_says_so(run_cli, toy):
    code, _, err = run_cli("tune", "toytune", "--tuner", "random", "--max-trials", "2", "--set", "modes=crash")
    assert code == 1
    assert "no trial of" in err and "RuntimeError: a bug in the task" in err


# === Bad input: one line, exit 2 ===

def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("args, words", [
    (["toytune", "--tuner", "annealing"], "invalid choice: 'annealing'"),
    (["toytune", "--max-trials", "0"], "--max-trials 0: expected 1 or more trials"),
    (["toytune", "--objective", "test_score"], "measured on the test set"),
    (["toytune", "--objective", "val_width"], "val_width:min or val_width:max"),
    (["toytune", "--budget", "epochs"], "--budget 'epochs': expected key=value"),
    (["toytune", "--tuner", "grid"], "--tuner grid takes a space of choices"),
    (["toytun"], "unknown task 'toytun' (did you mean 'toytune'?)"),
    (["xor"], "task 'xor' has no search space"),
])
def test_bad_input_gets_one_line_and_exit_2(run_cli, toy, args, words):
    code, _, err = run_cli("tune", *args)
    assert code == 2
    assert err.startswith("kerasdl: error: ") and err.count("\n") == 1
    assert words in err


def test_an_objective_the_task_does_not_report_stops_the_search(run_cli, toy):
    code, _, err = run_cli("tune", "toytune", "--max-trials", "2", "--objective", "val_width:max")
    assert code == 2 and err.count("\n") == 1
    assert "--objective val_width: the task 'toytune' does not report it; it reports" in err
    assert "val_loss" in err and "test_score" not in err


@pytest.mark.one_backend
def test_a_worker_whose_chief_does_not_answer_stops_with_one_line(run_cli, toy, monkeypatch):
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "worker1")
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(_closed_port()))
    started = time.monotonic()
    code, _, err = run_cli("tune", "toytune", "--chief-timeout", "1")
    assert code == 2 and err.count("\n") == 1 and "no tuning chief answers at 127.0.0.1:" in err
    assert time.monotonic() - started < 30


# === Memory ===

@pytest.mark.slow  # 40-60 s a backend (CI time); a measurement more than a check of the code
def test_memory_does_not_grow_from_trial_to_trial(run_cli, toy):
    """12 trials: resident memory after the 12th within 5% + 40 MB of that after the 3rd. It
    catches a leak of several MB a trial (a copy of the data, a model kept per trial); the ~1-2
    MB a trial TensorFlow keeps when the session is not cleared is within its tolerance."""
    code, _, err = run_cli("tune", "toytune", "--tuner", "random", "--max-trials", "12", "--set", "epochs=1",
                           "--set", "modes=a")  # no impossible combination: every trial measured
    assert code == 0, err
    search = only(toy)
    by_id = {r["trial"]: float(r["memory_mb"]) for r in table(search)}
    order = json.loads((search / "oracle.json").read_text())["start_order"]
    third, twelfth = by_id[order[2]], by_id[order[11]]
    assert twelfth <= third * 1.05 + 40, (third, twelfth)


# === Retraining the best, publishing ===

def test_retrain_best_is_an_ordinary_run_without_the_trial_budget(run_cli, toy, home):
    code, out, err = run_cli("tune", "toytune", "--tuner", "random", "--max-trials", "2",
                             "--budget", "epochs=1", "--retrain-best")
    assert code == 0, err
    search = only(toy)
    assert {r["epochs"] for r in table(search)} == {"1"}  # the trials' budget
    runs = list((home / "runs" / "toytune").iterdir())
    assert len(runs) == 1
    config = json.loads((runs[0] / "config.json").read_text())
    assert config["config"]["epochs"] == 2  # the task's own, not the budget
    assert config["command"].startswith("python -m kerasdl toytune --backend ")
    assert "kerasdl toytune finished" in out
    best = table(search)[0]
    assert config["config"]["units"] == int(best["units"]) and config["config"]["mode"] == best["mode"]
    summary = (search / "summary.md").read_text()
    assert f"Retrained (trial {best['trial']}" in summary and str(runs[0]) in summary
    assert "Each trial's budget: epochs=1 (not the retrained best's)." in summary


@pytest.mark.one_backend
def test_publish_copies_the_summary_and_its_figures(run_cli, toy, home):
    command = ("tune", "toytune", "--tuner", "random", "--max-trials", "2", "--publish")
    assert run_cli(*command)[0] == 0
    assert run_cli(*command)[0] == 0  # publishing again replaces the search's section
    name = only(toy).name
    text = (home / "tuning" / "toytune.md").read_text()
    assert text.count(f"<!-- kerasdl:tune-{name} -->") == 1
    assert f"](../plots/toytune/tune-{name}/objective_by_trial.png)" in text
    assert (home / "plots" / "toytune" / f"tune-{name}" / "objective_by_hyperparameter.png").is_file()
    code, _, err = run_cli("tune", "toytune", "--quick", "--publish")
    assert code == 2 and "--publish takes a full run" in err


# === Distributed ===

@pytest.mark.one_backend
def test_two_workers_finish_a_search_running_every_trial_once(run_cli, toy, home, subprocess_env):
    code, out, err = run_cli("tune", "toytune", "--tuner", "random", "--max-trials", "4", "--workers", "2")
    assert code == 0, err
    search = only(toy)
    assert len(trials(search)) == 4 and len(_finished(search)) == 4
    ran = sorted(line.split()[0] for line in logged(home))
    assert ran == [f"trial_{t}" for t in _finished(search)]  # each trial once
    assert "2 local workers" in out and len(table(search)) == 4


@pytest.mark.one_backend
def test_a_worker_that_dies_leaves_its_trial_to_another(run_cli, toy, home, subprocess_env, monkeypatch):
    monkeypatch.setenv("TOYTUNE_DIE_IN", "trial_1")  # its first run kills its worker (SIGKILL)
    code, out, err = run_cli("tune", "toytune", "--tuner", "random", "--max-trials", "3", "--workers", "2")
    assert code == 0, err
    search = only(toy)
    assert (search / "trial_1" / "died-once").is_file()
    assert len(_finished(search)) == 3
    assert sorted(line.split()[0] for line in logged(home)) == ["trial_0", "trial_1", "trial_2"]
    assert "during trial 1, which is run again" in out


# === The real tasks' search spaces ===

@pytest.mark.parametrize("task", ["classify", "clock", "adversarial", "vae"])
def test_each_search_space_defaults_to_the_tasks_own_values(task):
    """An empty HyperParameters gives the task's defaults (the first trial of a grid), the
    values are valid for the Config, and a Fixed value is not searched."""
    import keras_tuner

    from kerasdl import tasks
    from kerasdl.tune.tuner import TaskHyperModel

    module = tasks.load(task)
    base = module.Config()
    hypermodel = TaskHyperModel(task, module, base, {})
    hp = keras_tuner.HyperParameters()
    config = hypermodel.config(hp)
    searched = {p.name for p in hp.space if not isinstance(p, keras_tuner.engine.hyperparameters.Fixed)}
    assert searched and searched <= set(vars(base)), "hyperparameter names are Config fields"
    default = module.resolve(base, 1) if task == "classify" else base  # the grey-image recipe
    for name in searched:
        expected = module.train_epsilon(base) if name == "train_epsilon" else getattr(default, name)
        assert getattr(config, name) == expected, name
    name, value = {"classify": ("dropout", 0.0), "clock": ("dropout", 0.0),
                   "adversarial": ("random_start", True), "vae": ("latent_dim", 2)}[task]
    hp = keras_tuner.HyperParameters()
    assert getattr(TaskHyperModel(task, module, base, {name: value}).config(hp), name) == value
    assert isinstance(next(p for p in hp.space if p.name == name), keras_tuner.engine.hyperparameters.Fixed)


def test_the_clock_space_trains_the_multihead_reader_and_grid_needs_choices():
    import keras_tuner

    from kerasdl import tasks
    from kerasdl.errors import UserError
    from kerasdl.tune.grid import check_grid
    from kerasdl.tune.tuner import TaskHyperModel

    clock = tasks.load("clock")
    hp = keras_tuner.HyperParameters()
    hp.Fixed("widths", "8,16")
    config = TaskHyperModel("clock", clock, clock.Config(), {}).config(hp)
    assert config.formulations == ("multihead",) and config.widths == (8, 16)
    with pytest.raises(UserError, match="draws learning_rate from a range"):
        check_grid(hp.space, "clock")


@pytest.mark.one_backend
def test_kerastuner_state_files_are_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """A search stopped while KerasTuner writes trial.json (here: the disk fills up at the
    rename) keeps the last whole file and leaves no temporary one."""
    import os

    from keras_tuner.src import utils

    import kerasdl.tune.tuner  # noqa: F401 -- installs the atomic writer

    target = tmp_path / "trial.json"
    utils.save_json(str(target), {"status": "RUNNING"})

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError):
        utils.save_json(str(target), {"status": "COMPLETED"})
    assert json.loads(target.read_text()) == {"status": "RUNNING"}
    assert [p.name for p in tmp_path.iterdir()] == ["trial.json"]


def test_effects_are_measured_from_the_best_value_in_the_objectives_direction():
    from kerasdl.tune.summary import effect_rows

    effects = {"widths": [("16", 2, 30.0), ("32", 3, 20.0), ("64", 1, 25.0)]}
    minimised = {r["value"]: r["difference"] for r in effect_rows(effects, "min")}
    assert minimised == {"16": 10.0, "32": 0.0, "64": 5.0}  # an error in minutes: lowest is best
    maximised = {r["value"]: r["difference"] for r in effect_rows(effects, "max")}
    assert maximised == {"16": 0.0, "32": -10.0, "64": -5.0}
