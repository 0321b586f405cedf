"""`python -m kerasdl bench`: training throughput per backend, precision and XLA setting.

Each combination runs in a fresh process (a process holds one Keras backend)
on synthetic images of a real data set's shape, so it needs no data. The
numbers behind the defaults (backend per device, XLA off on TensorFlow's CPU
path) come from here and are kept in reports/bench.md.

`--latency`: inference instead (issue 16). Batch-1 latency (p50, p99 over
`--calls` calls after warm-up, each call numpy in, numpy out) and batched
throughput (`--batch-size`, default 256, images/s) of the classify CNN in float32,
side by side: in Keras on each backend, through every way Keras offers to run
it (`model.predict`, `predict_on_batch`, calling the model, and the backend's
own compiled function of the call: `tf.function`, with and without XLA, or
`jax.jit` of `stateless_call`), and in each exported format run by
kerasdl.export's own runtime runners. One TensorFlow process builds the model
(untrained weights: latency does not depend on their values), saves it as
`.keras` and exports it with `kerasdl.export.export` (so each export passes its
own check first); each backend and each format is then timed in a fresh process
of its own, one after the other, on the same `.keras` weights, with `--threads`
threads where the runtime has a setting.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from kerasdl import backend, paths
from kerasdl.errors import UserError
from kerasdl.runs import atomic_write

SHAPES = {"fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3)}


def measure(model_name, shape, batch_size, steps, jit, widths=None, repeats=1, network=None):
    """Images per second of the training steps of `fit` over `steps` batches,
    after one warm-up epoch, once per repeat (a list), and the model's training FLOPs
    per image (kerasdl.flops). `widths`: the CNN's filters per block (None: the
    builder's default); `network`: more of the builder's options (head, dropout)."""
    import keras
    import numpy as np

    from kerasdl.models import classifiers
    from kerasdl.training import backends

    keras.utils.set_random_seed(0)
    backends.prepare()  # as every kerasdl run has it
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch_size * steps, *shape), dtype=np.uint8)
    y = rng.integers(0, 10, len(x))
    options = {**(network or {}), **({"widths": tuple(widths)} if widths else {})}
    model = classifiers.BUILDERS[model_name](shape, 10, **options)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=jit)
    model.fit(x[: batch_size * 2], y[: batch_size * 2], batch_size=batch_size, epochs=1, verbose=0)

    class TrainClock(keras.callbacks.Callback):
        """Seconds from the start of the first training step to the end of the last.
        Timing the whole `fit` call instead was seen to add either ~0 or ~9 s of set-up
        and tear-down outside the steps on TensorFlow here (totals snapped to 10.3 or
        20.5 s whatever the model), which made different settings look equally fast. The
        cause was tf.data's autotuner (kerasdl.training.backends.input_pipeline), now off."""

        def on_train_begin(self, logs=None):
            self.started = time.perf_counter()

        def on_train_end(self, logs=None):
            self.seconds = time.perf_counter() - self.started

    clock = TrainClock()
    rates = []
    for _ in range(repeats):
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, callbacks=[clock])
        rates.append(len(x) / clock.seconds)
    from kerasdl import flops

    return rates, flops.training_flops(model)


def _child(spec):
    """Runs in the subprocess: the backend is already fixed by the environment."""
    import keras

    keras.mixed_precision.set_global_policy(spec["precision"])
    jit = {"on": True, "off": False, "auto": "auto"}[spec["jit"]]
    rates, flops_per_image = measure(spec["model"], tuple(spec["shape"]), spec["batch_size"], spec["steps"],
                                     jit, spec.get("widths"), spec.get("repeats", 1), spec.get("network"))
    median = statistics.median(rates)
    print(json.dumps({**spec, "images_per_s": round(median, 1), "min": round(min(rates), 1),
                      "max": round(max(rates), 1), "gflop_s": round(median * flops_per_image / 1e9, 1)}))


def main(argv, parser_class, prog):
    parser = parser_class(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(backend.BACKENDS),
                        help="comma-separated (default: all three; missing ones are skipped)")
    parser.add_argument("--precision", default="float32,mixed_bfloat16",
                        help="comma-separated policies (default: float32,mixed_bfloat16)")
    parser.add_argument("--jit", default="off,auto",
                        help="XLA / jit_compile settings: on, off, auto (default: off,auto)")
    parser.add_argument("--model", default="cnn", choices=("mlp", "cnn"),
                        help="the classify model to time (default: cnn)")
    parser.add_argument("--shape", default="fashion_mnist", choices=sorted(SHAPES),
                        help="image shape of which data set (default: fashion_mnist)")
    parser.add_argument("--widths", help="cnn only: filters per block, e.g. 64,128,256 "
                        "(default: the builder's)")
    parser.add_argument("--batch-size", type=int, help="examples per step (default: 128); with "
                        "--latency, the batch of the throughput column (default: 256)")
    parser.add_argument("--steps", type=int, default=40,
                        help="timed batches per measurement (default: 40)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed passes per measurement; the table shows their median and "
                             "range (default: 3)")
    parser.add_argument("--latency", action="store_true",
                        help="inference instead of training: batch-1 latency (p50, p99) and batched "
                             "throughput of the model in Keras on each backend and in each exported "
                             "format (--formats); float32, untrained weights")
    parser.add_argument("--formats", help="--latency: exported formats to time, comma-separated, "
                        "or none (default: every one whose packages are installed: "
                        "saved_model,onnx,litert,openvino)")
    parser.add_argument("--calls", type=int, default=1000,
                        help="--latency: timed batch-1 calls per row, after a tenth as many "
                             "warm-up calls (default: 1000)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="--latency: threads of each runtime that has a setting (default: "
                             f"the {os.cpu_count()} cores)")
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="--latency: at most this many seconds of timed calls per row and "
                             "batch size; a row that hits it shows the calls it made (default: 5)")
    parser.add_argument("--versus", action="store_true",
                        help="kerasdl's default training against a plain PyTorch loop and a plain "
                             "Keras script on the same CNN, side by side (issue 18; kerasdl/bench_versus.py)")
    parser.add_argument("--data", action="store_true",
                        help="data loading instead: each local data set loaded cold and cached, a fresh "
                             "process each (issue 18; kerasdl/bench_data.py)")
    parser.add_argument("--datasets", help="--data: comma-separated data sets (default: every registered one)")
    parser.add_argument("--publish", action="store_true", help="append the table to reports/bench.md")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: one measurement
    args = parser.parse_args(argv)
    widths = None
    if args.widths:
        if args.model != "cnn":
            raise UserError("--widths applies to --model cnn only")
        try:
            widths = [int(w) for w in args.widths.split(",")]
        except ValueError:
            raise UserError(f"--widths {args.widths!r}: expected comma-separated integers, e.g. 64,128,256") from None
    if args.batch_size is None:
        args.batch_size = 256 if args.latency else 128
    if args.steps < 1 or args.repeats < 1 or args.batch_size < 1:
        raise UserError("--steps, --repeats and --batch-size: expected positive numbers")
    if args.calls < 1 or args.threads < 1 or not args.seconds > 0:
        raise UserError("--calls, --threads and --seconds: expected positive numbers")
    if args.child:
        spec = json.loads(args.child)
        if spec.get("mode") == "data":
            from kerasdl import bench_data

            print(json.dumps(bench_data.child(spec)))
        elif spec.get("mode") == "torch":
            from kerasdl import bench_versus

            print(json.dumps(bench_versus.torch_child(spec)))
        elif spec.get("mode"):
            print(json.dumps(LATENCY_CHILDREN[spec["mode"]](spec)))
        else:
            _child(spec)
        return 0
    if args.formats and not args.latency:
        raise UserError("--formats applies to --latency only")
    if args.datasets and not args.data:
        raise UserError("--datasets applies to --data only")
    if args.data:
        from kerasdl import bench_data

        return bench_data.main(args, prog, argv)
    if args.latency:
        return latency_main(args, widths, prog, argv)
    if args.versus:
        from kerasdl import bench_versus

        _print_and_publish(bench_versus.run(args, widths, SHAPES[args.shape], prog, argv, cpu_model()),
                           args.publish)
        return 0

    rows = []
    for name in args.backends.split(","):
        if name not in backend.BACKENDS:
            raise UserError(f"--backends: unknown backend {name!r}; choose from {', '.join(backend.BACKENDS)}")
        for precision in args.precision.split(","):
            for jit in args.jit.split(","):
                if jit not in ("on", "off", "auto"):
                    raise UserError(f"--jit: {jit!r} is not one of on, off, auto")
                if name == "torch" and jit == "on":
                    continue  # Keras has no torch.compile path worth timing on CPU here
                spec = dict(backend=name, precision=precision, jit=jit, model=args.model,
                            shape=SHAPES[args.shape], batch_size=args.batch_size, steps=args.steps,
                            widths=widths, repeats=args.repeats)
                env = dict(os.environ, KERAS_BACKEND=name, TF_CPP_MIN_LOG_LEVEL="2")
                print(f"measuring {name} {precision} jit={jit} ...", file=sys.stderr, flush=True)
                proc = subprocess.run([sys.executable, "-m", "kerasdl", "bench", "--child", json.dumps(spec)],
                                      env=env, capture_output=True, text=True)
                if proc.returncode != 0:
                    last = (proc.stderr.strip().splitlines() or ["?"])[-1]
                    print(f"  skipped: {last}", file=sys.stderr)
                    continue
                rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
                print(f"  {rows[-1]['images_per_s']} images/s (median of {args.repeats})", file=sys.stderr)
    table = _table(rows, args, prog, argv)
    _print_and_publish(table, args.publish)
    return 0


def _print_and_publish(table, publish):
    """Print the table; with --publish, append it to reports/bench.md."""
    print(table)
    if publish:
        target = paths.reports_dir() / "bench.md"
        text = target.read_text() if target.exists() else "# Benchmarks\n"
        atomic_write(target, text.rstrip("\n") + "\n\n" + table + "\n")
        print(f"published: {target}")


def _table(rows, args, prog, argv):
    from kerasdl import flops

    model = f"{args.model} {args.widths}" if args.widths else args.model
    peak, how = flops.float32_peak()
    head = (f"## {model} on {args.shape}-shaped images, batch {args.batch_size}, {args.steps} steps, "
            f"{args.repeats} timed passes\n\n"
            f"Command: `{prog} {' '.join(argv)}` on {cpu_model()}, {time.strftime('%Y-%m-%d')}.\n\n"
            "| backend | precision | jit_compile | images/s (median) | min - max | GFLOP/s | of the float32 peak |\n"
            "|---|---|---|---|---|---|---|\n")
    lines = [f"| {r['backend']} | {r['precision']} | {r['jit']} | {r['images_per_s']} | "
             f"{r['min']} - {r['max']} | {r.get('gflop_s', '-')} | {peak_share(r.get('gflop_s'), peak)} |"
             for r in rows]
    return head + "\n".join(lines) + "\n\n" + flops_note(peak, how)


def peak_share(gflop_s, peak):
    return "-" if gflop_s is None or not peak else f"{100 * gflop_s / peak:.0f}%"


def flops_note(peak, how):
    """The line under a table with a GFLOP/s column: what was counted, against what."""
    peak_text = f"{peak:.0f} GFLOP/s = {how}" if peak else f"not known: {how}"
    return ("GFLOP/s: images/s x the training FLOPs of one image, counted analytically (3 forward "
            f"passes of the conv and dense layers, kerasdl/flops.py). Float32 peak: {peak_text}; "
            "bfloat16 rows can exceed it (AVX512-BF16 and AMX have peaks of their own).")



# === --latency: inference, in Keras on each backend and in each exported format ===

def latency_main(args, widths, prog, argv):
    """Prepare (build, save, export: one TensorFlow process), then time each backend and each
    format in a fresh process of its own, one after the other; print (and --publish) the table."""
    names = args.backends.split(",")
    for name in names:
        if name not in backend.BACKENDS:
            raise UserError(f"--backends: unknown backend {name!r}; choose from {', '.join(backend.BACKENDS)}")
    formats = _latency_formats(args.formats)
    load_before = _loadavg()
    started = time.time()
    common = dict(shape=list(SHAPES[args.shape]), batch_size=args.batch_size, calls=args.calls,
                  threads=args.threads, seconds=args.seconds)
    rows = []
    with tempfile.TemporaryDirectory(prefix="kerasdl-latency-") as tmp:
        model_path = os.path.join(tmp, "model.keras")
        print(f"building {args.model} and exporting {', '.join(formats) or 'nothing'} ...",
              file=sys.stderr, flush=True)
        # Exports run in TensorFlow (as `kerasdl export` does); without them, any backend saves it.
        prepared = _run_child(dict(mode="prepare", model=args.model, widths=widths, path=model_path,
                                   formats=formats, **common), "tensorflow" if formats else names[0])
        if "error" in prepared:
            raise UserError(f"bench --latency: could not build and save the model: {prepared['error']}")
        failed_exports = prepared.get("failed", {})
        for name in names:
            print(f"timing Keras on {name} ...", file=sys.stderr, flush=True)
            result = _run_child(dict(mode="keras", path=model_path, **common), name)
            rows += result.get("rows") or [_failed_row(f"Keras on {name}", "-", result.get("error"))]
            _progress(rows, result)
        for fmt in formats:
            if fmt in failed_exports:
                rows.append(_failed_row(fmt, "-", f"export failed: {failed_exports[fmt]}"))
                continue
            print(f"timing {fmt} ...", file=sys.stderr, flush=True)
            result = _run_child(dict(mode="runtime", format=fmt, path=prepared["exports"][fmt], **common),
                                "tensorflow")
            rows += result.get("rows") or [_failed_row(fmt, "-", result.get("error"))]
            _progress(rows, result)
    context = dict(load_before=load_before, load_after=_loadavg(), minutes=(time.time() - started) / 60,
                   params=prepared["params"], cpu=cpu_model(), widths=prepared["widths"])
    table = latency_table(rows, args, prog, argv, context)
    _print_and_publish(table, args.publish)
    return 0


def _latency_formats(text):
    """Format names to time: the ones asked for (UserError if unknown or not installed), or by
    default every one whose packages are installed."""
    from kerasdl import export

    if text is not None and text.strip().lower() == "none":
        return []
    if text is None:
        chosen = []
        for fmt in export.FORMATS.values():
            try:
                export.check_packages([fmt])
                chosen.append(fmt.name)
            except UserError as e:
                print(f"skipping {fmt.name}: {e}", file=sys.stderr)
        return chosen
    formats = export.parse_formats(text)
    export.check_packages(formats)
    return [f.name for f in formats]


def _run_child(spec, backend_name):
    """One measurement process; its result (the JSON on its last stdout line), or {'error': line}."""
    env = dict(os.environ, KERAS_BACKEND=backend_name, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-m", "kerasdl", "bench", "--child", json.dumps(spec)],
                          env=env, capture_output=True, text=True)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode == 0 and lines:
        try:
            return json.loads(lines[-1])
        except ValueError:
            pass
    last = (proc.stderr.strip().splitlines() or lines or ["exit status %d" % proc.returncode])[-1]
    return {"error": last.strip()[:300]}


def _progress(rows, result):
    if "error" in result:
        print(f"  failed: {result['error']}", file=sys.stderr)
        return
    for row in result["rows"]:
        print(f"  {row['path']}: p50 {row['p50_ms']:.3f} ms, {row['images_per_s']:.0f} images/s",
              file=sys.stderr, flush=True)


def _failed_row(runtime, path, error):
    return dict(runtime=runtime, path=path, threads="-", error=error or "unknown error")


def _loadavg():
    try:
        return tuple(round(v, 2) for v in os.getloadavg())
    except OSError:
        return None


def cpu_model():
    """The CPU (`report.cpu_model`: name, family and model) and its core count."""
    from kerasdl import report

    return f"{report.cpu_model()}, {os.cpu_count()} cores"


# --- In the child processes ---

def time_calls(fn, x, calls, seconds, warmup):
    """Seconds of each of up to `calls` timed calls of fn(x), after `warmup` untimed ones
    (fewer if they take more than a quarter of `seconds`); stops early once `seconds` of timed
    calls are spent."""
    spent = 0.0
    for _ in range(warmup):  # also at most a quarter of the budget: model.predict is slow
        t = time.perf_counter()
        fn(x)
        spent += time.perf_counter() - t
        if spent > seconds / 4:
            break
    times, spent = [], 0.0
    while len(times) < calls and spent < seconds:
        t = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t)
        spent += times[-1]
    return times


def measure_path(fn, shape, spec):
    """One table row's numbers for fn (float32 batch -> numpy outputs): batch-1 latency
    p50/p99/mean in ms over the timed calls, and images/s at the spec's batch size."""
    import numpy as np

    rng = np.random.default_rng(0)
    x1 = rng.uniform(0, 255, (1, *shape)).astype(np.float32)
    xb = rng.uniform(0, 255, (spec["batch_size"], *shape)).astype(np.float32)
    calls = spec["calls"]
    single = np.array(time_calls(fn, x1, calls, spec["seconds"], warmup=max(3, calls // 10))) * 1e3
    batched = time_calls(fn, xb, max(3, min(20, calls // 50)), spec["seconds"], warmup=2)
    return dict(p50_ms=round(float(np.percentile(single, 50)), 4),
                p99_ms=round(float(np.percentile(single, 99)), 4),
                mean_ms=round(float(single.mean()), 4), calls=len(single),
                images_per_s=round(spec["batch_size"] * len(batched) / sum(batched), 1),
                batch_calls=len(batched))


def _set_threads(name, threads):
    """The backend's thread count where it has one; what the table says about it."""
    if name == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # TensorFlow already running in this process (a test): as it is
            threads = tf.config.threading.get_intra_op_parallelism_threads() or "TensorFlow's default"
        return str(threads)
    if name == "torch":
        import torch

        torch.set_num_threads(threads)
        return str(threads)
    return f"XLA's own ({os.cpu_count()} cores)"  # XLA's CPU client has no thread setting


def _prepare(spec):
    """TensorFlow: build the CNN (float32, untrained), save it as .keras, export each format
    with kerasdl.export (each checked in its runtime before it is kept)."""
    import contextlib
    from pathlib import Path

    import keras

    from kerasdl import export
    from kerasdl.models import classifiers

    keras.utils.set_random_seed(0)
    options = {"widths": tuple(spec["widths"])} if spec.get("widths") else {}
    model = classifiers.BUILDERS[spec["model"]](tuple(spec["shape"]), 10, **options)
    model.save(spec["path"])
    widths = [layer.filters for layer in model.layers if layer.name.endswith("_conv1")]
    result = dict(params=int(model.count_params()), widths=widths, exports={}, failed={})
    if spec["formats"]:
        out = Path(spec["path"]).parent / "export"
        out.mkdir()
        formats = [export.FORMATS[name] for name in spec["formats"]]
        with contextlib.redirect_stdout(sys.stderr):  # export's lines are not this child's result
            export.export(Path(spec["path"]), formats, out)
        record = json.loads((out / "export.json").read_text())
        for name in spec["formats"]:
            entry = record["formats"][name]
            if entry["status"] == "ok":
                result["exports"][name] = str(out / export.FORMATS[name].entry)
            else:
                result["failed"][name] = entry.get("error", "failed")
    return result


def _keras_rows(spec):
    """Every way Keras runs the saved model on this backend, timed."""
    import keras

    name = keras.backend.backend()
    threads = _set_threads(name, spec["threads"])
    model = keras.saving.load_model(spec["path"], compile=False, safe_mode=True)
    shape, batch = spec["shape"], spec["batch_size"]
    to_numpy = keras.ops.convert_to_numpy
    paths = [
        ("model.predict(x)", lambda x: model.predict(x, batch_size=batch, verbose=0)),
        ("model.predict_on_batch(x)", model.predict_on_batch),
    ]
    if name == "tensorflow":
        import tensorflow as tf

        signature = [tf.TensorSpec([None, *shape], tf.float32)]
        plain = tf.function(lambda x: model(x, training=False), input_signature=signature)
        xla = tf.function(lambda x: model(x, training=False), input_signature=signature, jit_compile=True)
        paths += [("model(x) (eager)", lambda x: model(x, training=False).numpy()),
                  ("tf.function(model)", lambda x: plain(x).numpy()),
                  ("tf.function(model, jit_compile=True) (XLA)", lambda x: xla(x).numpy())]
    elif name == "jax":
        import jax
        import numpy as np

        jitted = jax.jit(lambda t, n, x: model.stateless_call(t, n, x, training=False)[0])

        def compiled():  # the variables' current buffers: Keras's own predict replaces them
            trainable = [v.value for v in model.trainable_variables]
            frozen = [v.value for v in model.non_trainable_variables]
            return lambda x: np.asarray(jitted(trainable, frozen, x))

        paths += [("model(x) (eager)", lambda x: to_numpy(model(x, training=False))),
                  ("jax.jit(model.stateless_call)", compiled)]
    else:
        import torch

        def call(x):
            with torch.no_grad():
                return to_numpy(model(x, training=False))

        paths += [("model(x) under torch.no_grad()", call)]
    rows = []
    for path, fn in paths:
        print(f"  {path} ...", file=sys.stderr, flush=True)
        if path.startswith("jax.jit"):
            fn = fn()
        rows.append(dict(runtime=f"Keras {keras.__version__} on {name}", path=path, threads=threads,
                         **measure_path(fn, shape, spec)))
    return {"rows": rows}


def _runtime_rows(spec):
    """One exported format, run by kerasdl.export's own runner (the one its check uses)."""
    from kerasdl import export

    name = spec["format"]
    threads = spec["threads"]
    if name == "saved_model":  # its runner takes TensorFlow's own thread settings
        _set_threads("tensorflow", threads)
    run = export.open_runtime(name, spec["path"], threads)

    def fn(x):
        return run(x)[0][1]

    return {"rows": [dict(runtime=export.runner_name(name), path=f"{name}: {export.FORMATS[name].entry}",
                          threads=str(threads), **measure_path(fn, spec["shape"], spec))]}


LATENCY_CHILDREN = {"prepare": _prepare, "keras": _keras_rows, "runtime": _runtime_rows}


# --- The table ---

GOAL_MS = 1.0  # issue 16: the fastest path serves a batch-1 prediction in under 1 ms p50


def load_text(before, after):
    """How a table says how busy the machine was: 'load average (1, 5, 15 min) ... before / after'."""
    if not (before and after):
        return "load average unknown"
    return ("load average (1, 5, 15 min) "
            + " / ".join(", ".join(f"{v:.2f}" for v in avg) for avg in (before, after)) + " before / after")


def latency_table(rows, args, prog, argv, context):
    shown = ",".join(str(w) for w in context["widths"]) if args.model == "cnn" else args.model
    head = (f"## Inference latency: {args.model} {shown} on {args.shape}-shaped images, "
            f"batch 1 and {args.batch_size}\n\n"
            f"Command: `{prog} {' '.join(argv)}` on {context['cpu']}, {time.strftime('%Y-%m-%d %H:%M')}, "
            f"{context['minutes']:.1f} min; {load_text(context['load_before'], context['load_after'])}"
            f"{'; XLA_FLAGS=' + os.environ['XLA_FLAGS'] if os.environ.get('XLA_FLAGS') else ''}.\n\n"
            f"Untrained weights ({context['params']:,} parameters), float32. Batch 1: p50 and p99 of the "
            f"timed calls (numpy in, numpy out) after a tenth as many warm-up calls, at most "
            f"{args.seconds:g} s of timed calls ({args.seconds / 4:g} s of warm-up) a row; "
            f"batch {args.batch_size}: images/s over its timed calls. "
            f"Threads: the runtime's setting where it has one. Goal (issue 16): p50 under {GOAL_MS:g} ms.\n\n"
            f"| runtime | path | threads | batch-1 p50 (ms) | p99 (ms) | calls "
            f"| batch-{args.batch_size} images/s | p50 < {GOAL_MS:g} ms |\n|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['runtime']} | {r['path']} | - | failed: {r['error']} | - | - | - | - |")
            continue
        goal = "yes" if r["p50_ms"] < GOAL_MS else f"no ({r['p50_ms'] / GOAL_MS:.1f}x)"
        lines.append(f"| {r['runtime']} | {r['path']} | {r['threads']} | {r['p50_ms']:.3f} "
                     f"| {r['p99_ms']:.3f} | {r['calls']} | {r['images_per_s']:.0f} | {goal} |")
    return head + "\n".join(lines)
