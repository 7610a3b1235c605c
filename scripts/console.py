"""A quiet console: TensorFlow's and absl's log lines kept off stderr at the default verbosity (they read like
errors and bury our one-line messages), shown with -v. Our own lines go through the `faceswap` logger.

TensorFlow writes some of its C++ lines before it reads TF_CPP_MIN_LOG_LEVEL (absl's "WARNING: All log messages
before absl::InitializeLog()...", oneDNN's notice), so the environment alone cannot silence them: file
descriptor 2 is routed through a pipe whose reader drops lines in TensorFlow's log formats and passes every other
line on. Python's own sys.stderr keeps writing to the terminal directly (so progress bars still see a terminal).
"""
from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading
import warnings

from tqdm import tqdm

# absl's C++ format: severity letter, MMDD, time, thread id, file:line] message. Also its start-up notice, the
# second line of TensorFlow's CPU-feature notice, and Ray's C++ format ([date time level pid tid] file:line).
NATIVE_LOG = re.compile(rb"^([IWEF]\d{4} [\d:.]+\s+\d+ [\w./-]+:\d+\] |WARNING: All log messages before absl::"
                        rb"|To enable the following instructions: "
                        rb"|\[\d{4}-\d\d-\d\d [\d:,]+ [IWEF] \d+ \d+\] )")  # Ray's (--cluster)
# The further lines of a multi-line native message (a status with gRPC's details, an op's node): dropped after one.
CONTINUATION = re.compile(rb"^(\s|Additional GRPC error information from |:[A-Z_]+:|\[\[)")
PYTHON_LOGGERS = ("tensorflow", "absl", "keras", "h5py", "mtcnn")


class _TqdmHandler(logging.Handler):
    """Log lines that do not break a running progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        tqdm.write(self.format(record), file=sys.stderr)


def setup_logging(debug: bool) -> None:
    """Our log lines on stderr (with their level under -v); TensorFlow's and absl's only under -v."""
    handler = _TqdmHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s" if debug else "%(message)s"))
    root = logging.getLogger("faceswap")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    root.propagate = False
    if debug:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # read when TensorFlow is imported
    for name in PYTHON_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for module in PYTHON_LOGGERS:
        warnings.filterwarnings("ignore", module=module)
    filter_native_logs()


def _forward(pipe: int, terminal: int) -> None:
    native = False  # the line before was (part of) a native log message
    with os.fdopen(pipe, "rb") as lines:
        for line in lines:
            native = bool(NATIVE_LOG.match(line) or native and CONTINUATION.match(line))
            if not native:
                os.write(terminal, line)


def filter_native_logs() -> None:
    """Route what C++ code writes to file descriptor 2 through a filter that drops TensorFlow's log lines.
    Python's sys.stderr is pointed at the real stderr first. Once per process."""
    if getattr(filter_native_logs, "done", False):
        return
    filter_native_logs.done = True  # type: ignore[attr-defined]
    sys.stderr.flush()
    terminal = os.dup(2)
    sys.stderr = open(terminal, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",  # noqa: SIM115
                      errors="backslashreplace", closefd=False)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    reader = threading.Thread(target=_forward, args=(read_end, terminal), name="native-log-filter", daemon=True)
    reader.start()

    def finish() -> None:
        os.dup2(terminal, 2)  # the pipe's last writer closes: the reader sees the end and stops
        reader.join(timeout=2)

    atexit.register(finish)
