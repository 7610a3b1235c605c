"""Frames on their way to a swap, for convert and evaluate alike: read ahead, their faces taken from the
alignments file (checked against the input) or found on the fly, smoothed over time, only the people to swap
kept, grouped for the model.

Faces found on the fly come from a lib.types.FaceFinder the caller builds (plugins.extract.pipeline's).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lib.align import transform_points, umeyama
from lib.alignments import Alignments, load_alignments
from lib.errors import FaceswapError
from lib.identity import IdentityFilter
from lib.media import FrameSource, default_alignments_path
from lib.readahead import read_ahead
from lib.smoothing import LandmarkSmoother
from lib.types import DetectedFace, FaceFinder, Frame, Landmarks, MeshXY

NOT_PEOPLE = "not the --reference person"  # why a frame with faces was written unchanged
VIDEO_SMOOTHING = 1.0  # landmark smoothing (Gaussian sigma, frames) by default for a video; frames: off


@dataclass
class WorkFrame:
    """One input frame on its way through convert or evaluate. status says why it was not swapped (None: it
    was, or will be); problem why it could not be read (image None)."""

    index: int
    name: str  # the alignments key
    out_name: str  # the output file's stem
    image: Frame | None
    source_file: Path | None
    in_range: bool = True
    faces: list[Landmarks] = field(default_factory=list)
    meshes: list[MeshXY | None] = field(default_factory=list)  # each face's mesh, when it was found with one
    status: str | None = None
    problem: str | None = None
    unfollowed: int = 0  # of its swapped faces, those convert's --follow left as the model drew them


def default_smoothing(source: FrameSource) -> float:
    """The landmark smoothing a source gets when none is asked for: a video's frames follow each other."""
    return VIDEO_SMOOTHING if source.kind == "video" else 0.0


def work_frames(source: FrameSource, ranges: list[tuple[int, int]]) -> Iterator[WorkFrame]:
    """The input's frames as WorkFrames, in order, marked in or out of the (inclusive) frame ranges."""
    folder = source.path if source.path.is_dir() else source.path.parent
    for index, frame in enumerate(source, start=source.span[0] if source.span else 0):
        in_range = not ranges or any(first <= index <= last for first, last in ranges)
        if source.kind == "video":
            yield WorkFrame(index, frame.name, frame.name, frame.image, None, in_range)
        else:
            yield WorkFrame(index, frame.name, frame.stem, frame.image, folder / frame.name, in_range,
                            problem=frame.problem)


class FaceLookup:
    """The faces of each frame from an alignments file, checked against the input's frames."""

    def __init__(self, alignments: Alignments, path: Path) -> None:
        self.alignments = alignments
        self.path = path

    def key(self, name: str) -> str | None:
        """The alignments key of a frame: its file name, or its stem when the file describes a video whose
        frames were split into files named as extract names a video's frames (`<video>_<index>`)."""
        frames = self.alignments.frames
        if name in frames:
            return name
        stem = Path(name).stem
        return stem if stem in frames else None

    def check_matches(self, source: FrameSource) -> None:
        """Refuse an alignments file that lists none of the input's frames, or frames of another size."""
        names = source.frame_names()
        if names and not any(self.key(name) is not None for name in names):
            example = next(iter(self.alignments.frames), "-")
            raise FaceswapError(f"{self.path} lists none of the frames of {source.path.name} (it was made from "
                                f"'{self.alignments.source}': frames like {example}, not {names[0]}): "
                                "give the right alignments file, or none to find faces on the fly")
        size = source.frame_size
        first = next(iter(self.alignments.frames.items()), None)
        if size is not None and first is not None and first[1].shape != (size[1], size[0]):
            name, entry = first
            raise FaceswapError(f"{self.path.name} says frame {name} is {entry.shape[1]}x{entry.shape[0]} but "
                                f"{source.path.name} is {size[0]}x{size[1]}: the alignments were made from "
                                "another video; give the right alignments file")

    def faces(self, frame: WorkFrame) -> list[DetectedFace] | None:
        """The frame's faces, or None when the file does not list the frame; a size mismatch is an error."""
        key = self.key(frame.name)
        if key is None:
            return None
        entry = self.alignments.frames[key]
        assert frame.image is not None
        height, width = frame.image.shape[:2]
        if entry.shape != (height, width):
            raise FaceswapError(f"frame {frame.name} is {width}x{height} but {self.path.name} says "
                                f"{entry.shape[1]}x{entry.shape[0]}: the alignments were made from other frames; "
                                "give the right alignments file, or none to find faces on the fly")
        return entry.faces


def open_lookup(source: FrameSource, alignments: Path | None) -> FaceLookup | None:
    """The alignments file of an input (the given one, else where extract puts it), checked against the
    input's frames; None when none was given and there is none (faces must then be found on the fly)."""
    path = alignments or default_alignments_path(source.path)
    if alignments is None and not path.is_file():
        return None
    lookup = FaceLookup(load_alignments(path, lazy=True), path)  # a frame's faces read when it comes
    lookup.check_matches(source)
    return lookup


def _take(frame: WorkFrame, found: list[DetectedFace]) -> None:
    frame.faces = [face.landmarks for face in found]
    frame.meshes = [None if face.mesh is None else face.mesh.points[:, :2] for face in found]


def with_faces(frames: Iterator[WorkFrame], lookup: FaceLookup | None,
               finder: FaceFinder | None) -> Iterator[WorkFrame]:
    """Fill in each frame's faces from the alignments file or, without one, by detecting them in batches."""
    pending: list[WorkFrame] = []
    batch = finder.batch_size if finder is not None else 1

    def detect() -> Iterator[WorkFrame]:
        ready = [f for f in pending if f.image is not None and f.in_range]
        if finder is not None and ready:
            for frame, found in zip(ready, finder.find([f.image for f in ready if f.image is not None])):
                _take(frame, found)
                frame.status = None if frame.faces else "no face"
        yield from pending
        pending.clear()

    for frame in frames:
        if frame.image is not None and frame.in_range and lookup is not None:
            faces = lookup.faces(frame)
            _take(frame, faces or [])
            frame.status = "not in the alignments" if faces is None else None if faces else "no face"
        if finder is None:
            yield frame
            continue
        pending.append(frame)
        if len(pending) >= batch:
            yield from detect()
    yield from detect()


def smoothed(frames: Iterator[WorkFrame], sigma: float) -> Iterator[WorkFrame]:
    """Replace each frame's landmarks by their Gaussian mean over the same face in nearby frames."""
    smoother: LandmarkSmoother[WorkFrame] = LandmarkSmoother(sigma)
    for frame in frames:
        for ready, faces in smoother.push(frame, frame.faces):
            _smooth(ready, faces)
            yield ready
    for ready, faces in smoother.flush():
        _smooth(ready, faces)
        yield ready


def _smooth(frame: WorkFrame, faces: list[Landmarks]) -> None:
    """Give the frame its smoothed landmarks; each mesh moves with its face's landmarks (the similarity between
    the landmarks as found and as smoothed), so a mask drawn from it stays on the face the crop holds."""
    frame.meshes = [None if mesh is None else transform_points(umeyama(raw, moved), mesh)
                    for mesh, raw, moved in zip(frame.meshes, frame.faces, faces)]
    frame.faces = faces


def frames_with_faces(source: FrameSource, ranges: list[tuple[int, int]], lookup: FaceLookup | None,
                      finder: FaceFinder | None, sigma: float, *,
                      people: IdentityFilter | None = None) -> Iterator[WorkFrame]:
    """Every frame of the source in order (decoded on a reader thread) with its faces, smoothed when sigma > 0,
    then (people) only the faces of the people to swap (convert --reference)."""
    frames = with_faces(read_ahead(work_frames(source, ranges)), lookup, finder)
    frames = smoothed(frames, sigma) if sigma > 0 else frames
    return frames if people is None else (keep_people(frame, people) for frame in frames)


def keep_people(frame: WorkFrame, people: IdentityFilter) -> WorkFrame:
    """The frame with only the faces the filter keeps (their meshes alike); status NOT_PEOPLE when it had faces
    to swap and none is kept. Frames outside the ranges or unread are left alone."""
    if frame.image is None or not frame.in_range or not frame.faces:
        return frame
    kept = [index for index, face in enumerate(frame.faces)
            if people.verdict(frame.image, face) is IdentityFilter.KEPT]
    if not kept:
        frame.status = NOT_PEOPLE
    frame.faces = [frame.faces[index] for index in kept]
    frame.meshes = [frame.meshes[index] for index in kept]
    return frame


def chunks(frames: Iterator[WorkFrame], faces: int, max_frames: int = 32) -> Iterator[list[WorkFrame]]:
    """Group frames so that each group holds about `faces` faces for one model call."""
    group: list[WorkFrame] = []
    count = 0
    for frame in frames:
        group.append(frame)
        count += len(frame.faces)
        if count >= faces or len(group) >= max_frames:
            yield group
            group, count = [], 0
    if group:
        yield group
