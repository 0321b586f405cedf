"""--set parsing by the Config field's type, and help read from field comments."""

from dataclasses import dataclass

import pytest

from kerasdl import config as configs
from kerasdl.errors import UserError


@dataclass
class Example:
    epochs: int = 3  # passes over the data
    rate: float = 0.1  # step size
    name: str = "a"  # a name
    flag: bool = False  # a switch
    widths: tuple[int, ...] = (1, 2)  # layer widths
    limit: int | None = None  # optional cap

    def __post_init__(self):
        if self.epochs < 0:
            raise UserError(f"epochs={self.epochs}: expected >= 0")


def test_values_are_parsed_by_field_type():
    c = configs.apply_overrides(Example(), {"epochs": "7", "rate": "1e-3", "name": "b", "flag": "yes",
                                            "widths": "8, 16,32", "limit": "5"})
    assert (c.epochs, c.rate, c.name, c.flag, c.widths, c.limit) == (7, 1e-3, "b", True, (8, 16, 32), 5)
    assert configs.apply_overrides(c, {"limit": "none"}).limit is None
    assert configs.apply_overrides(c, {"epochs": 2}).epochs == 2  # non-strings pass through


@pytest.mark.parametrize("key, value, message", [
    ("epochs", "x", "epochs=x: expected an integer"),
    ("rate", "fast", "rate=fast: expected a number"),
    ("flag", "maybe", "flag=maybe: expected true or false"),
    ("widths", "8,x", "widths=x: expected an integer"),
    ("nope", "1", "--set nope: unknown key for this task; known keys: epochs, rate"),
    ("epochs", "-1", "epochs=-1: expected >= 0"),
])
def test_bad_values_name_the_key_and_the_value(key, value, message):
    with pytest.raises(UserError, match="^" + __import__("re").escape(message)):
        configs.apply_overrides(Example(), {key: value})


def test_set_pairs_need_an_equals_sign():
    assert configs.parse_set_pairs(["a=1", "b = x=y"]) == {"a": "1", "b": "x=y"}
    with pytest.raises(UserError, match="expected key=value"):
        configs.parse_set_pairs(["a"])


def test_help_comes_from_the_field_comments():
    helps = configs.field_help(Example)
    assert helps["epochs"] == "passes over the data" and helps["widths"] == "layer widths"
    text = configs.describe_fields(Example())
    assert "widths = 1,2" in text and "optional cap" in text


def test_every_task_config_documents_every_field():
    import dataclasses

    from kerasdl import tasks

    for name in tasks.available():
        module = tasks.load(name)
        helps = configs.field_help(module.Config)
        missing = [f.name for f in dataclasses.fields(module.Config) if f.name not in helps]
        assert not missing, f"{name}: Config fields without a comment: {missing}"
        configs.apply_overrides(module.Config(), module.QUICK, source="--quick")
