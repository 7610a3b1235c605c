"""Histogram matching: remap each BGR channel so its distribution inside the mask is the original's."""
from __future__ import annotations

import numpy as np

from lib.types import Face, Mask
from plugins.convert.color import MIN_PIXELS


def _lookup(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """A 256-entry table taking values of source to the values of target at the same quantile."""
    src_cdf = np.cumsum(np.bincount(source, minlength=256)).astype(np.float64)
    dst_cdf = np.cumsum(np.bincount(target, minlength=256)).astype(np.float64)
    src_cdf /= src_cdf[-1]
    dst_cdf /= dst_cdf[-1]
    return np.clip(np.interp(src_cdf, dst_cdf, np.arange(256)) + 0.5, 0, 255).astype(np.uint8)


class MatchHistogram:
    """Per-channel cumulative-histogram matching in BGR."""

    def adjust(self, face: Face, reference: Face, mask: Mask) -> Face:
        inside = mask > 0.5
        if inside.sum() < MIN_PIXELS:
            return face
        out = np.empty_like(face)
        for channel in range(3):
            table = _lookup(face[..., channel][inside], reference[..., channel][inside])
            out[..., channel] = table[face[..., channel]]
        return out
