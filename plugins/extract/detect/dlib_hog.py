"""dlib's HOG + linear SVM frontal face detector: fast on CPU, frontal faces only."""
from __future__ import annotations

import dlib
import numpy as np

from lib.types import Box, Detection, Frame
from plugins.extract.detect import DetectOptions, default_if_none


class DlibHogDetector:
    """Finds frontal faces with dlib's HOG detector."""

    batch_size = 1

    def __init__(self, options: DetectOptions) -> None:
        self.options = options
        self._detector = dlib.get_frontal_face_detector()
        # HOG scores are SVM margins (about -0.5 to 3): threshold 0.5 is dlib's own cut-off of 0.
        self._adjust = 2.0 * (default_if_none(options.threshold, 0.5) - 0.5)

    def detect(self, frames: list[Frame]) -> list[list[Detection]]:
        found: list[list[Detection]] = []
        for frame in frames:
            rgb = np.ascontiguousarray(frame[..., ::-1])
            rects, scores, _ = self._detector.run(rgb, self.options.upsample, self._adjust)
            found.append([
                Detection(Box(r.left(), r.top(), r.right() + 1, r.bottom() + 1), float(s))
                for r, s in zip(rects, scores)
                if min(r.width(), r.height()) >= self.options.min_size
            ])
        return found
