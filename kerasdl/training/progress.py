"""A progress bar for loops that are not `fit` (sweeps, hand-written training)."""

import os
import sys


def progress(iterable, total=None, desc=None):
    """Yield from `iterable` while drawing Keras's own Progbar on stderr.

    Quiet (no bar) when KERASDL_QUIET is set, as the tests do.
    """
    import keras

    total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
    if os.environ.get("KERASDL_QUIET") or total is None:
        yield from iterable
        return
    if desc:
        print(desc, file=sys.stderr)
    bar = keras.utils.Progbar(total, unit_name="step")
    for k, item in enumerate(iterable, 1):
        yield item
        bar.update(k)
