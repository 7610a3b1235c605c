"""train --cluster local:N: N worker processes of train on this machine, one TensorFlow cluster on 127.0.0.1.

Worker 0 is the chief: it writes the model folder, and its output is this command's. The others write nothing
there: their output goes to a temporary folder (removed when all went well), and their own log lines
(`worker K: ...`) are shown as they come. Ctrl-C or SIGTERM here is passed on to every worker, so they stop after
the same step and the chief saves. This process loads no TensorFlow: it starts the workers and watches them.
"""
from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lib.errors import FaceswapError
from lib.model.state import read_state
from lib.training.multiworker import ENV, local_tf_config
from scripts.train.args import Config, local_workers, to_arguments
from scripts.train.summary import Summary

log = logging.getLogger("faceswap.train")
FACESWAP = Path(__file__).resolve().parents[2] / "faceswap.py"
HOST = "127.0.0.1"
PARENT_ENV = "FACESWAP_TRAIN_LAUNCHER"  # a worker's launcher's process id
PR_SET_PDEATHSIG = 1
LAST_LINES = 15  # of a failed worker's log, shown
GRACE = 2.0  # seconds the others get to end by themselves once one failed (all fail alike on a non-finite loss)


def free_ports(count: int) -> list[int]:
    """count TCP ports free on 127.0.0.1 now: the kernel's choice for port 0, closed again for the workers."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class Worker:
    """A worker process of train that this process started: worker 0 is the chief."""

    index: int
    process: subprocess.Popen[bytes]
    log_path: Path | None = None  # None: the chief, whose output is ours
    reader: threading.Thread | None = None

    @property
    def name(self) -> str:
        return "the chief (worker 0)" if self.index == 0 else f"worker {self.index}"

    def how_it_ended(self) -> str:
        code = self.process.returncode
        if code is not None and code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exit {code}"


def _relay(index: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
    """Show a worker's own log lines (`worker K: ...`) here as it writes them to its log file, until it ends.
    (A file, not a pipe: a worker outlives this process should it die, stops on the SIGTERM it then gets, and
    the chief saves.)"""
    mine = f"worker {index}: ".encode()
    line, ended = b"", False
    with open(log_path, "rb") as log:
        while True:
            part = log.readline()
            if part:
                line += part
                if line.endswith(b"\n"):
                    if line.startswith(mine):
                        sys.stderr.write(line.decode(errors="replace"))
                        sys.stderr.flush()
                    line = b""
            elif ended:
                return
            else:
                ended = process.poll() is not None  # then one more pass: all it wrote is in the file now
                time.sleep(0 if ended else 0.2)


def follow_parent() -> None:
    """In a worker that launch_local started: be sent SIGTERM (stop after the step; the chief saves) when the
    launcher dies, however it dies (Linux's PR_SET_PDEATHSIG; elsewhere nothing)."""
    parent = os.environ.get(PARENT_ENV)
    if not parent or not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(parent):  # it died before the line above
        os.kill(os.getpid(), signal.SIGTERM)


def _our_output() -> tuple[int | None, int | None]:
    """The chief's stdout and stderr: ours as Python writes them. Not file descriptor 2, which is the pipe of
    this process's native-log filter (scripts/console.py): should this process die, the chief could write nothing
    more, not even that it saved."""
    try:
        return sys.stdout.fileno(), sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by objects without a file (a test's capture)
        return None, None


def start_workers(command: list[str], count: int, logs: Path) -> list[Worker]:
    """count processes of command, each with the TF_CONFIG of its place in one cluster on free 127.0.0.1 ports;
    worker 0's output is ours, the others' goes to logs/worker-K.log."""
    addresses = [f"{HOST}:{port}" for port in free_ports(count)]
    workers = []
    for index in range(count):
        env = {**os.environ, ENV: local_tf_config(addresses, index), PARENT_ENV: str(os.getpid())}
        # Their own process group: a Ctrl-C at the terminal reaches this process only, which passes it on once
        # (a worker that got it twice would stop at once instead of after the step).
        if index == 0:
            stdout, stderr = _our_output()
            workers.append(Worker(index, subprocess.Popen(command, env=env, process_group=0, stdout=stdout,
                                                          stderr=stderr)))
            continue
        log_path = logs / f"worker-{index}.log"
        with open(log_path, "wb") as output:
            process = subprocess.Popen(command, env=env, process_group=0, stdin=subprocess.DEVNULL, stdout=output,
                                       stderr=subprocess.STDOUT)
        reader = threading.Thread(target=_relay, args=(index, process, log_path), daemon=True,
                                  name=f"worker-{index}-log")
        reader.start()
        workers.append(Worker(index, process, log_path, reader))
    return workers


def _last_save(model_dir: Path) -> str:
    try:
        state = read_state(model_dir)
    except FaceswapError:
        state = None
    return f"the last save is {state.checkpoint}" if state else "nothing was saved"


def _failure(workers: list[Worker], failed: Worker, model_dir: Path, logs: Path) -> FaceswapError:
    """The error for a run in which failed (the cause, watch_workers's choice) failed; its last lines printed
    first."""
    chief = workers[0]
    if failed is chief:  # it said why, above
        return FaceswapError(f"{chief.name} failed ({chief.how_it_ended()}): its error is above, the other "
                             f"workers' logs are in {logs}; {_last_save(model_dir)}; train again with the same -m "
                             "to resume")
    assert failed.log_path is not None
    if failed.reader is not None:
        failed.reader.join(timeout=5)
    lines: deque[str] = deque(failed.log_path.read_text(errors="replace").splitlines(), maxlen=LAST_LINES)
    print(f"{failed.name}'s last lines:", file=sys.stderr)
    for line in lines:
        print(f"  {line}", file=sys.stderr)
    return FaceswapError(f"{failed.name} of {len(workers)} failed ({failed.how_it_ended()}): its last lines are "
                         f"above, its whole log is {failed.log_path}; {_last_save(model_dir)}; train again with "
                         "the same -m to resume")


def watch_workers(workers: list[Worker], model_dir: Path, logs: Path) -> None:
    """Wait for every worker to end; the first that fails ends the others, and the run with a FaceswapError."""
    while True:
        failed = [w for w in workers if w.process.poll() not in (None, 0)]
        if failed:
            deadline = time.monotonic() + GRACE
            while time.monotonic() < deadline and any(w.process.poll() is None for w in workers):
                time.sleep(0.1)
            # The cause first: a worker killed by a signal (the others then lose it and end with an error), else
            # the chief if it failed (it says why), else the first that failed.
            killed = [w for w in workers if (w.process.returncode or 0) < 0]
            chief = [w for w in workers[:1] if w.process.returncode not in (None, 0)]
            raise _failure(workers, (killed or chief or failed)[0], model_dir, logs)
        if all(w.process.returncode == 0 for w in workers):
            return
        time.sleep(0.2)


def launch_local(cfg: Config) -> Summary:
    """Train with --cluster local:N: start N workers of train (same arguments, each its own TF_CONFIG), pass
    signals on, wait for them; returns the run's summary as the model folder shows it (each worker prints its
    own)."""
    assert cfg.cluster is not None
    count = local_workers(cfg.cluster)
    state = read_state(cfg.model_dir)
    began = time.monotonic()
    logs = Path(tempfile.mkdtemp(prefix="faceswap-train-workers-"))
    log.info("training with %d workers on this machine: worker 0 (the chief) writes %s, the others' output is in "
             "%s", count, cfg.model_dir, logs)
    workers: list[Worker] = []
    signals: list[int] = []

    def forward(number: int, _frame: Any) -> None:
        signals.append(number)
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.send_signal(number)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {number: signal.signal(number, forward) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        command = [sys.executable, str(FACESWAP), *(["-v"] if log.isEnabledFor(logging.DEBUG) else []), "train",
                   *to_arguments(replace(cfg, cluster=None))]
        workers.extend(start_workers(command, count, logs))
        watch_workers(workers, cfg.model_dir, logs)
    except FaceswapError:
        if signals:  # stopped while starting, before they could stop after a step: as Ctrl-C of one process
            raise KeyboardInterrupt from None
        raise
    finally:
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.kill()
            worker.process.wait()
            if worker.reader is not None:
                worker.reader.join(timeout=5)
        for number, handler in previous.items():
            signal.signal(number, handler)
    shutil.rmtree(logs, ignore_errors=True)
    end = read_state(cfg.model_dir)
    return Summary(cfg.model_dir, state.iteration if state else 0, iteration=end.iteration if end else 0,
                   seconds=time.monotonic() - began, stopped_by="see the workers' lines",
                   notes=[f"{count} workers on this machine"])
