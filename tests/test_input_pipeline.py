"""kerasdl.training.backends.input_pipeline: tf.data's autotuner off for Keras's array pipelines
(TensorFlow's end-of-epoch stall), the same batches as before, nothing done on other backends."""

import keras
import numpy as np

from kerasdl.training.backends import input_pipeline


def test_prepare_applies_on_tensorflow_only_and_once():
    applied = input_pipeline.prepare()
    assert applied == (keras.backend.backend() == "tensorflow")
    if not applied:
        return
    from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter

    patched = ArrayDataAdapter.get_tf_dataset
    assert input_pipeline.prepare() and ArrayDataAdapter.get_tf_dataset is patched  # not wrapped twice
    x = np.arange(10 * 3, dtype="float32").reshape(10, 3)
    y = np.arange(10)
    adapter = ArrayDataAdapter(x, y, batch_size=4, shuffle=False)
    dataset = adapter.get_tf_dataset()
    assert dataset.options().autotune.enabled is False
    assert patched.__wrapped__(adapter).options().autotune.enabled is not False  # what Keras does alone
    batches = [(bx.numpy(), by.numpy()) for bx, by in dataset]
    before = [(bx.numpy(), by.numpy()) for bx, by in patched.__wrapped__(adapter)]
    assert [len(by) for _, by in batches] == [4, 4, 2]
    for (a, b), (c, d) in zip(batches, before, strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


def test_fit_evaluate_predict_run_with_it():
    input_pipeline.prepare()
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(40, 3)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("int32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, batch_size=8, epochs=3, validation_data=(x, y), verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.evaluate(x, y, verbose=0)[1] > 0.8
    assert model.predict(x, verbose=0).shape == (40, 2)


def test_the_pipeline_of_a_py_dataset_has_the_autotuner_off_too():
    if not input_pipeline.prepare():
        return
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return np.full((3, 2), i, "float32"), np.full(3, i)

    dataset = PyDatasetAdapter(Batches(), shuffle=False).get_tf_dataset()
    assert dataset.options().autotune.enabled is False
    assert [int(by.numpy()[0]) for _, by in dataset] == [0, 1]
