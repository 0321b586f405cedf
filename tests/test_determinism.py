"""Same seed, same backend, same machine: the same metrics to the last digit, for a
by-hand task and for a `fit`-based --quick run (issue 19, point 7)."""

import json

import numpy as np
import pytest

pytestmark = pytest.mark.backends

# What may differ between two identical runs: the clock and the memory.
VARYING = {"wall_time_s", "peak_memory_mb", "train_seconds", "seconds_per_epoch", "seconds"}


def _metrics(run_cli, home, task, *options, out="runs"):
    code, _, err = run_cli(task, "--quick", *options, "--out", home / out)
    assert code == 0, err
    folder = sorted((home / out / task).iterdir())[-1]
    metrics = json.loads((folder / "metrics.json").read_text())
    return {k: v for k, v in metrics.items()
            if k not in VARYING and not k.endswith(("_seconds", "_time_s"))}


def _blobs(n, seed):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.integers(0, 60, (n, 8, 8, 1)) + 60 * y[:, None, None, None]
    return x.astype(np.uint8), y


def test_a_by_hand_task_repeats_to_the_last_digit(run_cli, home):
    options = ("--epochs", "100")
    first = _metrics(run_cli, home, "xor", *options, out="a")
    assert first == _metrics(run_cli, home, "xor", *options, out="b")
    # and another seed gives other numbers: the comparison can fail
    assert first != _metrics(run_cli, home, "xor", *options, "--seed", "1", out="c")


def test_a_fit_run_repeats_to_the_last_digit(run_cli, home, toy_dataset):
    name = toy_dataset("blobs", _blobs, ["a", "b", "c"], train=96, test=48, description="grey blobs")
    options = ("--dataset", name, "--model", "cnn", "--widths", "4,8", "--precision", "float32")
    first = _metrics(run_cli, home, "classify", *options, out="a")
    assert first["test_accuracy"] is not None
    assert first == _metrics(run_cli, home, "classify", *options, out="b")
