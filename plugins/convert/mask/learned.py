"""The model's own mask (trained with --learn-mask)."""
from __future__ import annotations

import numpy as np

from lib.errors import FaceswapError
from lib.types import Landmarks, Mask, MeshXY


class LearnedMask:
    """The mask head's output, as it is."""

    needs_learned = True

    def make(self, landmarks: Landmarks, size: int, learned: Mask | None, mesh: MeshXY | None = None) -> Mask:
        if learned is None:
            raise FaceswapError("--mask learned needs a model trained with --learn-mask: choose --mask hull")
        return np.clip(np.asarray(learned, np.float32), 0.0, 1.0)
