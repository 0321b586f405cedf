"""TensorFlow traces Keras's training step once, not twice.

On TensorFlow without a distribution strategy, Keras builds a compiled model's metrics
(and loss, and optimizer) inside the first call of the training function, "for backwards
compatibility" (keras/src/backend/tensorflow/trainer.py, `_maybe_symbolic_build`). A
`tf.function` that creates variables in its first call is traced twice, so every `fit` of
a model compiled with `metrics=["accuracy"]` traced its whole training step twice: seen by
counting calls of `train_step`, 2 then 1 with this fix. The classify CNN's first step took
5.39 s and 4.45 s with this fix (medians of 4 alternating two-epoch fits, TensorFlow 2.21,
AMD EPYC Zen 3; reports/bench.md, "The first training step"), with the same batches, losses
and weights to the last digit.

Building first also makes the optimizer's slot variables before the step (a callback did
that alone before, and cut a one-epoch fit of the same CNN from 4.37 to 3.67 s of CPU time).

So kerasdl builds first, as Keras itself does under a distribution strategy: its own
`_symbolic_build` on a batch of the epoch's iterator. Only where that cannot change what is
trained: numpy arrays (Keras's array adapter makes a fresh iterator for each epoch, so the
batch read here is not taken from the first epoch), no `steps_per_epoch` (which keeps one
iterator across epochs), and a model whose build succeeds (any error: Keras's own deferred
build, as before). JAX and PyTorch build before the first step already.
"""

import keras

from kerasdl.training.backends import patching


def prepare():
    """Build compiled state before the first trace (TensorFlow only). Idempotent; Keras's
    method is kept as `__wrapped__`. Returns whether it applied."""
    if keras.backend.backend() != "tensorflow":
        return False
    try:  # Keras's private modules: a later Keras may move them; then fits trace twice again
        from keras.src.backend.tensorflow.trainer import TensorFlowTrainer
        from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter
    except ImportError:
        return False

    def make(original):
        def _maybe_symbolic_build(self, iterator=None, data_batch=None):
            if (self._distribute_strategy is None and iterator is not None
                    and getattr(iterator, "steps_per_epoch", 0) is None
                    and isinstance(getattr(iterator, "data_adapter", None), ArrayDataAdapter)):
                try:
                    for _, _, batches in iterator:
                        data_batch = next(batches)
                        break
                    with self.distribute_strategy.scope():
                        self._symbolic_build(data_batch=data_batch)
                    return None
                except Exception:  # noqa: BLE001 - whatever it was, Keras's deferred build handles it as before
                    pass
            return original(self, iterator=iterator, data_batch=data_batch)
        return _maybe_symbolic_build

    return patching.wrap_method(TensorFlowTrainer, "_maybe_symbolic_build", make)
