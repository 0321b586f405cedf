"""Choose the Keras backend before keras is imported, and set up the process.

Keras reads `KERAS_BACKEND` once, at its first import, so `select()` must run
before anything imports keras: the CLI calls it first thing. Order of
precedence: `--backend`, then `KERAS_BACKEND`, then the fastest backend
measured on this kind of device (`DEFAULT_BY_DEVICE`).
"""

import importlib.abc
import importlib.util
import os
import sys
from pathlib import Path

from kerasdl.errors import UserError

BACKENDS = ("tensorflow", "jax", "torch")

# Measured, not guessed: the Fashion-MNIST CNN on a 2-core Sapphire Rapids CPU
# trained 1.46x faster on TensorFlow than on PyTorch and 2.2x faster than on
# JAX, each in its best jit setting (reports/bench.md). No GPU measurement
# exists yet, so GPUs get the same default until one says otherwise.
DEFAULT_BY_DEVICE = {"cpu": "tensorflow", "gpu": "tensorflow"}

# What to pip install for a backend that is missing.
_INSTALL_HINT = {
    "tensorflow": 'pip install tensorflow',
    "jax": 'pip install -e ".[jax]"',
    "torch": 'pip install -e ".[torch]"  (torch==2.13.0, the CPU build)',
}


def device_kind():
    """'gpu' when an NVIDIA device node is present, else 'cpu' (no import needed)."""
    return "gpu" if Path("/dev/nvidia0").exists() else "cpu"


def select(name=None):
    """Fix the backend for this process and return its name.

    Raises UserError for an unknown or uninstalled backend, or when keras was
    already imported with a different one (that cannot be undone in-process).
    """
    name = name or os.environ.get("KERAS_BACKEND") or DEFAULT_BY_DEVICE[device_kind()]
    if name not in BACKENDS:
        raise UserError(
            f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)} "
            "(with --backend or KERAS_BACKEND)"
        )
    if importlib.util.find_spec(name) is None:
        raise UserError(f"backend {name!r} is not installed: {_INSTALL_HINT[name]}")
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != name:
            raise UserError(
                f"keras is already loaded with backend {keras.backend.backend()!r}; "
                f"start a new process to use {name!r}"
            )
    os.environ["KERAS_BACKEND"] = name
    skip_unused_optional_imports()
    # TensorFlow's C++ start-up chatter hides the messages that matter.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # TensorFlow is imported on every backend, sooner or later (JAX and PyTorch runs
    # reach it through Keras's data adapters and tensorflow-datasets): import it now,
    # quietly, rather than let it print its start-up logs in the middle of a run.
    if "tensorflow" not in sys.modules and importlib.util.find_spec("tensorflow") is not None:
        _import_tensorflow_quietly(use_gpu=name == "tensorflow")
    return name


# Imports that TensorFlow and Keras try at their own import, each inside `try: ... except
# ImportError`, for features kerasdl never uses; each costs a second or so of every command's
# start-up when the package is installed (all four are: the jax extra, and scikit-learn and
# pandas for kerasdl's own use). {importing module: module it tries}. Only these importers are
# refused, so the same packages import normally anywhere else, kerasdl's own code included.
# Measured: reports/bench.md, "`--quick` wall times".
UNUSED_OPTIONAL_IMPORTS = {
    "tensorflow.lite.python.util": "jax",  # TFLite's conversion of JAX functions
    "keras.src.callbacks.orbax_checkpoint": "jax",  # a patch for old JAX (jax, when loaded, stays)
    "keras.src.saving.file_editor": "IPython",  # a model file's contents shown in a notebook
    "keras.src.trainers.data_adapters.array_slicing": "pandas",  # DataFrames given to fit
    "keras.src.wrappers.fixes": "sklearn",  # Keras's scikit-learn wrappers (three modules)
    "keras.src.wrappers.sklearn_wrapper": "sklearn",
    "keras.src.wrappers.utils": "sklearn",
}


class _SkipImports(importlib.abc.MetaPathFinder):
    """Refuses `UNUSED_OPTIONAL_IMPORTS` as if the package were not installed."""

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if top not in UNUSED_OPTIONAL_IMPORTS.values():
            return None
        frame = sys._getframe(1)
        while frame is not None and frame.f_globals.get("__name__", "").startswith("importlib"):
            frame = frame.f_back  # the import machinery's own frames
        importer = frame.f_globals.get("__name__") if frame is not None else None
        if UNUSED_OPTIONAL_IMPORTS.get(importer) == top:
            raise ModuleNotFoundError(f"{fullname} is not imported by {importer} under kerasdl",
                                      name=fullname)
        return None


def skip_unused_optional_imports():
    """Install the finder that refuses `UNUSED_OPTIONAL_IMPORTS` (once per process)."""
    if not any(isinstance(finder, _SkipImports) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SkipImports())


def _import_tensorflow_quietly(use_gpu=True):
    """Import TensorFlow with its C++ start-up logs (oneDNN notice, CUDA probing)
    kept off the terminal: TF 2.21 writes them before it reads TF_CPP_MIN_LOG_LEVEL.
    Off the TensorFlow backend, TensorFlow only feeds data: it is kept off the GPUs,
    which belong to JAX or PyTorch. If the import fails, what it wrote is shown after all."""
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # the CUDA probe logs on first use
            if not use_gpu:
                tf.config.set_visible_devices([], "GPU")
            tf.get_logger().setLevel("ERROR")  # retracing warnings are ours to fix, not the user's
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def cpu_has_bfloat16(cpuinfo="/proc/cpuinfo"):
    """True when the CPU computes in bfloat16 natively (AVX512-BF16 or AMX-BF16 flags)."""
    try:
        flags = Path(cpuinfo).read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(requested, preferred, backend_name):
    """The dtype policy for `--precision requested` ('auto' or a policy name).

    'auto' gives the task's `preferred` policy (its models are known to train
    well in it) where that policy was measured faster, else float32. Measured
    so far: mixed_bfloat16 on TensorFlow on a bfloat16-capable CPU, 1.09-1.24x
    the images/s of float32 for the classify CNNs (reports/bench.md).
    """
    if requested != "auto":
        return requested
    measured_faster = (backend_name == "tensorflow" and device_kind() == "cpu"
                       and cpu_has_bfloat16())
    if preferred == "mixed_bfloat16" and measured_faster:
        return preferred
    return "float32"


def set_precision(policy):
    """Set the global dtype policy: 'float32', 'mixed_bfloat16' or 'mixed_float16'."""
    import keras

    if policy not in PRECISIONS:
        raise UserError(f"unknown precision {policy!r}: choose one of {', '.join(PRECISIONS)}")
    keras.mixed_precision.set_global_policy(policy)


def versions():
    """Versions that shaped a run, for config.json."""
    import keras

    import kerasdl

    out = {"kerasdl": kerasdl.__version__, "keras": keras.__version__,
           "backend": keras.backend.backend(), "python": sys.version.split()[0]}
    backend_module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[out["backend"]]
    out[backend_module] = sys.modules[backend_module].__version__ if backend_module in sys.modules else None
    import numpy

    out["numpy"] = numpy.__version__
    return out
