"""Task configs: each field declared once with its help and its check; `--set` overrides.

A task's Config is a dataclass whose fields say what they are and which values
they take:

    @dataclass
    class Config(TaskConfig):
        epochs: int = field(15, "passes over the training set", positive)
        dropout: float = field(0.2, "dropout after each block", fraction)
        model: str = field("cnn", "mlp or cnn", one_of("mlp", "cnn"))

The help is what `--help` shows; the check runs whenever a Config is made or
changed (TaskConfig.__post_init__), so a bad value is refused where it
enters, with one line naming the field, the value and what is expected. Every
number is also refused when it is NaN or infinite. A Config's own `check()`
holds what one field cannot say alone (one value against another).
Values from the command line are parsed by the field's annotated type.
"""

import dataclasses
import math
import typing

from kerasdl.errors import UserError


# === Declaring fields ===

def field(default, help, check=None, *, shown=None):
    """A Config field with its `--help` text and an optional `check`.

    `check(value)` returns None when the value is good, else what was expected
    ("expected a positive number"); None values are not checked (None means
    "the recipe's" or "all" where a field allows it). `shown`: the default as
    `--help` should show it, where the stored default (None) means something
    the user cannot see, e.g. "the recipe's: 15 for the CNN".
    """
    metadata = {"help": help, "check": check, "shown": shown}
    return dataclasses.field(default=default, metadata=metadata)


def positive(value):
    return None if _all(value, lambda v: v > 0) else "expected a positive number"


def non_negative(value):
    return None if _all(value, lambda v: v >= 0) else "expected 0 or more"


def fraction(value):
    """In [0, 1): a dropout rate, a validation share."""
    return None if _all(value, lambda v: 0 <= v < 1) else "expected a value in [0, 1)"


def probability(value):
    """In (0, 1)."""
    return None if _all(value, lambda v: 0 < v < 1) else "expected a value in (0, 1)"


def at_least(low):
    def check(value):
        return None if _all(value, lambda v: v >= low) else f"expected {low} or more"
    return check


def between(low, high):
    """In [low, high]."""
    def check(value):
        return None if _all(value, lambda v: low <= v <= high) else f"expected a value in [{low}, {high}]"
    return check


def one_of(*choices):
    def check(value):
        if _all(value, lambda v: v in choices):
            return None
        return f"choose {', '.join(map(str, choices[:-1]))} or {choices[-1]}" if len(choices) > 1 \
            else f"expected {choices[0]}"
    return check


def _all(value, test):
    """`test` holds for the value, or for every item of a tuple/list value.

    Written as `test(v)` being true, so NaN (for which every comparison is
    false) fails every range."""
    items = value if isinstance(value, (tuple, list)) else (value,)
    return all(test(v) for v in items)


class TaskConfig:
    """Base of every task's Config dataclass: checks every field after init and replace()."""

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            problem = _not_finite(value) or (f.metadata.get("check") or (lambda v: None))(value)
            if problem:
                raise UserError(f"{f.name}={format_value(value)}: {problem}")
        self.check()

    def check(self):
        """Checks across fields; raise UserError. Override where a task has any."""


def _not_finite(value):
    items = value if isinstance(value, (tuple, list)) else (value,)
    if any(isinstance(v, float) and not math.isfinite(v) for v in items):
        return "expected a finite number"
    return None


# === Reading fields ===

def field_help(config_cls):
    """{field name: its help}."""
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(config_cls)}


def shown_default(config, name):
    """A field's default as `--help` shows it."""
    f = next(f for f in dataclasses.fields(config) if f.name == name)
    return f.metadata.get("shown") or format_value(getattr(config, name))


def format_value(value):
    if isinstance(value, (tuple, list)):
        return ",".join(format_value(v) for v in value)
    return str(value)


# === Overrides from the command line ===

def _parse(text, kind, key):
    """Turn the string `text` into a value of type `kind` (from the annotation)."""
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        if text.lower() in ("none", "null", "") and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        errors = []
        for candidate in inner:
            try:
                return _parse(text, candidate, key)
            except UserError as e:
                errors.append(str(e))
        raise UserError(errors[0] if errors else f"bad value {text!r} for {key}")
    if origin in (tuple, list):
        item = args[0] if args else str
        parts = [p for p in text.replace(" ", "").split(",") if p != ""]
        values = [_parse(p, item, key) for p in parts]
        return tuple(values) if origin is tuple else values
    if kind is bool:
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise UserError(f"{key}={text}: expected true or false")
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            raise UserError(f"{key}={text}: expected {'an integer' if kind is int else 'a number'}") from None
    if kind is str or kind is typing.Any:
        return text
    raise UserError(f"{key}: cannot parse values of type {kind}")


def apply_overrides(config, overrides, source="--set"):
    """A copy of `config` with `overrides` ({key: value or string}) applied.

    Strings are parsed by the field's type; unknown keys and bad values raise
    UserError naming the key, the value received and what was expected.
    """
    hints = typing.get_type_hints(type(config))
    names = [f.name for f in dataclasses.fields(config)]
    changes = {}
    for key, value in overrides.items():
        if key not in names:
            raise UserError(f"{source} {key}: unknown key for this task; known keys: {', '.join(names)}")
        changes[key] = _parse(value, hints[key], key) if isinstance(value, str) else value
    # replace() runs the Config's __post_init__, where every field is checked.
    return dataclasses.replace(config, **changes)


def parse_set_pairs(pairs):
    """['a=1', 'b=x'] -> {'a': '1', 'b': 'x'}; a pair without '=' is an error."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set {pair!r}: expected key=value, e.g. --set epochs=5")
        out[key.strip()] = value.strip()
    return out
