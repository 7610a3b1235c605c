"""Aligned face PNGs that carry their own metadata: where they came from and how they were cut."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lib.alignments import ints_from_json
from lib.image import png_metadata
from lib.types import Box, DetectedFace, Matrix

SCHEMA = "faceswap-face"
VERSION = 1


@dataclass(frozen=True)
class FaceMeta:
    """Metadata of one aligned face. matrix takes frame pixels to this face's pixels (size x size)."""

    source: str
    frame: str
    frame_index: int
    face_index: int
    frame_shape: tuple[int, int]
    face: DetectedFace
    matrix: Matrix
    size: int

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "version": VERSION,
            "source": self.source,
            "frame": self.frame,
            "frame_index": self.frame_index,
            "face_index": self.face_index,
            "frame_shape": list(self.frame_shape),
            "box": self.face.box.as_list(),
            "score": round(float(self.face.score), 4),
            "landmarks": np.round(self.face.landmarks, 2).tolist(),
            "matrix": np.round(self.matrix, 6).tolist(),
            "size": self.size,
        }

    @property
    def landmarks_in_face(self) -> np.ndarray:
        """The 68 landmarks in this face image's pixels, (68, 2) float64."""
        from lib.align import transform_points  # noqa: PLC0415 (keeps this module free of cv2)

        return transform_points(self.matrix, self.face.landmarks)


def face_filename(stem: str, frame_index: int, face_index: int) -> str:
    """`<source>_<frame>_<face>.png`."""
    return f"{stem}_{frame_index:06d}_{face_index}.png"


def meta_from_json(raw: dict[str, Any] | None) -> FaceMeta | None:
    """Parse face metadata; None when it is missing, of another schema, newer, or damaged."""
    if not raw or raw.get("schema") != SCHEMA:
        return None
    try:
        if int(raw.get("version", 0)) > VERSION:
            return None
        landmarks = np.asarray(raw["landmarks"], np.float64)
        matrix = np.asarray(raw["matrix"], np.float64)
        if landmarks.shape != (68, 2) or matrix.shape != (2, 3):
            return None
        height, width = ints_from_json(raw["frame_shape"], 2, "frame shape")
        return FaceMeta(
            source=str(raw["source"]), frame=str(raw["frame"]), frame_index=int(raw["frame_index"]),
            face_index=int(raw["face_index"]), frame_shape=(height, width),
            face=DetectedFace(Box(*ints_from_json(raw["box"], 4, "box")), float(raw["score"]), landmarks),
            matrix=matrix, size=int(raw["size"]),
        )
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        return None


def read_face_meta(path: Path) -> FaceMeta | None:
    """The metadata of a face PNG without decoding its pixels; None for a plain image."""
    with open(path, "rb") as handle:
        head = handle.read(64 * 1024)  # the tEXt chunk sits right after IHDR
    return meta_from_json(png_metadata(head))
