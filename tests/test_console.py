"""The console: TensorFlow's native log lines filtered off stderr, everything else passed on; progress as plain
lines when stderr is no terminal."""
from __future__ import annotations

import io
import subprocess
import sys

from scripts.progress import progress
from tests.conftest import ROOT

NATIVE = ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
          "I0000 00:00:1796240316.307274   14409 port.cc:153] oneDNN custom operations are on.",
          "E0000 00:00:1796229786.571584   26784 meta_optimizer.cc:967] remapper failed: INVALID_ARGUMENT")


def _stderr_of(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return result.stderr


def test_native_log_lines_are_dropped_and_the_rest_kept() -> None:
    writes = "".join(f"os.write(2, {(line + chr(10)).encode()!r})\n" for line in NATIVE)
    code = ("import os, sys\nfrom scripts.console import setup_logging\nsetup_logging(False)\n" + writes +
            "os.write(2, b'ffmpeg: a real problem\\n')\nprint('our own line', file=sys.stderr)\n")
    stderr = _stderr_of(code)
    assert "ffmpeg: a real problem" in stderr and "our own line" in stderr
    assert not any(line in stderr for line in NATIVE), stderr


def test_the_further_lines_of_a_native_message_go_with_it() -> None:
    """A collective's error as TensorFlow logs it when a worker is lost: its gRPC details are lines of its own;
    the same words from anyone else, and lines after the message, are kept."""
    message = ("E0000 00:00:1796663128.1   31302 collective.cc:42] Collective ops is aborted by: recvmsg:"
               "Connection reset by peer\nAdditional GRPC error information from remote target "
               "/job:worker/replica:0/task:1 while calling /tensorflow.WorkerService/RecvBuf:\n"
               ":UNKNOWN:Error received from peer  {grpc_status:14}\n\t [[{{node CollectiveReduceV2}}]]\n")
    code = ("import os, sys\nfrom scripts.console import setup_logging\nsetup_logging(False)\n"
            "os.write(2, b'  an indented line of ours\\n')\n"
            f"os.write(2, {message.encode()!r})\nos.write(2, b'ffmpeg: a real problem\\n')\n"
            "os.write(2, b'  and its detail\\n')\n")
    assert _stderr_of(code).splitlines() == ["  an indented line of ours", "ffmpeg: a real problem",
                                             "  and its detail"]


def test_debug_keeps_native_log_lines() -> None:
    code = ("import os\nfrom scripts.console import setup_logging\nsetup_logging(True)\n"
            f"os.write(2, {(NATIVE[1] + chr(10)).encode()!r})\n")
    assert NATIVE[1] in _stderr_of(code)


def test_progress_without_a_terminal_is_plain_lines() -> None:
    stream = io.StringIO()
    with progress(95, "convert", "frame", stream=stream) as bar:
        for _ in range(95):
            bar.update(1)
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert 9 <= len(lines) <= 11  # a line every tenth of the work
    assert lines[-1].startswith("convert: 95/95 frame (100%)")
