"""`--distribute`: data-parallel training on every local device, and on several machines,
with the engines that exist for it (issue 18, part 6), not one of kerasdl's own.

- JAX: Keras's distribution API, `keras.distribution.DataParallel` over
  `keras.distribution.list_devices()`: one program, the batch split across the
  devices; batch norm sees the whole batch, so the loss curve is the one device's
  (tests/test_distribute.py). Every batch must split evenly over the devices (a
  sharded array has equal parts): a run whose sets do not divide stops with one line. Several machines:
  `keras.distribution.initialize()` reads KERAS_DISTRIBUTION_JOB_ADDRESSES,
  KERAS_DISTRIBUTION_NUM_PROCESSES and KERAS_DISTRIBUTION_PROCESS_ID.
- TensorFlow: `tf.distribute.MirroredStrategy` over the local GPUs (or the CPU's
  logical devices), and `MultiWorkerMirroredStrategy` when TF_CONFIG names several
  machines. Each replica's batch norm normalises with its own part of the batch, so
  the curve differs from one device's by a little (about 1% here).
- PyTorch: Keras 3 has no distribution support for it (keras.distribution is JAX-only,
  tf.distribute TensorFlow's); `--distribute` says so.

`--batch-size` stays the global batch: each of N devices gets 1/N of it. With more
devices, raise it (and the learning rate in proportion, the linear scaling rule of
Goyal et al. 2017) to keep every device busy.
"""

import contextlib
import os

import keras

from kerasdl.errors import UserError

# Keras's environment variables for a JAX job on several machines.
JAX_JOB_VARIABLES = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
                     "KERAS_DISTRIBUTION_PROCESS_ID")


def check(task_name, module):
    """Before the run folder: the backend and the task can train data-parallel."""
    name = keras.backend.backend()
    if name == "torch":
        raise UserError("--distribute: Keras 3 has no distribution support for the PyTorch backend "
                        "(keras.distribution is JAX's, tf.distribute TensorFlow's); use --backend jax "
                        "or tensorflow")
    if not getattr(module, "DISTRIBUTE", False):
        raise UserError(f"--distribute: task {task_name!r} does not train data-parallel (tasks that do: "
                        "those whose module sets DISTRIBUTE = True, e.g. classify)")


@contextlib.contextmanager
def data_parallel():
    """Within: models built and trained data-parallel over every device; yields the
    devices' names."""
    if keras.backend.backend() == "jax":
        if all(v in os.environ for v in JAX_JOB_VARIABLES):
            keras.distribution.initialize()
        devices = keras.distribution.list_devices()
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        try:
            yield list(devices)
        except Exception as e:
            if type(e).__name__ != "IndivisibleError":
                raise
            raise UserError(f"--distribute on JAX splits every batch evenly over the {len(devices)} "
                            "devices, and this run has a batch that does not split (the last batch of "
                            "a set, or a set smaller than a batch): use sizes that divide, or --backend "
                            "tensorflow, whose replicas take uneven parts") from None
        finally:
            keras.distribution.set_distribution(previous)
        return
    import tensorflow as tf

    if "TF_CONFIG" in os.environ:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        devices = [f"{strategy.num_replicas_in_sync} replicas across the workers of TF_CONFIG"]
    else:
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or \
                  [d.name for d in tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(devices)
    _build_from_the_first_replica(strategy)
    with strategy.scope():
        yield devices


def _build_from_the_first_replica(strategy):
    """Keras 3.15's TensorFlow trainer, under a strategy, builds the model at each fit and
    evaluate from the first batch averaged over the replicas (`strategy.reduce("MEAN",
    batch, axis=None)` in trainer._maybe_symbolic_build): a first batch that does not split
    evenly (51 validation images on 2 replicas: 26 and 25) fails there (AddN of unequal
    shapes). The build needs only shapes and dtypes, so this strategy answers that call,
    Keras's only reduce with axis=None, with the first replica's part of the batch."""
    import tensorflow as tf

    reduce = strategy.reduce

    def first_replica_for_a_mean_without_axis(reduce_op, value, axis=None):
        if axis is None and "MEAN" in str(reduce_op).upper():
            return tf.nest.map_structure(lambda v: strategy.experimental_local_results(v)[0], value)
        return reduce(reduce_op, value, axis=axis)

    strategy.reduce = first_replica_for_a_mean_without_axis
