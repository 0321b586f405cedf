"""Backend choice: explicit beats the environment beats the measured default."""

import os
import subprocess
import sys

import keras
import pytest

from kerasdl import backend
from kerasdl.errors import UserError


def test_the_loaded_backend_is_kept_and_a_different_one_is_refused(monkeypatch):
    current = keras.backend.backend()
    assert backend.select(current) == current
    other = next(b for b in backend.BACKENDS if b != current)
    monkeypatch.setattr(backend.importlib.util, "find_spec", lambda name: object())
    with pytest.raises(UserError, match="already loaded"):
        backend.select(other)


def test_unknown_and_missing_backends_say_what_to_do(monkeypatch):
    with pytest.raises(UserError, match="unknown backend 'theano'"):
        backend.select("theano")
    monkeypatch.setattr(backend.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match=r"not installed: pip install -e \"\.\[jax\]\""):
        backend.select("jax")


def test_default_is_the_measured_one_for_the_device(monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setattr(backend, "device_kind", lambda: "cpu")
    monkeypatch.setattr(backend.importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(backend.sys, "modules", {})  # as if keras were not loaded yet
    imports = []
    monkeypatch.setattr(backend, "_import_tensorflow_quietly", lambda use_gpu: imports.append(use_gpu))
    monkeypatch.setattr(backend.os, "environ", {})
    assert backend.select() == "tensorflow"
    assert backend.os.environ["KERAS_BACKEND"] == "tensorflow"
    backend.os.environ["KERAS_BACKEND"] = "jax"
    assert backend.select() == "jax"
    assert backend.select("torch") == "torch"  # --backend wins over the environment
    # TensorFlow is imported quietly on every backend, and keeps off the GPUs of the others.
    assert imports == [True, False, False]


@pytest.mark.parametrize("backend_name, device, bf16_cpu, preferred, expected", [
    ("tensorflow", "cpu", True, "mixed_bfloat16", "mixed_bfloat16"),   # measured faster: taken
    ("tensorflow", "cpu", False, "mixed_bfloat16", "float32"),         # no bf16 units
    ("jax", "cpu", True, "mixed_bfloat16", "float32"),                 # not measured there
    ("tensorflow", "gpu", True, "mixed_bfloat16", "float32"),          # not measured there
    ("tensorflow", "cpu", True, "float32", "float32"),                 # the task prefers float32
])
def test_auto_precision_takes_the_tasks_policy_only_where_measured_faster(
        monkeypatch, backend_name, device, bf16_cpu, preferred, expected):
    monkeypatch.setattr(backend, "device_kind", lambda: device)
    monkeypatch.setattr(backend, "cpu_has_bfloat16", lambda: bf16_cpu)
    assert backend.resolve_precision("auto", preferred, backend_name) == expected
    assert backend.resolve_precision("float32", preferred, backend_name) == "float32"  # explicit wins


def test_bfloat16_detection_reads_the_cpu_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags\t: fpu avx512f avx512_bf16 amx_tile\n")
    assert backend.cpu_has_bfloat16(cpuinfo)
    cpuinfo.write_text("flags\t: fpu avx2\n")
    assert not backend.cpu_has_bfloat16(cpuinfo)
    assert not backend.cpu_has_bfloat16(tmp_path / "missing")


@pytest.mark.one_backend
def test_start_up_skips_the_optional_imports_kerasdl_never_uses():
    # In a fresh process, as a command starts: Keras's and TensorFlow's optional imports of
    # these packages are refused, and the packages still import anywhere else.
    code = ("import sys; from kerasdl import backend; backend.select('tensorflow'); import keras; "
            "loaded = sorted(set(backend.UNUSED_OPTIONAL_IMPORTS.values()) & set(sys.modules)); "
            "import pandas, sklearn.decomposition; "
            "from keras.src.wrappers import fixes; "
            "print(loaded, fixes.sklearn, float(keras.ops.sum(keras.ops.ones(3))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "KERAS_BACKEND": "tensorflow"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["[]", "None", "3.0"]
