"""A small 64 px autoencoder for CPUs: the original's layout with a quarter of its work per face."""
from __future__ import annotations

from plugins.train.model.original import Original


class Lightweight(Original):
    """Strided 5x5 convolutions 64-128-256-512, Dense 512, Dense 4·4·512, decoders 128-64-32 to 64 px."""

    NAME = "lightweight"
    ENCODER_FILTERS = (64, 128, 256, 512)
    DENSE = 512
    DECODER_FILTERS = (256, 128, 64, 32)
