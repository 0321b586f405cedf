"""Command-line interface: argument parsing only, no experiment logic.

    python -m kerasdl list                   every task, one line each
    python -m kerasdl <task> [options]       run one experiment
    python -m kerasdl data list              every data set and where it was found
    python -m kerasdl report RUN_DIR         publish a finished run to plots/ and reports/
    python -m kerasdl tune <task> [options]  a KerasTuner search over the task's space
    python -m kerasdl predict MODEL INPUT... predict with a trained model
    python -m kerasdl export MODEL --format  a trained model in a serving format

The backend is fixed (kerasdl.backend.select) before any module that imports
keras is loaded. A UserError ends the command with one line and exit 2; any
other exception with one line and exit 1, unless --debug asks for the traceback.
"""

import argparse
import dataclasses
import difflib
import errno
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from kerasdl import backend, errors, tasks
from kerasdl.errors import UserError

PROG = "python -m kerasdl"

COMMANDS = {
    "list": "list every task",
    "data": "data sets: `data list` shows each one and where it was (or would be) found",
    "report": "publish a finished run folder to plots/ and reports/",
    "bench": "training throughput per backend and precision; --latency: inference latency; --versus: "
             "against plain PyTorch and Keras; --data: data loading (reports/bench.md)",
    "tune": "a KerasTuner hyperparameter search: tune <task> [options] (tuning/<task>/<name>/)",
    "predict": "predict with a trained model: predict MODEL INPUT...",
    "export": "a trained model as SavedModel, ONNX, LiteRT...: export MODEL --format FORMAT",
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
        code = _dispatch(argv)
        errors.raise_if_signalled()  # a signal whose KeyboardInterrupt was swallowed on the way
        return code
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
    except KeyboardInterrupt as e:
        # A run interrupted says how to continue it (`execute` puts the command in the exception).
        resume = f"; continue it with: {e.args[0]}" if e.args and isinstance(e.args[0], str) else ""
        print(f"kerasdl: interrupted; files already finished are kept{resume}", file=sys.stderr)
        return 130
    except OSError as e:
        if debug or e.errno not in _STORAGE_ERRORS:
            raise
        # A full disk or a folder we may not write: the user's to fix, and nothing half-written
        # is left (every file is written beside its place, then renamed).
        where = f" writing {e.filename}" if e.filename else ""
        print(f"kerasdl: error: {_STORAGE_ERRORS[e.errno]}{where}; free some space or give another "
              "folder (--out)", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - the one place that turns bugs into one line
        if debug:
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"kerasdl: internal error: {type(e).__name__}: {first} "
              "(run again with --debug for the traceback)", file=sys.stderr)
        return 1


_STORAGE_ERRORS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
                   errno.EACCES: "permission denied", errno.EROFS: "the file system is read-only"}


def _interrupt(signum, frame):
    errors.note_signal(signum)
    if not errors.signals_deferred():  # else raised when the bookkeeping under way ends
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
    if command == "tune":
        return _tune_command(rest)
    if command == "export":
        return _export_command(rest)
    if command in tasks.available():
        return _task_command(command, rest)
    known = list(COMMANDS) + list(tasks.available())
    close = difflib.get_close_matches(command, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UserError(f"unknown task or command {command!r}{hint}; run `{PROG} list` to see the tasks")


# --- tasks -------------------------------------------------------------------

COMMON_FIELDS = ("seed", "epochs", "batch_size", "data_dir")


def _task_options(parser, defaults, publish_help=None):
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
                         help=publish_help or "copy the figures to plots/ and the report to reports/<task>.md")
    runopts.add_argument("--debug", action="store_true", help="show full tracebacks")
    if publish_help is None:  # a task's own command, not a search's
        runopts.add_argument("--resume", metavar="RUN_DIR",
                             help="continue an interrupted run in its folder, from the end of its last "
                                  "finished epoch, with the options it was started with (give no others)")
        runopts.add_argument("--distribute", action="store_true",
                             help="train data-parallel on every device (GPUs, or machines named by "
                                  "TF_CONFIG / KERAS_DISTRIBUTION_*): JAX's keras.distribution, "
                                  "TensorFlow's tf.distribute; --batch-size is the global batch")


def _task_command(name, argv):
    # --help and usage errors answer from the task's outline, before any backend loads.
    with tasks.outline(name) as outline:
        args = task_parser(name, outline).parse_args(argv)
        task_config(name, outline, args, check=False)
    if args.resume is not None:
        return _resume_command(name, argv, Path(args.resume))
    # The backend must be fixed before the task module (and so keras) is imported.
    backend_name = select_backend(name, argv)
    module = tasks.load(name)
    args = task_parser(name, module).parse_args(argv)

    # === Everything that can be checked before the run folder exists ===
    config = task_config(name, module, args)
    from kerasdl import runs

    if args.distribute:
        from kerasdl.training.backends import distribute

        distribute.check(name, module)
    root = runs.check_out_root(args.out)
    section = module.variant(config) if hasattr(module, "variant") else None
    if section is not None:
        runs.check_name(section, "section key")
    precision = backend.resolve_precision(args.precision, getattr(module, "PRECISION", "float32"),
                                          backend_name)
    info = run_info(name, " ".join([PROG, name, *argv]), backend_name, precision, config, args.quick,
                    section)
    info["distribute"] = args.distribute
    run = runs.Run(name, root=root, run_id=runs.new_run_id(backend_name, info["seed"]), info=info)
    begin_run(run, config)
    print(f"kerasdl {name}: backend {backend_name}, precision {precision}, run folder {run.dir}",
          file=sys.stderr)

    return _run_task(module, config, run, args.publish)


def _run_task(module, config, run, publish=False):
    """The run itself, every fit checkpointed at each epoch's end (kerasdl.training.checkpoint),
    then its summary; and publishing, if asked."""
    import contextlib

    from kerasdl import runs
    from kerasdl.training import checkpoint
    from kerasdl.training.backends import distribute

    parallel = distribute.data_parallel() if run.info.get("distribute") else contextlib.nullcontext()
    with checkpoint.every_fit(run.dir), parallel as devices:
        if devices:
            print(f"data-parallel over {len(devices)} devices: {', '.join(devices)}", file=sys.stderr)
        metrics = execute(module, config, run)
    checkpoint.discard(run.dir)
    print(_summary(run.task, metrics, getattr(module, "HEADLINE", None), run))
    if publish:
        target, copied = runs.publish(run.dir, key=run.info.get("section"))
        print(f"published: {target} ({copied} figures)")
    return 0


def _resume_command(name, argv, run_dir):
    """`<task> --resume RUN_DIR`: the run in that folder again, with the options it was started
    with; each fit starts from its checkpoint (kerasdl.training.checkpoint)."""
    from kerasdl import config as configs
    from kerasdl import runs

    others = [a for a in argv if a not in ("--resume", str(run_dir), "--debug")
              and not a.startswith("--resume=")]
    if others:
        raise UserError(f"--resume continues a run with the options it was started with: give no "
                        f"others (got {others[0]})")
    saved = _saved_run(run_dir, name)
    status = runs.read_status(run_dir)
    if status["status"] == "finished":
        raise UserError(f"{run_dir}: this run finished; there is nothing to resume")
    if status["status"] == "running" and _still_running(status):
        raise UserError(f"{run_dir}: the run is still going (process {status['pid']}); stop it first")
    backend_name = backend.select(saved.get("backend"))
    module = tasks.load(name)
    source, saved_values = _values_to_resume(run_dir, saved)
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in saved_values.items()}
    config = configs.apply_overrides(module.Config(), values, source=f"{source}:")
    _check_before_run(module, config)
    if saved.get("distribute"):
        from kerasdl.training.backends import distribute

        distribute.check(name, module)

    from kerasdl.training import checkpoint

    info = {k: v for k, v in saved.items() if k not in ("config", "versions")}
    info["resumed"] = [*saved.get("resumed", []), time.strftime("%Y-%m-%dT%H:%M:%S")]
    run = runs.Run(name, info=info, folder=run_dir)
    removed = checkpoint.remove_temporary_files(run_dir)
    begin_run(run, config)
    print(f"kerasdl {name}: resuming {run.dir} (backend {backend_name}, precision {info['precision']}"
          f"{f'; {removed} unfinished temporary files removed' if removed else ''})", file=sys.stderr)
    return _run_task(module, config, run)


def _saved_run(run_dir, name):
    """A run folder's config.json, checked to be a run of task `name`."""
    if not (run_dir / "config.json").is_file():
        raise UserError(f"--resume {run_dir}: not a run folder (no config.json)")
    try:
        saved = json.loads((run_dir / "config.json").read_text())
        saved["config"].items()
    except (OSError, ValueError, KeyError, AttributeError) as e:
        raise UserError(f"{run_dir}/config.json: unreadable ({e}); is this a kerasdl run folder?") from None
    if saved.get("task") != name:
        raise UserError(f"--resume {run_dir}: a run of {saved.get('task')!r}, not of {name!r}; "
                        f"resume it with `{PROG} {saved.get('task')} --resume {run_dir}`")
    return saved


def _values_to_resume(run_dir, saved):
    """The config values a resumed run uses: those it started with, recipes filled in
    (resolved_config.json, written as the task resolved them), so that a kerasdl whose recipes
    changed since rebuilds the same network; else what its command asked for (config.json).
    Returns (the file they came from, the values)."""
    path = run_dir / "resolved_config.json"
    if not path.is_file():
        return run_dir / "config.json", saved["config"]
    try:
        values = json.loads(path.read_text())
        values.items()
    except (OSError, ValueError, AttributeError) as e:
        raise UserError(f"{path}: unreadable ({e}); is this a kerasdl run folder?") from None
    return path, values


def _still_running(status):
    """Whether the process that wrote status 'running' is alive on this machine."""
    import socket

    pid = status.get("pid")
    if not isinstance(pid, int) or status.get("host") != socket.gethostname() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


# The steps of a task command, shared with `tune` (each trial is a run of the task).

def select_backend(name, argv):
    """Fix the backend (argv's --backend, else the environment's) before the task
    module, and so keras, is imported; returns its name."""
    pre = _Parser(prog=f"{PROG} {name}", add_help=False)
    pre.add_argument("--backend", choices=backend.BACKENDS)
    known, _ = pre.parse_known_args(argv)
    return backend.select(known.backend)


def task_parser(name, module, prog=None, description=None, publish_help=None):
    """The parser of `<task> [options]`: every Config field, then the run's options."""
    from kerasdl import config as configs

    quick = ", ".join(f"{k}={configs.format_value(v)}" for k, v in module.QUICK.items()) or "nothing"
    parser = _Parser(
        prog=prog or f"{PROG} {name}",
        description=description or (module.__doc__ or "").strip().splitlines()[0],
        epilog=f"--quick sets {quick}. Options and --set override --quick.",
    )
    _task_options(parser, module.Config(), publish_help)
    return parser


def task_overrides(module, args):
    """The fields the command line sets, {field: text}: the options, then --set (the later wins)."""
    from kerasdl import config as configs

    options = {k: getattr(args, f"field_{k}") for k in dataclasses.asdict(module.Config())
               if getattr(args, f"field_{k}") is not None}
    return {**options, **configs.parse_set_pairs(args.set)}


def task_config(name, module, args, presets=(), check=True):
    """The run's Config, checked before any run folder exists: the defaults, then --quick,
    then `presets` ((overrides, source) pairs, such as tune's --budget), then the
    options and --set. `check=False` leaves out the task's own checks (its data set
    can be found, ...), which need the task for real, not its outline."""
    from kerasdl import config as configs

    unused = [k for k in COMMON_FIELDS if getattr(args, f"unused_{k}", None) is not None]
    if unused:
        raise UserError(f"task {name!r} does not use --{unused[0].replace('_', '-')}")
    if args.quick and args.publish:
        raise UserError("--publish takes a full run: --quick results are smoke tests, not reference results")
    data_dir = getattr(args, "field_data_dir", None)
    if data_dir and not Path(data_dir).is_dir():
        raise UserError(f"--data-dir {data_dir}: no such directory")

    config = module.Config()
    if args.quick:
        config = configs.apply_overrides(config, module.QUICK, source="--quick")
    for overrides, source in presets:
        config = configs.apply_overrides(config, overrides, source=source)
    config = configs.apply_overrides(config, task_overrides(module, args))
    seed = getattr(config, "seed", 0)
    if not 0 <= seed < 2 ** 32:  # what numpy, and so keras.utils.set_random_seed, accepts
        raise UserError(f"seed={seed}: expected a value in [0, 2**32 - 1]")
    if check:
        _check_before_run(module, config)
    return config


def run_info(name, command, backend_name, precision, config, quick, section=None):
    """What a run knows about itself (`Run.info`: its report's header reads it)."""
    from kerasdl import report

    return {
        "task": name,
        "command": command,
        "backend": backend_name,
        "precision": precision,
        "seed": getattr(config, "seed", 0),
        "quick": quick,
        "section": section,
        "machine": report.machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def begin_run(run, config):
    """Seed, dtype policy and the fixes to Keras (training/backends) from the run's info,
    then config.json and status 'running'."""
    import keras

    from kerasdl.training import backends

    keras.utils.set_random_seed(run.info["seed"])
    backend.set_precision(run.info["precision"])
    backends.prepare()
    run.write_json("config.json", {**run.info, "config": dataclasses.asdict(config),
                                   "versions": backend.versions()})
    run.set_status("running")


def execute(module, config, run):
    """`module.run(config, run)`, keeping the folder's status.json true; returns the metrics
    (also written to metrics.json, with the wall time and peak memory)."""
    started = time.perf_counter()
    try:
        metrics = module.run(config, run) or {}
    except KeyboardInterrupt as e:
        run.set_status("interrupted", "stopped by the user (Ctrl-C or kill); files already finished are kept")
        raise KeyboardInterrupt(f"{PROG} {run.info['task']} --resume {run.dir}") from e
    except BaseException as e:
        run.set_status("failed", f"{type(e).__name__}: {' '.join(str(e).split())}"[:2000])
        raise
    metrics.setdefault("wall_time_s", round(time.perf_counter() - started, 1))
    metrics.setdefault("peak_memory_mb", _peak_memory_mb())
    run.write_json("resolved_config.json", dataclasses.asdict(run.resolved_config or config))
    run.write_metrics(metrics)
    run.set_status("finished")
    return metrics


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


def _tune_command(argv):
    from kerasdl import tune

    return tune.main(argv, parser_class=_Parser, prog=f"{PROG} tune")


def _export_command(argv):
    from kerasdl import export

    return export.main(argv, parser_class=_Parser, prog=f"{PROG} export")


def _predict_command(argv):
    parser = _Parser(prog=f"{PROG} predict",
                     description="predict with a trained model: the top classes of a classifier, "
                                 "the time (HH:MM) for the clock reader, samples from a GAN or a VAE, "
                                 "a VAE's reconstructions of its inputs",
                     epilog="Images are converted to the model's channels and resized to its input "
                            "size; arrays are taken as the data set's own values. The model is loaded "
                            "in Keras's safe mode: a model holding a Lambda layer is refused. "
                            "Examples: predict runs/classify/RUN shoe.png --top 3; "
                            "predict runs/gan/RUN --samples 64 --output samples.png; "
                            "predict runs/vae/RUN digits.npy --output reconstructions.png; "
                            "predict runs/emotion-rnn/RUN \"what a day\" tweets.txt --top 3; "
                            "predict runs/contrastive/RUN cat.png --top 5 (the 5 nearest test images)")
    parser.add_argument("model", help="a run folder (its model.keras) or a .keras file")
    parser.add_argument("inputs", nargs="*", metavar="INPUT",
                        help="image files (PNG, JPEG, ...), folders of images, or .npy/.npz arrays; "
                             "for a text model, texts in quotes or .txt files with one text a line")
    parser.add_argument("--top", type=int, metavar="K", help="the K most likely classes, or an encoder's "
                        "K nearest gallery images (default 1)")
    parser.add_argument("--samples", type=int, metavar="N",
                        help="GAN or VAE: draw N samples (no INPUT needed)")
    parser.add_argument("--seed", type=int, default=0, help="seed of --samples (default 0)")
    parser.add_argument("--output", metavar="FILE",
                        help="write the predictions to FILE.csv or FILE.json; generated or "
                             "reconstructed images to FILE.png (a sheet) or FILE.npy (default: "
                             "samples.png or reconstructions.png here)")
    parser.add_argument("--backend", choices=backend.BACKENDS,
                        help="Keras backend (default: KERAS_BACKEND, else the fastest on this device)")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    args = parser.parse_args(argv)
    if args.top is not None and args.top < 1:
        raise UserError(f"--top {args.top}: expected a positive number of classes")
    if args.samples is not None and not 1 <= args.samples <= 10_000:
        raise UserError(f"--samples {args.samples}: expected a number of samples from 1 to 10000")
    if not 0 <= args.seed < 2 ** 32:
        raise UserError(f"--seed {args.seed}: expected a value in [0, 2**32 - 1]")
    backend.select(args.backend)
    from kerasdl import predict

    image_output = Path(args.output or "x").suffix.lower() in (".png", ".npy")
    output = predict.check_output(args.output, (".csv", ".json", ".png", ".npy"))
    predictor = predict.load(args.model)
    kind = predictor.kind
    if args.top is not None and kind == "clock":
        raise UserError("--top: the clock reader reads one time per image; --top is for classifiers")
    if args.top is not None and kind not in ("classifier", "text", "embedding"):
        raise UserError(f"--top is for classifiers (and an encoder's nearest neighbours); this model "
                        f"is a {kind} model")
    if kind in ("gan", "vae"):
        return _predict_generative(predict, predictor, args, output)
    if args.samples is not None:
        raise UserError(f"--samples is for GANs and VAEs; this model is a {kind} model")
    if image_output:
        raise UserError(f"--output {args.output}: a {kind} model's predictions go to a .csv or .json file")
    if not args.inputs:
        raise UserError("no INPUT given: " + ("give texts in quotes or .txt files with one text a line"
                                              if kind == "text" else
                                              "name image files, folders of images or .npy/.npz arrays"))
    names, x = predict.read_inputs(args.inputs, predictor)
    predictions = predict.predict(predictor, names, x, top=args.top or 1)
    _write_predictions(predict, predictions, predictor, output)
    return 0


def _write_predictions(predict, predictions, predictor, output):
    if output is not None:
        predict.write(predictions, predictor, output)
        print(f"{len(predictions)} predictions written to {output}", file=sys.stderr)
    else:
        print(predict.table(predictions))


def _predict_generative(predict, predictor, args, output):
    """A GAN's or a VAE's samples (--samples N), or a VAE's reconstructions of its inputs."""
    if args.samples is not None and args.inputs:
        raise UserError("give either --samples N (new samples) or INPUTs (a VAE reconstructs them), not both")
    if args.samples is None and not (args.inputs and predictor.kind == "vae"):
        what = "INPUTs to reconstruct or " if predictor.kind == "vae" else ""
        raise UserError(f"a {predictor.kind} model takes {what}--samples N (e.g. --samples 64)")
    if args.samples is not None:
        images = predict.generate(predictor, args.samples, seed=args.seed)
        columns = 8
        default, what = "samples.png", f"{args.samples} samples"
    else:
        _, x = predict.read_inputs(args.inputs, predictor)
        originals, rebuilt = predict.reconstruct(predictor, x)
        npy = output is not None and output.suffix.lower() == ".npy"
        # The .npy holds the reconstructions; the sheet shows each input above its own.
        columns = min(8, len(x))
        images = rebuilt if npy else predict.above_each_other(originals, rebuilt, columns)
        default, what = "reconstructions.png", f"{len(x)} reconstructions (inputs above them)"
    if images.ndim == 2:  # gan-2d: points, not images
        if output is not None and output.suffix.lower() not in (".csv", ".json"):
            raise UserError(f"--output {output}: this GAN draws 2-D points; write them to .csv or .json")
        _write_predictions(predict, predict.point_rows(images), predictor, output)
        return 0
    if output is None:
        output = Path(default)
    elif output.suffix.lower() not in (".png", ".npy"):
        raise UserError(f"--output {output}: images go to a .png sheet or a .npy array")
    predict.write_images(images, output, columns)
    print(f"{what} written to {output}", file=sys.stderr)
    return 0

