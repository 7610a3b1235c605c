"""The face hull from the landmarks: jaw and brows, raised a little toward the forehead (the same outline
train uses for its masked loss, lib/masks.py)."""
from __future__ import annotations

from lib.masks import hull_mask
from lib.types import Landmarks, Mask, MeshXY


class HullMask:
    """The convex hull of the jaw and the raised brows."""

    needs_learned = False

    def make(self, landmarks: Landmarks, size: int, learned: Mask | None, mesh: MeshXY | None = None) -> Mask:
        return hull_mask(landmarks, size)
