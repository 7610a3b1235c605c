"""No colour adjustment: the model's colours as they are."""
from __future__ import annotations

from lib.types import Face, Mask


class NoColor:
    """Leaves the face unchanged."""

    def adjust(self, face: Face, reference: Face, mask: Mask) -> Face:
        return face
