"""How the fixes in this package replace a Keras method: once, and reversibly."""

_MARK = "_kerasdl_fix"


def wrap_method(owner, name, make_replacement):
    """Set `owner.name` to `make_replacement(original)`, once: calling it again finds the
    replacement in place and changes nothing (every run, trial and bench measurement calls
    `backends.prepare()`). Keras's own method stays reachable as the replacement's
    `__wrapped__`, for the tests that compare the two. Returns whether it applied: not where
    a later Keras no longer has the method (runs go on without the fix)."""
    original = getattr(owner, name, None)
    if original is None:
        return False
    if getattr(original, _MARK, False):
        return True
    replacement = make_replacement(original)
    setattr(replacement, _MARK, True)
    replacement.__wrapped__ = original
    setattr(owner, name, replacement)
    return True
