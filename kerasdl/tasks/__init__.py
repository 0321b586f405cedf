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

The command line needs only a task's outline (Config, QUICK, docstring), and
reads it with `outline(name)`: without keras, so `--help` and usage errors
answer at once.
"""

import ast
import contextlib
import functools
import importlib
import importlib.abc
import importlib.util
import sys
import types
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


# --- A task's outline, without its dependencies --------------------------------
#
# `<task> --help` and every usage error need only the task's Config, QUICK and
# docstring, but the task module imports keras (5-10 s with TensorFlow, more on a
# busy machine) and matplotlib, scikit-learn, ... to define them. `outline`
# imports the module with every third-party package stood in for by a
# placeholder, then forgets everything imported that way, so the run that may
# follow imports it for real. tests/test_cli.py checks that the outline's Config
# and QUICK are the real ones for every task.


class _Placeholder(types.ModuleType):
    """A module that is not there, and anything taken from it: an attribute, a
    call, a base class, a decorator, a type annotation all give a placeholder."""

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _Placeholder(f"{self.__name__}.{name}")

    def __call__(self, *args, **kwargs):
        return self

    def __mro_entries__(self, bases):  # `class Callback(keras.callbacks.Callback)`
        return ()

    def __getitem__(self, key):
        return self

    def __or__(self, other):  # `np.ndarray | None` in a signature
        return self

    __ror__ = __or__


# Imported for real: kerasdl, the standard library, and numpy, which modules use for
# constants at import time and which imports in a fraction of a second.
_REAL = {"kerasdl", "numpy"}


class _StandIns(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds a placeholder for every module that is neither the standard library's nor in _REAL."""

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if top in _REAL or top in sys.stdlib_module_names:
            return None
        return importlib.util.spec_from_loader(fullname, self, is_package=True)

    def create_module(self, spec):
        return _Placeholder(spec.name)

    def exec_module(self, module):
        pass


@contextlib.contextmanager
def outline(name):
    """The task's module for reading its outline (Config, QUICK, docstring) only:
    its third-party imports are placeholders, and everything imported here is
    forgotten on leaving. Where keras is loaded already (in-process callers,
    tests) there is nothing to save: the module is imported for real."""
    if "keras" in sys.modules:
        yield load(name)
        return
    before = set(sys.modules)
    finder = _StandIns()
    sys.meta_path.insert(0, finder)
    try:
        yield load(name)
    finally:
        sys.meta_path.remove(finder)
        for module_name in set(sys.modules) - before:
            module = sys.modules[module_name]
            if isinstance(module, _Placeholder) or module_name.partition(".")[0] == "kerasdl":
                del sys.modules[module_name]
                parent, _, child = module_name.rpartition(".")
                if getattr(sys.modules.get(parent), child, None) is module:
                    delattr(sys.modules[parent], child)
