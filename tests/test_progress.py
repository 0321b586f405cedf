"""Live progress: a line every few seconds with the time left when not on a terminal."""

import io

import numpy as np
import pytest

import keras

from kerasdl.training import progress as P

pytestmark = pytest.mark.backends


def test_clock_format():
    assert [P.clock(s) for s in (5, 65, 3725)] == ["0:05", "1:05", "1:02:05"]


def test_fit_prints_lines_with_the_time_left_when_not_on_a_terminal(monkeypatch):
    stream = io.StringIO()
    lines = P.ProgressLines(interval=0.0, stream=stream)  # a line after every step
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x, y = np.zeros((8, 3), "float32"), np.zeros(8, "int64")
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[lines])
    out = stream.getvalue().splitlines()
    assert out[0].startswith("epoch 1/2  step 1/2  loss ") and "left ~" in out[0]
    assert out[2].startswith("epoch 1/2 done  loss ") and out[-1].startswith("epoch 2/2 done")
    assert out[-1].endswith("left ~0:00")


def test_fit_options_by_where_the_output_goes(monkeypatch):
    from kerasdl.training.fit import BuildOptimizerFirst
    from kerasdl.training.guards import StopOnNonFiniteLoss

    def kinds(options):  # every fit builds its optimizer first (not shown below)
        callbacks = options["callbacks"]
        assert isinstance(callbacks[0], BuildOptimizerFirst)
        return [c if isinstance(c, str) else type(c) for c in callbacks[1:]]

    monkeypatch.delenv("KERASDL_QUIET", raising=False)
    monkeypatch.setattr(P, "on_terminal", lambda: True)
    options = P.fit_options()  # Keras's own bar; the NaN guard is always there
    assert options["verbose"] == 1 and kinds(options) == [StopOnNonFiniteLoss]
    monkeypatch.setattr(P, "on_terminal", lambda: False)
    options = P.fit_options(["mine"])
    assert options["verbose"] == 0 and kinds(options) == ["mine", StopOnNonFiniteLoss, P.ProgressLines]
    monkeypatch.setenv("KERASDL_QUIET", "1")
    options = P.fit_options(["mine"])
    assert options["verbose"] == 0 and kinds(options) == ["mine", StopOnNonFiniteLoss]
    with P.added_callbacks(lambda: ["added"]):  # what `tune` adds to every fit of a trial
        assert kinds(P.fit_options(["mine"])) == ["mine", StopOnNonFiniteLoss, "added"]
    assert kinds(P.fit_options()) == [StopOnNonFiniteLoss]


def test_loop_progress_lines(monkeypatch, capsys):
    monkeypatch.delenv("KERASDL_QUIET", raising=False)
    monkeypatch.setattr(P, "on_terminal", lambda: False)
    assert list(P.progress(range(3), desc="sweep", interval=0.0)) == [0, 1, 2]
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "sweep" and out[-1].startswith("sweep: 3/3  elapsed ") and out[-1].endswith("left ~0:00")


def test_building_the_optimizer_first_changes_no_weight():
    """BuildOptimizerFirst (in every fit_options()) makes the slot variables before the first
    step; the trained weights are those of a fit without it, to the last digit."""
    from kerasdl.training.fit import BuildOptimizerFirst

    x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("int32")

    def train(callbacks):
        keras.utils.set_random_seed(1)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"),
                                  keras.layers.Dense(2, activation="softmax")])
        model.compile(optimizer=keras.optimizers.AdamW(1e-2), loss="sparse_categorical_crossentropy")
        seen = []
        check = keras.callbacks.LambdaCallback(
            on_train_batch_begin=lambda batch, logs: seen.append(model.optimizer.built))
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[*callbacks, check])
        return model.get_weights(), seen[0]

    plain, built_before_plain = train([])
    first, built_before_first = train([BuildOptimizerFirst()])
    assert built_before_first
    if keras.backend.backend() == "tensorflow":
        assert not built_before_plain  # what it is there for: TensorFlow builds it in the first step
    for a, b in zip(plain, first, strict=True):
        np.testing.assert_array_equal(a, b)
