"""The parts of extract that are not the loop: identity and size filters, the face writer thread,
and recovering finished frames from face files for --skip-existing."""
from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from pathlib import Path

from lib.align import align_matrix, warp_face
from lib.alignments import FrameEntry
from lib.errors import FaceswapError
from lib.facefile import FaceMeta, face_filename, read_face_meta
from lib.image import UnreadableImage, read_image, write_png
from lib.media import SourceFrame
from lib.types import Descriptor, DetectedFace, Frame
from plugins.extract.pipeline import FaceFinder

log = logging.getLogger("faceswap.extract")


class FaceFilter:
    """Keeps faces by size and by identity (dlib descriptors against reference photos)."""

    def __init__(self, finder: FaceFinder, keep: list[Path], drop: list[Path], threshold: float,
                 min_size: int) -> None:
        self.min_size = min_size
        self.threshold = threshold
        self._describer = None
        self.keep_refs: list[Descriptor] = []
        self.drop_refs: list[Descriptor] = []
        if keep or drop:
            from lib.identity import FaceDescriber  # noqa: PLC0415

            self._describer = FaceDescriber()
            self.keep_refs = [self._reference(finder, path) for path in keep]
            self.drop_refs = [self._reference(finder, path) for path in drop]

    def _reference(self, finder: FaceFinder, path: Path) -> Descriptor:
        try:
            frame = read_image(path)
        except (UnreadableImage, OSError) as err:
            raise FaceswapError(f"filter reference {path} cannot be read: {err}") from None
        faces = finder.find([frame])[0]
        if not faces:
            raise FaceswapError(f"no face found in filter reference {path}: give a clear photo of the person")
        largest = max(faces, key=lambda face: face.box.width * face.box.height)
        assert self._describer is not None
        return self._describer.describe(frame, largest.landmarks)

    def keep(self, frame: Frame, faces: list[DetectedFace], dropped: Counter) -> list[DetectedFace]:
        """The faces that pass; counts the others in dropped by reason."""
        from lib.identity import distances  # noqa: PLC0415

        kept = []
        for face in faces:
            if max(face.box.width, face.box.height) < self.min_size:
                dropped["smaller than --min-size"] += 1
                continue
            if self._describer is not None:
                descriptor = self._describer.describe(frame, face.landmarks)
                if self.keep_refs and distances(descriptor, self.keep_refs).min() > self.threshold:
                    dropped["not the --filter person"] += 1
                    continue
                if self.drop_refs and distances(descriptor, self.drop_refs).min() <= self.threshold:
                    dropped["an --nfilter person"] += 1
                    continue
            kept.append(face)
        return kept


class FaceWriter:
    """Warps and writes aligned face PNGs on a thread, so PNG encoding overlaps detection."""

    def __init__(self, folder: Path, size: int, source_name: str) -> None:
        self.folder = folder
        self.size = size
        self.source_name = source_name
        self._queue: queue.Queue = queue.Queue(maxsize=32)
        self._failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._work, name="face-writer", daemon=True)
        self._thread.start()

    def put(self, frame: SourceFrame, faces: list[DetectedFace]) -> None:
        if self._failure:
            self.close()
        if faces:
            self._queue.put((frame, faces))

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._failure:
                continue
            try:
                self._write(*item)
            except BaseException as err:  # noqa: BLE001 (re-raised on the main thread by close)
                self._failure.append(err)

    def _write(self, frame: SourceFrame, faces: list[DetectedFace]) -> None:
        assert frame.image is not None
        for face_index, face in enumerate(faces):
            matrix = align_matrix(face.landmarks, self.size)
            meta = FaceMeta(self.source_name, frame.name, frame.index, face_index,
                            (frame.image.shape[0], frame.image.shape[1]), face, matrix, self.size)
            write_png(self.folder / face_filename(frame.stem, frame.index, face_index),
                      warp_face(frame.image, matrix, self.size), meta.to_json(),
                      compression=1)  # a third less CPU than level 3, files 5% bigger

    def close(self) -> None:
        """Finish the queued faces; re-raise the first write error as a FaceswapError."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._failure:
            err = self._failure[0]
            if isinstance(err, OSError):
                raise FaceswapError(f"cannot write faces to {self.folder}: {err.strerror or err}") from err
            raise err


def recover_from_faces(folder: Path, source_name: str, known: dict[str, FrameEntry]) -> dict[str, FrameEntry]:
    """Frames of this source that have face files in folder but are not in known (an interrupted run)."""
    found: dict[str, FrameEntry] = {}
    for path in sorted(folder.glob("*.png")):
        meta = read_face_meta(path)
        if meta is None or meta.source != source_name or meta.frame in known:
            continue
        entry = found.setdefault(meta.frame, FrameEntry(meta.frame_index, meta.frame_shape, []))
        entry.faces.append(meta.face)
    return found
