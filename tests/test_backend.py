"""Backend choice: explicit beats the environment beats the measured default."""

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
    monkeypatch.setattr(backend, "_import_tensorflow_quietly", lambda: None)
    monkeypatch.setattr(backend.os, "environ", {})
    assert backend.select() == "tensorflow"
    assert backend.os.environ["KERAS_BACKEND"] == "tensorflow"
    backend.os.environ["KERAS_BACKEND"] = "jax"
    assert backend.select() == "jax"
    assert backend.select("torch") == "torch"  # --backend wins over the environment
