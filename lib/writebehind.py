"""A writer thread, the other half of lib/readahead.py: items are written behind the work that makes them
(PNG and video encoding overlap detection or the model); a write error surfaces on the next put or on close."""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from lib.errors import FaceswapError

Item = TypeVar("Item")
_END = object()


class WriteBehind(Generic[Item]):
    """Calls write(item) on a thread for every item put, in order. `what` names the target in errors
    ("faces to work/faces"): an OSError becomes a one-line FaceswapError; other errors are re-raised as
    they are. After the first failure the remaining items are dropped."""

    def __init__(self, write: Callable[[Item], None], what: str, depth: int = 16) -> None:
        self._write = write
        self.what = what
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._work, name="write-behind", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while (item := self._queue.get()) is not _END:
            if self._failure:
                continue
            try:
                self._write(item)  # type: ignore[arg-type]
            except BaseException as err:  # noqa: BLE001 (re-raised on the caller's thread)
                self._failure.append(err)

    def _raise(self) -> None:
        err = self._failure[0]
        if isinstance(err, OSError):
            raise FaceswapError(f"cannot write {self.what}: {err.strerror or err}") from err
        raise err

    def put(self, item: Item) -> None:
        """Queue one item (waits while the queue is full); raises the first write error, if any."""
        if self._failure:
            self._finish()
            self._raise()
        self._queue.put(item)

    def _finish(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_END)
            self._thread.join()

    def close(self) -> None:
        """Write what is queued; raise the first write error, if any."""
        self._finish()
        if self._failure:
            self._raise()

    def abort(self) -> None:
        """Drop what is queued and stop the thread."""
        if self._thread.is_alive():
            while True:  # empty the queue so the thread sees the end at once
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
            self._queue.put(_END)
            self._thread.join(timeout=30)
