"""Task configs: the help text of each field, and `--set key=value` overrides.

A task's Config is a dataclass with one comment per field, written as

    epochs: int = 15  # passes over the training set

The comment is the field's help in `--help`, so it is written once. Values
from the command line are parsed by the field's annotated type.
"""

import dataclasses
import inspect
import re
import typing

from kerasdl.errors import UserError

_FIELD_LINE = re.compile(r"^\s+(\w+)\s*:[^=#]+(?:=[^#]*)?#\s*(.+)$")


def field_help(config_cls):
    """{field name: its comment} read from the dataclass source."""
    try:
        source = inspect.getsource(config_cls)
    except (OSError, TypeError):
        return {}
    return {m.group(1): m.group(2).strip() for m in map(_FIELD_LINE.match, source.splitlines()) if m}


def describe_fields(config):
    """Lines `name = default  comment` for every field, for --help."""
    helps = field_help(type(config))
    rows = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        rows.append(f"  {f.name} = {format_value(value)}".ljust(36) + f"  {helps.get(f.name, '')}")
    return "\n".join(rows)


def format_value(value):
    if isinstance(value, (tuple, list)):
        return ",".join(format_value(v) for v in value)
    return str(value)


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
    # replace() runs the Config's __post_init__, where a task checks its values.
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
