"""Progress for long work: a tqdm bar on a terminal; written to a file or a pipe (CI logs, nohup, `> log`), a
plain line every few seconds or every tenth of the work instead of thousands of carriage-return updates."""
from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

from tqdm import tqdm

EVERY_SECONDS = 5.0
EVERY_SHARE = 0.1


class _Lines:
    """tqdm's update / set_postfix_str / close, as plain lines: `convert: 120/480 frame (25%), 23.1 frame/s`."""

    def __init__(self, total: int | None, desc: str, unit: str, stream: TextIO) -> None:
        self.total, self.desc, self.unit, self.stream = total, desc, unit, stream
        self.n = 0
        self.postfix = ""
        self._start = self._last_time = time.monotonic()
        self._last_n = 0
        self._closed = False

    def update(self, count: int = 1) -> None:
        self.n += count
        now = time.monotonic()
        share = self.total and (self.n - self._last_n) / self.total >= EVERY_SHARE
        if share or now - self._last_time >= EVERY_SECONDS:
            self._write(now)

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.postfix = text

    def _write(self, now: float) -> None:
        done = f"{self.n}/{self.total} {self.unit}" if self.total else f"{self.n} {self.unit}"
        if self.total:
            done += f" ({100 * self.n / self.total:.0f}%)"
        elapsed = now - self._start
        rate = f", {self.n / elapsed:.1f} {self.unit}/s" if elapsed > 0 and self.n else ""
        postfix = f" | {self.postfix}" if self.postfix else ""
        print(f"{self.desc}: {done}{rate}{postfix}", file=self.stream, flush=True)
        self._last_time, self._last_n = now, self.n

    def close(self) -> None:
        if not self._closed and self.n != self._last_n:
            self._write(time.monotonic())
        self._closed = True

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


def progress(total: int | None, desc: str, unit: str, *, leave: bool = True,
             stream: TextIO | None = None) -> tqdm | _Lines:
    """A progress bar for `total` steps (None: unknown) on stderr, or plain lines when stderr is no terminal."""
    out = stream or sys.stderr
    if out.isatty():
        return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, leave=leave, file=out)
    return _Lines(total, desc, unit, out)
