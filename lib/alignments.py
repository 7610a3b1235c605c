"""The alignments file: versioned JSON listing every frame of a source and the faces found in it.

Version 2 adds, for faces found with the mediapipe aligner, a "mesh": its 478 points packed as little-endian int16
(x, y, z of each point, in `unit` pixels from `origin`, base64) and its 52 blendshapes rounded to 3 decimals, about
4.3 kB a face. Version 1 files (68 landmarks only) load as before: their faces have no mesh.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lib.errors import FaceswapError
from lib.fileio import write_json_atomic
from lib.types import Box, DetectedFace, Mesh

SCHEMA = "faceswap-alignments"
VERSION = 2
MESH_POINTS, BLENDSHAPES = 478, 52
MESH_UNIT = 1 / 16  # pixels: far below the mesh's own frame-to-frame jitter (about 0.2 px on a 40 px eye distance)


@dataclass
class FrameEntry:
    """One frame of the source: its index, its size (height, width) and its faces (maybe none)."""

    index: int
    shape: tuple[int, int]
    faces: list[DetectedFace] = field(default_factory=list)


@dataclass
class Alignments:
    """All frames of one source, keyed by frame name (the image's file name, or `<video>_<index>`)."""

    source: str
    kind: str  # "images" or "video"
    frames: dict[str, FrameEntry] = field(default_factory=dict)

    @property
    def face_count(self) -> int:
        return sum(len(entry.faces) for entry in self.frames.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "version": VERSION,
            "source": self.source,
            "kind": self.kind,
            "frames": {
                name: {
                    "index": entry.index,
                    "shape": list(entry.shape),
                    "faces": [face_to_json(face) for face in entry.faces],
                }
                for name, entry in sorted(self.frames.items(), key=lambda item: (item[1].index, item[0]))
            },
        }

    def save(self, path: Path) -> None:
        """Write the file atomically: a crash leaves the old file or the new one, never half of one."""
        write_json_atomic(Path(path), self.to_json())


def face_to_json(face: DetectedFace) -> dict[str, Any]:
    found = {
        "box": face.box.as_list(),
        "score": round(float(face.score), 4),
        "landmarks": np.round(face.landmarks, 2).tolist(),
    }
    return found if face.mesh is None else {**found, "mesh": mesh_to_json(face.mesh)}


def mesh_to_json(mesh: Mesh) -> dict[str, Any]:
    """The mesh packed: int16 steps of `unit` pixels from a whole-pixel origin (the unit doubles for a face too
    large for int16 at 1/16 px), base64; the blendshapes as a list."""
    origin = np.round(mesh.points.mean(0))
    reach = float(np.abs(mesh.points - origin).max())
    unit = MESH_UNIT
    while reach / unit > 32000:
        unit *= 2
    steps = np.round((mesh.points - origin) / unit).astype("<i2")
    return {
        "origin": [int(v) for v in origin],
        "unit": unit,
        "points": base64.b64encode(steps.tobytes()).decode("ascii"),
        "blendshapes": np.round(np.asarray(mesh.blendshapes, np.float64), 3).tolist(),
    }


def mesh_from_json(raw: Any) -> Mesh:
    """The mesh mesh_to_json packed; ValueError when it is not one."""
    if not isinstance(raw, dict):
        raise ValueError("mesh is not an object")
    try:
        packed = base64.b64decode(str(raw["points"]), validate=True)
    except binascii.Error as err:
        raise ValueError(f"mesh points are not base64 ({err})") from None
    if len(packed) != MESH_POINTS * 3 * 2:
        raise ValueError(f"mesh has {len(packed)} bytes of points, not {MESH_POINTS * 3 * 2}")
    origin = np.asarray(ints_from_json(raw["origin"], 3, "mesh origin"), np.float64)
    unit = float(raw["unit"])
    if not 0 < unit < 1e3:
        raise ValueError(f"mesh unit is {unit}")
    points = np.frombuffer(packed, "<i2").reshape(MESH_POINTS, 3).astype(np.float64) * unit + origin
    blendshapes = np.asarray(raw["blendshapes"], np.float32)
    if blendshapes.shape != (BLENDSHAPES,) or not np.isfinite(blendshapes).all():
        raise ValueError(f"mesh has blendshapes of shape {blendshapes.shape}, not ({BLENDSHAPES},)")
    return Mesh(points, blendshapes)


def ints_from_json(raw: Any, count: int, what: str) -> list[int]:
    """A JSON list of exactly `count` integers; ValueError otherwise (int("480x360"[0]) must not pass)."""
    if not isinstance(raw, list) or len(raw) != count or not all(isinstance(v, int) for v in raw):
        raise ValueError(f"{what} is {str(raw)[:40]}, not {count} integers")
    return raw


def face_from_json(raw: dict[str, Any]) -> DetectedFace:
    landmarks = np.asarray(raw["landmarks"], np.float64)
    if landmarks.shape != (68, 2):
        raise ValueError(f"landmarks have shape {landmarks.shape}, not (68, 2)")
    mesh = mesh_from_json(raw["mesh"]) if "mesh" in raw else None
    return DetectedFace(Box(*ints_from_json(raw["box"], 4, "box")), float(raw["score"]), landmarks, mesh)


def load_alignments(path: Path) -> Alignments:
    """Read and check an alignments file; any problem is a FaceswapError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FaceswapError(f"alignments file not found: {path} (run extract first, or pass -p)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FaceswapError(f"{path} is not an alignments file (not JSON: {err})") from None
    if not isinstance(raw, dict) or raw.get("schema") != SCHEMA:
        raise FaceswapError(f"{path} is not a faceswap alignments file")
    version = raw.get("version")
    if not isinstance(version, int):
        raise FaceswapError(f"{path} is damaged (version {str(version)[:20]}): re-run extract or "
                            "`tools alignments rebuild`")
    if version > VERSION:
        raise FaceswapError(f"{path} was written by a newer faceswap (version {version}): upgrade")
    try:
        frames = {
            name: FrameEntry(int(entry["index"]), _frame_shape(entry["shape"]),
                             [face_from_json(face) for face in entry["faces"]])
            for name, entry in raw["frames"].items()
        }
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
        raise FaceswapError(f"{path} is damaged ({err}): re-run extract or `tools alignments rebuild`") from None
    return Alignments(str(raw.get("source", "")), str(raw.get("kind", "images")), frames)


def _frame_shape(raw: Any) -> tuple[int, int]:
    height, width = ints_from_json(raw, 2, "frame shape")
    return height, width
