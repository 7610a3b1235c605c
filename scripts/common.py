"""What several commands do the same way: find a frame source's faces (alignments file or detector), treat
SIGTERM like Ctrl-C, check that an output can be created."""
from __future__ import annotations

import logging
import os
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lib.errors import FaceswapError
from lib.frames import FaceLookup, open_lookup
from lib.media import FrameSource, default_alignments_path
from plugins.extract.pipeline import FaceFinder

log = logging.getLogger("faceswap")


def face_source(source: FrameSource, alignments: Path | None,
                detector: str) -> tuple[FaceLookup | None, FaceFinder | None]:
    """The frames' faces: from the alignments file (-p, else where extract put it), or a detector when there
    is none."""
    lookup = open_lookup(source, alignments)
    if lookup is not None:
        return lookup, None
    log.info("no alignments file at %s: finding faces on the fly with %s (slower; run extract first to find "
             "them once)", default_alignments_path(source.path), detector)
    return None, FaceFinder(detector)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C inside the block, so that a killed run also cleans up what it half wrote."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def input_lines(skipped: Counter[str], what: str, problem: str | None) -> list[str]:
    """The closing summary's lines about the input: what was skipped and why, how a video ended badly."""
    lines = [f"{what} skipped ({reason}): {count}" for reason, count in sorted(skipped.items())]
    return lines + ([f"video: {problem}"] if problem else [])


def check_can_create(path: Path, what: str) -> None:
    """Fail now, not after the whole run, when path cannot be made: a file in the way, a read-only folder."""
    folder = next((parent for parent in (path, *path.parents) if parent.exists()), Path("."))
    if folder == path and not path.is_dir():
        folder = path.parent  # an existing file is replaced through a temporary file beside it
    if not folder.is_dir():
        raise FaceswapError(f"cannot write {what} {path}: {folder} is a file")
    if not os.access(folder, os.W_OK):
        raise FaceswapError(f"cannot write {what} {path}: {folder} is read-only")
