"""Face detectors: a batch of frames in, boxes (and maybe 5 keypoints) out."""
from __future__ import annotations

from dataclasses import dataclass

from lib.errors import FaceswapError

REGISTRY = {
    "mtcnn": "plugins.extract.detect.mtcnn:MtcnnDetector",
    "dlib-hog": "plugins.extract.detect.dlib_hog:DlibHogDetector",
    "dlib-cnn": "plugins.extract.detect.dlib_cnn:DlibCnnDetector",
}


@dataclass(frozen=True)
class DetectOptions:
    """Options every detector takes. threshold: minimum confidence in [0, 1], None for the detector's
    own default (MTCNN: its final stage's probability; dlib's detectors map 0.5 to their usual cut-off
    and 0..1 onto their own score scale). min_size: smallest face side in pixels."""

    threshold: float | None = None
    min_size: int = 20
    upsample: int = 0  # dlib detectors: times to double the image first (finds smaller faces, slower)

    def __post_init__(self) -> None:
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise FaceswapError(f"detector threshold must be between 0 and 1, not {self.threshold}")
        if not 8 <= self.min_size <= 4096:
            raise FaceswapError(f"minimum face size must be between 8 and 4096 pixels, not {self.min_size}")
        if not 0 <= self.upsample <= 3:
            raise FaceswapError(f"upsample must be between 0 and 3, not {self.upsample}")


def default_if_none(value: float | None, default: float) -> float:
    return default if value is None else value
