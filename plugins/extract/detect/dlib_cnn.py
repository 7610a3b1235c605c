"""dlib's CNN (MMOD) face detector: finds turned faces HOG misses; slow on CPU, fast with CUDA dlib."""
from __future__ import annotations

import dlib
import numpy as np

from lib.types import Box, Detection, Frame
from lib.weights import MMOD_DETECTOR, dlib_model
from plugins.extract.detect import DetectOptions, default_if_none


class DlibCnnDetector:
    """Finds faces with dlib's max-margin object detector."""

    batch_size = 1

    def __init__(self, options: DetectOptions) -> None:
        self.options = options
        self._detector = dlib.cnn_face_detection_model_v1(str(dlib_model(MMOD_DETECTOR)))
        # MMOD confidences run from about -1 to 1.5: threshold 0.5 is dlib's own cut-off of 0.
        self._min_confidence = 2.0 * (default_if_none(options.threshold, 0.5) - 0.5)

    def detect(self, frames: list[Frame]) -> list[list[Detection]]:
        found: list[list[Detection]] = []
        for frame in frames:
            rgb = np.ascontiguousarray(frame[..., ::-1])
            found.append([
                Detection(Box(d.rect.left(), d.rect.top(), d.rect.right() + 1, d.rect.bottom() + 1),
                          float(d.confidence))
                for d in self._detector(rgb, self.options.upsample)
                if d.confidence >= self._min_confidence
                and min(d.rect.width(), d.rect.height()) >= self.options.min_size
            ])
        return found
