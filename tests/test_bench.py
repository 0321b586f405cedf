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
