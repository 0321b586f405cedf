"""`python -m kerasdl tune <task>`: a KerasTuner search over the task's own search space.

    python -m kerasdl tune classify --max-trials 12 --budget epochs=3 --budget train_limit=12000
    python -m kerasdl tune classify --quick         # two tiny trials: a smoke test

A task is tunable when its module defines, beside its Config, `TUNE_OBJECTIVE`
(a key of the metrics its `run()` returns, measured on validation data, and
"min" or "max") and `search_space(hp, config)` ({Config field: value drawn from
`hp`}); optionally `TUNE_MONITOR`, the per-epoch metric early stopping watches.
Each trial is an ordinary run of the task, in a run folder of the search's
working directory tuning/<task>/<name>/ (tuner.py); the objective is read from
the metrics the run returns.

Task options and --set fix a value instead of searching it; --budget sets what
only the trials use (a short budget), not the retrained best. Rerunning the
same command resumes the search: finished trials are kept, an interrupted one
is run again; --overwrite starts over. --workers N runs the trials in N worker
processes beside a chief (distributed.py). The search ends with trials.csv,
summary.md and figures in the working directory (summary.py); --retrain-best
then trains the best configuration as an ordinary run, with the same code as
`python -m kerasdl <task>`.
"""

import contextlib
import dataclasses
import difflib
import hashlib
import importlib.util
import io
import json
import shlex
import sys
import time
from pathlib import Path

from kerasdl import backend, paths, tasks
from kerasdl.errors import UserError

TUNERS = ("bayesian", "random", "hyperband", "grid")
DEFAULT_TRIALS = 10
QUICK_TRIALS = 2
# How long a worker waits for its chief to answer before giving up (seconds).
CHIEF_TIMEOUT_S = 60.0


class SearchFailed(UserError):
    """The search ran, and no trial finished: nothing to report as best."""

    exit_code = 1


@dataclasses.dataclass
class Search:
    """What one search is: the task, how trials are judged and run, and where it lives."""

    task: str
    module: object
    tuner: str
    objective: object  # keras_tuner.Objective
    executions: int
    backend: str
    precision: str
    precision_option: str
    quick: bool
    fixed: dict  # {field: value} fixed by task options and --set
    budget: dict  # {field: value} of --budget: the trials' only
    out: str | None
    workdir: Path
    command: str
    base: object = None  # the Config every trial starts from

    def spec(self):
        """Everything that makes two searches different (max trials and workers do not)."""
        from kerasdl.config import format_value

        return {"task": self.task, "tuner": self.tuner,
                "objective": [self.objective.name, self.objective.direction],
                "executions_per_trial": self.executions, "backend": self.backend,
                "precision": self.precision, "quick": self.quick,
                "fixed": {k: format_value(v) for k, v in sorted(self.fixed.items())},
                "budget": {k: format_value(v) for k, v in sorted(self.budget.items())}}

    def settings(self, values, budget=True):
        """{field: value} a run of these hyperparameter values sets on the command line."""
        settings = dict(self.budget) if budget else {}
        settings.update({k: v for k, v in values.items() if not k.startswith("tuner/")})
        if budget and "tuner/epochs" in values:  # Hyperband's budget
            settings["epochs"] = values["tuner/epochs"]
        settings.update(self.fixed)
        return settings

    def task_tokens(self, values, budget=True):
        """`<task> [options]` of an ordinary run with these values (--retrain-best runs it)."""
        from kerasdl.config import format_value

        tokens = [self.task, *(["--quick"] if self.quick else []), "--backend", self.backend]
        if self.precision_option != "auto":
            tokens += ["--precision", self.precision_option]
        if self.out and not budget:
            tokens += ["--out", self.out]
        for key, value in self.settings(values, budget).items():
            tokens += ["--set", f"{key}={repr(value) if isinstance(value, float) else format_value(value)}"]
        return tokens

    def run_command(self, values, budget=True):
        from kerasdl import cli

        return " ".join([cli.PROG, *map(shlex.quote, self.task_tokens(values, budget))])

    def worker_argv(self, max_trials, chief_timeout):
        """The command line a worker runs: this search, by its name."""
        from kerasdl.config import format_value

        argv = [self.task, "--tuner", self.tuner, "--name", self.workdir.name,
                "--objective", f"{self.objective.name}:{self.objective.direction}",
                "--executions-per-trial", str(self.executions), "--backend", self.backend,
                "--precision", self.precision, "--chief-timeout", str(chief_timeout)]
        if max_trials:
            argv += ["--max-trials", str(max_trials)]
        if self.quick:
            argv.append("--quick")
        argv += [a for k, v in self.budget.items() for a in ("--budget", f"{k}={format_value(v)}")]
        argv += [a for k, v in self.fixed.items() for a in ("--set", f"{k}={format_value(v)}")]
        return argv


def _tune_options(parser):
    group = parser.add_argument_group("search")
    group.add_argument("--tuner", choices=TUNERS, default="bayesian",
                       help="bayesian (default), random, hyperband (trains promising trials longer, "
                            "up to --epochs) or grid (every combination; a space of choices only)")
    group.add_argument("--max-trials", type=int, metavar="N",
                       help=f"trials at most (default {DEFAULT_TRIALS}; {QUICK_TRIALS} with --quick; "
                            "grid: the whole grid; hyperband: its brackets)")
    group.add_argument("--executions-per-trial", type=int, default=1, metavar="K",
                       help="runs per trial with seeds seed..seed+K-1; the objective is their mean")
    group.add_argument("--objective", metavar="NAME[:min|max]",
                       help="a metric the task reports, measured on validation data "
                            "(default: the task's TUNE_OBJECTIVE)")
    group.add_argument("--budget", action="append", default=[], metavar="KEY=VALUE",
                       help="a config field for the trials only, e.g. --budget epochs=3 --budget "
                            "train_limit=10000; the retrained best runs without it (repeatable)")
    group.add_argument("--name", help="the search's folder under tuning/<task>/ (default: the tuner "
                                      "and a hash of what the search is)")
    group.add_argument("--overwrite", action="store_true", help="start the search over")
    group.add_argument("--workers", type=int, metavar="N",
                       help="run trials in N worker processes beside a chief on 127.0.0.1")
    group.add_argument("--chief-timeout", type=float, default=CHIEF_TIMEOUT_S, metavar="SECONDS",
                       help=f"how long a worker waits for its chief to answer (default {CHIEF_TIMEOUT_S:g})")
    group.add_argument("--retrain-best", action="store_true",
                       help="then train the best configuration as an ordinary run (without --budget)")


def _objective(text, module):
    """keras_tuner.Objective from --objective NAME[:min|max], else the task's TUNE_OBJECTIVE."""
    import keras_tuner

    default_name, default_direction = module.TUNE_OBJECTIVE
    name, direction = default_name, default_direction
    if text:
        name, _, direction = text.partition(":")
        if not name:
            raise UserError(f"--objective {text}: expected a metric name, e.g. --objective val_loss")
        if "test" in name.split("_"):
            raise UserError(f"--objective {name} is measured on the test set: hyperparameters chosen on "
                            "it make the test numbers optimistic; choose a validation metric (val_...)")
        if not direction:
            direction = default_direction if name == default_name else _direction(name)
        if direction not in ("min", "max"):
            raise UserError(f"--objective {text}: say whether to minimise or maximise it, "
                            f"{name}:min or {name}:max")
    return keras_tuner.Objective(name, direction)


def _direction(name):
    words = set(name.lower().split("_"))
    if words & {"loss", "error", "elbo", "min", "mse", "mae"}:
        return "min"
    if words & {"accuracy", "acc", "auc", "precision", "recall", "f1"}:
        return "max"
    return None


def _budget(pairs):
    budget = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--budget {pair!r}: expected key=value, e.g. --budget epochs=3")
        budget[key.strip()] = value.strip()
    return budget


def _check_numbers(args):
    if args.max_trials is not None and args.max_trials < 1:
        raise UserError(f"--max-trials {args.max_trials}: expected 1 or more trials")
    if args.executions_per_trial < 1:
        raise UserError(f"--executions-per-trial {args.executions_per_trial}: expected 1 or more")
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers {args.workers}: expected 1 or more worker processes")
    if not args.chief_timeout > 0:
        raise UserError(f"--chief-timeout {args.chief_timeout:g}: expected a positive number of seconds")


def _check_task(task):
    from kerasdl import cli

    if task not in tasks.available():
        close = difflib.get_close_matches(task, list(tasks.available()), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UserError(f"unknown task {task!r}{hint}; run `{cli.PROG} list` to see the tasks")


def _check_tunable(task, module):
    if not (hasattr(module, "search_space") and hasattr(module, "TUNE_OBJECTIVE")):
        raise UserError(f"task {task!r} has no search space to tune: a tunable task defines "
                        "search_space(hp, config) and TUNE_OBJECTIVE beside its Config")


def _parser(task, module, prog):
    """The task's own options, then the search's."""
    from kerasdl import cli

    parser = cli.task_parser(task, module, prog=f"{prog} {task}",
                             description=f"A KerasTuner search over {task}'s search space.",
                             publish_help="copy summary.md to tuning/<task>.md and its figures to plots/")
    _tune_options(parser)
    return parser


def _usage(prog):
    return (f"usage: {prog} <task> [--tuner {{{','.join(TUNERS)}}}] [--max-trials N] "
            "[--executions-per-trial K] [--objective NAME] [--name NAME] [--overwrite] [--workers N] "
            "[--retrain-best] [--quick] [--budget KEY=VALUE] [task options, --set KEY=VALUE]\n\n"
            f"{__doc__.strip().splitlines()[0]}\n`{prog} <task> --help` lists the task's options.")


def main(argv, parser_class, prog):
    from kerasdl import cli

    argv = list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage(prog))
        return 0
    task, rest = argv[0], argv[1:]
    if task.startswith("-"):
        raise UserError(f"name the task to tune first: {prog} <task> [options]")
    _check_task(task)
    # --help and usage errors answer from the task's outline, before any backend loads.
    with tasks.outline(task) as outline:
        _check_tunable(task, outline)
        args = _parser(task, outline, prog).parse_args(rest)
        _check_numbers(args)
        cli.task_config(task, outline, args, presets=[(_budget(args.budget), "--budget")], check=False)
    backend_name = cli.select_backend(task, rest)
    module = tasks.load(task)
    args = _parser(task, module, prog).parse_args(rest)

    from kerasdl.tune import distributed

    role = distributed.role()
    if (role or args.workers) and importlib.util.find_spec("grpc") is None:
        raise UserError('a distributed search talks gRPC, and grpcio is not installed: '
                        'pip install -e ".[distributed]"')
    if role == "worker":
        for option in ("workers", "overwrite", "retrain_best", "publish"):
            if getattr(args, option):
                raise UserError(f"--{option.replace('_', '-')} is the chief's to give; this process is a "
                                f"worker (KERASTUNER_TUNER_ID={distributed.tuner_id()}), which only runs trials")
    search = _search(task, module, args, backend_name, argv)
    if role == "worker":
        return _work(search, args)
    return _lead(search, args, role)


def _search(task, module, args, backend_name, argv):
    from kerasdl import cli, runs

    objective = _objective(args.objective, module)
    budget = _budget(args.budget)
    base = cli.task_config(task, module, args, presets=[(budget, "--budget")])
    fixed = {k: getattr(base, k) for k in cli.task_overrides(module, args)}
    if args.tuner == "hyperband" and getattr(base, "epochs", None) is None:
        raise UserError("--tuner hyperband trains a trial for up to --epochs epochs: give --epochs N "
                        "(or --budget epochs=N)")
    if args.out is not None:
        runs.check_out_root(args.out)
    precision = backend.resolve_precision(args.precision, getattr(module, "PRECISION", "float32"),
                                          backend_name)
    search = Search(task=task, module=module, tuner=args.tuner, objective=objective,
                    executions=args.executions_per_trial, backend=backend_name, precision=precision,
                    precision_option=args.precision, quick=args.quick, fixed=fixed,
                    budget={k: getattr(base, k) for k in budget}, out=args.out, workdir=Path("."),
                    command=" ".join([cli.PROG, "tune", *map(shlex.quote, argv)]), base=base)
    digest = hashlib.sha256(json.dumps(search.spec(), sort_keys=True).encode()).hexdigest()[:6]
    name = args.name or f"{args.tuner}{'-quick' if args.quick else ''}-{digest}"
    runs.check_name(name, "--name")
    search.workdir = paths.tuning_dir() / task / name
    _check_same_search(search, args.overwrite)
    return search


def _check_same_search(search, overwrite):
    """A working directory holds one search: resuming it with other settings would mix them."""
    saved = search.workdir / "search.json"
    if overwrite or not saved.is_file():
        return
    try:
        before = json.loads(saved.read_text())["spec"]
    except (OSError, ValueError, KeyError):
        raise UserError(f"{saved}: unreadable; --overwrite starts the search over") from None
    now = search.spec()
    if before != now:
        changed = ", ".join(k for k in now if before.get(k) != now[k])
        raise UserError(f"{search.workdir} holds another search (its {changed} differ): give another "
                        "--name, or --overwrite to start it over")


def _make_tuner(search, args, max_trials, overwrite):
    """The oracle of the chosen tuner and the TaskTuner around it (reloaded when resuming)."""
    from keras_tuner import oracles

    from kerasdl.tune import grid
    from kerasdl.tune.tuner import TaskHyperModel, TaskTuner, retry_orphaned_trials

    common = dict(objective=search.objective, seed=getattr(search.base, "seed", 0) + 1,
                  # A failed trial is recorded and the search goes on, however many fail.
                  max_consecutive_failed_trials=None)
    if search.tuner == "random":
        oracle = oracles.RandomSearchOracle(max_trials=max_trials, **common)
    elif search.tuner == "bayesian":
        # A third of the trials at random before the Gaussian process proposes (KerasTuner's
        # default, 3 per hyperparameter, would make a 12-trial search all random).
        oracle = oracles.BayesianOptimizationOracle(max_trials=max_trials,
                                                    num_initial_points=max(2, max_trials // 3), **common)
    elif search.tuner == "hyperband":
        oracle = oracles.HyperbandOracle(max_epochs=search.base.epochs, factor=3, hyperband_iterations=1,
                                         **common)
        oracle.max_trials = args.max_trials
    else:
        oracle = grid.GridOracle(max_trials=max_trials, **common)
    oracle.verbose = 0  # a line per trial is TaskTuner's
    hypermodel = TaskHyperModel(search.task, search.module, search.base, search.fixed,
                                epochs_from_tuner=search.tuner == "hyperband")
    with contextlib.redirect_stdout(io.StringIO()):  # "Reloading Tuner from ..."
        tuner = TaskTuner(oracle, hypermodel, search, directory=str(search.workdir.parent),
                          project_name=search.workdir.name, overwrite=overwrite)
    retry_orphaned_trials(oracle)
    if search.tuner == "grid":
        space = oracle.get_space().space
        grid.check_grid(space, search.task)
        oracle.max_trials = min(args.max_trials or grid.grid_size(space), grid.grid_size(space))
    return tuner


def _max_trials(search, args):
    if args.max_trials is not None:
        return args.max_trials
    if search.quick:
        return QUICK_TRIALS
    return None if search.tuner in ("grid", "hyperband") else DEFAULT_TRIALS


def _lead(search, args, role):
    """A search in this process, or its chief: the trials, then the summary."""
    from keras_tuner.engine import trial as trial_module

    from kerasdl import runs
    from kerasdl.tune import distributed, summary

    max_trials = _max_trials(search, args)
    tuner = _make_tuner(search, args, max_trials or DEFAULT_TRIALS, overwrite=args.overwrite)
    oracle = tuner.oracle
    runs.atomic_write(search.workdir / "search.json",
                      runs.to_json({"spec": search.spec(), "command": search.command}))
    done = sum(t.status == trial_module.TrialStatus.COMPLETED for t in oracle.trials.values())
    limit = oracle.max_trials
    print(f"tune {search.task}: {search.tuner} search, {search.objective.name} "
          f"({search.objective.direction}), {'up to ' + str(limit) + ' trials' if limit else 'Hyperband brackets'}"
          f"; working directory {search.workdir}" + (f" (resumed: {done} trials finished)" if done else ""),
          flush=True)
    try:
        if role == "chief" or args.workers:
            host, port = distributed.chief_address() if role == "chief" else ("127.0.0.1", 0)
            command = [sys.executable, "-m", "kerasdl", "tune",
                       *search.worker_argv(limit, args.chief_timeout)]
            distributed.serve(tuner, host, port, workers=args.workers or 0, worker_command=command)
        else:
            tuner.search()
    except KeyboardInterrupt:
        print(f"tune {search.task}: stopped; rerun the same command to resume ({search.workdir})",
              file=sys.stderr)
        raise
    best = summary.write(search, oracle)
    print(f"summary: {search.workdir / 'summary.md'}")
    if best is None:
        raise SearchFailed(f"no trial of {search.workdir} finished; {summary.first_failure(oracle)}")
    print(f"best: trial {best.trial_id}, {search.objective.name} {best.score:.4g}; train it as an ordinary "
          f"run with\n  {search.run_command(best.hyperparameters.values, budget=False)}")
    if args.retrain_best:
        _retrain(search, best)
        summary.write(search, oracle)
    if args.publish:
        target, copied = summary.publish(search)
        print(f"published: {target} ({copied} figures)")
    return 0


def _retrain(search, best):
    """The best configuration as an ordinary run: `python -m kerasdl <task> ...`, the same code."""
    from kerasdl import cli, runs
    from kerasdl.tune.tuner import release_memory

    tokens = search.task_tokens(best.hyperparameters.values, budget=False)
    print(f"retraining trial {best.trial_id}: {search.run_command(best.hyperparameters.values, budget=False)}",
          flush=True)
    release_memory()
    folder = runs.check_out_root(search.out) / search.task
    before = set(folder.iterdir()) if folder.is_dir() else set()
    started = time.perf_counter()
    cli._task_command(search.task, tokens[1:])  # tokens: <task> [options]
    made = sorted(set(folder.iterdir()) - before)
    runs.atomic_write(search.workdir / "retrained.json", runs.to_json(
        {"trial": best.trial_id, "command": search.run_command(best.hyperparameters.values, budget=False),
         "run_dir": str(made[-1]) if made else None, "seconds": round(time.perf_counter() - started, 1)}))


def _work(search, args):
    """A worker: wait for the chief, then run the trials it hands out until it says stop."""
    from kerasdl.tune import distributed

    ip, port = distributed.chief_address()
    distributed.wait_for_chief(ip, port, args.chief_timeout)
    tuner = _make_tuner(search, args, args.max_trials or DEFAULT_TRIALS, overwrite=False)
    with distributed.heartbeat(tuner):
        tuner.search()
    print(f"[{tuner.tuner_id}] the chief has no more trials", flush=True)
    return 0
