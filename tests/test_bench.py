"""`python -m kerasdl bench`: one tiny real measurement end to end, and its bad options."""

import numpy as np
import pytest

from bad_inputs import one_line_error


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
        # `calls` at most: a row stops early once its seconds are spent (CI, under load,
        # timed 3 of 5 calls of model.predict in 2 s)
        assert 1 <= int(n) <= calls and float(rate) > 0 and goal.split()[0] in ("yes", "no"), (path, out)
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


def test_the_pytorch_copy_has_the_keras_cnns_trainable_parameters():
    pytest.importorskip("torch")
    from kerasdl.bench_versus import torch_cnn
    from kerasdl.models import classifiers

    for shape, widths, head in (((28, 28, 1), (32, 64, 128), "gap"), ((32, 32, 3), (8, 16), "gap"),
                                ((28, 28, 1), (24, 48, 96), "flatten"), ((28, 20, 1), (4, 8), "flatten")):
        keras_model = classifiers.cnn(shape, 10, widths=widths, head=head)
        trainable = sum(int(np.prod(w.shape)) for w in keras_model.trainable_weights)
        assert sum(p.numel() for p in torch_cnn(shape, 10, widths, head=head).parameters()) == trainable


def test_versus_trains_the_network_of_kerasdls_default():
    from kerasdl.bench_versus import NETWORK
    from kerasdl.tasks import classify

    recipe = classify.RECIPES[("cnn", "grey")]
    assert NETWORK == {key: recipe[key] for key in NETWORK}


def test_the_versus_table_gives_kerasdls_ratio_to_each_and_the_goals():
    import types

    from kerasdl.bench_versus import versus_table

    rows = [dict(name="plain PyTorch", backend="torch", settings="loop", images_per_s=400.0, min=390, max=410),
            dict(name="plain Keras", backend="tensorflow", settings="fit", images_per_s=500.0, min=1, max=2),
            dict(name="kerasdl", backend="tensorflow", settings="ours", images_per_s=700.0, min=1, max=2,
                 gflop_s=122.5)]  # 0.175 GFLOP an image: the same network, so the others' rates follow
    args = types.SimpleNamespace(shape="fashion_mnist", batch_size=128, steps=40, repeats=3)
    table = versus_table(rows, args, [32, 64, 128], "kerasdl bench", ["--versus"], "some CPU", 1000.0, "by hand")
    assert "| plain PyTorch | torch | loop | 400.0 | 390 - 410 | 70.0 | 7% | 1.75x |" in table
    assert "| plain Keras | tensorflow | fit | 500.0 | 1 - 2 | 87.5 | 9% | 1.40x |" in table
    assert "| kerasdl | tensorflow | ours | 700.0 | 1 - 2 | 122.5 | 12% | - |" in table
    assert "plain PyTorch: 1.75x against a goal of 1.5x, met" in table
    rows[2]["images_per_s"] = 480.0
    table = versus_table(rows, args, [32, 64, 128], "kerasdl bench", ["--versus"], "some CPU", 1000.0, "by hand")
    assert "plain PyTorch: 1.20x against a goal of 1.5x, **missed by 0.30x**" in table
    assert "plain Keras: 0.96x against a goal of 1x, **missed by 0.04x**" in table


def test_the_plain_pytorch_loop_trains_and_times_its_steps():
    pytest.importorskip("torch")
    from kerasdl.bench_versus import measure_torch

    rates = measure_torch((8, 8, 1), batch_size=4, steps=2, widths=[4], repeats=2)
    assert len(rates) == 2 and all(r > 0 for r in rates)


@pytest.mark.slow  # three fresh processes, each importing its framework: a minute on 2 busy cores
def test_versus_measures_the_three_contenders(run_cli):
    code, out, err = run_cli("bench", "--versus", "--widths", "4,8", "--steps", "2", "--batch-size", "8",
                             "--repeats", "1")
    assert code == 0, err
    for name in ("plain PyTorch", "plain Keras", "kerasdl"):
        row = next(line for line in out.splitlines() if line.startswith(f"| {name} |"))
        assert float(row.split("|")[4]) > 0, row
    assert "Goals (issue 18)" in out


def test_versus_refuses_the_options_of_the_backend_table(run_cli):
    one_line_error(run_cli("bench", "--versus", "--precision", "float32"), "--precision does not apply to --versus")


def test_training_flops_are_three_forward_passes_of_the_conv_and_dense_layers():
    import keras

    from kerasdl import flops

    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, padding="same"),
                              keras.layers.MaxPooling2D(2), keras.layers.Conv2D(6, 3, padding="valid"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10)])
    # By hand: 2 * 8*8 * 4 * 3*3*1, then 2 * 2*2 * 6 * 3*3*4 on the pooled 4x4, then 2 * 6 * 10.
    forward = 2 * 64 * 4 * 9 + 2 * 4 * 6 * 36 + 2 * 6 * 10
    assert flops.forward_flops(model) == forward and flops.training_flops(model) == 3 * forward


@pytest.mark.parametrize("flags, vendor, family, per_cycle", [
    ({"avx512f", "avx2", "fma"}, "GenuineIntel", 6, 64),  # Sapphire Rapids: two 512-bit FMA units
    ({"avx512f", "avx2", "fma"}, "AuthenticAMD", 25, 32),  # Zen 4: 512-bit on 256-bit units
    ({"avx512f", "avx2", "fma"}, "AuthenticAMD", 26, 64),  # Zen 5
    ({"avx2", "fma"}, "AuthenticAMD", 23, 32),
    ({"sse2"}, "", None, 8),
])
def test_float32_flops_per_cycle_follow_the_flags(flags, vendor, family, per_cycle):
    from kerasdl import flops

    assert flops.flops_per_cycle(flags, vendor, family) == per_cycle
