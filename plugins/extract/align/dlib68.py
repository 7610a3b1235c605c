"""dlib's 68-point shape predictor (Kazemi and Sullivan 2014; iBUG 300-W points)."""
from __future__ import annotations

import dlib
import numpy as np

from lib.align import predictor_box
from lib.types import Box, DetectedFace, Detection, Frame, Landmarks
from lib.weights import LANDMARKS_68, dlib_model
from plugins.extract.align import AlignOptions

JITTER = 0.05  # refeed boxes move and scale by up to this share of the box


class Dlib68Aligner:
    """Finds 68 landmarks per detection.

    The predictor is sensitive to where its box sits, and each detector draws boxes differently
    (MTCNN's include the forehead). So the box is first placed from the detector's keypoints when it has
    them, the predictor runs, and a second pass re-places the box from those landmarks. Every detector
    thus feeds the predictor the box it was trained on.
    """

    def __init__(self, options: AlignOptions) -> None:
        self.options = options
        self._predictor = dlib.shape_predictor(str(dlib_model(LANDMARKS_68)))

    def faces(self, frame: Frame, detections: list[Detection]) -> list[DetectedFace]:
        """Each detection of a BGR frame with its 68 landmarks."""
        landmarks = self.align(frame, detections)
        return [DetectedFace(d.box, d.score, points) for d, points in zip(detections, landmarks)]

    def align(self, frame: Frame, detections: list[Detection]) -> list[Landmarks]:
        """68 landmarks (frame pixels, float64) for each detection in a BGR frame."""
        rgb = np.ascontiguousarray(frame[..., ::-1])
        found = []
        for detection in detections:
            box = predictor_box(detection.keypoints) if detection.keypoints is not None else detection.box
            first = self._predict(rgb, box)
            found.append(self._refeed(rgb, predictor_box(first)))
        return found

    def _refeed(self, rgb: np.ndarray, box: Box) -> Landmarks:
        if self.options.refeed == 1:
            return self._predict(rgb, box)
        # Seeded by the box, so the same frame always gives the same landmarks.
        rng = np.random.default_rng([value % 2**31 for value in box.as_list()])
        runs = [self._predict(rgb, box)]
        for _ in range(self.options.refeed - 1):
            dx, dy, ds = rng.uniform(-JITTER, JITTER, 3) * box.width
            runs.append(self._predict(rgb, Box(int(box.left + dx - ds), int(box.top + dy - ds),
                                               int(box.right + dx + ds), int(box.bottom + dy + ds))))
        return np.mean(runs, axis=0)

    def _predict(self, rgb: np.ndarray, box: Box) -> Landmarks:
        rect = dlib.rectangle(box.left, box.top, box.right - 1, box.bottom - 1)
        shape = self._predictor(rgb, rect)
        return np.array([[point.x, point.y] for point in shape.parts()], np.float64)
