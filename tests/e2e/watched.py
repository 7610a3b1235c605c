"""Running the CLI on a local Ray cluster while watching every TCP socket it and its children open."""
from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.cluster import Sockets
from tests.conftest import ROOT


@dataclass
class Watched:
    returncode: int
    stderr: str
    sockets: list[str]  # every TCP socket line `ss -tnpa` showed for the run's processes
    outside: list[str]  # those with an address that is not 127.0.0.1


def run_watched(*args: str | Path, interrupt_when: Path | None = None) -> Watched:
    """Run the CLI, listing the TCP sockets of it and every process it starts (Ray's) every 0.3 s; with
    interrupt_when, Ctrl-C it once that file exists."""
    with tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen([sys.executable, str(ROOT / "faceswap.py"), *map(str, args)], cwd=ROOT,
                                   stderr=stderr, stdout=subprocess.DEVNULL, text=True)
        sockets = Sockets(process.pid)
        while interrupt_when is not None and process.poll() is None:
            if interrupt_when.exists():
                process.send_signal(signal.SIGINT)
                break
            time.sleep(0.1)
        process.wait()
        seen = sockets.stop()
        stderr.seek(0)
        return Watched(process.returncode, stderr.read(), sorted(sockets.lines), seen["not_loopback_lines"])


def assert_loopback_only(run: Watched) -> None:
    """Ray's services were seen, and every socket of theirs had 127.0.0.1 at both ends (listening ones: their
    own address)."""
    assert any("gcs_server" in line for line in run.sockets), run.sockets[:5]
    assert run.outside == []
