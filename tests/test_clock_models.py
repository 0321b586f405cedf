"""Clock readers: the builders on a shared trunk, saving, predict and read_time, the tuner's space."""

import numpy as np
import pytest

from kerasdl.errors import UserError
from kerasdl.tasks.clock import times as ct

TINY = dict(input_size=16, widths=(4, 8), dense=8, dropout=0.0)


def _images(n=6, size=24, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 1)).astype("uint8")


@pytest.mark.backends
@pytest.mark.parametrize("formulation,n_classes,shape", [
    ("regression_mse", None, (6, 1)), ("regression_cyclic", None, (6, 2)), ("classification", 24, (6, 24))])
def test_single_output_readers(formulation, n_classes, shape):
    from kerasdl.tasks.clock import model as cm

    model = cm.build(formulation, (24, 24, 1), n_classes=n_classes or 72, **TINY)
    out = model.predict(_images(), verbose=0)
    assert out.shape == shape and np.isfinite(out).all()
    assert model.get_layer("resize") is not None  # 24 -> 16 inside the model


@pytest.mark.backends
def test_multihead_trains_saves_and_reloads(tmp_path):
    import keras

    from kerasdl.tasks.clock import model as cm

    keras.utils.set_random_seed(0)
    model = cm.multihead((24, 24, 1), **TINY)
    model.compile(optimizer="adam", **cm.compile_args("multihead", 2.0, 0.5))
    labels = np.array([[0, 0], [11, 59], [3, 30], [6, 15], [9, 45], [1, 1]])
    history = model.fit(_images(), ct.encode("multihead", labels), epochs=2, batch_size=3, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    out = model.predict(_images(), verbose=0)
    assert out["hour"].shape == (6, 12) and out["minute"].shape == (6, 2)
    np.testing.assert_allclose(out["hour"].sum(-1), 1, rtol=1e-5)
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras").predict(_images(), verbose=0)
    np.testing.assert_allclose(again["minute"], out["minute"], rtol=1e-5, atol=1e-6)


def test_bad_arguments_are_user_errors():
    from kerasdl.tasks.clock import model as cm

    with pytest.raises(UserError, match="n_classes=25"):
        cm.build("classification", (24, 24, 1), n_classes=25, **TINY)
    with pytest.raises(UserError, match="grey"):
        cm.build("multihead", (24, 24, 3), **TINY)
    with pytest.raises(UserError, match="too small"):
        cm.build("multihead", (24, 24, 1), input_size=8, widths=(4, 4, 4, 4))
    with pytest.raises(UserError, match="formulation"):
        cm.build("ordinal", (24, 24, 1), **TINY)


def _set_head(model, layer, bias):
    kernel, _ = model.get_layer(layer).get_weights()
    model.get_layer(layer).set_weights([np.zeros_like(kernel), np.asarray(bias, "float32")])


@pytest.mark.backends
def test_read_time_prints_hh_mm():
    from kerasdl.tasks.clock import model as cm
    from kerasdl.tasks.clock import read_time

    image = _images(1, size=40)[0]
    reg = cm.build("regression_cyclic", (40, 40, 1), **TINY)
    _set_head(reg, "angle", ct.encode_angle(np.array([3 * 60 + 30]))[0])
    assert read_time(reg, image) == "03:30"
    multi = cm.build("multihead", (40, 40, 1), **TINY)
    _set_head(multi, "hour", np.eye(12)[0] * 20)
    _set_head(multi, "minute", ct.encode_angle(np.array([7]), 60)[0])
    assert read_time(multi, image) == "12:07"
    # Another size and no channel axis: resized to the model's input first.
    assert read_time(multi, _images(1, size=64)[0, ..., 0]) == "12:07"
    cls = cm.build("classification", (40, 40, 1), n_classes=24, **TINY)
    _set_head(cls, "time_class", np.eye(24)[5] * 20)  # 2:30-2:59, read at its centre
    assert read_time(cls, image) == "02:45"


@pytest.mark.backends
def test_predict_reads_every_image_in_batches_of_one_shape():
    import keras

    from kerasdl.tasks.clock import model as cm

    model = cm.build("multihead", (24, 24, 1), **TINY)
    x = _images(300)  # one full batch of 256 and a padded one of 44
    out = cm.predict(model, x)
    expected = model(x.astype("float32"), training=False)
    for head in ("hour", "minute"):
        assert out[head].shape == (300, expected[head].shape[-1])
        np.testing.assert_allclose(out[head], keras.ops.convert_to_numpy(expected[head]), rtol=1e-4, atol=1e-5)
    single = cm.build("regression_cyclic", (24, 24, 1), **TINY)
    assert cm.predict(single, x[:5], batch_size=4).shape == (5, 2)


def test_predict_and_read_time_trace_a_model_once():
    """Sets of any size, and image after image in read_time, run one compiled function:
    `model.predict` traced it again for every smaller last batch, and over a run's
    readers TensorFlow warned about the retracing."""
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("counts TensorFlow's traces")
    from kerasdl.tasks.clock import model as cm
    from kerasdl.tasks.clock import read_time

    model = cm.build("multihead", (24, 24, 1), **TINY)
    for n in (300, 38, 96, 1):
        cm.predict(model, _images(n))
    assert model.predict_function.experimental_get_tracing_count() == 1
    reader = cm.build("multihead", (40, 40, 1), **TINY)
    for seed in range(4):
        read_time(reader, _images(1, size=40 + 8 * seed, seed=seed)[0])
    assert reader.predict_function.experimental_get_tracing_count() == 1
