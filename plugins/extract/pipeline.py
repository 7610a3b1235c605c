"""Detector and aligner together: frames in, faces with 68 landmarks (and, from the mediapipe aligner, the
478-point mesh) out, faces on their side found by turning the frame. Used by extract, convert (faces found on the
fly) and the identity filters."""
from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from lib.types import DetectedFace, Detection, Frame
from plugins.extract.align import DEFAULT_ALIGNER, AlignOptions
from plugins.extract.align import REGISTRY as ALIGNERS
from plugins.extract.detect import DEFAULT_DETECTOR, DetectOptions
from plugins.extract.detect import REGISTRY as DETECTORS
from plugins.extract.rotate import ROLLED, SEARCH, SNAP, roll, turn, turned_back
from plugins.registry import load_plugin

SAME_FACE = 0.3  # boxes overlapping by this IoU are one face found twice (upright and in a turned frame)
# Frames per call at least, so that the detector can work on the next frame while the aligner works on this one.
OVERLAPPED = 4


class FaceFinder:
    """Finds faces in batches of frames. Loads the chosen plugins only (mtcnn never imports dlib's CNN)."""

    def __init__(self, detector: str = DEFAULT_DETECTOR, detect_options: DetectOptions | None = None,
                 aligner: str = DEFAULT_ALIGNER, align_options: AlignOptions | None = None) -> None:
        self.detector = load_plugin(DETECTORS, "detector", detector)(detect_options or DetectOptions())
        self.aligner = load_plugin(ALIGNERS, "aligner", aligner)(align_options or AlignOptions())
        self._detecting = threading.Lock()  # one detector call at a time: dlib's networks are not thread-safe

    @property
    def batch_size(self) -> int:
        return max(int(self.detector.batch_size), OVERLAPPED)

    def find(self, frames: list[Frame]) -> list[list[DetectedFace]]:
        """Faces of each frame, ordered left to right. The detector runs on a thread of its own, a detector batch
        ahead of the aligner (both spend their time in native code, outside the GIL): on two cores detecting and
        aligning overlap."""
        step = int(self.detector.batch_size)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="detector") as worker:
            batches: list[Future[list[list[Detection]]]] = [
                worker.submit(self._detect, frames[start:start + step]) for start in range(0, len(frames), step)]
            found = []
            for start, batch in zip(range(0, len(frames), step), batches):
                for frame, detections in zip(frames[start:start + step], batch.result()):
                    found.append(self._faces(frame, detections))
        return found

    def _detect(self, frames: list[Frame]) -> list[list[Detection]]:
        with self._detecting:
            detections: list[list[Detection]] = self.detector.detect(frames)
        return detections

    def _faces(self, frame: Frame, detections: list[Detection]) -> list[DetectedFace]:
        """The faces of one frame from its detections: aligned, searched for turned faces, left to right."""
        faces = self.aligner.faces(frame, detections)
        if self.detector.options.rotate:
            faces = self._upright(frame, detections, faces)
            for quarter in SEARCH if not faces else ():
                faces = self._in_turned(frame, quarter, settle=True)
                if faces:
                    break
        return sorted(faces, key=lambda face: (face.box.left, face.box.top))

    def _upright(self, frame: Frame, detections: list[Detection], faces: list[DetectedFace]) -> list[DetectedFace]:
        """Faces rolled past ROLLED send the frame through once more, turned upright for them; what that pass finds
        replaces what the first found of the same faces. The roll is read from the landmarks and the detector's
        keypoints together: RetinaFace's keypoints understate a roll of 45 degrees by 10 to 20, and dlib's 68-point
        predictor, given an upright box, understates it more."""
        rolls = [roll(face.landmarks) for face in faces]
        rolls += [roll(d.keypoints) for d in detections if d.keypoints is not None]
        leaning = [value for value in rolls if abs(value) > ROLLED]
        if not faces or not leaning:
            return faces
        degrees = float(np.median(leaning))
        quarters = round(degrees / 90)
        if abs(degrees - 90 * quarters) < SNAP:
            degrees = 90.0 * quarters
        again = self._in_turned(frame, degrees, settle=False)
        kept = [face for face in faces if all(face.box.iou(other.box) < SAME_FACE for other in again)]
        return kept + again

    def _in_turned(self, frame: Frame, degrees: float, *, settle: bool) -> list[DetectedFace]:
        """Faces found in the frame turned by degrees, in the frame's own pixels; with settle, those found rolled
        there are looked for once more (_upright), as a turn of the search can leave a face upside down."""
        turned, matrix = turn(frame, degrees)
        detections = self._detect([turned])[0]
        faces = self.aligner.faces(turned, detections)
        if settle:
            faces = self._upright(turned, detections, faces)
        return [turned_back(face, matrix, frame.shape) for face in faces]
