"""The MLP and CNN builders on every backend: shapes, preprocessing inside, save/load."""

import numpy as np
import pytest

import keras

from kerasdl.errors import UserError
from kerasdl.models import classifiers

pytestmark = pytest.mark.backends


@pytest.mark.parametrize("builder, kwargs", [
    (classifiers.mlp, dict(hidden=(16, 8))),
    (classifiers.cnn, dict(widths=(4, 8), augment="flip+shift")),
])
def test_builders_give_class_probabilities(builder, kwargs):
    model = builder((16, 16, 3), 5, seed=1, **kwargs)
    x = np.random.default_rng(0).integers(0, 256, (6, 16, 16, 3)).astype("uint8")
    p = keras.ops.convert_to_numpy(model(x, training=False))
    assert p.shape == (6, 5)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)


def test_rescaling_inside_the_model_maps_the_value_range_to_unit():
    model = classifiers.mlp((2, 2, 1), 2, hidden=(4,), value_range=(-1, 1))
    rescale = model.get_layer("rescale")
    x = np.array([[-1.0, 0.0], [1.0, 0.5]], "float32").reshape(1, 2, 2, 1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(rescale(x)).ravel(), [0, 0.5, 1, 0.75])


def test_cnn_trains_and_reloads_with_identical_predictions(tmp_path):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 64)
    x = (rng.random((64, 8, 8, 1)) * 40 + y[:, None, None, None] * 200).astype("float32")
    model = classifiers.cnn((8, 8, 1), 2, widths=(4,), dropout=0.0, head_dropout=0.0)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    before = model.evaluate(x, y, verbose=0)[0]
    model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    after, accuracy = model.evaluate(x, y, verbose=0)
    assert after < before and accuracy > 0.9
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_bad_architecture_values_are_user_errors():
    with pytest.raises(UserError, match="widths"):
        classifiers.cnn((28, 28, 1), 10, widths=(0,))
    with pytest.raises(UserError, match="too small"):
        classifiers.cnn((8, 8, 1), 10, widths=(4, 8, 16, 32))
    with pytest.raises(UserError, match="hidden"):
        classifiers.mlp((28, 28, 1), 10, hidden=())
