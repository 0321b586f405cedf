"""The one exception type that reaches the user as a single clear line.

Raise `UserError` (or a subclass) where a bad value *enters* the program: the
message names what was received and what to do instead. The CLI prints it as
`kerasdl: error: <message>` and exits with `exit_code` (2 by default), never
with a traceback unless `--debug` is given.
"""

import contextlib


class UserError(Exception):
    """A problem the user can fix: bad option, missing data, corrupt file."""

    exit_code = 2

    def __init__(self, message):
        # One line, always: a multi-line message would read like a traceback.
        super().__init__(" ".join(str(message).split()))


class DataNotFound(UserError):
    """A data set could not be found in any place of the resolution order."""


class DataCorrupt(UserError):
    """A data file was found but could not be read (truncated, wrong format)."""


# === Stop signals ===
# SIGTERM raises KeyboardInterrupt in whatever Python code runs when it arrives. When that
# is a weakref callback or a __del__ (the garbage collector's), Python prints "Exception
# ignored" and goes on as if nothing happened (seen in `tune`: a search killed mid-trial
# finished all its trials). So the signal is also noted here, and the next safe point
# (every training step, every trial, the end of a command) raises it again.
_signals = []


def note_signal(signum):
    _signals.append(signum)


def raise_if_signalled():
    """KeyboardInterrupt if a stop signal arrived (even one whose exception was lost)."""
    if _signals:
        raise KeyboardInterrupt(f"signal {_signals[-1]}")


_deferring = []


def signals_deferred():
    """Whether a stop signal should only be noted now, not raised (see `deferred_signals`)."""
    return bool(_deferring)


@contextlib.contextmanager
def deferred_signals():
    """Within the block a SIGTERM is only noted, and raised when the block ends: for
    bookkeeping that must not stop half-way. (A search killed between KerasTuner's writing a
    finished trial and its saving the oracle ran that trial again when resumed: seen in CI.)"""
    _deferring.append(True)
    try:
        yield
    finally:
        _deferring.pop()
    raise_if_signalled()
