"""Shared test set-up: the backend is chosen before keras loads, downloads are off,
progress bars are quiet, and nothing is written outside pytest's temp folders."""

import os

os.environ.setdefault("KERASDL_OFFLINE", "1")  # never reach for the network in tests
os.environ.setdefault("KERASDL_QUIET", "1")

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

    return call


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
