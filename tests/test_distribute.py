"""`--distribute` (issue 18, part 6): the same tiny run on one device and data-parallel on two
logical CPU devices gives the same loss curve, within a stated tolerance per backend."""

import csv
import os
import subprocess
import sys

import keras
import pytest

from bad_inputs import one_line_error

# Two logical CPU devices: TensorFlow's must be made before its runtime starts, JAX's by a flag.
_SCRIPT = """
import sys
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from kerasdl import cli

# Both runs in one process (one start-up of the backend): first on one device, then on two.
out, args = sys.argv[1], sys.argv[2:]
for name, extra in (("one", []), ("two", ["--distribute"])):
    print(f"== {name}", file=sys.stderr, flush=True)
    code = cli.main([*args, "--out", f"{out}/{name}", *extra])
    if code:
        sys.exit(code)
"""

# JAX's DataParallel is one program over the whole batch: the same curve up to float32
# round-off. MirroredStrategy normalises each replica's half-batch with its own batch-norm
# statistics: 1.4% apart after 3 epochs of a similar tiny CNN here; 5% leaves room.
TOLERANCE = {"jax": 1e-5, "tensorflow": 5e-2}


def _losses(tmp_path, *extra):
    """The loss curves of the run on one device and of the run on two, and what the second said."""
    backend_name = keras.backend.backend()
    env = dict(os.environ, KERAS_BACKEND=backend_name)
    if backend_name == "jax":
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path), "classify", "--dataset", "digits",
                           "--model", "cnn", "--widths", "4,8", "--epochs", "3", "--batch-size", "64",
                           "--train-limit", "512", "--precision", "float32", *extra],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]

    def curve(name):
        (folder,) = (tmp_path / name / "classify").iterdir()
        with open(folder / "history.csv") as f:
            return [float(row["loss"]) for row in csv.DictReader(f)]

    return curve("one"), curve("two"), proc.stderr.split("== two")[-1]


@pytest.mark.backends
def test_two_devices_give_the_loss_curve_of_one(tmp_path):
    backend_name = keras.backend.backend()
    if backend_name == "torch":
        pytest.skip("Keras has no distribution support for PyTorch (--distribute refuses it)")
    # JAX shards each batch in equal parts: 500 images give 450 training and 50 validation ones
    # (and 360 test), every batch even. TensorFlow's 512 give 51 validation images, split 26 / 25
    # over the replicas on purpose.
    sizes = ("--train-limit", "500") if backend_name == "jax" else ()
    one, two, err = _losses(tmp_path, *sizes)
    assert "data-parallel over 2 devices" in err
    assert two == pytest.approx(one, rel=TOLERANCE[backend_name])
    assert two != one or backend_name == "jax"  # TensorFlow's replicas really split the batch


def test_distribute_refuses_pytorch(monkeypatch):
    from kerasdl.errors import UserError
    from kerasdl.tasks import classify
    from kerasdl.training.backends import distribute

    monkeypatch.setattr(distribute.keras.backend, "backend", lambda: "torch")
    with pytest.raises(UserError, match="no distribution support for the PyTorch backend"):
        distribute.check("classify", classify)


def test_a_task_that_cannot_train_data_parallel_says_so(run_cli, tmp_path):
    if keras.backend.backend() == "torch":
        pytest.skip("PyTorch is refused first")
    one_line_error(run_cli("xor", "--quick", "--distribute", "--out", tmp_path),
                   "task 'xor' does not train data-parallel")
