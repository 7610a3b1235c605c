"""Landmark finders: a frame and its detections in, 68 landmarks per face out."""
from __future__ import annotations

from dataclasses import dataclass

from lib.errors import check_range

REGISTRY = {
    "dlib68": "plugins.extract.align.dlib68:Dlib68Aligner",
}


@dataclass(frozen=True)
class AlignOptions:
    """refeed: how many jittered boxes to run the predictor on and average (1 = just the box)."""

    refeed: int = 1

    def __post_init__(self) -> None:
        check_range("landmark refeed count", self.refeed, 1, 32)
