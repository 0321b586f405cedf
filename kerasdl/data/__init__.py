"""Data sets by name: `load(name, data_dir=None, **options) -> Dataset`.

Importing this package registers the built-in sets (each module registers
itself with `@register`); later modules add theirs the same way, in their own
file, and are imported here. Nothing here imports keras: see registry.py.
"""

from kerasdl.data.registry import (  # noqa: F401
    Dataset,
    Locator,
    check_available,
    describe,
    load,
    names,
    register,
)

# Imported for their @register side effect, so describe() (`kerasdl data list`)
# and load() know every set whichever task imported the package; order does
# not matter. A new data module adds itself here.
from kerasdl.data import idx, cifar, svhn, tabular, image_folder  # noqa: F401,E402
from kerasdl.data import clocks, images64  # noqa: F401,E402
from kerasdl.data import text  # noqa: F401,E402

__all__ = ["Dataset", "Locator", "check_available", "describe", "load", "names", "register"]
