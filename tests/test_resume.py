"""Interrupted training resumes (issue 19, point 4): `<task> --resume RUN_DIR` continues from
the last finished epoch and ends with the weights of a run never interrupted; `kill -9`
loses at most the epoch in progress; temporary files are cleaned when the run is resumed."""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from bad_inputs import one_line_error

VARYING = {"wall_time_s", "peak_memory_mb", "train_seconds", "seconds_per_epoch"}  # the clock, the memory


class _StopAtEpoch(keras.callbacks.Callback):
    """Ctrl-C as epoch `at` (0-based) begins: epochs 0..at-1 are finished and saved."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            raise KeyboardInterrupt


def _blobs(n, seed):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.integers(0, 60, (n, 8, 8, 1)) + 60 * y[:, None, None, None]
    return x.astype(np.uint8), y


def _only_folder(root, task="classify"):
    (folder,) = (root / task).iterdir()
    return folder


def _weights(folder):
    model = keras.saving.load_model(folder / "model.keras", safe_mode=True)
    return model.get_weights()


def _same_run(cut, whole, files, varying=()):
    """A resumed run's model, `files` and metrics are those of the run never cut."""
    for mine, theirs in zip(_weights(cut), _weights(whole), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    for name in files:
        assert (cut / name).read_bytes() == (whole / name).read_bytes(), name

    def metrics(folder):
        skip = VARYING | set(varying)
        return {k: v for k, v in json.loads((folder / "metrics.json").read_text()).items() if k not in skip}

    assert metrics(cut) == metrics(whole)
    assert not (cut / "checkpoint").exists()  # a finished run keeps its model, not its training state


@pytest.mark.backends
def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(run_cli, home, toy_dataset,
                                                                     monkeypatch):
    from kerasdl.tasks import classify
    from kerasdl.training import progress

    name = toy_dataset("blobs", _blobs, ["a", "b", "c"], train=96, test=48, description="grey blobs")
    # Dropout and augmentation draw random numbers, and fit shuffles: all of it must resume.
    options = ("classify", "--dataset", name, "--model", "cnn", "--widths", "4,8", "--dropout", "0.3",
               "--augment", "flip+shift", "--epochs", "4", "--batch-size", "16", "--precision", "float32")
    code, _, err = run_cli(*options, "--out", home / "whole")
    assert code == 0, err
    whole = _only_folder(home / "whole")

    with progress.added_callbacks(lambda: [_StopAtEpoch(2)]):
        code, _, err = run_cli(*options, "--out", home / "cut")
    assert code == 130, err
    cut = _only_folder(home / "cut")
    assert json.loads((cut / "status.json").read_text())["status"] == "interrupted"
    assert (cut / "checkpoint" / "fit-1.npz").is_file() and not (cut / "model.keras").exists()
    leftover = cut / ".model.keras.a1b2c3.tmp"  # what a write cut short leaves (runs.atomic_write)
    leftover.write_bytes(b"half a model")

    # A kerasdl upgraded in between, with another recipe: the run goes on with the one it began.
    grey = classify.RECIPES[("cnn", "grey")]
    monkeypatch.setitem(classify.RECIPES, ("cnn", "grey"),
                        {**grey, "head": "flatten" if grey["head"] == "gap" else "gap", "learning_rate": 0.5})
    code, out, err = run_cli("classify", "--resume", cut)
    assert code == 0, err
    assert "resumed from the end of epoch 2" in out
    assert "1 unfinished temporary files removed" in err and not leftover.exists()
    _same_run(cut, whole, ["history.csv"])
    assert json.loads((cut / "status.json").read_text())["status"] == "finished"
    assert len(json.loads((cut / "config.json").read_text())["resumed"]) == 1


@pytest.mark.backends
def test_a_resumed_gan_ends_with_the_weights_of_an_uninterrupted_one(run_cli, home, tmp_path):
    """A custom train step with two optimizers and its own seed generator resumes as fit does."""
    from test_gan import _fake_flowers

    from kerasdl.training import progress

    # one class: the run skips its Fréchet scorer (a classifier of its own), which resumes nothing
    _fake_flowers(tmp_path / "data" / "flowers102", n=64, classes=1)
    options = ("gan", "--quick", "--data-dir", tmp_path / "data", "--epochs", "2", "--set", "z_dim=10",
               "--set", "variant=wgan-gp", "--set", "d_steps=2")
    assert run_cli(*options, "--out", home / "whole")[0] == 0
    with progress.added_callbacks(lambda: [_StopAtEpoch(1)]):
        assert run_cli(*options, "--out", home / "cut")[0] == 130
    cut = _only_folder(home / "cut", "gan")
    code, out, err = run_cli("gan", "--resume", cut)
    assert code == 0, err
    assert "resumed from the end of epoch 1" in out
    whole = _only_folder(home / "whole", "gan")
    for mine, theirs in zip(_weights(cut), _weights(whole), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    # Its callbacks' records resume too: every step's losses, from step 1 (StepLosses).
    [steps] = [p.name for p in whole.glob("steps*.csv")]
    assert (cut / steps).read_text() == (whole / steps).read_text()


@pytest.mark.slow
@pytest.mark.backends
def test_a_contrastive_run_cut_in_its_fine_tuning_keeps_its_probes_and_ends_as_an_uninterrupted_one(
        run_cli, home, toy_dataset):
    """The encoder, the two linear probes and the first fine-tuning are fits 1-4; the run is
    cut as fit 5 (fine-tuning from the random encoder) begins. Every finished fit, the probes
    too, is restored instead of trained again, and the run ends as one never cut."""
    from test_contrastive import TOY, toy_images

    from kerasdl.training import progress

    toy_dataset(TOY, toy_images, ["small", "large"], train=120, test=40, description="8x8 squares of two sizes")
    options = ("contrastive", "--quick", "--set", f"dataset={TOY}", "--set", "widths=4", "--tsne-points", "0")
    assert run_cli(*options, "--out", home / "whole")[0] == 0
    fits = []

    def stop_in_fit_5():
        fits.append(1)
        return [_StopAtEpoch(0)] if len(fits) == 5 else []

    with progress.added_callbacks(stop_in_fit_5):
        assert run_cli(*options, "--out", home / "cut")[0] == 130
    cut = _only_folder(home / "cut", "contrastive")
    assert sorted(p.name for p in (cut / "checkpoint").glob("fit-*.npz")) == [f"fit-{k}.npz" for k in range(1, 5)]
    code, _, err = run_cli("contrastive", "--resume", cut)
    assert code == 0, err
    whole = _only_folder(home / "whole", "contrastive")
    _same_run(cut, whole, ["history.csv", "gallery.npz"],
              varying={"pretrain_seconds", "evaluation_seconds", "machine_load", "finetune"})

    def finetuned(folder):  # the fine-tuning's numbers, less its times
        rows = json.loads((folder / "metrics.json").read_text())["finetune"]
        return {share: {k: ({**v, "seconds": None} if isinstance(v, dict) else v) for k, v in row.items()}
                for share, row in rows.items()}

    assert finetuned(cut) == finetuned(whole)


def _cut_loop_at(monkeypatch, at, loop=1):
    """Ctrl-C right after the run's `loop`-th by-hand loop saved its state at the end of `at`
    ("epoch 2", "step 100"); every epoch's state is saved (no LOOP_SAVE_EVERY_S wait)."""
    from kerasdl.training import checkpoint

    monkeypatch.setattr(checkpoint, "LOOP_SAVE_EVERY_S", 0.0)
    save = checkpoint.LoopCheckpoint.save

    def save_then_stop(self, state, where, finished=False):
        save(self, state, where, finished)
        if self.path.name == f"loop-{loop}.npz" and where == at and not finished:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.LoopCheckpoint, "save", save_then_stop)


@pytest.mark.backends
@pytest.mark.parametrize("task, options, loop, at, files", [
    ("xor", ("--quick",), 1, "step 100", ("history.csv", "sweep.csv")),
    # the loop of `scratch.networks.fit`, with the shuffling generator to resume (softmax-regression
    # below resumes the same loop, early stopping too: this one only in the slow suite)
    pytest.param("scratch-mlp", ("--quick", "--dataset", "digits", "--epochs", "3", "--set", "train_limit=300"),
                 1, "epoch 2", ("history.csv",), marks=pytest.mark.slow),
    # three loops (one per seed), the online rule's shuffling generator to resume
    ("perceptron", ("--quick", "--dataset", "digits", "--set", "shuffle=true", "--set", "seeds=0,1,2"),
     3, "epoch 2", ("history.csv",)),
    # fits in chunks, a frame drawn after each: the GAN's two optimizers, the data's generator
    ("gan-2d", ("--quick", "--set", "frames=4"), 1, "frame 2", ("history.csv", "training.gif")),
    # two loops, the first finished (restored, not trained again), the second cut between
    # evaluations (eval_every 7 does not divide an epoch's 9 steps) with early stopping's state
    ("softmax-regression", ("--quick", "--dataset", "digits", "--epochs", "6", "--set", "eval_every=7",
                            "--set", "patience=2", "--set", "binary_classes=1,7"),
     2, "epoch 3", ("history.csv", "results.csv")),
])
def test_a_resumed_by_hand_loop_ends_as_an_uninterrupted_one(run_cli, home, monkeypatch, task, options, loop,
                                                             at, files):
    code, _, err = run_cli(task, *options, "--out", home / "whole")
    assert code == 0, err
    with monkeypatch.context() as patch:
        _cut_loop_at(patch, at, loop)
        code, _, err = run_cli(task, *options, "--out", home / "cut")
    assert code == 130, err
    cut = _only_folder(home / "cut", task)
    saved = sorted(p.name for p in (cut / "checkpoint").iterdir())
    assert saved == [f"loop-{k}.npz" for k in range(1, loop + 1)]
    code, out, err = run_cli(task, "--resume", cut)
    assert code == 0, err
    assert f"resumed from the end of {at}" in out
    _same_run(cut, _only_folder(home / "whole", task), files,
              varying={"cpu_time_s", "cpu_seconds", "train_cpu_seconds"})  # time spent, not results


@pytest.mark.parametrize("args, message", [
    (["--resume", "{tmp}/nothing"], "not a run folder (no config.json)"),
    (["--resume", "{finished}"], "this run finished; there is nothing to resume"),
    (["--resume", "{finished}", "--epochs", "3"], "give no others (got --epochs)"),
])
def test_resume_refuses_what_it_cannot_continue(run_cli, home, tmp_path, args, message):
    finished = tmp_path / "runs" / "classify" / "r1"
    finished.mkdir(parents=True)
    (finished / "config.json").write_text(json.dumps({"task": "classify", "backend": "tensorflow",
                                                      "config": {}}))
    (finished / "status.json").write_text(json.dumps({"status": "finished"}))
    argv = [a.format(tmp=tmp_path, finished=finished) for a in args]
    one_line_error(run_cli("classify", *argv), message)


def test_resume_names_the_task_the_folder_belongs_to(run_cli, tmp_path):
    folder = tmp_path / "r2"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"task": "vae", "config": {}}))
    one_line_error(run_cli("classify", "--resume", folder), f"kerasdl vae --resume {folder}")


def _done_epochs(text):
    return [int(line.split()[1].split("/")[0]) for line in text.splitlines()
            if line.startswith("epoch ") and " done " in line]


@pytest.mark.one_backend
def test_kill_9_loses_at_most_the_epoch_in_progress(tmp_path):
    """A real process killed without warning between epochs, then resumed to the end."""
    env = {k: v for k, v in os.environ.items() if k != "KERASDL_QUIET"}  # we read its epoch lines
    # 15 epochs: killed after the third, the run must not end first (CI time: 40 took 75 s)
    command = [sys.executable, "-m", "kerasdl", "classify", "--dataset", "digits", "--model", "mlp",
               "--hidden", "32", "--epochs", "15", "--batch-size", "32", "--out", str(tmp_path)]
    log = tmp_path / "log.txt"
    with open(log, "w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 120
        while len(_done_epochs(log.read_text())) < 3 and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    done = _done_epochs(log.read_text())
    assert done, log.read_text()[-2000:]
    folder = _only_folder(tmp_path)

    proc = subprocess.run([sys.executable, "-m", "kerasdl", "classify", "--resume", str(folder)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    resumed_at = int(proc.stdout.split("resumed from the end of epoch ")[1].split()[0])
    assert resumed_at >= max(done)  # every epoch it reported finished was kept
    assert len((folder / "history.csv").read_text().splitlines()) == 1 + 15


def test_early_stopping_resumes_its_patience_and_best_weights(tmp_path):
    """A fit cut after an epoch that did not improve, resumed with a fresh EarlyStopping, stops
    at the epoch and with the weights of the fit never cut (the checkpoint keeps its state)."""
    from kerasdl.training import checkpoint, progress

    x = np.linspace(-1, 1, 32, dtype="float32").reshape(-1, 1)
    y = (x[:, 0] > 0).astype("int64")

    def fit(folder, cut_at=None):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(2, activation="softmax")])
        model.compile(optimizer=keras.optimizers.SGD(40.0), loss="sparse_categorical_crossentropy")
        # After two epochs the loss falls by less than min_delta: each epoch then waits.
        stop = keras.callbacks.EarlyStopping(monitor="loss", patience=3, min_delta=0.01,
                                             restore_best_weights=True)
        extra = [_StopAtEpoch(cut_at)] if cut_at is not None else []
        with checkpoint.every_fit(folder), progress.added_callbacks(lambda: extra):
            options = progress.fit_options([stop])
            options["verbose"] = 0
            history = model.fit(x, y, batch_size=32, epochs=30, shuffle=False, **options)
        return model, stop, history.history["loss"]

    model, stop, losses = fit(tmp_path / "whole")
    assert 3 <= stop.stopped_epoch < 29 and stop.best_epoch < stop.stopped_epoch - 1, losses
    with pytest.raises(KeyboardInterrupt):  # cut while it waits: a fresh count would wait longer
        fit(tmp_path / "cut", cut_at=stop.stopped_epoch - 1)
    resumed, resumed_stop, resumed_losses = fit(tmp_path / "cut")
    assert resumed_stop.stopped_epoch == stop.stopped_epoch and resumed_losses == losses
    for mine, theirs in zip(resumed.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
