"""Colour adjustment: bring the swapped face's colours toward the original face's, measured inside the mask.

Every plugin has `adjust(face, reference, mask) -> face`: face is the model's output and reference the
original crop, both BGR uint8 (n, n, 3); mask float32 (n, n) in [0, 1]; only pixels with mask > 0.5 are
measured.
"""
from __future__ import annotations

REGISTRY = {
    "none": "plugins.convert.color.none:NoColor",
    "avg-color": "plugins.convert.color.avg_color:AverageColor",
    "match-hist": "plugins.convert.color.match_hist:MatchHistogram",
    "color-transfer": "plugins.convert.color.color_transfer:ColorTransfer",
}
MIN_PIXELS = 16  # fewer masked pixels than this tell nothing about colour: the face is left as it is
