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
    from kerasdl.training.guards import StopOnNonFiniteLoss

    def kinds(options):
        return [c if isinstance(c, str) else type(c) for c in options["callbacks"]]

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
