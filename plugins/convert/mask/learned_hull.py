"""The model's own mask kept inside the landmark hull: the default for a model with a mask head. Early in
training the learned mask still covers the whole crop; the hull keeps the swap on the face all the same."""
from __future__ import annotations

import numpy as np

from lib.masks import hull_mask
from lib.types import Landmarks, Mask, MeshXY


class LearnedHullMask:
    """min(learned mask, face hull)."""

    needs_learned = True

    def make(self, landmarks: Landmarks, size: int, learned: Mask | None, mesh: MeshXY | None = None) -> Mask:
        assert learned is not None  # FaceSwapper refuses this mask for a model without a mask head
        return np.minimum(np.clip(np.asarray(learned, np.float32), 0.0, 1.0), hull_mask(landmarks, size))
