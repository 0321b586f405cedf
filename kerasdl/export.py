"""`python -m kerasdl export MODEL --format FORMAT[,FORMAT...] [--out DIR]`: a trained
model in the formats that serve it, each checked in its own runtime before it is kept.

MODEL is a run folder or a `.keras` file, loaded as `predict` loads it (Keras safe mode,
Lambda refused, kerasdl's own layers registered). A `.keras` file is backend-neutral, so
every export runs in a TensorFlow process whatever backend trained the model: from
TensorFlow, Keras's `model.export` reaches every format below, while from JAX it refuses
LiteRT and fails OpenVINO, and from PyTorch the SavedModel needs torch_xla (issue 16).

    format       written to DIR/                      checked with
    saved_model  saved_model/ (TensorFlow SavedModel)  tf.saved_model.load, its serving_default
    onnx         model.onnx (via tf2onnx)              ONNX Runtime
    litert       model.tflite                          the LiteRT interpreter (ai_edge_litert,
                                                       else TensorFlow's tf.lite.Interpreter)
    openvino     openvino/model.xml + model.bin        OpenVINO Runtime (CPU)

TensorFlow Serving serves saved_model/ as version 1 of a model: its signature
`serving_default` takes the model's Input layer by name (`pixels` for kerasdl's image
models: float32 pixels in the data set's own range, batch size free) and returns
`output_0` (class probabilities), or one output per head of a multi-output model (the
clock reader's `hour` and `minute`).

The check: the export is loaded back in its runtime and run on a batch of the task's
real test inputs (the data set its run folder's config.json names; inputs drawn in the
model's value range when that cannot be had, and the output says so), split into
batches of 1, 7 and the rest, so that a fixed batch size cannot pass. The largest
absolute difference from the Keras model's outputs must be within the tolerance
(`--tolerance`, default 1e-4, times the largest output magnitude where that exceeds 1).
An export that fails its check is deleted and the command exits 1; DIR/export.json
records, per format, the files and their sizes, the input signature, the inputs checked,
the difference and the tolerance.

A model trained in mixed precision is exported in float32 (its weights are float32
already): ONNX Runtime has no bfloat16 convolutions and LiteRT would need TensorFlow's
own (Flex) kernels.
"""

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kerasdl import backend
from kerasdl.errors import UserError
from kerasdl.memory import size_text
from kerasdl.runs import atomic_write, to_json


@dataclass(frozen=True)
class Format:
    """One export format: what Keras calls it, where it goes, what it needs."""

    name: str
    keras_format: str       # model.export(..., format=)
    target: str             # the file or folder it occupies in DIR
    entry: str              # what model.export writes, inside DIR (target itself, or a file in it)
    packages: tuple         # modules it needs besides TensorFlow (import names)
    runtime: str            # what checks it


FORMATS = {f.name: f for f in (
    Format("saved_model", "tf_saved_model", "saved_model", "saved_model", (),
           "TensorFlow (tf.saved_model.load, signature serving_default)"),
    Format("onnx", "onnx", "model.onnx", "model.onnx", ("onnx", "tf2onnx", "onnxruntime"),
           "ONNX Runtime"),
    Format("litert", "litert", "model.tflite", "model.tflite", (), "the LiteRT interpreter"),
    Format("openvino", "openvino", "openvino", "openvino/model.xml", ("openvino",),
           "OpenVINO Runtime"),
)}

EXTRA_HINT = 'pip install -e ".[export]"'
# Test inputs per check; split into batches of 1, 7 and the rest.
CHECK_INPUTS = 64
BATCHES = (1, 7)
DEFAULT_TOLERANCE = 1e-4


# === Arguments, checked before anything heavy is imported ===

def parse_formats(text):
    """'onnx,litert' -> [Format, ...]; 'all' -> every format. UserError for an unknown one."""
    names = [n.strip().lower().replace("-", "_") for n in str(text).split(",") if n.strip()]
    if names == ["all"]:
        names = list(FORMATS)
    aliases = {"tf_saved_model": "saved_model", "tflite": "litert"}
    names = [aliases.get(n, n) for n in names]
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise UserError(f"--format {text}: unknown format {unknown[0] if unknown else text!r}; "
                        f"choose from {', '.join(FORMATS)} (comma-separated) or all")
    return [FORMATS[n] for n in dict.fromkeys(names)]


def check_packages(formats):
    """UserError naming the pip extra when a format's packages are not installed."""
    for fmt in formats:
        missing = [p for p in fmt.packages if importlib.util.find_spec(p) is None]
        if missing:
            raise UserError(f"--format {fmt.name} needs {', '.join(missing)}, which is not installed: "
                            f"{EXTRA_HINT}")


def model_file(model):
    """The .keras file of a run folder or a .keras path; UserError if there is none."""
    path = Path(model)
    if path.is_dir():
        path = path / "model.keras"
        if not path.is_file():
            raise UserError(f"{model}: not a run folder with a model (no model.keras in it)")
    elif not path.is_file():
        raise UserError(f"{model}: no such file or folder; give a run folder or a .keras file")
    return path


def default_out(model):
    """DIR when --out is not given: export/ in the run folder, else <name>-export/ beside the file."""
    path = Path(model)
    return path / "export" if path.is_dir() else path.with_name(f"{path.stem}-export")


def check_out(out):
    """The output folder, made if missing; UserError if it cannot be written."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file, not a folder; give a folder for the exported files")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".kerasdl-write-test-"):
            pass
    except OSError as e:
        raise UserError(f"--out {out}: cannot write there ({e.strerror or e}); "
                        "give a folder you can write to") from None
    return out


# === The command ===

def main(argv, parser_class, prog):
    parser = parser_class(
        prog=prog, description="a trained model in the formats that serve it, each checked in its own "
                                "runtime before it is kept",
        epilog="Formats: saved_model (TensorFlow Serving), onnx (ONNX Runtime), litert (.tflite), "
               f"openvino; onnx and openvino need {EXTRA_HINT}. Each export runs in TensorFlow "
               "whatever backend trained the model, and is checked in its own runtime on the "
               "task's test inputs; DIR/export.json says what was checked. "
               "Example: export runs/classify/RUN --format saved_model,onnx,litert")
    parser.add_argument("model", help="a run folder (its model.keras) or a .keras file")
    parser.add_argument("--format", required=True, metavar="FORMAT[,FORMAT...]",
                        help=f"{', '.join(FORMATS)}, or all")
    parser.add_argument("--out", metavar="DIR",
                        help="where the files go (default: RUN/export/, or NAME-export/ beside a .keras file)")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                        help="largest absolute difference from the Keras model allowed, times the "
                             f"largest output magnitude where that exceeds 1 (default {DEFAULT_TOLERANCE:g})")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    args = parser.parse_args(argv)
    formats = parse_formats(args.format)
    if not 0 < args.tolerance < 1:
        raise UserError(f"--tolerance {args.tolerance:g}: expected a number between 0 and 1, e.g. 1e-4")
    path = model_file(args.model)
    check_packages(formats)
    out = check_out(args.out or default_out(args.model))
    _previous_record(out, _sha256(path))

    if _keras_on_another_backend():
        return _in_tensorflow_process(argv)
    backend.select("tensorflow")
    return export(path, formats, out, args.tolerance)


def _keras_on_another_backend():
    """True when this process already runs Keras on JAX or PyTorch (a caller's own process)."""
    keras = sys.modules.get("keras")
    return keras is not None and keras.backend.backend() != "tensorflow"


def _in_tensorflow_process(argv):
    """The same command in a fresh TensorFlow process; its output is passed through line by
    line (into this process's sys.stdout and sys.stderr, so that a caller capturing them sees it)."""
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    proc = subprocess.Popen([sys.executable, "-m", "kerasdl", "export", *argv], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def forward(source, name):
        for line in source:
            target = getattr(sys, name)
            target.write(line)
            target.flush()

    threads = [threading.Thread(target=forward, args=(proc.stdout, "stdout")),
               threading.Thread(target=forward, args=(proc.stderr, "stderr"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return proc.wait()


def export(path, formats, out, tolerance=DEFAULT_TOLERANCE):
    """Export the model in `path` (.keras) in each format into `out`, check each; 0 when all
    passed, 1 when one failed (its files deleted). Runs on the TensorFlow backend."""
    from kerasdl import predict

    predictor = predict.load(path)
    settings = _run_config(path)
    model, note, mixed = exportable_model(predictor)
    digest = _sha256(path)
    record = _previous_record(out, digest)
    x, inputs_from = check_inputs(predictor, model, settings.get("config") or {})
    batches = split_batches(x)
    reference = [keras_outputs(model, b) for b in batches]
    if mixed is not None:  # what float32 changes: the exported model's distance from the trained one
        trained = keras_outputs(mixed, x)
        gap = max(float(np.max(np.abs(trained[k] - v))) for k, v in keras_outputs(model, x).items())
        note += f" (its outputs differ from the trained model's by up to {gap:.1e})"
    limit = tolerance * max(1.0, max(float(np.max(np.abs(a))) for r in reference for a in r.values()))
    trained_on = settings.get("backend")
    origin = f"{predictor.task}, trained on {trained_on}" if settings else "a .keras file without its run folder"
    print(f"export: {path} ({origin}) in TensorFlow, into {out}", file=sys.stderr)
    print(f"check: {inputs_from}, in batches of {', '.join(str(len(b)) for b in batches)}; "
          f"tolerance {limit:.1e}{note}", file=sys.stderr, flush=True)

    record.update({
        "model": str(path.resolve()), "model_sha256": digest, "task": predictor.task, "trained_on": trained_on,
        "kind": predictor.kind, "exported_part": {"gan": "generator", "vae": "decoder"}.get(predictor.kind),
        "inputs": signature(model.inputs, [i.name for i in model.inputs]),
        "outputs": signature(list(reference[0].values()), list(reference[0]), batch_free=True),
    })
    record.setdefault("formats", {})
    failed = 0
    for fmt in formats:
        print(f"exporting {fmt.name} ...", file=sys.stderr, flush=True)
        entry = export_one(model, fmt, out, batches, reference, limit)
        entry.update(check_inputs=inputs_from, tolerance=limit, tolerance_rule=(
            f"{tolerance:g} x max(1, largest |output| of the Keras model)"),
            exported=time.strftime("%Y-%m-%dT%H:%M:%S"))
        record["formats"][fmt.name] = entry
        atomic_write(out / "export.json", to_json(record))
        failed += entry["status"] != "ok"
        print(_line(fmt, entry, out), flush=True)
    print(f"export.json: {out / 'export.json'}")
    if "saved_model" in {f.name for f in formats} and record["formats"]["saved_model"]["status"] == "ok":
        print(serving_hint(out / "saved_model", model), file=sys.stderr)
    return 1 if failed else 0


def _line(fmt, entry, out):
    diff = entry.get("max_abs_diff")
    shown = "-" if diff is None else f"{diff:.1e}"
    if entry["status"] == "ok":
        return (f"{fmt.name:<12} ok      max |diff| {shown} <= {entry['tolerance']:.0e}  "
                f"{size_text(entry['bytes']):>8}  {fmt.entry}  ({entry['seconds']:.1f} s)")
    return f"{fmt.name:<12} FAILED  {entry['error']} (nothing kept)"


def serving_hint(folder, model):
    name = model.inputs[0].name
    return (f"serve it: docker run -p 8501:8501 -v {folder.resolve()}:/models/kerasdl/1 "
            "-e MODEL_NAME=kerasdl tensorflow/serving; then POST "
            f'{{"inputs": {{"{name}": [...]}}}} to http://localhost:8501/v1/models/kerasdl:predict '
            "(signature serving_default)")


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _run_config(path):
    """The config.json of the run folder the .keras file belongs to, or {}."""
    from kerasdl import predict

    folder = predict._run_folder(path)
    if folder is None:
        return {}
    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _previous_record(out, digest):
    """export.json already in `out` for the same model (to add formats to), else a new one;
    UserError when it describes another model (its files would be mixed with these)."""
    target = out / "export.json"
    if not target.is_file():
        return {}
    try:
        record = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = {}
    if record.get("model_sha256") not in (None, digest):
        raise UserError(f"--out {out}: holds the export of another model ({record.get('model')}); "
                        "choose another folder or delete it")
    return record


# === What is exported, and on what it is checked ===

def exportable_model(predictor):
    """(functional model to export, note, the mixed-precision original or None): the classifier
    or reader itself, a GAN's generator or a VAE's decoder; in float32 when it was trained in
    mixed precision."""
    import keras

    model, note = predictor.model, ""
    if predictor.kind == "gan":
        model, note = model.generator, "; the GAN's generator (noise in, images out)"
    elif predictor.kind == "vae":
        model, note = model.decoder, "; the VAE's decoder (latent codes in, images out)"
    if len(model.inputs) != 1:
        raise UserError(f"{predictor.path}: export takes models with one input; this one has "
                        f"{len(model.inputs)}")
    config = keras.saving.serialize_keras_object(model)
    mixed = [obj for obj in _objects(config) if obj.get("class_name") == "DTypePolicy"
             and str(obj.get("config", {}).get("name", "")).startswith("mixed_")]
    if not mixed:
        return model, note, None
    policy = mixed[0]["config"]["name"]
    for obj in mixed:
        obj["config"]["name"] = "float32"
    copy = keras.saving.deserialize_keras_object(config, safe_mode=True)
    copy.set_weights(model.get_weights())
    return copy, f"{note}; trained in {policy}, exported in float32", model


def _objects(config):
    from kerasdl import predict

    return predict._objects(config)


def check_inputs(predictor, model, settings, n=CHECK_INPUTS, seed=0):
    """(float32 inputs, where they came from): the first `n` test inputs of the run's data
    set; for a GAN or VAE draws from the N(0, I) prior it samples; else uniform draws in
    the model's value range (the reason is in the description)."""
    shape = tuple(model.inputs[0].shape[1:])
    rng = np.random.default_rng(seed)
    if predictor.kind in ("gan", "vae"):
        return rng.standard_normal((n, *shape)).astype(np.float32), f"{n} draws from N(0, I)"
    name = settings.get("dataset")
    reason = "no run folder config.json naming a data set" if not isinstance(name, str) else None
    if reason is None:
        try:
            ds = _load_dataset(name, settings, n)
            x = np.asarray(ds.x_test[:n], np.float32)
            if tuple(x.shape[1:]) == shape and len(x):
                return x, f"{len(x)} test inputs of {name}"
            reason = f"{name}'s inputs are {tuple(x.shape[1:])}, the model takes {shape}"
        except Exception as e:  # noqa: BLE001 - any reason the data cannot be had is a fallback
            reason = f"{name} could not be loaded: {' '.join(str(e).split())[:200]}"
    lo, hi = predictor.value_range
    x = rng.uniform(lo, hi, (n, *shape)).astype(np.float32)
    return x, f"{n} inputs drawn uniformly in [{lo:g}, {hi:g}] ({reason})"


def _load_dataset(name, settings, n):
    """The run's data set, without downloading; a generated one (clocks) drawn small, with
    the run's renderer settings, rather than all of its images."""
    from kerasdl import data

    options = {}
    if name == "image_folder" and settings.get("image_size"):
        options["image_size"] = tuple(settings["image_size"])
    if name == "clocks":
        options = {k: settings[k] for k in ("size", "rotation", "seed") if k in settings}
        options.update(n=5 * n, test_fraction=0.2)
    # in_memory=False: a few images are read, not the whole set
    return data.load(name, data_dir=settings.get("data_dir"), download=False, in_memory=False,
                     **options)


def split_batches(x):
    """Batches of 1, 7 and the rest: every export must take any batch size."""
    bounds = np.cumsum(BATCHES)
    pieces = np.split(x, bounds[bounds < len(x)])
    return [p for p in pieces if len(p)]


def keras_outputs(model, x):
    """{output name: array}: a dict model's own names, else output_0, output_1..."""
    out = model.predict_on_batch(x)
    if isinstance(out, dict):
        return {k: np.asarray(out[k]) for k in sorted(out)}
    if isinstance(out, (list, tuple)):
        return {f"output_{k}": np.asarray(v) for k, v in enumerate(out)}
    return {"output_0": np.asarray(out)}


def signature(tensors, names, batch_free=False):
    """[{name, shape (None: any size), dtype}] of inputs or outputs."""
    rows = []
    for name, t in zip(names, tensors):
        shape = [None if d is None else int(d) for d in t.shape]
        if batch_free:
            shape[0] = None
        rows.append({"name": name, "shape": shape, "dtype": str(t.dtype)})
    return rows


# === One format: export into a temporary folder, check, then move into place ===

def export_one(model, fmt, out, batches, reference, limit):
    """Export `model` in `fmt` under `out` and check it; the format's entry of export.json.
    The files are kept only when the check passes; an earlier export of the format is
    replaced, or deleted when this one fails."""
    started = time.perf_counter()
    staging = Path(tempfile.mkdtemp(dir=out, prefix=f".{fmt.name}-"))
    entry = {"status": "failed", "runtime": fmt.runtime, "max_abs_diff": None}
    try:
        written = staging / fmt.entry
        written.parent.mkdir(parents=True, exist_ok=True)
        try:
            with _quiet():
                _disable_openvino_telemetry(fmt)
                model.export(str(written), format=fmt.keras_format, verbose=False)
        except Exception as e:  # noqa: BLE001 - a converter's failure is this format's, one line
            entry["error"] = f"conversion failed: {_first_line(e)}"
            return entry
        try:
            with _quiet():
                runner = open_runtime(fmt.name, written)
                diff, batch_sizes = _compare(runner, batches, reference)
        except Exception as e:  # noqa: BLE001 - a runtime that cannot load or run it: one line
            entry["error"] = f"{runner_name(fmt.name)} could not run it: {_first_line(e)}"
            return entry
        entry.update(max_abs_diff=diff, batch_sizes=batch_sizes, runtime=runner_name(fmt.name))
        if not diff <= limit:  # NaN fails too
            entry["error"] = (f"max |diff| {diff:.1e} from the Keras model exceeds the tolerance "
                              f"{limit:.0e}")
            return entry
        files = {str(p.relative_to(staging)): p.stat().st_size
                 for p in sorted(staging.rglob("*")) if p.is_file()}
        _replace(staging / fmt.target, out / fmt.target)
        entry.update(status="ok", path=fmt.target, files=files, bytes=sum(files.values()))
        entry.pop("error", None)
        return entry
    finally:
        entry["seconds"] = round(time.perf_counter() - started, 2)
        if entry["status"] != "ok":
            _remove(out / fmt.target)  # an earlier export of this format no longer stands
        shutil.rmtree(staging, ignore_errors=True)


def _compare(runner, batches, reference):
    """The largest |difference| over every batch and output, and the batch sizes run."""
    worst = 0.0
    for x, expected in zip(batches, reference):
        got = aligned(runner(x), list(expected))
        if len(got) != len(expected):
            raise ValueError(f"{len(got)} outputs, the Keras model has {len(expected)}")
        for (name, want), have in zip(expected.items(), got):
            if tuple(have.shape) != tuple(want.shape):
                raise ValueError(f"output {name} has shape {tuple(have.shape)} for a batch of "
                                 f"{len(x)}; Keras gives {tuple(want.shape)}")
            worst = max(worst, float(np.max(np.abs(have.astype(np.float64) - want))))
    return worst, [len(x) for x in batches]


def _replace(source, target):
    _remove(target)
    os.replace(source, target)


def _remove(path):
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _first_line(exc, limit=300):
    from kerasdl import predict

    return predict._first_line(exc, limit)


@contextlib.contextmanager
def _quiet():
    """The converters' and runtimes' logs (TensorFlow's C++ logs, tf2onnx, MLIR) kept off the
    terminal: they write to the file descriptors directly. Python warnings too."""
    import logging
    import warnings

    for name in ("tf2onnx", "absl", "tensorflow"):
        logging.getLogger(name).setLevel(logging.ERROR)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as sink, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _disable_openvino_telemetry(fmt):
    """OpenVINO's converter reports usage to Google Analytics unless a consent file says no
    (openvino_telemetry's opt-in check, with the dialog turned off): kerasdl's exports do not.
    Its modules get OpenVINO's own no-op stand-in, the one it uses without openvino_telemetry."""
    if fmt.name != "openvino":
        return
    import importlib

    from openvino.tools.ovc import telemetry_stub

    for name in ("convert_impl", "telemetry_utils", "utils", "main"):
        try:
            module = importlib.import_module(f"openvino.tools.ovc.{name}")
        except ImportError:
            continue
        if hasattr(module, "tm"):
            module.tm = telemetry_stub


# === Runtimes: an exported file, loaded back, as a function of a batch ===

def runner_name(name):
    """The runtime that runs format `name` here, with its version."""
    if name == "saved_model":
        import tensorflow as tf

        return f"TensorFlow {tf.__version__} (serving_default signature)"
    if name == "onnx":
        import onnxruntime

        return f"ONNX Runtime {onnxruntime.__version__}"
    if name == "litert":
        if importlib.util.find_spec("ai_edge_litert") is not None:
            from importlib.metadata import version

            return f"LiteRT interpreter (ai_edge_litert {version('ai-edge-litert')})"
        import tensorflow as tf

        return f"TensorFlow {tf.__version__}'s tf.lite.Interpreter"
    import openvino

    return f"OpenVINO Runtime {openvino.__version__.split('-')[0]} (CPU)"


def open_runtime(name, path, threads=None):
    """A function: float32 batch -> [(output names, array)], running the file or folder
    `path` exported in format `name` in its own runtime (`aligned` puts the outputs in the
    Keras model's order). `threads`: the runtime's thread count (None: its default)."""
    return {"saved_model": _saved_model_runner, "onnx": _onnx_runner, "litert": _litert_runner,
            "openvino": _openvino_runner}[name](str(path), threads)


def aligned(outputs, names):
    """A runtime's [(output names, array)] in the order of the Keras model's output `names`:
    by name where every one is found (multi-output models keep their names), else as given."""
    by_name = {n: array for found, array in outputs for n in found}
    if all(n in by_name for n in names):
        return [by_name[n] for n in names]
    return [array for _, array in outputs]


def _saved_model_runner(path, threads):
    import tensorflow as tf

    serve = tf.saved_model.load(path).signatures["serving_default"]
    (input_name,) = serve.structured_input_signature[1]

    def run(x):
        return [({k}, v.numpy()) for k, v in serve(**{input_name: tf.constant(x)}).items()]

    return run


def _onnx_runner(path, threads):
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    names = [{o.name} for o in session.get_outputs()]

    def run(x):
        return list(zip(names, session.run(None, {input_name: x})))

    return run


def _litert_runner(path, threads):
    if importlib.util.find_spec("ai_edge_litert") is not None:
        from ai_edge_litert.interpreter import Interpreter
    else:  # TensorFlow's own copy: deprecated, but the same interpreter
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    interpreter = Interpreter(model_path=path, num_threads=threads)
    runner = interpreter.get_signature_runner("serving_default")
    (input_name,) = runner.get_input_details()

    def run(x):
        return [({k}, v) for k, v in runner(**{input_name: x}).items()]  # resized to the batch

    return run


def _openvino_runner(path, threads):
    import openvino as ov

    # OpenVINO computes in bfloat16 on a CPU that has it (AVX512_BF16, AMX) unless told
    # otherwise: 4e-4 off the Keras outputs on such a CPU, against 3e-8 in float32.
    config = {"INFERENCE_PRECISION_HINT": "f32"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    compiled = ov.Core().compile_model(path, "CPU", config)
    request = compiled.create_infer_request()
    outputs = [(set(o.get_names()), o) for o in compiled.outputs]

    def run(x):
        result = request.infer({0: x})
        return [(names, np.asarray(result[o])) for names, o in outputs]

    return run
