"""Where the project's folders are: data/, plots/, reports/, tuning/, runs/.

Run from a clone (the usual case: `pip install -e .`), they sit beside the
package. Installed elsewhere, the current directory plays the project root.
`KERASDL_HOME` overrides both, so tests can point everything at a temp folder.
"""

import os
from pathlib import Path


def project_root():
    home = os.environ.get("KERASDL_HOME")
    if home:
        return Path(home)
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").exists():
        return here
    return Path.cwd()


def data_dir():
    """The project's data/ folder (step 2 of the data resolution order)."""
    return project_root() / "data"


def cache_dir():
    """Prepared arrays (decoded image folders, generated data sets)."""
    return Path(os.environ.get("KERASDL_CACHE_DIR") or data_dir() / "cache")


def plots_dir():
    return project_root() / "plots"


def reports_dir():
    return project_root() / "reports"


def tuning_dir():
    return project_root() / "tuning"
