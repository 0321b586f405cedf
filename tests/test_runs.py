"""Run folders: atomic writes, history/metrics files, and publishing into reports/."""

import json
import os

import pytest

from kerasdl import runs


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    runs.atomic_write(target, "good")

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        runs.atomic_write(target, "half")
    assert target.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temp file left


def test_run_writes_json_csv_and_history(tmp_path):
    run = runs.Run("demo", root=tmp_path, run_id="r1")
    assert run.dir == tmp_path / "demo" / "r1"
    import numpy as np

    run.write_json("m.json", {"a": np.float32(0.5), "b": np.arange(2)})
    assert json.loads((run.dir / "m.json").read_text()) == {"a": 0.5, "b": [0, 1]}
    run.write_history({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]})
    assert (run.dir / "history.csv").read_text().splitlines() == [
        "epoch,loss,val_loss", "1,1.0,1.1", "2,0.5,0.7"]
    run.write_csv("rows.csv", [{"k": 1, "v": "x"}, {"k": 2, "v": "y"}])
    assert (run.dir / "rows.csv").read_text().splitlines() == ["k,v", "1,x", "2,y"]


def test_two_runs_in_the_same_second_get_different_folders(tmp_path):
    assert runs.Run("demo", root=tmp_path, ).dir != runs.Run("demo", root=tmp_path).dir


def test_save_figure_writes_png_and_closes_it(tmp_path):
    import matplotlib.pyplot as plt

    run = runs.Run("demo", root=tmp_path, run_id="r1")
    fig = plt.figure()
    path = run.save_figure(fig, "f.png")
    assert path.read_bytes()[:4] == b"\x89PNG" and not plt.fignum_exists(fig.number)


def test_publish_replaces_only_its_own_section(home):
    def make(run_id, text):
        run = runs.Run("demo", root=home / "runs", run_id=run_id)
        run.write_report(f"## {text}\n\n![curve](curve.png)\n")
        (run.dir / "curve.png").write_bytes(b"\x89PNG fake")
        return run.dir

    target, copied = runs.publish(make("a", "first"), key="mnist-cnn")
    assert copied == 1 and target == home / "reports" / "demo.md"
    runs.publish(make("b", "second"), key="cifar10-cnn")
    runs.publish(make("c", "first again"), key="mnist-cnn")
    text = target.read_text()
    assert "first again" in text and "second" in text and "## first\n" not in text
    assert text.index("first again") < text.index("second")  # the section kept its place
    assert "<!-- /kerasdl:mnist-cnn -->\n\n<!-- kerasdl:cifar10-cnn -->" in text  # blank line kept
    assert text.endswith("<!-- /kerasdl:cifar10-cnn -->\n")
    assert "](../plots/demo/mnist-cnn/curve.png)" in text
    assert (home / "plots" / "demo" / "cifar10-cnn" / "curve.png").is_file()


def test_written_files_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = runs.atomic_write(tmp_path / "a.txt", "x")
        assert (path.stat().st_mode & 0o777) == 0o644  # not mkstemp's 0600
        os.umask(0o077)
        assert (runs.atomic_write(tmp_path / "b.txt", b"x").stat().st_mode & 0o777) == 0o600
    finally:
        os.umask(old)


def test_json_files_are_strict_json(tmp_path):
    import numpy as np

    run = runs.Run("demo", root=tmp_path, run_id="r1")
    run.write_metrics({"loss": float("nan"), "best": [1.0, float("inf")], "acc": np.float32("nan")})
    text = (run.dir / "metrics.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"loss": None, "best": [1.0, None], "acc": None}


@pytest.mark.parametrize("key", ["../../somewhere", "a/b", "..", "", ".hidden", "x y"])
def test_publish_refuses_a_key_that_is_not_a_plain_name(home, key):
    victim = home / "somewhere"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep")
    run = runs.Run("demo", root=home / "runs", run_id="r1")
    run.write_report("## r\n")
    with pytest.raises(runs.UserError, match="expected a plain name"):
        runs.publish(run.dir, key=key or "..")
    assert (victim / "precious.txt").read_text() == "keep"


def test_publish_replaces_the_plot_folder_whole(home):
    run = runs.Run("demo", root=home / "runs", run_id="r1")
    run.write_report("## r\n\n![a](a.png)\n")
    (run.dir / "a.png").write_bytes(b"\x89PNG new")
    old = home / "plots" / "demo" / "main"
    old.mkdir(parents=True)
    (old / "stale.png").write_bytes(b"old")
    runs.publish(run.dir)
    assert sorted(p.name for p in (home / "plots" / "demo").iterdir()) == ["main"]  # no leftovers
    assert sorted(p.name for p in old.iterdir()) == ["a.png"]


def test_status_of_old_and_new_run_folders(tmp_path):
    run = runs.Run("demo", root=tmp_path, run_id="r1")
    assert runs.read_status(run.dir)["status"] == "unknown"
    run.write_report("## r\n")
    assert runs.read_status(run.dir)["status"] == "finished"  # from before status.json
    run.set_status("failed", "ValueError: x")
    assert runs.read_status(run.dir) == {**runs.read_status(run.dir), "status": "failed",
                                         "error": "ValueError: x"}
