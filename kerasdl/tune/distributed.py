"""A search on several processes or machines: KerasTuner's chief and workers, over gRPC.

KerasTuner's distributed mode has one chief, which holds the oracle and answers
over gRPC, and workers, which ask it for trials, run them and report back.
Every process runs the same command; its role comes from the environment:

    KERASTUNER_TUNER_ID=chief   KERASTUNER_ORACLE_IP=0.0.0.0   KERASTUNER_ORACLE_PORT=8000  (chief)
    KERASTUNER_TUNER_ID=worker1 KERASTUNER_ORACLE_IP=<chief's> KERASTUNER_ORACLE_PORT=8000  (a worker)

`--workers N` does this on one machine: this process is the chief, on 127.0.0.1
and a free port, and starts N workers as subprocesses.

KerasTuner's own chief waits until every worker that ever asked for a trial has
been told that the search is over, so a worker that dies keeps its trial
"running" for ever and the chief hangs (keras-tuner#915). Here the chief serves
the oracle itself (`serve`). Each worker sends a heartbeat every HEARTBEAT_S
seconds; a worker whose process ends (a local worker) or whose heartbeat stops
for LEASE_S seconds (any worker) is let go, and its trial goes back to the queue
for another worker (a trial whose worker dies MAX_ATTEMPTS times is failed).
A local worker that dies is replaced while trials remain. A worker whose chief
stops answering for LEASE_S seconds stops too.

Heartbeats and the reason a trial failed travel in KerasTuner's own GetTrial
request (its trial id field carries a NOTE), since its service has no message
for them; this uses KerasTuner's gRPC service and servicer, which are not
public API (written against keras-tuner 1.4.8; pyproject pins 1.4.x).
"""

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from concurrent import futures

from kerasdl.errors import UserError

HEARTBEAT_S = 5.0
LEASE_S = 60.0
POLL_S = 0.5
MAX_ATTEMPTS = 2
NOTE = "kerasdl-note:"


# === Roles ===

def role():
    """'chief', 'worker', or None (no distributed search), from KerasTuner's environment."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return None
    for name in ("KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID"):
        if not os.environ.get(name):
            raise UserError(f"KERASTUNER_ORACLE_IP is set but {name} is not: a distributed search needs "
                            "KERASTUNER_TUNER_ID (chief, worker1, ...), KERASTUNER_ORACLE_IP and "
                            "KERASTUNER_ORACLE_PORT")
    return "chief" if "chief" in tuner_id() else "worker"


def tuner_id():
    return os.environ.get("KERASTUNER_TUNER_ID", "tuner0")


def chief_address():
    """(ip, port) of the chief, from KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT."""
    ip, port = os.environ["KERASTUNER_ORACLE_IP"], os.environ["KERASTUNER_ORACLE_PORT"]
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"KERASTUNER_ORACLE_PORT={port}: expected a port number from 1 to 65535")
    return ip, int(port)


# === Worker ===

def wait_for_chief(ip, port, timeout):
    """Return when the chief answers; UserError after `timeout` seconds of silence."""
    import grpc

    channel = grpc.insecure_channel(f"{ip}:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        raise UserError(f"no tuning chief answers at {ip}:{port} (waited {timeout:g} s): start the chief "
                        "first (the same command with KERASTUNER_TUNER_ID=chief), or check "
                        "KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT") from None
    finally:
        channel.close()


def send_note(stub, note, timeout=10):
    """A heartbeat or a failure's reason to the chief (see the module docstring)."""
    from keras_tuner.src import protos

    stub.GetTrial(protos.get_service().GetTrialRequest(trial_id=NOTE + json.dumps(note)), timeout=timeout)


@contextlib.contextmanager
def heartbeat(tuner):
    """While the block runs, tell the chief every HEARTBEAT_S seconds that this worker lives;
    stop the process when the chief has not answered for LEASE_S seconds."""
    import grpc

    stop = threading.Event()
    stub, me = tuner.oracle.stub, tuner.tuner_id

    def beat():
        answered = time.monotonic()
        while not stop.wait(HEARTBEAT_S):
            try:
                send_note(stub, {"tuner": me})
                answered = time.monotonic()
            except grpc.RpcError:
                if time.monotonic() - answered > LEASE_S:
                    print(f"[{me}] the tuning chief stopped answering; this worker stops (its trial is "
                          "run again when the search resumes)", file=sys.stderr, flush=True)
                    os._exit(3)  # the main thread may be waiting inside gRPC for an hour

    thread = threading.Thread(target=beat, name="kerasdl-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()


# === Chief ===

def _servicer_class():
    from keras_tuner.engine import trial as trial_module
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    class Servicer(oracle_chief.OracleServicer):
        """KerasTuner's servicer, which also hears heartbeats and failure reasons, and
        notes when each worker last spoke."""

        def __init__(self, oracle):
            super().__init__(oracle)
            self.seen = {}  # tuner id -> time.monotonic() of its last request
            self.reasons = {}  # trial id -> why it failed, from its worker

        def GetTrial(self, request, context):  # noqa: N802 - gRPC's names
            if request.trial_id.startswith(NOTE):
                note = json.loads(request.trial_id[len(NOTE):])
                self.seen[note["tuner"]] = time.monotonic()
                if "trial" in note:
                    self.reasons[note["trial"]] = note["message"]
                return protos.get_service().GetTrialResponse()
            return super().GetTrial(request, context)

        def CreateTrial(self, request, context):  # noqa: N802
            self.seen[request.tuner_id] = time.monotonic()
            return super().CreateTrial(request, context)

        def EndTrial(self, request, context):  # noqa: N802
            trial = trial_module.Trial.from_proto(request.trial)
            trial.message = self.reasons.pop(trial.trial_id, None)  # the proto has no message
            self.oracle.end_trial(trial)
            return protos.get_service().EndTrialResponse()

    return Servicer


def _let_go(oracle, worker, why):
    """Forget a worker; its trial, if any, goes back to the queue (or fails at MAX_ATTEMPTS).
    Returns (trial or None, 'requeued' or 'failed')."""
    import keras_tuner
    from keras_tuner.engine import trial as trial_module

    @keras_tuner.synchronized
    def let_go(oracle):
        oracle.tuner_ids.discard(worker)
        trial = oracle.ongoing_trials.pop(worker, None)
        if trial is None:
            return None, None
        oracle._run_times[trial.trial_id] += 1
        if oracle._run_times[trial.trial_id] >= MAX_ATTEMPTS:
            trial.status = trial_module.TrialStatus.FAILED
            trial.message = f"its worker {why}, {MAX_ATTEMPTS} times"
            oracle.end_order.append(trial.trial_id)
            outcome = "failed"
        else:
            oracle._retry_queue.append(trial.trial_id)
            outcome = "requeued"
        oracle._save_trial(trial)
        oracle.save()
        return trial, outcome

    return let_go(oracle)


def serve(tuner, host, port, workers=0, worker_command=None, say=print):
    """Serve the search's oracle on host:port (0: a free port) until the search is over;
    start `workers` local workers running `worker_command`, and replace those that die."""
    import grpc
    from keras_tuner.src import protos

    oracle = tuner.oracle
    servicer = _servicer_class()(oracle)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers + 4))
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:
        bound = 0
    if not bound:
        raise UserError(f"the tuning chief cannot listen on {host}:{port}: is the port taken? "
                        "Set KERASTUNER_ORACLE_PORT to a free one")
    server.start()
    tuner.save()
    local = {}  # tuner id -> its Popen
    started = 0

    def start_worker():
        nonlocal started
        started += 1
        worker = f"worker{started}"
        env = {**os.environ, "KERASTUNER_TUNER_ID": worker, "KERASTUNER_ORACLE_PORT": str(bound),
               "KERASTUNER_ORACLE_IP": "127.0.0.1" if host in ("0.0.0.0", "::", "[::]") else host,
               "PYTHONUNBUFFERED": "1"}
        local[worker] = subprocess.Popen(worker_command, env=env)

    say(f"tune: chief serving on {host}:{bound}" + (f", {workers} local workers" if workers else
        f"; start workers with KERASTUNER_TUNER_ID=worker1 KERASTUNER_ORACLE_IP=<this machine> "
        f"KERASTUNER_ORACLE_PORT={bound} and the same command"), flush=True)
    for _ in range(workers):
        start_worker()
    replacements = max(workers, 1) * MAX_ATTEMPTS
    try:
        while not _over(oracle, servicer, local):
            time.sleep(POLL_S)
            for worker, process in list(local.items()):
                code = process.poll()
                if code is None:
                    continue
                del local[worker]
                if code == 0:  # told that the search is over
                    continue
                if code == UserError.exit_code:
                    raise UserError(f"{worker} stopped with the error above; the search stops "
                                    "(rerun the same command to resume)")
                trial, outcome = _let_go(oracle, worker, f"ended with exit code {code}")
                if trial is not None:
                    say(f"tune: {worker} ended (exit code {code}) during trial {trial.trial_id}, "
                        f"which is {'failed' if outcome == 'failed' else 'run again'}", flush=True)
                if replacements and (oracle._retry_queue or not servicer.stop_triggered):
                    replacements -= 1
                    start_worker()
            now = time.monotonic()
            for worker in [w for w in list(oracle.tuner_ids) if w not in local]:
                if now - servicer.seen.get(worker, now) > LEASE_S:
                    trial, outcome = _let_go(oracle, worker, f"was silent for {LEASE_S:g} s")
                    say(f"tune: {worker} has been silent for {LEASE_S:g} s; let go"
                        + (f", its trial {trial.trial_id} {outcome}" if trial is not None else ""), flush=True)
            if workers and not local and not oracle.tuner_ids and not _over(oracle, servicer, local):
                raise UserError("every worker stopped before the search was over; rerun the same "
                                "command to resume it")
    finally:
        for process in local.values():
            process.terminate()
        for process in local.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        server.stop(grace=1)


def _over(oracle, servicer, local):
    """Every worker was told the search is over, and no trial runs or waits for a retry."""
    return (servicer.stop_triggered and not local and not oracle.tuner_ids and not oracle.ongoing_trials
            and not oracle._retry_queue)
