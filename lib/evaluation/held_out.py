"""Held-out faces for evaluation: face PNGs from extract, their landmarks, and where they sat in their frames."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lib.align import invert, transform_points
from lib.errors import FaceswapError
from lib.facefile import face_paths, meta_from_json
from lib.image import UnreadableImage, read_face_file
from lib.pose import head_pose
from lib.types import Face, Landmarks, Matrix


@dataclass(frozen=True, eq=False)
class HeldOutFaces:
    """Faces of one side from extract. images: BGR uint8 (S, S, 3) each; landmarks: (68, 2) in face pixels;
    to_frame: 2x3 face pixels -> frame pixels; frame_shapes: (height, width) of each source frame."""

    folder: Path
    names: list[str]
    images: list[Face]
    landmarks: list[Landmarks]
    to_frame: list[Matrix]
    frame_shapes: list[tuple[int, int]]
    files: int
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    def poses(self) -> np.ndarray:
        """(N, 2) yaw and pitch in degrees of each face in its source frame, from its extract landmarks."""
        return np.array([head_pose(transform_points(to_frame, points), shape)[:2]
                         for to_frame, points, shape in zip(self.to_frame, self.landmarks, self.frame_shapes)],
                        np.float64).reshape(-1, 2)


def pick_evenly(count: int, limit: int) -> list[int]:
    """At most limit indices of range(count), evenly spaced, first and last included (deterministic)."""
    if count <= limit:
        return list(range(count))
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, limit)})


def load_held_out(folder: Path, max_faces: int) -> HeldOutFaces:
    """Up to max_faces face PNGs of a folder made by extract, evenly spaced over its sorted files."""
    folder = Path(folder)
    paths = face_paths(folder)
    faces = HeldOutFaces(folder, [], [], [], [], [], len(paths))
    skipped: Counter[str] = Counter()
    for index in pick_evenly(len(paths), max_faces):
        try:
            image, raw = read_face_file(paths[index])
        except (OSError, UnreadableImage):
            skipped["unreadable"] += 1
            continue
        meta = meta_from_json(raw)
        if meta is None or image.shape[0] != image.shape[1]:
            skipped["no extract metadata"] += 1
            continue
        # The face may have been resized after extract: its matrix and landmarks follow it.
        matrix = meta.matrix_at(image.shape[0])
        faces.names.append(paths[index].name)
        faces.images.append(image)
        faces.landmarks.append(transform_points(matrix, meta.face.landmarks))
        faces.to_frame.append(invert(matrix))
        faces.frame_shapes.append(meta.frame_shape)
    faces.skipped.update(skipped)
    if not faces.images:
        raise FaceswapError(f"none of the faces in {folder} carries extract's landmarks: evaluate needs face "
                            "PNGs made by `faceswap.py extract`")
    return faces
