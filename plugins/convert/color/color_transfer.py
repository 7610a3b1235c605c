"""Colour transfer (Reinhard et al. 2001): match the mean and spread of each L*a*b* channel inside the mask."""
from __future__ import annotations

import cv2
import numpy as np

from lib.types import Face, Mask
from plugins.convert.color import MIN_PIXELS


class ColorTransfer:
    """Mean and standard deviation of L*, a*, b* taken from the original face."""

    def adjust(self, face: Face, reference: Face, mask: Mask) -> Face:
        inside = mask > 0.5
        if inside.sum() < MIN_PIXELS:
            return face
        # Float LAB (L in 0-100, a and b about -127..127) keeps the small differences uint8 LAB rounds away.
        source = cv2.cvtColor(face.astype(np.float32) / 255, cv2.COLOR_BGR2LAB)
        target = cv2.cvtColor(reference.astype(np.float32) / 255, cv2.COLOR_BGR2LAB)
        src_mean, src_std = source[inside].mean(0), source[inside].std(0)
        dst_mean, dst_std = target[inside].mean(0), target[inside].std(0)
        scale = dst_std / np.maximum(src_std, 1e-3)
        result = (source - src_mean) * scale + dst_mean
        result[..., 0] = np.clip(result[..., 0], 0, 100)
        bgr = cv2.cvtColor(result.astype(np.float32), cv2.COLOR_LAB2BGR)
        return np.asarray(np.clip(bgr * 255 + 0.5, 0, 255), np.uint8)
