"""`python -m kerasdl bench`: training throughput per backend, precision and XLA setting.

Each combination runs in a fresh process (a process holds one Keras backend)
on synthetic images of a real data set's shape, so it needs no data. The
numbers behind the defaults (backend per device, XLA off on TensorFlow's CPU
path) come from here and are kept in reports/bench.md.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from kerasdl import backend, paths
from kerasdl.errors import UserError
from kerasdl.runs import atomic_write

SHAPES = {"fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3)}


def measure(model_name, shape, batch_size, steps, jit, widths=None, repeats=1):
    """Images per second of the training steps of `fit` over `steps` batches,
    after one warm-up epoch, once per repeat (a list). `widths`: the CNN's
    filters per block (None: the builder's default)."""
    import keras
    import numpy as np

    from kerasdl.models import classifiers

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch_size * steps, *shape), dtype=np.uint8)
    y = rng.integers(0, 10, len(x))
    options = {"widths": tuple(widths)} if widths else {}
    model = classifiers.BUILDERS[model_name](shape, 10, **options)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=jit)
    model.fit(x[: batch_size * 2], y[: batch_size * 2], batch_size=batch_size, epochs=1, verbose=0)

    class TrainClock(keras.callbacks.Callback):
        """Seconds from the start of the first training step to the end of the last.
        Timing the whole `fit` call instead was seen to add either ~0 or ~9 s of set-up
        and tear-down outside the steps on TensorFlow here (totals snapped to 10.3 or
        20.5 s whatever the model), which made different settings look equally fast."""

        def on_train_begin(self, logs=None):
            self.started = time.perf_counter()

        def on_train_end(self, logs=None):
            self.seconds = time.perf_counter() - self.started

    clock = TrainClock()
    rates = []
    for _ in range(repeats):
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, callbacks=[clock])
        rates.append(len(x) / clock.seconds)
    return rates


def _child(spec):
    """Runs in the subprocess: the backend is already fixed by the environment."""
    import keras

    keras.mixed_precision.set_global_policy(spec["precision"])
    jit = {"on": True, "off": False, "auto": "auto"}[spec["jit"]]
    rates = measure(spec["model"], tuple(spec["shape"]), spec["batch_size"], spec["steps"], jit,
                    spec.get("widths"), spec.get("repeats", 1))
    print(json.dumps({**spec, "images_per_s": round(statistics.median(rates), 1),
                      "min": round(min(rates), 1), "max": round(max(rates), 1)}))


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
    parser.add_argument("--batch-size", type=int, default=128, help="examples per step (default: 128)")
    parser.add_argument("--steps", type=int, default=40,
                        help="timed batches per measurement (default: 40)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed passes per measurement; the table shows their median and "
                             "range (default: 3)")
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
    if args.steps < 1 or args.repeats < 1 or args.batch_size < 1:
        raise UserError("--steps, --repeats and --batch-size: expected positive numbers")
    if args.child:
        _child(json.loads(args.child))
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
    print(table)
    if args.publish:
        target = paths.reports_dir() / "bench.md"
        text = target.read_text() if target.exists() else "# Benchmarks\n"
        atomic_write(target, text.rstrip("\n") + "\n\n" + table + "\n")
        print(f"published: {target}")
    return 0


def _table(rows, args, prog, argv):
    import platform

    model = f"{args.model} {args.widths}" if args.widths else args.model
    head = (f"## {model} on {args.shape}-shaped images, batch {args.batch_size}, {args.steps} steps, "
            f"{args.repeats} timed passes\n\n"
            f"Command: `{prog} {' '.join(argv)}` on {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}.\n\n"
            "| backend | precision | jit_compile | images/s (median) | min - max |\n|---|---|---|---|---|\n")
    return head + "\n".join(f"| {r['backend']} | {r['precision']} | {r['jit']} | {r['images_per_s']} | "
                            f"{r['min']} - {r['max']} |" for r in rows)
