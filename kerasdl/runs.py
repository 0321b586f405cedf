"""A run folder, `runs/<task>/<run-id>/`, and everything written into it.

Every file is written atomically: to a temporary name in the same folder,
then renamed over the target, so an interrupted run never leaves a
half-written file where a good one was. `publish()` copies what a reader
needs to the project's `plots/` and `reports/`.
"""

import csv
import io
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from kerasdl import paths


def atomic_write(path, data):
    """Write bytes or text to `path` via a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
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


def new_run_id(backend, seed):
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{backend}-s{seed}"


class Run:
    """The folder of one task run and the writers for its files.

    Figures and files are referenced by bare file names in report.md, so the
    folder can be moved or published as a whole.
    """

    def __init__(self, task, root=None, run_id=None):
        self.task = task
        root = Path(root) if root else paths.project_root() / "runs"
        self.dir = root / task / (run_id or time.strftime("%Y%m%d-%H%M%S"))
        suffix = 1
        base = self.dir
        while self.dir.exists() and run_id is None:  # two runs in the same second
            suffix += 1
            self.dir = base.with_name(f"{base.name}-{suffix}")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.figures = []

    def path(self, name):
        return self.dir / name

    def write_text(self, name, text):
        return atomic_write(self.path(name), text)

    def write_json(self, name, obj):
        return self.write_text(name, json.dumps(obj, indent=2, default=_jsonable) + "\n")

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
        """`model.save` to a temporary .keras name, then rename into place."""
        target = self.path(name)
        tmp = self.path(f".tmp-{os.getpid()}-{name}")
        try:
            model.save(tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target

    def write_report(self, markdown):
        return self.write_text("report.md", markdown)


_SECTION = "<!-- kerasdl:{key} -->"
_END = "<!-- /kerasdl:{key} -->"


def publish(run_dir, key=None, title=None):
    """Copy a run's figures to plots/<task>/<key>/ and its report into reports/<task>.md.

    reports/<task>.md holds one section per `key` (e.g. one per data set and
    model), each between marker comments, so publishing one run replaces only
    its own section. Image links in the report are rewritten to the copies.
    Returns (report path, number of figures copied).
    """
    run_dir = Path(run_dir)
    task = run_dir.parent.name
    key = key or "main"
    report = (run_dir / "report.md").read_text()
    plot_dir = paths.plots_dir() / task / key
    if plot_dir.exists():
        shutil.rmtree(plot_dir)
    plot_dir.mkdir(parents=True)
    copied = 0
    figures = sorted([*run_dir.glob("*.png"), *run_dir.glob("*.gif")])
    for figure in figures:
        shutil.copy2(figure, plot_dir / figure.name)
        copied += 1
    # ](name.png) -> ](../plots/<task>/<key>/name.png)
    report = re.sub(r"\]\(([^)/]+\.(?:png|gif))\)", rf"](../plots/{task}/{key}/\1)", report)
    section = f"{_SECTION.format(key=key)}\n{report.strip()}\n{_END.format(key=key)}\n"

    target = paths.reports_dir() / f"{task}.md"
    text = target.read_text() if target.exists() else f"# {title or task}\n\n"
    start, end = _SECTION.format(key=key), _END.format(key=key)
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1].lstrip("\n")
        text = before + section + ("\n" + after if after else "")  # keep the blank line between sections
    else:
        text = text.rstrip("\n") + "\n\n" + section
    atomic_write(target, text)
    return target, copied
