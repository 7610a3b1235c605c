"""The alignments file: versioned JSON listing every frame of a source and the faces found in it."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lib.errors import FaceswapError
from lib.fileio import write_json_atomic
from lib.types import Box, DetectedFace

SCHEMA = "faceswap-alignments"
VERSION = 1


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
    return {
        "box": face.box.as_list(),
        "score": round(float(face.score), 4),
        "landmarks": np.round(face.landmarks, 2).tolist(),
    }


def ints_from_json(raw: Any, count: int, what: str) -> list[int]:
    """A JSON list of exactly `count` integers; ValueError otherwise (int("480x360"[0]) must not pass)."""
    if not isinstance(raw, list) or len(raw) != count or not all(isinstance(v, int) for v in raw):
        raise ValueError(f"{what} is {str(raw)[:40]}, not {count} integers")
    return raw


def face_from_json(raw: dict[str, Any]) -> DetectedFace:
    landmarks = np.asarray(raw["landmarks"], np.float64)
    if landmarks.shape != (68, 2):
        raise ValueError(f"landmarks have shape {landmarks.shape}, not (68, 2)")
    return DetectedFace(Box(*ints_from_json(raw["box"], 4, "box")), float(raw["score"]), landmarks)


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
