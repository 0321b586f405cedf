"""The one exception type that reaches the user as a single clear line.

Raise `UserError` (or a subclass) where a bad value *enters* the program: the
message names what was received and what to do instead. The CLI prints it as
`kerasdl: error: <message>` and exits with `exit_code` (2 by default), never
with a traceback unless `--debug` is given.
"""


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
