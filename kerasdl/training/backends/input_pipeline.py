"""`fit` on numpy arrays without TensorFlow's end-of-epoch stall.

On the TensorFlow backend Keras feeds arrays through a tf.data pipeline whose autotuner
runs a "model" thread; that thread sleeps between optimisations for a period that doubles
up to 60 s, and dropping the iterator waits for it to wake. Keras drops one iterator at
every epoch's end and the last when `fit` returns, so a long epoch was followed by a wait
of up to a minute: 40.3 s after `on_train_end` in a one-epoch fit of the classify CNN on
Fashion-MNIST (54,000 images) on an idle 2-core machine, 58.2 and 50.6 s in two more beside
a search at lower priority; gdb showed the main thread in `RootDataset::Iterator::~Iterator`
waiting for the thread in `model::Model::OptimizeLoop` (reports/bench.md, "The end-of-epoch
stall").

The pipeline only gathers batches from arrays in memory, nothing to tune, so kerasdl
turns the autotuner off for it; and for the pipeline of a `keras.utils.PyDataset` (the
batches of images read from disk, `kerasdl.training.feed`), whose one generator has nothing
to tune either. JAX and PyTorch read batches without tf.data: nothing to do.
"""

import keras

from kerasdl.training.backends import patching


def prepare():
    """Turn tf.data's autotuner off for the pipelines Keras builds from arrays and from a
    PyDataset (fit, evaluate, predict). Idempotent; a no-op off TensorFlow, and where Keras no
    longer has the methods it wraps (the test of this module fails there). Returns whether
    it applied."""
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    try:  # Keras's private module: a later Keras may move it; then runs go on, stall and all
        from keras.src.trainers.data_adapters import array_data_adapter, py_dataset_adapter
    except ImportError:
        return False

    def make(original):
        def get_tf_dataset(self):
            options = tf.data.Options()
            options.autotune.enabled = False
            return original(self).with_options(options)
        return get_tf_dataset

    return all([patching.wrap_method(array_data_adapter.ArrayDataAdapter, "get_tf_dataset", make),
                patching.wrap_method(py_dataset_adapter.PyDatasetAdapter, "get_tf_dataset", make)])
