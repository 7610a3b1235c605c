"""lib.fileio.hold_partial: a run's hidden partial file is held while it writes; one left by a killed run is
removed by the next, one another live run is writing is left alone."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from lib.fileio import hold_partial
from tests.conftest import ROOT

HOLD = ("import sys, time\nfrom pathlib import Path\nfrom lib.fileio import hold_partial\n"
        "temp, _ = hold_partial(Path(sys.argv[1]))\ntemp.write_bytes(b'half a video')\n"
        "print(temp, flush=True)\ntime.sleep(120)\n")


def _writer(output: Path) -> tuple[subprocess.Popen[str], Path]:
    """Another process writing output's partial file, and that file."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(output)], cwd=ROOT, stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout is not None
    return process, Path(process.stdout.readline().strip())


def test_a_killed_runs_partial_is_removed_a_live_ones_kept(tmp_path: Path) -> None:
    output = tmp_path / "out [1].mp4"  # glob characters in the name
    live, running = _writer(output)
    killed, stale = _writer(output)  # leaves the live run's file alone, as this test's call must
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    other = tmp_path / ".out [1].partial-1.mkv"  # another output's (another suffix): not ours to touch
    other.write_bytes(b"x")
    try:
        assert stale.is_file() and running.is_file() and stale != running
        temp, handle = hold_partial(output)
        try:
            assert temp == tmp_path / f".out [1].partial-{os.getpid()}.mp4" and temp.is_file()
            assert not stale.exists(), "the killed run's partial file was left"
            assert running.read_bytes() == b"half a video", "a live run's partial file was touched"
            assert other.exists()
        finally:
            os.close(handle)
    finally:
        live.send_signal(signal.SIGKILL)
        live.wait()
