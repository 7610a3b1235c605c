"""Atomic writes: a reader never sees a half-written file, a crash never leaves one."""
from __future__ import annotations

import fcntl
import glob
import json
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_UMASK = os.umask(0o022)
os.umask(_UMASK)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write data to path through a temporary file in the same folder, then rename it into place."""
    write_chunks_atomic(path, [data])


def write_chunks_atomic(path: Path, chunks: Iterable[bytes]) -> None:
    """Write the chunks one after the other to path through a temporary file in the same folder, then rename it
    into place: memory holds one chunk at a time.

    The folder is held open and both files are named relative to it, so that a folder renamed meanwhile gets the
    whole file (a path-based rename would fail and leave the temporary file in it, out of reach)."""
    path = Path(path)
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        temp = f".{path.name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666, dir_fd=folder)  # the user's umask applies
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path.name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            try:
                os.unlink(temp, dir_fd=folder)
            except FileNotFoundError:
                pass
            raise
    finally:
        os.close(folder)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write obj as indented JSON, atomically."""
    write_bytes_atomic(path, json.dumps(obj, indent=1).encode("utf-8"))


def hold_partial(path: Path) -> tuple[Path, int]:
    """A hidden name beside path for a file that another program writes before it is renamed into place
    (`.<stem>.partial-<pid><suffix>`), created empty and locked (flock) by this process until the returned
    descriptor is closed. Partial files of path that no process holds, left by a run that was killed, are removed
    first: the lock goes with its process, however it ended."""
    path = Path(path)
    for stale in path.parent.glob(f".{glob.escape(path.stem)}.partial-*{glob.escape(path.suffix)}"):
        try:
            handle = os.open(stale, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            stale.unlink(missing_ok=True)  # nobody writes it
        except BlockingIOError:
            pass  # another run is writing it now
        finally:
            os.close(handle)
    temp = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    handle = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o666 & ~_UMASK)
    fcntl.flock(handle, fcntl.LOCK_EX)
    return temp, handle
