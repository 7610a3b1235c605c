"""No mask: the whole model crop is swapped (its square edge is softened by the feather option only)."""
from __future__ import annotations

import numpy as np

from lib.types import Landmarks, Mask, MeshXY


class NoMask:
    """All ones."""

    needs_learned = False

    def make(self, landmarks: Landmarks, size: int, learned: Mask | None, mesh: MeshXY | None = None) -> Mask:
        return np.ones((size, size), np.float32)
