"""`tools alignments`: rebuild an alignments file from face PNGs, drop the faces whose PNGs were deleted, list
the frames without a face, merge two files, draw the faces on their frames, and cut the faces out again."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from lib.alignments import Alignments, FrameEntry, load_alignments
from lib.errors import FaceswapError
from lib.facefile import FaceMeta, face_paths, frames_from_faces, read_face_meta, save_faces
from lib.fileio import write_bytes_atomic
from lib.image import write_png
from lib.media import FrameSource, SourceFrame
from lib.types import DetectedFace, Frame
from lib.video import is_video_path
from scripts.progress import progress as show_progress

log = logging.getLogger("faceswap.tools")


def _save(alignments: Alignments, path: Path, *, backup: bool) -> None:
    """Write atomically; with backup, the file it replaces is kept as <name>.bak first."""
    if backup and path.is_file():
        write_bytes_atomic(path.with_name(path.name + ".bak"), path.read_bytes())
    try:
        alignments.save(path)
    except OSError as err:
        raise FaceswapError(f"cannot write the alignments file {path}: {err.strerror or err}") from err


def rebuild(faces: Path, target: Path, overwrite: bool = False) -> int:
    """Write an alignments file from the metadata of the face PNGs in a folder; returns the face count."""
    if not faces.is_dir():
        raise FaceswapError(f"faces folder not found: {faces}")
    if target.exists() and not overwrite:
        raise FaceswapError(f"{target} exists: pass --overwrite to replace it")
    metas, unread = _metas(sorted(faces.glob("*.png")))
    if not metas:
        raise FaceswapError(f"no face PNGs with faceswap metadata in {faces}: were they made by extract?")
    sources = sorted({meta.source for meta in metas})
    if len(sources) > 1:
        raise FaceswapError(f"{faces} holds faces of {len(sources)} sources ({', '.join(sources[:3])}...): "
                            "an alignments file describes one; move them apart first")
    kind = "video" if is_video_path(Path(sources[0])) else "images"
    alignments = Alignments(sources[0], kind, frames_from_faces(metas))
    _save(alignments, target, backup=False)
    log.info("rebuilt %s: %d frames with %d faces (frames without faces are not known from face files)",
             target, len(alignments.frames), alignments.face_count)
    if unread:
        log.warning("%d face PNGs without readable extract metadata were left out (%s)", len(unread),
                    ", ".join(path.name for path in unread[:5]) + (", ..." if len(unread) > 5 else ""))
    return alignments.face_count


def _metas(paths: list[Path]) -> tuple[list[FaceMeta], list[Path]]:
    """The face metadata of each file that has readable metadata, and the files that do not (each warned of)."""
    metas, unread = [], []
    for path in paths:
        meta = read_face_meta(path)
        if meta is None:
            log.warning("skipped %s: no readable extract metadata", path.name)
            unread.append(path)
        else:
            metas.append(meta)
    return metas, unread


def _same_face(a: DetectedFace, b: DetectedFace) -> bool:
    return a.box == b.box and bool(np.allclose(a.landmarks, b.landmarks, atol=0.011))


def remove_deleted(faces: Path, path: Path) -> int:
    """Drop from the alignments file the faces whose PNGs are no longer in the faces folder (deleted by hand);
    the file it replaces is kept as .bak. Returns how many faces were dropped."""
    alignments = load_alignments(path)
    metas, _ = _metas(face_paths(faces))
    if not metas:
        raise FaceswapError(f"no face PNG in {faces} carries extract's metadata: give -f the folder of faces that "
                            f"extract wrote with {path}")
    kept = [meta for meta in metas if meta.source == alignments.source]
    if not kept:
        others = sorted({meta.source for meta in metas})[:3]
        raise FaceswapError(f"none of the faces in {faces} comes from {alignments.source} (the source of {path}; "
                            f"they come from {', '.join(others)}): give the right -f and -p")
    present: dict[str, list[DetectedFace]] = {}
    for meta in kept:
        present.setdefault(meta.frame, []).append(meta.face)
    dropped = 0
    for name, entry in alignments.frames.items():
        here = present.get(name, [])
        remaining = [face for face in entry.faces if any(_same_face(face, other) for other in here)]
        dropped += len(entry.faces) - len(remaining)
        entry.faces[:] = remaining
    _save(alignments, path, backup=True)
    log.info("dropped %d faces whose PNGs are gone; %s now lists %d faces (the old file: %s.bak)", dropped, path,
             alignments.face_count, path.name)
    return dropped


def missing(path: Path, source: Path | None) -> list[str]:
    """The frames with no face: listed without faces in the file, or (with the input) not listed at all."""
    alignments = load_alignments(path)
    names = [name for name, entry in alignments.frames.items() if not entry.faces]
    order: dict[str, int] = {}
    if source is not None:
        frames = FrameSource(source)
        _check_source(alignments, frames, path)
        order = {name: index for index, name in enumerate(frames.frame_names())}
        names += [name for name in order if name not in alignments.frames]
    return sorted(set(names), key=lambda name: (order.get(name, 0), name))


def _check_source(alignments: Alignments, frames: FrameSource, path: Path) -> None:
    if not set(frames.frame_names()) & set(alignments.frames):
        raise FaceswapError(f"{path} lists none of the frames of {frames.path.name} (it was made from "
                            f"{alignments.source}): give the right -i or -p")


def merge(paths: list[Path], target: Path, overwrite: bool = False) -> Alignments:
    """One alignments file from several of the same source: every frame of each, and in a frame listed by more
    than one, every face once (faces with the same box are the same face)."""
    if target.exists() and not overwrite:
        raise FaceswapError(f"{target} exists: pass --overwrite to replace it")
    files = [load_alignments(path) for path in paths]
    sources = {alignments.source for alignments in files}
    if len(sources) > 1:
        raise FaceswapError(f"the alignments files describe different sources ({', '.join(sorted(sources))}): "
                            "merge files of one video or folder only")
    merged = Alignments(files[0].source, files[0].kind)
    for alignments in files:
        for name, entry in alignments.frames.items():
            mine = merged.frames.setdefault(name, FrameEntry(entry.index, entry.shape, []))
            if mine.shape != entry.shape:
                raise FaceswapError(f"frame {name} is {entry.shape[1]}x{entry.shape[0]} in one file and "
                                    f"{mine.shape[1]}x{mine.shape[0]} in another: they describe different frames")
            mine.faces += [face for face in entry.faces if not any(face.box == other.box for other in mine.faces)]
    _save(merged, target, backup=False)
    log.info("merged %d files into %s: %d frames, %d faces", len(paths), target, len(merged.frames),
             merged.face_count)
    return merged


def _frames_with_entries(source: Path, path: Path) -> tuple[FrameSource, Alignments]:
    alignments = load_alignments(path)
    frames = FrameSource(source)
    _check_source(alignments, frames, path)
    return frames, alignments


def _frames_with_faces(frames: FrameSource, alignments: Alignments, path: Path,
                       what: str) -> Iterator[tuple[SourceFrame, Frame, FrameEntry]]:
    """The frames the alignments file lists faces for, with their entries (checked to be of the frame's size),
    with a progress bar."""
    bar = show_progress(frames.total, what, "frame")
    for frame in frames:
        bar.update(1)
        entry = alignments.frames.get(frame.name)
        if frame.image is None or entry is None or not entry.faces:
            continue
        if entry.shape != frame.image.shape[:2]:
            raise FaceswapError(f"frame {frame.name} is {frame.image.shape[1]}x{frame.image.shape[0]} but "
                                f"{path.name} says {entry.shape[1]}x{entry.shape[0]}: give the frames the file "
                                "was made from")
        yield frame, frame.image, entry
    bar.close()


def draw(source: Path, path: Path, folder: Path) -> int:
    """Every frame that has faces, with each face's box and 68 landmarks drawn, as PNGs in folder."""
    frames, alignments = _frames_with_entries(source, path)
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for frame, original, entry in _frames_with_faces(frames, alignments, path, "draw"):
        image = original.copy()
        for number, face in enumerate(entry.faces):
            cv2.rectangle(image, (face.box.left, face.box.top), (face.box.right, face.box.bottom), (0, 255, 0), 1)
            for x, y in face.landmarks:
                cv2.circle(image, (int(round(x)), int(round(y))), 1, (0, 0, 255), -1)
            cv2.putText(image, str(number), (face.box.left, max(12, face.box.top - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.45, (0, 255, 0), 1, cv2.LINE_AA)
        write_png(folder / f"{frame.name if frames.kind == 'video' else frame.stem}.png", image)
        written += 1
    log.info("drew the faces of %d frames into %s", written, folder)
    return written


def extract(source: Path, path: Path, folder: Path, size: int) -> int:
    """Cut every face the alignments file lists out of its frame again, at this size, without detecting."""
    frames, alignments = _frames_with_entries(source, path)
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for frame, _, entry in _frames_with_faces(frames, alignments, path, "extract"):
        save_faces(folder, alignments.source, frame, entry.faces, size)
        written += len(entry.faces)
    log.info("cut %d faces at %d px into %s", written, size, folder)
    return written
