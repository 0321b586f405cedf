"""`export`: tiny models saved as run folders (by this process's backend, or by each backend
in a subprocess), exported in a TensorFlow process, checked in each format's own runtime;
and one clear line for every bad input."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import keras

from kerasdl import export, runs
from kerasdl.models import classifiers
from bad_inputs import one_line_error

pytestmark = pytest.mark.backends

NEEDS_EXTRA = pytest.mark.skipif(
    any(importlib.util.find_spec(p) is None for p in ("onnx", "tf2onnx", "onnxruntime", "openvino")),
    reason='the export extra is not installed: pip install -e ".[export]"')


def _tiny_cnn(widths=(4,)):
    """A classify CNN on scikit-learn's 8x8 digits (values 0..16, bundled: real test inputs offline)."""
    keras.utils.set_random_seed(0)
    return classifiers.cnn((8, 8, 1), 10, widths=widths, dropout=0.0, head_dropout=0.0, value_range=(0, 16))


def _run_folder(root, model, task="classify", dataset="digits", backend_name=None):
    """A run folder as a task leaves it: config.json naming the data set, model.keras."""
    run = runs.Run(task, root=root, run_id="r1")
    run.write_json("config.json", {"task": task, "backend": backend_name or keras.backend.backend(),
                                   "config": {"dataset": dataset}})
    run.save_model(model)
    return run.dir


def _format_lines(out):
    """{format: the words of its result line} from export's stdout."""
    return {line.split()[0]: line.split() for line in out.splitlines()
            if line.split() and line.split()[0] in export.FORMATS}


def _digits_test_images(n):
    from kerasdl import data

    return np.asarray(data.load("digits", download=False).x_test[:n], np.float32)


# === The fast round trip: SavedModel and LiteRT, which need nothing beyond TensorFlow ===

def test_saved_model_and_litert_round_trip_on_the_runs_test_inputs(run_cli, tmp_path):
    model = _tiny_cnn()
    folder = _run_folder(tmp_path / "runs", model)
    code, out, err = run_cli("export", folder, "--format", "saved_model,litert")
    assert code == 0, err
    lines = _format_lines(out)
    assert set(lines) == {"saved_model", "litert"} and all(w[1] == "ok" for w in lines.values()), out
    assert "check: 64 test inputs of digits, in batches of 1, 7, 56" in err

    target = folder / "export"
    record = json.loads((target / "export.json").read_text())
    assert record["inputs"] == [{"name": "pixels", "shape": [None, 8, 8, 1], "dtype": "float32"}]
    assert record["outputs"] == [{"name": "output_0", "shape": [None, 10], "dtype": "float32"}]
    assert record["trained_on"] == keras.backend.backend()
    for name in ("saved_model", "litert"):
        entry = record["formats"][name]
        assert entry["status"] == "ok" and entry["batch_sizes"] == [1, 7, 56]
        assert entry["max_abs_diff"] <= entry["tolerance"] == export.DEFAULT_TOLERANCE
        assert entry["check_inputs"] == "64 test inputs of digits"
        assert entry["bytes"] == sum(entry["files"].values()) > 0
        assert all((target / f).is_file() for f in entry["files"])
    assert not [p for p in target.iterdir() if p.name.startswith(".")]  # no staging left behind

    # Independently of export's own check: the files, run here, agree with this backend's Keras.
    x = _digits_test_images(3)
    expected = model.predict(x, verbose=0)
    for name, path in (("saved_model", target / "saved_model"), ("litert", target / "model.tflite")):
        (got,) = export.aligned(export.open_runtime(name, path)(x), ["output_0"])
        np.testing.assert_allclose(got, expected, atol=1e-5, err_msg=name)


def test_a_multi_output_model_keeps_its_output_names(run_cli, tmp_path):
    from kerasdl.tasks.clock import model as clock_models

    keras.utils.set_random_seed(0)
    reader = clock_models.build("multihead", (16, 16, 1), input_size=16, widths=(2,), dense=4)
    folder = _run_folder(tmp_path / "runs", reader, task="clock", dataset="nowhere")
    code, out, err = run_cli("export", folder, "--format", "saved_model")
    assert code == 0, err
    assert "inputs drawn uniformly in [0, 255] (nowhere could not be loaded" in err
    record = json.loads((folder / "export" / "export.json").read_text())
    assert [o["name"] for o in record["outputs"]] == ["hour", "minute"]
    hour, minute = export.aligned(export.open_runtime("saved_model", folder / "export" / "saved_model")(
        np.zeros((2, 16, 16, 1), np.float32)), ["hour", "minute"])
    assert hour.shape == (2, 12) and minute.shape == (2, 2)


@pytest.mark.one_backend
def test_an_export_over_the_tolerance_fails_and_is_not_kept(run_cli, tmp_path):
    folder = _run_folder(tmp_path / "runs", _tiny_cnn(widths=(8, 16)), dataset="nowhere")
    (folder / "export").mkdir()
    (folder / "export" / "model.tflite").write_bytes(b"an earlier export")
    # LiteRT's XNNPACK kernels sum in another order than TensorFlow's: not bit-identical.
    code, out, err = run_cli("export", folder, "--format", "litert", "--tolerance", "1e-15")
    assert code == 1, err
    assert "litert       FAILED  max |diff|" in out and "exceeds the tolerance 1e-15" in out
    assert not (folder / "export" / "model.tflite").exists()  # the earlier export went too
    entry = json.loads((folder / "export" / "export.json").read_text())["formats"]["litert"]
    assert entry["status"] == "failed" and entry["max_abs_diff"] > 1e-15 and "files" not in entry


# === Bad input: one line, exit 2, before TensorFlow is started ===

@pytest.fixture
def bare_model(tmp_path):
    path = tmp_path / "tiny.keras"
    _tiny_cnn().save(path)
    return path


@pytest.mark.parametrize("options, fragments", [
    (("--format", "pdf"), ("unknown format 'pdf'", "saved_model, onnx, litert, openvino")),
    (("--format", ","), ("--format ,",)),
    (("--format", "onnx", "--tolerance", "0"), ("--tolerance 0",)),
    ((), ("the following arguments are required: --format",)),
])
def test_bad_options_are_one_line(run_cli, bare_model, options, fragments):
    one_line_error(run_cli("export", bare_model, *options), *fragments)


@pytest.mark.one_backend
def test_a_missing_model_or_run_folder_is_one_line(run_cli, tmp_path):
    one_line_error(run_cli("export", tmp_path / "nothing.keras", "--format", "onnx"), "no such file")
    (tmp_path / "empty").mkdir()
    one_line_error(run_cli("export", tmp_path / "empty", "--format", "onnx"), "no model.keras")
    (tmp_path / "notes.txt").write_text("not a model")
    one_line_error(run_cli("export", tmp_path / "notes.txt", "--format", "litert"), "not a .keras model file")


def test_an_unwritable_out_is_one_line(run_cli, bare_model, tmp_path):
    (tmp_path / "file").write_text("x")
    one_line_error(run_cli("export", bare_model, "--format", "litert", "--out", tmp_path / "file"),
                    "is a file, not a folder")
    one_line_error(run_cli("export", bare_model, "--format", "litert", "--out", tmp_path / "file" / "sub"),
                    "cannot write there")


def test_a_missing_package_names_the_extra(run_cli, bare_model, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(export.importlib.util, "find_spec",
                        lambda name, *a: None if name == "tf2onnx" else real(name, *a))
    one_line_error(run_cli("export", bare_model, "--format", "litert,onnx"),
                    "--format onnx needs tf2onnx", 'pip install -e ".[export]"')


def test_formats_parse_with_aliases_and_all():
    assert [f.name for f in export.parse_formats("tflite,saved-model,litert")] == ["litert", "saved_model"]
    assert [f.name for f in export.parse_formats("all")] == list(export.FORMATS)


def test_batches_of_1_and_7_then_the_rest():
    x = np.arange(64)
    assert [len(b) for b in export.split_batches(x)] == [1, 7, 56]
    assert [len(b) for b in export.split_batches(x[:5])] == [1, 4]


def test_the_default_folder_is_beside_the_model(tmp_path):
    (tmp_path / "run").mkdir()
    assert export.default_out(tmp_path / "run") == tmp_path / "run" / "export"
    assert export.default_out(tmp_path / "m.keras") == tmp_path / "m-export"


# === Every format, from a model saved by each backend (slow: a process per backend) ===

SAVE = """
import sys, keras
from kerasdl import runs
from kerasdl.models import classifiers
keras.utils.set_random_seed(0)
model = classifiers.cnn((8, 8, 1), 10, widths=(4, 8), value_range=(0, 16))
run = runs.Run("classify", root=sys.argv[1], run_id="r1")
run.write_json("config.json", {"task": "classify", "backend": keras.backend.backend(),
                               "config": {"dataset": "digits"}})
run.save_model(model)
"""


@pytest.mark.slow
@NEEDS_EXTRA
@pytest.mark.parametrize("backend_name", ["tensorflow", "jax", "torch"])
def test_every_format_round_trips_from_every_backend(run_cli, tmp_path, backend_name):
    if importlib.util.find_spec(backend_name) is None:
        pytest.skip(f"{backend_name} is not installed")
    env = dict(os.environ, KERAS_BACKEND=backend_name)
    env.pop("XLA_FLAGS", None)
    saved = subprocess.run([sys.executable, "-c", SAVE, str(tmp_path / "runs")], env=env,
                           capture_output=True, text=True)
    assert saved.returncode == 0, saved.stderr[-2000:]
    folder = tmp_path / "runs" / "classify" / "r1"
    code, out, err = run_cli("export", folder, "--format", "all")
    assert code == 0, err
    lines = _format_lines(out)
    assert set(lines) == set(export.FORMATS) and all(w[1] == "ok" for w in lines.values()), out
    assert f"(classify, trained on {backend_name})" in err
    record = json.loads((folder / "export" / "export.json").read_text())
    for name, entry in record["formats"].items():
        assert entry["max_abs_diff"] <= entry["tolerance"], name
        assert entry["batch_sizes"] == [1, 7, 56]


@pytest.mark.slow
@NEEDS_EXTRA
def test_a_mixed_precision_model_exports_in_float32(run_cli, tmp_path):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = _tiny_cnn()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    folder = _run_folder(tmp_path / "runs", model)
    code, out, err = run_cli("export", folder, "--format", "onnx,litert")
    assert code == 0, out + err
    assert "trained in mixed_bfloat16, exported in float32" in err


@pytest.mark.slow
@NEEDS_EXTRA
def test_a_gan_exports_its_generator(run_cli, tmp_path):
    from kerasdl.tasks.gan import model as gan

    keras.utils.set_random_seed(0)
    model = gan.GAN(gan.dcgan_generator(4, (16, 16, 3), width=2),
                    gan.dcgan_discriminator((16, 16, 3), width=2), seed=0)
    folder = _run_folder(tmp_path / "runs", model, task="gan", dataset="nowhere")
    code, out, err = run_cli("export", folder, "--format", "onnx,openvino")
    assert code == 0, out + err
    assert "64 draws from N(0, I)" in err and "the GAN's generator" in err
    record = json.loads((folder / "export" / "export.json").read_text())
    assert record["inputs"][0]["shape"] == [None, 4]


@pytest.mark.slow
def test_a_process_on_another_backend_exports_in_a_tensorflow_process(run_cli, tmp_path, monkeypatch):
    folder = _run_folder(tmp_path / "runs", _tiny_cnn())
    monkeypatch.setattr(export, "_keras_on_another_backend", lambda: True)
    code, out, err = run_cli("export", folder, "--format", "saved_model")
    assert code == 0, err
    assert _format_lines(out)["saved_model"][1] == "ok" and "check: 64 test inputs of digits" in err


def test_another_models_export_folder_is_refused(run_cli, tmp_path, bare_model):
    out = tmp_path / "out"
    out.mkdir()
    (out / "export.json").write_text(json.dumps({"model": "other.keras", "model_sha256": "0" * 64}))
    one_line_error(run_cli("export", bare_model, "--format", "saved_model", "--out", out),
                    "holds the export of another model")
