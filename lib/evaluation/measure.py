"""How evaluation sees a face: dlib's 68 landmarks found again near where they are expected and its 128-D
descriptor (the landmark finder is handed in: plugins.extract.align's dlib68 aligner, as extract uses it), and
MediaPipe's landmarker, which the swap never uses (lib.evaluation.realism)."""
from __future__ import annotations

from typing import Protocol

import numpy as np

from lib.evaluation.realism import MeshJudge
from lib.identity import FaceDescriber
from lib.metrics import interocular
from lib.types import Box, Descriptor, Detection, Frame, Landmarks


class Aligner(Protocol):
    def align(self, frame: Frame, detections: list[Detection]) -> list[Landmarks]: ...


class FaceMeasurer:
    """dlib's 68 landmarks and 128-D descriptor of a face whose rough position is known from landmarks."""

    def __init__(self, aligner: Aligner, describer: FaceDescriber | None = None) -> None:
        self._aligner = aligner
        self._describer = describer or FaceDescriber()
        self._judge: MeshJudge | None = None

    @property
    def judge(self) -> MeshJudge:
        """MediaPipe's landmarker, loaded when first asked for."""
        if self._judge is None:
            self._judge = MeshJudge()
        return self._judge

    def landmarks(self, image: Frame, near: Landmarks) -> Landmarks | None:
        """68 landmarks (pixels of image) of the face near these landmarks; None when the predictor loses it:
        points outside the image, or a face half or twice the size of the one expected."""
        # Extract's own two passes: box from the given points (68 points place it), then from the first fit.
        found = self._aligner.align(image, [Detection(Box(0, 0, 1, 1), 1.0, np.asarray(near, np.float64))])[0]
        height, width = image.shape[:2]
        inside = ((found[:, 0] >= -1) & (found[:, 0] <= width) & (found[:, 1] >= -1) & (found[:, 1] <= height))
        scale = interocular(found) / max(interocular(near), 1e-6)
        if not np.isfinite(found).all() or inside.mean() < 0.9 or not 0.5 <= scale <= 2.0:
            return None
        return found

    def describe(self, image: Frame, landmarks: Landmarks) -> Descriptor:
        """The face's 128-D descriptor."""
        return self._describer.describe(image, landmarks)
