"""Average colour: shift each channel so the face's mean inside the mask equals the original's."""
from __future__ import annotations

import cv2
import numpy as np

from lib.types import Face, Mask
from plugins.convert.color import MIN_PIXELS


class AverageColor:
    """Per-channel mean shift in BGR."""

    def adjust(self, face: Face, reference: Face, mask: Mask) -> Face:
        inside = (mask > 0.5).astype(np.uint8)
        if cv2.countNonZero(inside) < MIN_PIXELS:
            return face
        shift = np.subtract(cv2.mean(reference, inside)[:3], cv2.mean(face, inside)[:3])
        # One lookup table per channel: value + shift, rounded and clipped to 0..255.
        table = np.clip(np.arange(256)[:, None] + shift + 0.5, 0, 255).astype(np.uint8).reshape(256, 1, 3)
        return np.asarray(cv2.LUT(face, table), np.uint8)
