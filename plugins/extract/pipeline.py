"""Detector and aligner together: frames in, faces with 68 landmarks out. Used by extract, convert
(faces found on the fly) and the identity filters."""
from __future__ import annotations

from lib.types import DetectedFace, Frame
from plugins.extract.align import REGISTRY as ALIGNERS
from plugins.extract.align import AlignOptions
from plugins.extract.detect import REGISTRY as DETECTORS
from plugins.extract.detect import DetectOptions
from plugins.registry import load_plugin


class FaceFinder:
    """Finds faces in batches of frames. Loads the chosen plugins only (mtcnn never imports dlib's CNN)."""

    def __init__(self, detector: str = "mtcnn", detect_options: DetectOptions | None = None,
                 aligner: str = "dlib68", align_options: AlignOptions | None = None) -> None:
        self.detector = load_plugin(DETECTORS, "detector", detector)(detect_options or DetectOptions())
        self.aligner = load_plugin(ALIGNERS, "aligner", aligner)(align_options or AlignOptions())

    @property
    def batch_size(self) -> int:
        return int(self.detector.batch_size)

    def find(self, frames: list[Frame]) -> list[list[DetectedFace]]:
        """Faces of each frame, ordered left to right."""
        found = []
        for frame, detections in zip(frames, self.detector.detect(frames)):
            detections = sorted(detections, key=lambda d: (d.box.left, d.box.top))
            landmarks = self.aligner.align(frame, detections)
            found.append([DetectedFace(d.box, d.score, points) for d, points in zip(detections, landmarks)])
        return found
