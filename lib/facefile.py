"""Aligned face PNGs that carry their own metadata: where they came from and how they were cut."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lib.align import align_matrix, compose, resize_matrix, transform_points, warp_face
from lib.alignments import FrameEntry, finite_array, finite_number, ints_from_json, mesh_from_json, mesh_to_json
from lib.errors import FaceswapError
from lib.image import is_image_path, png_metadata, write_png
from lib.media import SourceFrame
from lib.types import Box, DetectedFace, Matrix

SCHEMA = "faceswap-face"
VERSION = 2  # 2: the mesh of faces found with the mediapipe aligner (lib.alignments packs it); 1 files still load
MAX_SIZE = 1 << 16  # pixels: the largest face side metadata may claim (extract writes at most 2048)


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
        mesh = {} if self.face.mesh is None else {"mesh": mesh_to_json(self.face.mesh)}
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
            **mesh,
        }

    def matrix_at(self, size: int) -> Matrix:
        """Frame pixels -> pixels of this face resized to size x size (extract wrote it at self.size)."""
        return compose(resize_matrix(self.size, size), self.matrix)

    def landmarks_at(self, size: int) -> np.ndarray:
        """The 68 landmarks in pixels of this face resized to size x size, (68, 2) float64."""
        return transform_points(self.matrix_at(size), self.face.landmarks)

    def mesh_at(self, size: int) -> np.ndarray | None:
        """The mesh's 478 points (x, y) in pixels of this face resized to size x size, (478, 2) float64; None for
        a face stored without a mesh."""
        if self.face.mesh is None:
            return None
        return transform_points(self.matrix_at(size), self.face.mesh.points[:, :2])


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
        landmarks = finite_array(raw["landmarks"], (68, 2), "landmarks")
        matrix = finite_array(raw["matrix"], (2, 3), "matrix")
        height, width = ints_from_json(raw["frame_shape"], 2, "frame shape")
        size, frame_index, face_index = int(raw["size"]), int(raw["frame_index"]), int(raw["face_index"])
        # A face of no size, a frame of none, a matrix that flattens the frame: numbers no extract wrote.
        if not (0 < size <= MAX_SIZE and height > 0 and width > 0 and 0 <= frame_index < 2**31
                and 0 <= face_index < 2**31 and abs(np.linalg.det(matrix[:, :2])) > 1e-9):
            return None
        mesh = mesh_from_json(raw["mesh"]) if "mesh" in raw else None
        return FaceMeta(
            source=str(raw["source"]), frame=str(raw["frame"]), frame_index=frame_index,
            face_index=face_index, frame_shape=(height, width),
            face=DetectedFace(Box(*ints_from_json(raw["box"], 4, "box")), finite_number(raw["score"], "score"),
                              landmarks, mesh),
            matrix=matrix, size=size,
        )
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError):
        return None


def read_face_meta(path: Path) -> FaceMeta | None:
    """The metadata of a face PNG without decoding its pixels; None for a plain image."""
    with open(path, "rb") as handle:
        head = handle.read(64 * 1024)  # the tEXt chunk sits right after IHDR
    return meta_from_json(png_metadata(head))


def face_paths(folder: Path) -> list[Path]:
    """The image files of a face folder, sorted; FaceswapError when it is missing or holds none."""
    if not folder.is_dir():
        raise FaceswapError(f"face folder {folder} does not exist: give a folder of faces made by extract")
    paths = sorted(p for p in folder.iterdir() if p.is_file() and is_image_path(p))
    if not paths:
        raise FaceswapError(f"face folder {folder} has no face images: run extract into it first")
    return paths


def frames_from_faces(metas: Iterable[FaceMeta]) -> dict[str, FrameEntry]:
    """Alignments entries rebuilt from face metadata alone, faces in order (frames without faces are not
    known from face files)."""
    frames: dict[str, FrameEntry] = {}
    for meta in sorted(metas, key=lambda m: (m.frame_index, m.frame, m.face_index)):
        frames.setdefault(meta.frame, FrameEntry(meta.frame_index, meta.frame_shape, [])).faces.append(meta.face)
    return frames


def save_faces(folder: Path, source: str, frame: SourceFrame, faces: list[DetectedFace], size: int) -> None:
    """Cut each face of a frame out, aligned, and write it as `<stem>_<frame>_<face>.png` with its metadata."""
    assert frame.image is not None
    shape = (frame.image.shape[0], frame.image.shape[1])
    for face_index, face in enumerate(faces):
        matrix = align_matrix(face.landmarks, size)
        meta = FaceMeta(source, frame.name, frame.index, face_index, shape, face, matrix, size)
        face_image = warp_face(frame.image, matrix, size)
        write_png(folder / face_filename(frame.stem, frame.index, face_index), face_image, meta.to_json(),
                  compression=1)  # a third less CPU than level 3, files 5% bigger
