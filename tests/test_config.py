"""Config fields declared once (help and check), and --set parsing by the field's type."""

from dataclasses import dataclass

import pytest

from kerasdl import config as configs
from kerasdl.config import TaskConfig, field, fraction, non_negative, one_of, positive
from kerasdl.errors import UserError


@dataclass
class Example(TaskConfig):
    epochs: int = field(3, "passes over the data", non_negative)
    rate: float = field(0.1, "step size", positive)
    name: str = field("a", "a name", one_of("a", "b"))
    flag: bool = field(False, "a switch")
    widths: tuple[int, ...] = field((1, 2), "layer widths", positive)
    limit: int | None = field(None, "optional cap", positive, shown="all of them")
    dropout: float = field(0.0, "dropout rate", fraction)

    def check(self):
        if self.limit is not None and self.limit < self.epochs:
            raise UserError(f"limit={self.limit}: expected at least epochs ({self.epochs})")


def test_values_are_parsed_by_field_type():
    c = configs.apply_overrides(Example(), {"epochs": "7", "rate": "1e-3", "name": "b", "flag": "yes",
                                            "widths": "8, 16,32", "limit": "9"})
    assert (c.epochs, c.rate, c.name, c.flag, c.widths, c.limit) == (7, 1e-3, "b", True, (8, 16, 32), 9)
    assert configs.apply_overrides(c, {"limit": "none"}).limit is None
    assert configs.apply_overrides(c, {"epochs": 2}).epochs == 2  # non-strings pass through


@pytest.mark.parametrize("key, value, message", [
    ("epochs", "x", "epochs=x: expected an integer"),
    ("rate", "fast", "rate=fast: expected a number"),
    ("flag", "maybe", "flag=maybe: expected true or false"),
    ("widths", "8,x", "widths=x: expected an integer"),
    ("nope", "1", "--set nope: unknown key for this task; known keys: epochs, rate"),
    ("epochs", "-1", "epochs=-1: expected 0 or more"),
    ("rate", "0", "rate=0.0: expected a positive number"),
    ("rate", "nan", "rate=nan: expected a finite number"),
    ("rate", "inf", "rate=inf: expected a finite number"),
    ("rate", "-1", "rate=-1.0: expected a positive number"),
    ("dropout", "1.5", "dropout=1.5: expected a value in [0, 1)"),
    ("dropout", "nan", "dropout=nan: expected a finite number"),
    ("name", "c", "name=c: choose a or b"),
    ("widths", "8,0", "widths=8,0: expected a positive number"),
    ("limit", "2", "limit=2: expected at least epochs (3)"),
])
def test_bad_values_name_the_key_and_the_value(key, value, message):
    with pytest.raises(UserError, match="^" + __import__("re").escape(message)):
        configs.apply_overrides(Example(), {key: value})


def test_set_pairs_need_an_equals_sign():
    assert configs.parse_set_pairs(["a=1", "b = x=y"]) == {"a": "1", "b": "x=y"}
    with pytest.raises(UserError, match="expected key=value"):
        configs.parse_set_pairs(["a"])


def test_help_and_shown_default_come_from_the_field_declaration():
    helps = configs.field_help(Example)
    assert helps["epochs"] == "passes over the data" and helps["widths"] == "layer widths"
    assert configs.shown_default(Example(), "widths") == "1,2"
    assert configs.shown_default(Example(), "limit") == "all of them"


def test_a_bad_default_is_refused_when_the_config_is_made():
    with pytest.raises(UserError, match="^rate=-0.5: expected a positive number$"):
        Example(rate=-0.5)


def test_every_task_config_declares_every_field_with_help_and_quick_is_valid():
    import dataclasses

    from kerasdl import tasks

    for name in tasks.available():
        module = tasks.load(name)
        assert issubclass(module.Config, TaskConfig), f"{name}: Config does not derive from TaskConfig"
        missing = [f.name for f in dataclasses.fields(module.Config) if not f.metadata.get("help")]
        assert not missing, f"{name}: Config fields without help: {missing}"
        configs.apply_overrides(module.Config(), module.QUICK, source="--quick")
