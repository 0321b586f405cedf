"""The pieces every task's report.md shares: header, tables, figures, budget line.

A task's report keeps only what is its own (what its figures mean, how it
compares with the course); the rest comes from here, from what the run knows
about itself (`Run.info`: the command, backend, precision, seed, and the
machine as measured when the run started):

    text = report.header(run, "CNN on Fashion-MNIST", data=ds.provenance)
    text += report.table({"train": {...}, "test": {...}}, bold=["test"])
    text += report.budget(run, seconds, f"{report.plural(15, 'epoch')}")
    text += report.figure("learning_curves.png", "learning curves")
"""

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path


# === What the run knows about the machine ===

def machine():
    """The machine a run is on, measured now: CPU model, cores, accelerator, library versions."""
    return {"cpu": cpu_model(), "cores": _cores(), "accelerator": _accelerator(),
            "versions": _versions()}


def cpu_model(cpuinfo="/proc/cpuinfo"):
    """/proc/cpuinfo's model name, with the x86 family and model numbers: the name alone is as
    vague as "AMD EPYC" on cloud machines, where two of them ran the same training 2.5x apart
    (a Zen 3 is family 25, model 1). platform's words where /proc/cpuinfo is missing."""
    fields = {}
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())  # the first core's
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine() or "unknown CPU"
    if fields.get("cpu family") and fields.get("model"):
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return name


def _cores():
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use
    except AttributeError:
        return os.cpu_count()


def _accelerator():
    """GPU names from nvidia-smi, or None (no import of a backend needed)."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    names = [line.strip() for line in out.splitlines() if line.strip()]
    return ", ".join(names) or None


def _versions():
    out = {"python": sys.version.split()[0]}
    for module in ("keras", "tensorflow", "jax", "torch", "numpy"):
        loaded = sys.modules.get(module)
        if loaded is not None and getattr(loaded, "__version__", None):
            out[module] = loaded.__version__
    import kerasdl

    out["kerasdl"] = kerasdl.__version__
    return out


def describe_machine(info):
    """'AMD EPYC (2 cores, no accelerator)' from a machine() dict."""
    if not info:
        return "an unrecorded machine"
    accelerator = info.get("accelerator") or "no accelerator"
    cores = info.get("cores")
    return f"{info.get('cpu', 'unknown CPU')} ({plural(cores, 'core')}, {accelerator})" if cores \
        else f"{info.get('cpu', 'unknown CPU')} ({accelerator})"


# === Formatting numbers and words ===

def fmt(value, digits=4):
    """A number with `digits` decimals; '-' for None."""
    if value is None:
        return "-"
    if isinstance(value, bool) or isinstance(value, int):
        return f"{value:,}" if not isinstance(value, bool) else str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def percent(value, digits=2):
    """0.9384 -> '93.84%'; '-' for None."""
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def plural(n, word, words=None):
    """'1 epoch', '15 epochs', '1,000 images'."""
    count = f"{n:,}" if isinstance(n, int) else str(n)
    return f"{count} {word if n == 1 else (words or word + 's')}"


def duration(seconds):
    """'45 s', '3.2 min', '1.5 h'."""
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


# === Report pieces ===

def header(run, title, data=None):
    """'## title', the command, and how and where it ran (and the data, when given)."""
    info = run.info
    versions = (info.get("machine") or {}).get("versions", {})
    backend = info.get("backend", "?")
    backend_version = versions.get(backend)
    lines = [f"## {title}", "", f"Command: `{info.get('command', '?')}`", "",
             f"Run: backend {backend}{' ' + backend_version if backend_version else ''}"
             f" (Keras {versions.get('keras', '?')}), precision {info.get('precision', '?')}, "
             f"seed {info.get('seed', '?')}, on {describe_machine(info.get('machine'))}."]
    if data:
        lines += ["", f"Data: {data}."]
    return "\n".join(lines) + "\n\n"


def budget(run, seconds, what=None):
    """One line: what the run spent (epochs, images) and how long it took, and where."""
    where = describe_machine(run.info.get("machine"))
    spent = f"{what}, " if what else ""
    return f"Budget: {spent}{duration(seconds)} on {where}.\n\n"


def table(rows, columns=None, digits=4, bold=(), index="", formats=None):
    """A markdown table.

    `rows`: a dict {row name: {column: value}}, a list of dicts (the first
    column is then the first key), or a pandas DataFrame (its index names the
    rows when `index` is given). Numbers are shown by `fmt` with `digits`
    decimals unless `formats` gives a column its own function; rows named in
    `bold` are bold.
    """
    if hasattr(rows, "to_dict"):  # a DataFrame
        frame = rows
        if index:
            rows = {str(k): v for k, v in frame.to_dict(orient="index").items()}
        else:
            rows = frame.to_dict(orient="records")
    if isinstance(rows, dict):
        rows = [{index or "": name, **values} for name, values in rows.items()]
    rows = list(rows)
    if not rows:
        return ""
    columns = list(columns or dict.fromkeys(k for row in rows for k in row))
    formats = formats or {}
    first = columns[0]

    def cell(row, column):
        value = row.get(column)
        text = formats[column](value) if column in formats else fmt(value, digits)
        return f"**{text}**" if row.get(first) in bold and column != first else text

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row, c) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n\n"


def figure(name, caption):
    """A figure of the run folder, by its bare file name (publish rewrites the link)."""
    return f"![{caption}]({name})\n\n"


def join(*parts):
    """The report's parts as one markdown text, ending in one newline."""
    return "".join(p if p.endswith("\n") else p + "\n\n" for p in parts if p).rstrip("\n") + "\n"


def machine_load():
    """The 1-minute load average at the end of training, or None where the system has
    none: training times mean little without it on a shared machine."""
    return round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None


def load_words(load):
    """How the reports say the load: ', 1-minute load average 1.2 at the end of training'."""
    return "" if load is None else f", 1-minute load average {load} at the end of training"
