"""The one way kerasdl's fixes replace a Keras method: once, reversibly, never where it is gone."""

from kerasdl.training.backends import patching


def test_wrap_method_replaces_once_and_keeps_the_original():
    class Owner:
        def greet(self):
            return "keras"

    made = []

    def make(original):
        made.append(original)
        return lambda self: original(self) + "+fix"

    assert patching.wrap_method(Owner, "greet", make)
    assert patching.wrap_method(Owner, "greet", make)  # a second prepare() changes nothing
    assert len(made) == 1
    assert Owner().greet() == "keras+fix"
    assert Owner.greet.__wrapped__(Owner()) == "keras"


def test_wrap_method_does_nothing_where_the_method_is_gone():
    class Owner:
        pass

    assert not patching.wrap_method(Owner, "greet", lambda original: original)
    assert not hasattr(Owner, "greet")
