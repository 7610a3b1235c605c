"""Landmark finders: a frame and its detections in, each face with its 68 landmarks (and maybe its mesh) out.

Every aligner has `faces(frame, detections) -> list[DetectedFace]` (a detection that proves to be no face is
left out) and `align(frame, detections) -> list[Landmarks]` (one per detection: what convert's --follow uses)."""
from __future__ import annotations

from dataclasses import dataclass

from lib.errors import check_range

REGISTRY = {
    "mediapipe": "plugins.extract.align.mediapipe:MediapipeAligner",
    "dlib68": "plugins.extract.align.dlib68:Dlib68Aligner",
}
# Chosen by bench.extract (docs/extract.md): steadier on video than dlib's, the 478 points and expressions kept,
# and licence-clean (dlib's 68-point model was trained on data that bars commercial use).
DEFAULT_ALIGNER = "mediapipe"


@dataclass(frozen=True)
class AlignOptions:
    """refeed: how many jittered boxes to run the predictor on and average (1 = just the box)."""

    refeed: int = 1

    def __post_init__(self) -> None:
        check_range("landmark refeed count", self.refeed, 1, 32)
