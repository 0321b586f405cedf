"""`python -m kerasdl bench`: one tiny real measurement end to end, and its bad options."""

import pytest


@pytest.mark.parametrize("options, message", [
    (("--model", "mlp", "--widths", "8,16"), "--widths applies to --model cnn only"),
    (("--widths", "8,x"), "--widths '8,x'"),
    (("--repeats", "0"), "--repeats"),
    (("--backends", "theano"), "unknown backend 'theano'"),
])
def test_bad_options_are_one_line(run_cli, options, message):
    code, _, err = run_cli("bench", *options)
    assert code == 2 and message in err and "Traceback" not in err


@pytest.mark.one_backend
def test_tiny_measurement_prints_median_and_range(run_cli):
    code, out, err = run_cli("bench", "--backends", "tensorflow", "--precision", "float32", "--jit", "off",
                             "--model", "mlp", "--steps", "2", "--batch-size", "8", "--repeats", "2")
    assert code == 0, err
    row = [line for line in out.splitlines() if line.startswith("| tensorflow |")]
    assert len(row) == 1, out
    cells = [c.strip() for c in row[0].strip("|").split("|")]
    median, (low, high) = float(cells[3]), map(float, cells[4].split(" - "))
    assert 0 < low <= median <= high
    assert "2 timed passes" in out


@pytest.mark.parametrize("options, message", [
    (("--formats", "onnx"), "--formats applies to --latency only"),
    (("--latency", "--formats", "caffe"), "unknown format 'caffe'"),
    (("--latency", "--calls", "0"), "--calls"),
    (("--latency", "--backends", "theano", "--formats", "none"), "unknown backend 'theano'"),
])
def test_bad_latency_options_are_one_line(run_cli, options, message):
    code, _, err = run_cli("bench", *options)
    assert code == 2 and message in err and "Traceback" not in err


def _latency_rows(out):
    """The table's header cells and its rows' cells."""
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| runtime |"))
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines[header:]
             if line.startswith("| ")]
    return cells[0], cells[1:]


def _check_latency_table(out, name, calls):
    assert "Command: `" in out and "load average" in out and "Untrained weights" in out
    header, rows = _latency_rows(out)
    assert len(header) == 8 and "batch-4 images/s" in header, out
    paths = [r[1] for r in rows]
    assert {"model.predict(x)", "model.predict_on_batch(x)"} <= set(paths), out
    assert sum(r[0].endswith(f"on {name}") for r in rows) >= 3, out
    for runtime, path, threads, p50, p99, n, rate, goal in rows:
        assert 0 < float(p50) <= float(p99), (path, out)
        assert int(n) == calls and float(rate) > 0 and goal.split()[0] in ("yes", "no"), (path, out)
    return paths


def test_latency_table_has_every_keras_path_with_numbers(tmp_path):
    """A tiny CNN, a few calls, timed in this process on this test's backend (the command does
    it in a fresh process per backend: the slow test below; the real run: reports/bench.md)."""
    import argparse
    import os

    import keras

    from kerasdl import bench
    from kerasdl.models import classifiers

    name = keras.backend.backend()
    path = tmp_path / "tiny.keras"
    classifiers.cnn((28, 28, 1), 10, widths=(4, 8)).save(path)
    spec = dict(path=str(path), shape=[28, 28, 1], batch_size=4, calls=5, threads=os.cpu_count(), seconds=2)
    rows = bench.LATENCY_CHILDREN["keras"](spec)["rows"]
    args = argparse.Namespace(model="cnn", shape="fashion_mnist", batch_size=4, seconds=2)
    context = dict(load_before=(1.0, 1.0, 1.0), load_after=(1.0, 1.0, 1.0), minutes=0.1, params=1230,
                   cpu="a CPU, 2 cores", widths=[4, 8])
    out = bench.latency_table(rows, args, "python -m kerasdl bench", ["--latency"], context)
    assert out.startswith("## Inference latency: cnn 4,8 on fashion_mnist-shaped images, batch 1 and 4")
    _check_latency_table(out, name, calls=5)


@pytest.mark.slow
def test_latency_table_has_an_exported_format_with_numbers(run_cli):
    """The command end to end: the model built and exported (ONNX) in a TensorFlow process, then
    timed in a fresh process on this test's backend and one in ONNX Runtime."""
    import keras

    name = keras.backend.backend()
    code, out, err = run_cli("bench", "--latency", "--backends", name, "--formats", "onnx",
                             "--widths", "4,8", "--calls", "5", "--batch-size", "4", "--seconds", "2")
    assert code == 0, err
    paths = _check_latency_table(out, name, calls=5)
    assert "onnx: model.onnx" in paths, out
