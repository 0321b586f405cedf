"""Command-line interface: argument parsing only, no experiment logic.

    python -m kerasdl list                   every task, one line each
    python -m kerasdl <task> [options]       run one experiment
    python -m kerasdl data list              every data set and where it was found
    python -m kerasdl report RUN_DIR         publish a finished run to plots/ and reports/
    python -m kerasdl predict MODEL INPUT... classify images with a trained model

The backend is fixed (kerasdl.backend.select) before any module that imports
keras is loaded. A UserError ends the command with one line and exit 2; any
other exception with one line and exit 1, unless --debug asks for the traceback.
"""

import argparse
import dataclasses
import difflib
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from kerasdl import backend, tasks
from kerasdl.errors import UserError

PROG = "python -m kerasdl"

COMMANDS = {
    "list": "list every task",
    "data": "data sets: `data list` shows each one and where it was (or would be) found",
    "report": "publish a finished run folder to plots/ and reports/",
    "bench": "measure training throughput per backend and precision (reports/bench.md)",
    "predict": "classify images (or read clocks) with a trained model: predict MODEL INPUT...",
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is a UserError: one line, exit 2; and no prefix
    matching, so a misspelt `--epoch 3` is refused rather than taken as `--epochs`."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UserError(f"{message} (see {self.prog} --help)")


def _top_help():
    lines = [f"usage: {PROG} <command or task> [options]", "",
             "kerasdl: the classic deep-learning course as reproducible Keras 3 experiments.", "",
             "commands:"]
    lines += [f"  {name:<20}{desc}" for name, desc in COMMANDS.items()]
    lines += ["", "tasks (each takes --help):"]
    lines += [f"  {name:<20}{desc}" for name, desc in tasks.available().items()]
    lines += ["", "options of every task: --backend {tensorflow,jax,torch} --precision "
              "{auto,float32,mixed_bfloat16,mixed_float16}",
              "  --seed --epochs --batch-size --data-dir --out --quick --set key=value --publish --debug",
              f"  (`{PROG} <task> --help` shows each with its default)"]
    return "\n".join(lines)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    # `kill` (SIGTERM) stops a run as Ctrl-C does: its folder says "interrupted".
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _dispatch(argv)
    except BrokenPipeError:
        # The reader went away (`kerasdl data list | head`): not an error of ours.
        # Point stdout at devnull so Python's own flush at exit stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except UserError as e:
        if debug:
            raise
        print(f"kerasdl: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("kerasdl: interrupted; files already finished are kept", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the one place that turns bugs into one line
        if debug:
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"kerasdl: internal error: {type(e).__name__}: {first} "
              "(run again with --debug for the traceback)", file=sys.stderr)
        return 1


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _dispatch(argv):
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_top_help())
        return 0
    command, rest = argv[0], argv[1:]
    if command == "list":
        width = max(len(n) for n in tasks.available())
        for name, desc in tasks.available().items():
            print(f"{name:<{width}}  {desc}")
        return 0
    if command == "data":
        return _data_command(rest)
    if command == "report":
        return _report_command(rest)
    if command == "bench":
        return _bench_command(rest)
    if command == "predict":
        return _predict_command(rest)
    if command in tasks.available():
        return _task_command(command, rest)
    known = list(COMMANDS) + list(tasks.available())
    close = difflib.get_close_matches(command, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UserError(f"unknown task or command {command!r}{hint}; run `{PROG} list` to see the tasks")


# --- tasks -------------------------------------------------------------------

COMMON_FIELDS = ("seed", "epochs", "batch_size", "data_dir")


def _task_options(parser, defaults):
    """Every Config field is an option (--batch-size for batch_size) with its declared
    help and default; then the options of the run itself."""
    from kerasdl import config as configs

    helps = configs.field_help(type(defaults))
    fields = dataclasses.asdict(defaults)
    group = parser.add_argument_group("experiment (the task's config fields; also --set key=value)")
    for name in fields:
        group.add_argument(f"--{name.replace('_', '-')}", dest=f"field_{name}", metavar="VALUE",
                           help=f"{helps.get(name, '')} (default: {configs.shown_default(defaults, name)})")
    for name in COMMON_FIELDS:
        if name not in fields:  # a common option this task has no use for: say so when given
            group.add_argument(f"--{name.replace('_', '-')}", dest=f"unused_{name}", metavar="VALUE",
                               help=argparse.SUPPRESS)
    runopts = parser.add_argument_group("run")
    runopts.add_argument("--backend", choices=backend.BACKENDS,
                         help="Keras backend (default: KERAS_BACKEND, else the fastest measured "
                              f"on this device: {backend.DEFAULT_BY_DEVICE[backend.device_kind()]})")
    runopts.add_argument("--out", help="run folder root (default: runs/); the run goes to OUT/<task>/<run-id>/")
    runopts.add_argument("--quick", action="store_true",
                         help="a tiny budget (a few steps on a small subset) for smoke tests")
    runopts.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                         help="set any config field (repeatable)")
    runopts.add_argument("--precision", choices=("auto", *backend.PRECISIONS), default="auto",
                         help="Keras dtype policy (default auto: the task's preferred mixed "
                              "policy where it was measured faster, else float32)")
    runopts.add_argument("--publish", action="store_true",
                         help="copy the figures to plots/ and the report to reports/<task>.md")
    runopts.add_argument("--debug", action="store_true", help="show full tracebacks")


def _task_command(name, argv):
    # The backend must be fixed before the task module (and so keras) is imported.
    pre = _Parser(prog=f"{PROG} {name}", add_help=False)
    pre.add_argument("--backend", choices=backend.BACKENDS)
    known, _ = pre.parse_known_args(argv)
    backend_name = backend.select(known.backend)

    module = tasks.load(name)
    from kerasdl import config as configs

    defaults = module.Config()
    quick = ", ".join(f"{k}={configs.format_value(v)}" for k, v in module.QUICK.items()) or "nothing"
    parser = _Parser(
        prog=f"{PROG} {name}",
        description=(module.__doc__ or "").strip().splitlines()[0],
        epilog=f"--quick sets {quick}. Options and --set override --quick.",
    )
    _task_options(parser, defaults)
    args = parser.parse_args(argv)

    # === Everything that can be checked before the run folder exists ===
    unused = [k for k in COMMON_FIELDS if getattr(args, f"unused_{k}", None) is not None]
    if unused:
        raise UserError(f"task {name!r} does not use --{unused[0].replace('_', '-')}")
    if args.quick and args.publish:
        raise UserError("--publish takes a full run: --quick results are smoke tests, not reference results")
    data_dir = getattr(args, "field_data_dir", None)
    if data_dir and not Path(data_dir).is_dir():
        raise UserError(f"--data-dir {data_dir}: no such directory")

    config = defaults
    if args.quick:
        config = configs.apply_overrides(config, module.QUICK, source="--quick")
    options = {k: getattr(args, f"field_{k}") for k in dataclasses.asdict(defaults)
               if getattr(args, f"field_{k}") is not None}
    config = configs.apply_overrides(config, options, source="option")
    config = configs.apply_overrides(config, configs.parse_set_pairs(args.set))
    seed = getattr(config, "seed", 0)
    if not 0 <= seed < 2 ** 32:  # what numpy, and so keras.utils.set_random_seed, accepts
        raise UserError(f"seed={seed}: expected a value in [0, 2**32 - 1]")
    _check_before_run(module, config)

    from kerasdl import runs

    root = runs.check_out_root(args.out)
    section = module.variant(config) if hasattr(module, "variant") else None
    if section is not None:
        runs.check_name(section, "section key")
    precision = backend.resolve_precision(args.precision, getattr(module, "PRECISION", "float32"),
                                          backend_name)

    import keras

    from kerasdl import report

    keras.utils.set_random_seed(seed)
    backend.set_precision(precision)
    info = {
        "task": name,
        "command": " ".join([PROG, name, *argv]),
        "backend": backend_name,
        "precision": precision,
        "seed": seed,
        "quick": args.quick,
        "section": section,
        "machine": report.machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    run = runs.Run(name, root=root, run_id=runs.new_run_id(backend_name, seed), info=info)
    run.write_json("config.json", {**info, "config": dataclasses.asdict(config),
                                   "versions": backend.versions()})
    run.set_status("running")
    print(f"kerasdl {name}: backend {backend_name}, precision {precision}, run folder {run.dir}",
          file=sys.stderr)

    # === The run ===
    started = time.perf_counter()
    try:
        metrics = module.run(config, run) or {}
    except KeyboardInterrupt:
        run.set_status("interrupted", "stopped by the user (Ctrl-C or kill); files already finished are kept")
        raise
    except BaseException as e:
        run.set_status("failed", f"{type(e).__name__}: {' '.join(str(e).split())}"[:2000])
        raise
    metrics.setdefault("wall_time_s", round(time.perf_counter() - started, 1))
    metrics.setdefault("peak_memory_mb", _peak_memory_mb())
    run.write_json("resolved_config.json", dataclasses.asdict(run.resolved_config or config))
    run.write_metrics(metrics)
    run.set_status("finished")
    print(_summary(name, metrics, getattr(module, "HEADLINE", None), run))
    if args.publish:
        target, copied = runs.publish(run.dir, key=section)
        print(f"published: {target} ({copied} figures)")
    return 0


def _peak_memory_mb():
    """The process's peak resident memory so far (Linux reports it in KiB)."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _check_before_run(module, config):
    """The task's own checks (`check(config)`), else: can its data set be had?"""
    if hasattr(module, "check"):
        module.check(config)
    elif isinstance(getattr(config, "dataset", None), str):
        from kerasdl import data

        data.check_available(config.dataset, getattr(config, "data_dir", None))


def _summary(name, metrics, headline, run):
    """The end of a run, for a reader: the headline numbers, rounded, and where the report is."""
    from kerasdl import report

    keys = headline or [k for k, v in metrics.items()
                        if isinstance(v, (int, float)) and not isinstance(v, bool)
                        and k not in ("wall_time_s", "peak_memory_mb")][:8]
    numbers = []
    for key in keys:
        value = metrics.get(key)
        if isinstance(value, float):
            value = f"{value:.4g}"
        numbers.append(f"  {key:<28} {value if value is not None else '-'}")
    lines = [f"kerasdl {name} finished in {report.duration(metrics.get('wall_time_s'))}", *numbers,
             f"report: {run.path('report.md')}"]
    return "\n".join(lines)


# --- other commands ----------------------------------------------------------

def _data_command(argv):
    parser = _Parser(prog=f"{PROG} data", description="data sets and where they are found")
    parser.add_argument("action", choices=("list",), help="`list`: every data set and where it was found")
    parser.add_argument("--data-dir", help="also look here first (like a task's --data-dir)")
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    from kerasdl import data

    rows = data.describe(args.data_dir)
    width = max(len(r["name"]) for r in rows)
    for row in rows:
        if row["found"]:
            where = row["found"]
        elif row.get("fallback") == "generated":
            where = "generated on demand (needs no files)"
        elif row.get("fallback"):
            where = f"no files found; {row['fallback']}"
        else:
            where = "no files found"
        print(f"{row['name']:<{width}}  {row['description']}\n{'':<{width}}  -> {where}")
    return 0


def _report_command(argv):
    parser = _Parser(prog=f"{PROG} report",
                     description="copy a finished run's figures to plots/ and its report to reports/<task>.md")
    parser.add_argument("run_dir", help="a run folder, runs/<task>/<run-id>")
    parser.add_argument("--key", help="section of reports/<task>.md (default: the one the run recorded)")
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    from kerasdl import runs

    run_dir = Path(args.run_dir)
    if not (run_dir / "config.json").is_file():
        raise UserError(f"{run_dir}: not a run folder (no config.json)")
    status = runs.read_status(run_dir)
    if status["status"] != "finished" or not (run_dir / "report.md").is_file():
        error = f": {status['error']}" if status.get("error") else ""
        raise UserError(f"{run_dir}: not a finished run folder (status {status['status']}{error}); "
                        "publish finished runs only")
    try:
        saved = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"{run_dir}/config.json: unreadable ({e}); is this a kerasdl run folder?") from None
    if saved.get("quick"):
        raise UserError(f"{run_dir} is a --quick run; publish full runs only")
    task = saved.get("task")
    if task not in tasks.available():
        raise UserError(f"{run_dir}/config.json names task {task!r}, which this kerasdl does not have")
    target, copied = runs.publish(run_dir, key=args.key or saved.get("section"), task=task)
    print(f"published: {target} ({copied} figures)")
    return 0


def _bench_command(argv):
    from kerasdl import bench

    return bench.main(argv, parser_class=_Parser, prog=f"{PROG} bench")


def _predict_command(argv):
    parser = _Parser(prog=f"{PROG} predict",
                     description="predict with a trained model: the top classes of a classifier, "
                                 "the time (HH:MM) for the clock reader",
                     epilog="Images are converted to the model's channels and resized to its input "
                            "size; arrays are taken as the data set's own values. The model is loaded "
                            "in Keras's safe mode: a model holding a Lambda layer is refused.")
    parser.add_argument("model", help="a run folder (its model.keras) or a .keras file")
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="image files (PNG, JPEG, ...), folders of images, or .npy/.npz arrays")
    parser.add_argument("--top", type=int, metavar="K", help="the K most likely classes (default 1)")
    parser.add_argument("--output", metavar="FILE", help="write the predictions to FILE.csv or FILE.json")
    parser.add_argument("--backend", choices=backend.BACKENDS,
                        help="Keras backend (default: KERAS_BACKEND, else the fastest on this device)")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    args = parser.parse_args(argv)
    if args.top is not None and args.top < 1:
        raise UserError(f"--top {args.top}: expected a positive number of classes")
    backend.select(args.backend)
    from kerasdl import predict

    output = predict.check_output(args.output)
    predictor = predict.load(args.model)
    if predictor.kind == "clock" and args.top is not None:
        raise UserError("--top: the clock reader reads one time per image; --top is for classifiers")
    names, x = predict.read_inputs(args.inputs, predictor)
    predictions = predict.predict(predictor, names, x, top=args.top or 1)
    if output is not None:
        predict.write(predictions, predictor, output)
        print(f"{len(predictions)} predictions written to {output}", file=sys.stderr)
    else:
        print(predict.table(predictions))
    return 0
