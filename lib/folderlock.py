"""One process at a time in a folder: an exclusive lock held on a `.lock` file inside it (flock), with who holds
it written in the file. The kernel lets go of a lock when its process ends, however it ends, so a lock left by a
killed process is no lock at all: the next process takes it over, and nothing has to guess whether a pid is
still alive."""
from __future__ import annotations

import fcntl
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from lib.errors import FaceswapError

LOCK = ".lock"


class FolderLock:
    """Held from acquire() (or `with`) to release() or the process's end. what says what the holder does, for
    the message a second process gets ("training it"). A folder the lock had to create, left holding only the
    lock file, is removed again on release."""

    def __init__(self, folder: Path, what: str) -> None:
        self.folder = Path(folder)
        self.what = what
        self._handle: int | None = None
        self._created = False

    @property
    def path(self) -> Path:
        return self.folder / LOCK

    def acquire(self) -> None:
        """Take the lock, or raise FaceswapError naming the process that holds it."""
        self._created = not self.folder.exists()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise FaceswapError(f"cannot lock {self.folder}: {err.strerror or err}") from err
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(handle)
            os.close(handle)
            raise FaceswapError(f"{self.folder} is in use: {holder}; wait for it to end, or stop it first") \
                from None
        # Ours: say who holds it (the file is rewritten in place, so a reader never finds it missing).
        os.ftruncate(handle, 0)
        since = datetime.now(UTC).isoformat(timespec="seconds")
        record = {"pid": os.getpid(), "host": socket.gethostname(), "since": since, "what": self.what}
        os.pwrite(handle, json.dumps(record).encode(), 0)
        self._handle = handle

    def release(self) -> None:
        if self._handle is None:
            return
        if self._created and [p.name for p in self.folder.iterdir()] == [LOCK]:
            self.path.unlink(missing_ok=True)  # nothing was made in it: leave no trace
            try:
                self.folder.rmdir()
            except OSError:
                pass  # another process came in meanwhile: the folder is its now
        os.close(self._handle)  # closing the file lets go of the lock
        self._handle = None

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.release()


def _read_holder(handle: int) -> str:
    """'process 1234 on host (since ...) is training it' from the lock file; 'another process holds it' when
    the file says nothing useful."""
    try:
        found = json.loads(os.pread(handle, 4096, 0) or b"{}")
        pid, host, since, what = int(found["pid"]), str(found["host"]), str(found["since"]), str(found["what"])
    except (ValueError, KeyError, TypeError, OSError):
        return "another process holds it"
    return f"process {pid} on {host} (since {since}) is {what}"
