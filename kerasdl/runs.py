"""A run folder, `runs/<task>/<run-id>/`, and everything written into it.

Every file is written atomically: to a temporary name in the same folder,
then renamed over the target, so an interrupted run never leaves a
half-written file where a good one was. `status.json` says whether the run
is running, finished, failed or was interrupted (and the error). `publish()`
copies what a reader needs to the project's `plots/` and `reports/`.

The convention every task keeps: `config.json` (what the command asked for),
`resolved_config.json` (every value the run used, recipes filled in),
`history.csv`, `metrics.json`, `report.md`, the figures, and `model.keras`,
the model a user would predict with, with `classes.json` beside it for a classifier
(its class names and input value range, `write_classes`); further models go in
`models/<name>.keras`.
"""

import csv
import dataclasses
import io
import json
import math
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from kerasdl import paths
from kerasdl.errors import UserError


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path, data):
    """Write bytes or text to `path` via a temporary file and a rename.

    The file gets the usual permissions (0666 less the umask), not mkstemp's 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _jsonable(value):
    """numpy scalars/arrays and Paths into plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _strict(value):
    """NaN and infinities as null: JSON has no such numbers (json.dumps would write bare NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return _strict(value.tolist())
    return value


def to_json(obj):
    """Strict JSON text (NaN/inf as null), numpy values and paths converted."""
    return json.dumps(_strict(obj), indent=2, default=_jsonable, allow_nan=False) + "\n"


def check_out_root(out=None):
    """The run folder root (`--out`, default runs/), checked before any run starts:
    it must be a folder we can write in (made if missing)."""
    root = Path(out) if out else paths.project_root() / "runs"
    if root.exists() and not root.is_dir():
        raise UserError(f"--out {root}: is a file, not a folder; give a folder for the run folders")
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=root, prefix=".kerasdl-write-test-")
        probe.close()
    except OSError as e:
        raise UserError(f"--out {root}: cannot write there ({e.strerror or e}); "
                        "give a folder you can write to") from None
    return root


def new_run_id(backend, seed):
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{backend}-s{seed}"


class Run:
    """The folder of one task run and the writers for its files.

    Figures and files are referenced by bare file names in report.md, so the
    folder can be moved or published as a whole. `info` is what the run knows
    about itself for its report: command, backend, precision, seed, machine
    (kerasdl.report reads it).
    """

    def __init__(self, task, root=None, run_id=None, info=None, folder=None):
        """A new folder ROOT/<task>/<run-id>/, or `folder`, an existing run's (to resume it)."""
        self.task = task
        self.info = dict(info or {})
        self._resolved_config = None  # a task that fills in values (recipes) sets the result here
        root = Path(root) if root else paths.project_root() / "runs"
        self.dir = Path(folder) if folder else root / task / (run_id or time.strftime("%Y%m%d-%H%M%S"))
        suffix = 1
        base = self.dir
        while self.dir.exists() and run_id is None and folder is None:  # two runs in the same second
            suffix += 1
            self.dir = base.with_name(f"{base.name}-{suffix}")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.figures = []

    @property
    def resolved_config(self):
        return self._resolved_config

    @resolved_config.setter
    def resolved_config(self, config):
        """Written at once, not only when the run ends: `--resume` takes the values the run
        started with from it, where a later kerasdl's recipes may differ (a checkpoint of
        one network would not fit another)."""
        self._resolved_config = config
        if config is not None:
            self.write_json("resolved_config.json", dataclasses.asdict(config))

    def path(self, name):
        return self.dir / name

    def write_text(self, name, text):
        return atomic_write(self.path(name), text)

    def write_json(self, name, obj):
        return self.write_text(name, to_json(obj))

    def read_json(self, name):
        return json.loads(self.path(name).read_text())

    def write_csv(self, name, rows):
        """`rows`: a pandas DataFrame, a dict of equal-length columns, or a list of dicts."""
        if hasattr(rows, "to_csv"):
            return self.write_text(name, rows.to_csv(index=False))
        if isinstance(rows, dict):
            keys = list(rows)
            rows = [dict(zip(keys, values)) for values in zip(*rows.values())]
        buf = io.StringIO()
        if rows:
            writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return self.write_text(name, buf.getvalue())

    def write_history(self, history, name="history.csv"):
        """A Keras `History` (or its `.history` dict) as one row per epoch."""
        history = getattr(history, "history", history)
        columns = {"epoch": list(range(1, 1 + max((len(v) for v in history.values()), default=0)))}
        columns.update({k: [float(x) for x in v] for k, v in history.items()})
        return self.write_csv(name, columns)

    def write_metrics(self, metrics):
        return self.write_json("metrics.json", metrics)

    def save_figure(self, fig, name, dpi=110):
        """Save a matplotlib figure as PNG (atomically) and close it."""
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        plt.close(fig)
        path = atomic_write(self.path(name), buf.getvalue())
        if name not in self.figures:
            self.figures.append(name)
        return path

    def save_model(self, model, name="model.keras"):
        """`model.save` to a temporary .keras name, then rename into place.

        `model.keras` is the model a user predicts with; name others
        `models/<name>.keras`."""
        target = self.path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".tmp-{os.getpid()}-{target.name}")
        try:
            model.save(tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target

    def write_classes(self, class_names, value_range=(0, 255)):
        """classes.json: what `predict` needs beside model.keras to read its outputs and
        feed it images: the class names, in output order, and the range of the pixel
        values it was trained on (an image's 0-255 is mapped onto it)."""
        return self.write_json("classes.json", {"class_names": [str(c) for c in class_names],
                                                "value_range": [float(v) for v in value_range]})

    def write_report(self, markdown):
        return self.write_text("report.md", markdown)

    def set_status(self, status, error=None):
        """status.json: running, finished, failed or interrupted, and the error if any."""
        record = {"status": status, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
        if status == "running":  # so that --resume can tell a live run from a killed one
            import socket

            record.update(pid=os.getpid(), host=socket.gethostname())
        if error:
            record["error"] = error
        return self.write_json("status.json", record)


def read_status(run_dir):
    """The run's status record; folders from before status.json count as finished
    when they hold a report."""
    path = Path(run_dir) / "status.json"
    if path.is_file():
        return json.loads(path.read_text())
    return {"status": "finished" if (Path(run_dir) / "report.md").is_file() else "unknown"}


_SECTION = "<!-- kerasdl:{key} -->"
_END = "<!-- /kerasdl:{key} -->"
# A task name or section key becomes a folder name under plots/ and a file name under
# reports/: one plain name, never a path.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_name(value, what):
    """`value` if it is a plain file name (letters, digits, . _ -; no path), else UserError."""
    if not isinstance(value, str) or not _SAFE_NAME.match(value) or ".." in value:
        raise UserError(f"{what} {value!r}: expected a plain name of letters, digits, '.', '_' "
                        "and '-' (no path)")
    return value


def publish(run_dir, key=None, task=None):
    """Copy a run's figures to plots/<task>/<key>/ and its report into reports/<task>.md.

    reports/<task>.md holds one section per `key` (e.g. one per data set and
    model), each between marker comments, so publishing one run replaces only
    its own section. Image links in the report are rewritten to the copies.
    Returns (report path, number of figures copied).
    """
    run_dir = Path(run_dir)
    task = check_name(task or run_dir.parent.name, "task")
    key = check_name(key or "main", "section key")
    report = (run_dir / "report.md").read_text(encoding="utf-8")
    copied = publish_figures(sorted([*run_dir.glob("*.png"), *run_dir.glob("*.gif")]), task, key)
    target = paths.reports_dir() / f"{task}.md"
    replace_section(target, key, relink(report, task, key), header=f"# {task}")
    return target, copied


def publish_figures(figures, task, key):
    """Copy `figures` (paths) into plots/<task>/<key>/, replacing what was there. The folder
    is filled beside its target and swapped in, so a failure leaves the published one whole.
    Returns how many were copied."""
    plot_root = paths.plots_dir() / task
    plot_root.mkdir(parents=True, exist_ok=True)
    plot_dir = plot_root / key
    staging = Path(tempfile.mkdtemp(dir=plot_root, prefix=f".{key}."))
    try:
        for figure in figures:
            shutil.copy2(figure, staging / Path(figure).name)
        os.chmod(staging, 0o777 & ~_umask())
        old = None
        if plot_dir.exists():
            old = plot_root / f".{key}.old-{os.getpid()}"
            os.replace(plot_dir, old)
        os.replace(staging, plot_dir)
        if old is not None:
            shutil.rmtree(old)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return len(figures)


def relink(markdown, task, key):
    """Image links ](name.png) -> ](../plots/<task>/<key>/name.png): the published copies."""
    return re.sub(r"\]\(([^)/]+\.(?:png|gif))\)", rf"](../plots/{task}/{key}/\1)", markdown)


def replace_section(target, key, markdown, header):
    """Write `markdown` into `target` as the section between the marker comments of `key`,
    replacing that section if it is there, else appending it (the file starts with
    `header` when new). Atomic."""
    target = Path(target)
    start, end = _SECTION.format(key=key), _END.format(key=key)
    section = f"{start}\n{markdown.strip()}\n{end}\n"
    text = target.read_text(encoding="utf-8") if target.exists() else f"{header}\n\n"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1].lstrip("\n")
        text = before + section + ("\n" + after if after else "")  # keep the blank line between sections
    else:
        text = text.rstrip("\n") + "\n\n" + section
    atomic_write(target, text)
