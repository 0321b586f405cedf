"""python -m kerasdl  ->  kerasdl.cli.main()"""

import atexit
import os
import sys
import threading

from kerasdl.cli import main


def _exit_now(code):
    """Exit without Python's module-by-module teardown, which for TensorFlow costs ~2 s after
    the work is done (measured here: `import tensorflow` then a normal exit, 8.2 s wall;
    then os._exit, 5.9 s). Exit handlers still run and output is flushed; a process with a
    thread of its own still running (which a normal exit waits for) exits the normal way."""
    if any(t is not threading.main_thread() and not t.daemon for t in threading.enumerate()):
        sys.exit(code)
    atexit._run_exitfuncs()  # what a normal exit runs first: temporary folders, logging, ...
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader gone away, a stream closed: nothing to flush to
            pass
    os._exit(code)


def run():
    """`python -m kerasdl` and the `kerasdl` command."""
    code = main()
    _exit_now(code if isinstance(code, int) else 0 if code is None else 1)


if __name__ == "__main__":
    run()
