"""The preview grid: one labelled row of faces per stage (A, A->A, A->B, ...), masks shown as a tint."""
from __future__ import annotations

from typing import Any, Protocol

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
# What the mask leaves out is darkened and reddened: the face the model keeps stays as it is.
TINT = np.array([0.0, 0.0, 1.0], np.float32)  # BGR red
TINT_SHARE = 0.5
DARKEN = 0.5


def _ascii(label: str) -> str:
    """OpenCV's Hershey fonts draw ASCII only."""
    return label.replace("→", "->").encode("ascii", "replace").decode()


def _tint(faces: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Faces (count, n, n, 3) with what mask (count, n, n[, 1]) in [0, 1] excludes tinted."""
    keep = np.clip(mask.reshape(*mask.shape[:3], 1), 0.0, 1.0).astype(np.float32)
    tinted = faces * DARKEN * (1 - TINT_SHARE) + TINT * TINT_SHARE
    return faces * keep + tinted * (1 - keep)


def _row(faces: np.ndarray, count: int, size: int) -> np.ndarray:
    """count faces side by side as float [0, 1] (size, count * size, 3); missing ones black."""
    row = np.zeros((size, count * size, 3), np.float32)
    for i, face in enumerate(faces[:count]):
        if face.shape[0] != size:
            face = cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)
        row[:, i * size:(i + 1) * size] = face
    return row


def make_preview(rows: list[tuple[str, np.ndarray]], masks: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """A grid image, one row per (label, faces (count, n, n, 3) BGR float [0, 1]), the label at the left.

    masks: label -> (count, n, n[, 1]) in [0, 1] for rows to overlay. Returns BGR uint8.
    """
    if not rows:
        raise ValueError("make_preview needs at least one row")
    size = int(rows[0][1].shape[1])
    count = max(len(faces) for _, faces in rows)
    scale = max(0.35, size / 160)
    thickness = max(1, int(round(scale * 1.5)))
    labels = [_ascii(label) for label, _ in rows]
    text_width = max(cv2.getTextSize(label, FONT, scale, thickness)[0][0] for label in labels)
    margin = text_width + size // 4
    grid = np.zeros((size * len(rows), margin + count * size, 3), np.uint8)
    for r, ((label, faces), text) in enumerate(zip(rows, labels)):
        faces = np.asarray(faces, np.float32)
        if masks is not None and label in masks:
            faces = _tint(faces, np.asarray(masks[label]))
        top = r * size
        grid[top:top + size, margin:] = np.round(np.clip(_row(faces, count, size), 0, 1) * 255).astype(np.uint8)
        (_, height), _ = cv2.getTextSize(text, FONT, scale, thickness)
        origin = (size // 8, top + (size + height) // 2)
        cv2.putText(grid, text, origin, FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return grid


class _Reconstructs(Protocol):
    def reconstruct(self, faces: Any, side: str, training: bool = False) -> tuple[Any, Any]: ...


def preview_grid(trainer: _Reconstructs, faces: dict[str, np.ndarray]) -> np.ndarray:
    """Rows A, A→A, A→B, B, B→B, B→A of a trainer's reconstructions of fixed faces ('a', 'b': float32 BGR
    [0, 1] (count, n, n, 3)); learned masks tint their rows. BGR uint8."""
    rows: list[tuple[str, np.ndarray]] = []
    masks: dict[str, np.ndarray] = {}
    for side, other in (("a", "b"), ("b", "a")):
        rows.append((side.upper(), faces[side]))
        for target in (side, other):
            label = f"{side.upper()}→{target.upper()}"
            face, mask = trainer.reconstruct(faces[side], target)
            rows.append((label, np.asarray(face, np.float32)))
            if mask is not None:
                masks[label] = np.asarray(mask, np.float32)
    return make_preview(rows, masks or None)
