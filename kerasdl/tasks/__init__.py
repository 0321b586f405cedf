"""The task registry: every experiment of `python -m kerasdl <task>`, found, not listed.

A task is a module under kerasdl/tasks/ (a file, or a file inside an
experiment's package such as tasks/clock/__init__.py) with a top-level line

    NAME = "task-name"

Adding a task means adding its module: nothing here names it. The modules are
found by reading their source (no import: keras must not load before the
backend is chosen, and `list` stays fast); a task's one-line description is
the summary line (the first line) of its module docstring.

A task module reads in the order of an experiment and provides:

    NAME        the task's name on the command line
    Config      a dataclass, one field per value that shapes a run (kerasdl.config.field)
    QUICK       dict of Config overrides for --quick (a tiny budget, seconds)
    variant(c)  optional: the key of the run's section in reports/<task>.md
    check(c)    optional: checks that need more than the Config (a data set can be
                found, ...), run before the run folder is created
    HEADLINE    optional: the metrics printed at the end of a run (default: every
                number in metrics.json)
    PRECISION   optional: the mixed-precision policy --precision auto may choose
    run(c, run) does the experiment, writes into `run` (kerasdl.runs.Run),
                returns the metrics dict (also written to metrics.json)
"""

import ast
import functools
import importlib
from pathlib import Path

_ROOT = Path(__file__).resolve().parent


def _summary(docstring):
    """A docstring's summary line (PEP 257), without its full stop."""
    return (docstring or "").strip().split("\n")[0].strip().rstrip(".")


@functools.cache
def _discover():
    """{task name: (module path, one-line description)}, sorted by name."""
    found = {}
    for path in sorted(_ROOT.rglob("*.py")):
        if path == Path(__file__).resolve():
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        names = [node.value.value for node in tree.body
                 if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                 and any(isinstance(t, ast.Name) and t.id == "NAME" for t in node.targets)]
        if not names:
            continue
        parts = path.relative_to(_ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        module = ".".join((__name__, *parts))
        if names[0] in found:
            raise RuntimeError(f"two task modules are named {names[0]!r}: "
                               f"{found[names[0]][0]} and {module}")
        found[names[0]] = (module, _summary(ast.get_docstring(tree)))
    return dict(sorted(found.items()))


def available():
    """{task name: one-line description} of every task in this checkout, by name."""
    return {name: description for name, (_, description) in _discover().items()}


def load(name):
    """Import a task's module (keras is imported with it: choose the backend first)."""
    return importlib.import_module(_discover()[name][0])
