"""Face detectors: a batch of frames in, boxes (and maybe 5 keypoints) out."""
from __future__ import annotations

from dataclasses import dataclass

from lib.errors import check_range

REGISTRY = {
    "retinaface": "plugins.extract.detect.retinaface:RetinafaceDetector",
    "mtcnn": "plugins.extract.detect.mtcnn:MtcnnDetector",
    "dlib-hog": "plugins.extract.detect.dlib_hog:DlibHogDetector",
    "dlib-cnn": "plugins.extract.detect.dlib_cnn:DlibCnnDetector",
}
# Chosen by bench.extract (docs/extract.md): the fastest, finds as many upright faces as MTCNN, licence-clean.
DEFAULT_DETECTOR = "retinaface"


@dataclass(frozen=True)
class DetectOptions:
    """Options every detector takes. threshold: minimum confidence in [0, 1], None for the detector's
    own default (MTCNN: its final stage's probability; dlib's detectors map 0.5 to their usual cut-off
    and 0..1 onto their own score scale). min_size: smallest face side in pixels. rotate: look for faces on
    their side or upside down where the upright frame shows none, or shows them rolled (plugins.extract.rotate)."""

    threshold: float | None = None
    min_size: int = 20
    upsample: int = 0  # dlib detectors: times to double the image first (finds smaller faces, slower)
    rotate: bool = True

    def __post_init__(self) -> None:
        check_range("detector threshold", self.threshold, 0, 1)
        check_range("smallest face the detector looks for", self.min_size, 8, 4096, unit="pixels")
        check_range("detector upsampling", self.upsample, 0, 3)


def default_if_none(value: float | None, default: float) -> float:
    return default if value is None else value
