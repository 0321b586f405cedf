"""Shared test set-up: the backend is chosen before keras loads, downloads are off,
progress bars are quiet, and nothing is written outside pytest's temp folders."""

import json
import os

os.environ.setdefault("KERASDL_OFFLINE", "1")  # never reach for the network in tests
os.environ.setdefault("KERASDL_QUIET", "1")


def _cheap_xla_compiles():
    """On JAX the tests' time is XLA's CPU compiler: every new model, shape or eager op
    compiles, and the tests run few steps of each. Without optimisation and without the
    fusion emitters a model compiles ~8x faster (its steps run ~2.5x slower): the whole
    suite took 3.4 min instead of 29. XLA aborts on a flag it does not know, hence the
    probe in a subprocess (0.8 s); an XLA_FLAGS of one's own is left alone."""
    if os.environ.get("KERAS_BACKEND") != "jax" or "XLA_FLAGS" in os.environ:
        return
    import subprocess
    import sys

    for flags in ("--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false",
                  "--xla_backend_optimization_level=0"):
        probe = subprocess.run([sys.executable, "-c", "import jax; jax.devices()"],
                               env={**os.environ, "XLA_FLAGS": flags}, capture_output=True)
        if probe.returncode == 0:
            os.environ["XLA_FLAGS"] = flags
            return


_cheap_xla_compiles()

from kerasdl import backend  # noqa: E402

backend.select(os.environ.get("KERAS_BACKEND"))

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A project root of its own (data/, plots/, reports/, runs/) in a temp folder."""
    monkeypatch.setenv("KERASDL_HOME", str(tmp_path))
    monkeypatch.delenv("KERASDL_DATA_DIR", raising=False)
    monkeypatch.delenv("KERASDL_CACHE_DIR", raising=False)
    return tmp_path


@pytest.fixture
def isolated_data(home, tmp_path, monkeypatch):
    """Every place of the data resolution order inside tmp_path; downloads off."""
    from kerasdl.data import registry

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "sklearn"))
    monkeypatch.setattr(registry, "SYSTEM_DIRS", [tmp_path / "system"])
    monkeypatch.setenv("KERASDL_OFFLINE", "1")
    return home


@pytest.fixture
def run_cli(home, capsys):
    """Run `python -m kerasdl ...` in-process; returns (exit code, stdout, stderr)."""
    from kerasdl import cli

    def call(*args):
        code = cli.main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    yield call
    # A run sets Keras's global dtype policy (mixed_bfloat16 where it was measured faster):
    # a later test's model must not inherit it (seen: a float32 check off by 2.4e-5).
    import keras

    keras.config.set_dtype_policy("float32")


@pytest.fixture
def quick_run(run_cli, home):
    """Run `python -m kerasdl <task> --quick [options]` into home/runs.

    quick_run(task, *options, files=()) asserts the run succeeded, wrote a complete
    run folder and every file named in `files`; returns (run folder, metrics dict)."""

    def call(task, *options, files=()):
        code, _, err = run_cli(task, "--quick", *options, "--out", home / "runs")
        assert code == 0, err
        folder = complete_run_folder(home / "runs", task)
        missing = [name for name in files if not (folder / name).is_file()]
        assert not missing, f"missing in {folder}: {', '.join(missing)}"
        return folder, json.loads((folder / "metrics.json").read_text())

    return call


@pytest.fixture
def toy_dataset(monkeypatch):
    """Register a tiny generated uint8 image data set for this test only; returns its name.

    toy_dataset(name, make, class_names, train=, test=, description=): `make(n, seed)`
    returns (uint8 images, labels); the training images use seed 1, the test images seed 2."""
    from kerasdl import data
    from kerasdl.data import registry

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))  # gone after the test

    def register(name, make, class_names, *, train, test, description):
        @data.register(name, f"{description} (tests only)", fallback="generated")
        def _load(**_):
            x, y = make(train, seed=1)
            x_test, y_test = make(test, seed=2)
            return data.Dataset(name, x, y, x_test, y_test, list(class_names), f"generated {description}",
                                value_range=(0, 255))

        return name

    return register


@pytest.fixture
def shared_data():
    """The real data sets beside the checkout (../shared/data), or skip."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available at {SHARED_DATA}")
    return SHARED_DATA


def complete_run_folder(out_root, task):
    """Assert `out_root/<task>/<id>/` holds a complete run; return the folder."""
    runs = sorted((Path(out_root) / task).iterdir())
    assert runs, f"no run folder under {out_root}/{task}"
    folder = runs[-1]
    for name in ("config.json", "metrics.json", "report.md"):
        assert (folder / name).is_file(), f"{name} missing in {folder}"
    assert list(folder.glob("*.png")), f"no figure in {folder}"
    return folder
