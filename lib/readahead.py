"""A reader thread: frames are decoded (or any iterator is run) ahead of the work that consumes them."""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

_END = object()


def read_ahead(items: Iterator[Any], depth: int = 8) -> Iterator[Any]:
    """Run an iterator on a thread, depth items ahead (decoding overlaps detection or the model); its
    errors are re-raised to the consumer, and leaving the loop early stops the thread."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    failure: list[BaseException] = []
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    break
        except BaseException as err:  # noqa: BLE001 (handed to the consumer, which re-raises it)
            failure.append(err)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator's own clean-up (the ffmpeg decoder) runs now, not at collection
            put(_END)

    thread = threading.Thread(target=produce, name="frame-reader", daemon=True)
    thread.start()
    try:
        while (item := buffer.get()) is not _END:
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
    if failure:
        raise failure[0]
