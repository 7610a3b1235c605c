"""The parts of convert that are not the loop: reading frames, finding their faces (alignments file or on the
fly), picking the faces to swap, swapping them in batches, and writing on a thread."""
from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lib.errors import FaceswapError
from lib.image import UnreadableImage, read_image
from lib.types import Frame, Landmarks

if TYPE_CHECKING:
    from lib.alignments import Alignments
    from lib.media import FrameSource
    from plugins.convert.writer import OutputFrame
    from plugins.extract.pipeline import FaceFinder

log = logging.getLogger("faceswap.convert")
ALIGNED_SIZE = 256  # the aligned-face size the coverage crop is defined on (the contract with train)


@dataclass
class WorkFrame:
    """One input frame on its way through convert. status says why it was not swapped (None: it was)."""

    index: int
    name: str  # the alignments key
    out_name: str  # the output file's stem
    image: Frame | None
    source_file: Path | None
    in_range: bool = True
    faces: list[Landmarks] = field(default_factory=list)
    status: str | None = None
    problem: str | None = None


# --- input -------------------------------------------------------------------------------------------------

def parse_frame_ranges(values: list[str]) -> list[tuple[int, int]]:
    """'10-50' -> (10, 50), '7' -> (7, 7); both ends inclusive, frames counted from 0."""
    ranges = []
    for value in values:
        start, sep, end = value.partition("-")
        try:
            first, last = int(start), int(end) if sep else int(start)
        except ValueError:
            raise FaceswapError(f"--frame-ranges: '{value}' is not a range like 10-50 or a frame like 7") from None
        if first < 0 or last < first:
            raise FaceswapError(f"--frame-ranges: '{value}' must count up from 0 (like 10-50)")
        ranges.append((first, last))
    return ranges


def header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a PNG's or JPEG's header without decoding it; None for other kinds."""
    with open(path, "rb") as handle:
        head = handle.read(64 * 1024)
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24:
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    pos = 2
    while head[:2] == b"\xff\xd8" and pos + 9 < len(head):
        if head[pos] != 0xFF:
            return None
        marker, length = head[pos + 1], int.from_bytes(head[pos + 2:pos + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return int.from_bytes(head[pos + 7:pos + 9], "big"), int.from_bytes(head[pos + 5:pos + 7], "big")
        pos += 2 + length
    return None


def check_same_size(files: list[Path]) -> None:
    """A video needs frames of one size: name the first one that differs (headers only, so it is quick)."""
    first_size: tuple[int, int] | None = None
    for path in files:
        size = header_size(path)
        if size is None:
            try:
                image = read_image(path)
            except (UnreadableImage, OSError):
                continue
            size = (image.shape[1], image.shape[0])
        if first_size is None:
            first_size = size
        elif size != first_size:
            raise FaceswapError(f"frames of different sizes: {path.name} is {size[0]}x{size[1]}, {files[0].name} "
                                f"is {first_size[0]}x{first_size[1]}; a video needs one size (or write images)")


def work_frames(source: FrameSource, ranges: list[tuple[int, int]]) -> Iterator[WorkFrame]:
    """The input's frames as WorkFrames, in order, marked in or out of the frame ranges."""
    folder = source.path if source.path.is_dir() else source.path.parent
    for index, frame in enumerate(source):
        in_range = not ranges or any(first <= index <= last for first, last in ranges)
        if source.kind == "video":
            yield WorkFrame(index, frame.name, frame.name, frame.image, None, in_range)
        else:
            yield WorkFrame(index, frame.name, frame.stem, frame.image, folder / frame.name, in_range,
                            problem=frame.problem)


# --- faces -------------------------------------------------------------------------------------------------

class FaceLookup:
    """The faces of each frame from an alignments file, checked against the input's frames."""

    def __init__(self, alignments: Alignments, path: Path) -> None:
        self.alignments = alignments
        self.path = path

    def key(self, name: str) -> str | None:
        """The alignments key of a frame: its file name, or its stem when the file describes a video whose
        frames were split into files named like extract names them (`<video>_<index>`)."""
        frames = self.alignments.frames
        if name in frames:
            return name
        stem = Path(name).stem
        return stem if stem in frames else None

    def check_matches(self, names: list[str], what: str) -> None:
        """Refuse an alignments file that lists none of the input's frames."""
        if names and not any(self.key(name) is not None for name in names):
            example = next(iter(self.alignments.frames), "-")
            raise FaceswapError(f"{self.path} lists none of the frames of {what} (it was made from "
                                f"'{self.alignments.source}': frames like {example}, not {names[0]}): "
                                "pass the right -p, or none to find faces on the fly")

    def faces(self, frame: WorkFrame) -> list[Landmarks] | None:
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
                                "pass the right -p, or none to find faces on the fly")
        return [face.landmarks for face in entry.faces]


def with_faces(frames: Iterator[WorkFrame], lookup: FaceLookup | None, finder: FaceFinder | None,
               batch: int = 8) -> Iterator[WorkFrame]:
    """Fill in each frame's faces from the alignments file or, without one, by detecting them."""
    pending: list[WorkFrame] = []

    def detect() -> Iterator[WorkFrame]:
        ready = [f for f in pending if f.image is not None and f.in_range]
        if finder is not None and ready:
            for frame, found in zip(ready, finder.find([f.image for f in ready if f.image is not None])):
                frame.faces = [face.landmarks for face in found]
                frame.status = None if frame.faces else "no face"
        yield from pending
        pending.clear()

    for frame in frames:
        if frame.image is None or not frame.in_range:
            pass
        elif lookup is not None:
            faces = lookup.faces(frame)
            frame.faces = faces or []
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
    from lib.smoothing import LandmarkSmoother  # noqa: PLC0415

    smoother: LandmarkSmoother[WorkFrame] = LandmarkSmoother(sigma)
    for frame in frames:
        for ready, faces in smoother.push(frame, frame.faces):
            ready.faces = faces
            yield ready
    for ready, faces in smoother.flush():
        ready.faces = faces
        yield ready


class IdentitySelector:
    """Keeps only faces of the person in reference images (dlib face descriptor distance)."""

    def __init__(self, references: list[Path], threshold: float, detector: str) -> None:
        from lib.facefile import read_face_meta  # noqa: PLC0415
        from lib.identity import FaceDescriber  # noqa: PLC0415

        self.threshold = threshold
        self.describer = FaceDescriber()
        self.references = []
        finder: FaceFinder | None = None
        for path in references:
            try:
                image = read_image(path)
            except (UnreadableImage, OSError) as err:
                raise FaceswapError(f"reference {path} cannot be read: {err}") from None
            meta = read_face_meta(path) if path.suffix.lower() == ".png" else None
            if meta is not None:  # a face from extract: its landmarks are known
                landmarks = meta.landmarks_in_face * (image.shape[0] / meta.size)
            else:
                if finder is None:
                    from plugins.extract.pipeline import FaceFinder as Finder  # noqa: PLC0415

                    finder = Finder(detector)
                faces = finder.find([image])[0]
                if not faces:
                    raise FaceswapError(f"no face found in reference {path}: give a clear photo of the person")
                landmarks = max(faces, key=lambda face: face.box.width * face.box.height).landmarks
            self.references.append(self.describer.describe(image, landmarks))

    def keep(self, frame: WorkFrame) -> None:
        """Drop the frame's faces that are not the reference person."""
        from lib.identity import distances  # noqa: PLC0415

        assert frame.image is not None
        kept = [face for face in frame.faces
                if distances(self.describer.describe(frame.image, face), self.references).min() <= self.threshold]
        if frame.faces and not kept:
            frame.status = "not the --reference person"
        frame.faces = kept


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


# --- swapping ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SwapOptions:
    """How a swapped face goes back into its frame. erosion and blur are shares (%) of the model's crop size:
    erosion > 0 shrinks the mask, < 0 grows it; blur feathers its edge. sharpen: unsharp-mask amount."""

    direction: str = "a2b"
    mask: str = "hull"
    color: str = "avg-color"
    blend: str = "gaussian"
    erosion: float = 0.0
    blur: float = 5.0
    sharpen: float = 0.0
    batch_size: int = 16


def crop_face(frame: Frame, matrix: np.ndarray, size: int) -> np.ndarray:
    """The model's input crop of a face: warped like extract, and when the face is 2x or more larger than
    the crop, warped at a whole multiple first and shrunk with INTER_AREA, free of aliasing like the crops
    train saw (lib/training/feed.py shrinks its faces the same way). BGR uint8 (size, size, 3)."""
    import cv2  # noqa: PLC0415

    from lib.align import compose, warp_face  # noqa: PLC0415

    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    factor = min(8, int(1 / scale)) if scale > 0 else 1
    if factor < 2:
        return warp_face(frame, matrix, size)
    # Output pixel j averages big pixels f*j .. f*j + f - 1, whose centre is f*j + (f - 1) / 2.
    upscale = np.array([[factor, 0.0, (factor - 1) / 2], [0.0, factor, (factor - 1) / 2]])
    big = warp_face(frame, compose(upscale, matrix), size * factor)
    return np.asarray(cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA), np.uint8)


class FaceSwapper:
    """Crops every face of a group of frames, swaps them in one model call, and pastes them back."""

    def __init__(self, swapper: Any, options: SwapOptions) -> None:
        from lib.blend import BLENDS  # noqa: PLC0415
        from plugins.convert.color import REGISTRY as COLORS  # noqa: PLC0415
        from plugins.convert.mask import REGISTRY as MASKS  # noqa: PLC0415
        from plugins.registry import load_plugin  # noqa: PLC0415

        self.swapper = swapper
        self.options = options
        self.size = int(swapper.input_size)
        self.coverage = float(swapper.coverage)
        self.mask = load_plugin(MASKS, "mask", options.mask)()
        if self.mask.needs_learned and not swapper.has_mask:
            raise FaceswapError("--mask learned needs a model trained with --learn-mask: choose --mask hull")
        self.color = load_plugin(COLORS, "colour adjustment", options.color)()
        self.blend = BLENDS[options.blend]
        self.erosion = options.erosion / 100 * self.size
        self.blur = options.blur / 100 * self.size
        self.timings = {"model": 0.0, "crop": 0.0, "paste": 0.0}

    def matrix(self, landmarks: Landmarks) -> np.ndarray:
        """Frame pixels -> pixels of the model's input crop (the same crop train sees)."""
        from lib.align import align_matrix, coverage_matrix  # noqa: PLC0415

        return coverage_matrix(align_matrix(landmarks, ALIGNED_SIZE), ALIGNED_SIZE, self.coverage, self.size)

    def _swap(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The model on batches of exactly batch_size faces (the last padded with black): one input shape,
        so the compiled model is traced once, not once per group size."""
        size = self.options.batch_size
        faces, masks = [], []
        for start in range(0, len(crops), size):
            batch = crops[start:start + size]
            count = len(batch)
            if count < size:
                batch = np.concatenate([batch, np.zeros((size - count, *batch.shape[1:]), np.uint8)])
            swapped, learned = self.swapper.swap(batch, self.options.direction)
            faces.append(swapped[:count])
            if learned is not None:
                masks.append(learned[:count])
        return np.concatenate(faces), np.concatenate(masks) if masks else None

    def convert(self, frames: list[WorkFrame]) -> int:
        """Swap every face of the frames in place (frame.image is replaced); returns the faces swapped."""
        import time  # noqa: PLC0415

        from lib.align import paste_face, transform_points  # noqa: PLC0415
        from lib.blend import erode_mask, feather_mask, sharpen  # noqa: PLC0415

        start = time.perf_counter()
        jobs = [(frame, frame.image, landmarks, self.matrix(landmarks))
                for frame in frames if frame.image is not None for landmarks in frame.faces]
        if not jobs:
            return 0
        crops = np.stack([crop_face(image, matrix, self.size) for _, image, _, matrix in jobs])
        after_crop = time.perf_counter()
        swapped, learned = self._swap(crops)
        after_model = time.perf_counter()
        for index, (frame, _, landmarks, matrix) in enumerate(jobs):
            assert frame.image is not None  # the swapped frame so far: the next face goes on top of it
            points = transform_points(matrix, landmarks)
            mask = self.mask.make(points, self.size, None if learned is None else learned[index])
            mask = erode_mask(mask, self.erosion)
            face = self.color.adjust(np.asarray(swapped[index], np.uint8), crops[index], mask)
            face = sharpen(face, self.options.sharpen)
            frame.image = paste_face(frame.image, face, feather_mask(mask, self.blur), matrix, self.blend)
        self.timings["crop"] += after_crop - start
        self.timings["model"] += after_model - after_crop
        self.timings["paste"] += time.perf_counter() - after_model
        return len(jobs)


# --- writing -----------------------------------------------------------------------------------------------

class WriterThread:
    """Runs a writer plugin on a thread so that encoding overlaps the model; errors surface on put/close."""

    def __init__(self, writer: Any, depth: int = 16) -> None:
        self.writer = writer
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._work, name="frame-writer", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._failure:
                continue
            try:
                self.writer.write(item)
            except BaseException as err:  # noqa: BLE001 (re-raised on the main thread)
                self._failure.append(err)

    def _raise(self) -> None:
        err = self._failure[0]
        if isinstance(err, OSError):
            raise FaceswapError(f"cannot write the output: {err.strerror or err}") from err
        raise err

    def put(self, frame: OutputFrame) -> None:
        if self._failure:
            self._raise()
        self._queue.put(frame)

    def close(self) -> None:
        """Write what is queued and finish the output (the video file appears only now)."""
        self._queue.put(None)
        self._thread.join()
        if self._failure:
            self.writer.abort()
            self._raise()
        self.writer.close()

    def abort(self) -> None:
        """Stop and remove what is half written."""
        if self._thread.is_alive():
            while True:  # drop what is queued so the thread sees the end at once
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
            self._queue.put(None)
            self._thread.join(timeout=30)
        self.writer.abort()

