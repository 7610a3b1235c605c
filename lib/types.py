"""The domain words of the pipeline, shared by lib/, plugins/ and scripts/."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

Frame = npt.NDArray[np.uint8]
"""A full image, BGR uint8, shape (H, W, 3)."""
Face = npt.NDArray[np.uint8]
"""An aligned face crop, BGR uint8, shape (S, S, 3)."""
Landmarks = npt.NDArray[np.float64]
"""68 points in iBUG 300-W order, (x, y) in frame pixels, shape (68, 2)."""
Matrix = npt.NDArray[np.float64]
"""A 2x3 affine matrix taking frame pixels to aligned-face pixels."""
Mask = npt.NDArray[np.float32]
"""A soft mask in [0, 1], shape (H, W)."""
MeshXY = npt.NDArray[np.float64]
"""A face mesh's 478 points, (x, y) in the pixels of some image, shape (478, 2)."""
Descriptor = npt.NDArray[np.float64]
"""dlib's 128-D face descriptor."""


@dataclass(frozen=True)
class Box:
    """A face box in frame pixels; right and bottom are exclusive."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def as_list(self) -> list[int]:
        return [self.left, self.top, self.right, self.bottom]

    def iou(self, other: Box) -> float:
        """Intersection over union with another box, in [0, 1]."""
        ix = max(0, min(self.right, other.right) - max(self.left, other.left))
        iy = max(0, min(self.bottom, other.bottom) - max(self.top, other.top))
        inter = ix * iy
        union = self.width * self.height + other.width * other.height - inter
        return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class Detection:
    """What a detector found: a box, its confidence and, if the detector gives them, 5 keypoints.

    keypoints: (5, 2) float, frame pixels, in the order left eye, right eye, nose, left and right
    mouth corner (left = image left).
    """

    box: Box
    score: float
    keypoints: npt.NDArray[np.float64] | None = None


@dataclass(frozen=True, eq=False)
class Mesh:
    """MediaPipe's dense face mesh and expression scores (lib.facemesh).

    points: (478, 3) float64, x and y in frame pixels, z (depth) in the same pixel scale, smaller is nearer.
    blendshapes: (52,) float32 in [0, 1], named by lib.facemesh.BLENDSHAPES (eyeBlinkLeft: the subject's left).
    """

    points: npt.NDArray[np.float64]
    blendshapes: npt.NDArray[np.float32]


@dataclass(frozen=True)
class DetectedFace:
    """A face found in a frame, with its 68 landmarks and, from the mediapipe aligner, its mesh."""

    box: Box
    score: float
    landmarks: Landmarks
    mesh: Mesh | None = None


class FaceFinder(Protocol):
    """Finds faces with their landmarks in batches of frames (plugins.extract.pipeline.FaceFinder)."""

    @property
    def batch_size(self) -> int:
        """Frames per call that suit the detector."""
        ...

    def find(self, frames: list[Frame]) -> list[list[DetectedFace]]:
        """The faces of each frame."""
        ...
