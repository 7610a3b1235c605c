"""The reconstruction loss as the user writes it: terms joined by +, each with an optional weight
(`ssim:0.5+mae:0.5+edge:0.25`). Parsing needs no TensorFlow, so the command line can check it at once."""
from __future__ import annotations

from lib.errors import FaceswapError

TERMS = ("mae", "mse", "ssim", "edge")
# Structure (SSIM) with an absolute-error anchor for colour, plus a light edge term for sharpness.
DEFAULT_LOSS = "ssim:0.5+mae:0.5+edge:0.25"
GAN_LOSSES = ("lsgan", "hinge")


def parse_loss(spec: str) -> dict[str, float]:
    """'ssim:0.5+mae:0.5' → {'ssim': 0.5, 'mae': 0.5}; a bare name weighs 1."""
    terms: dict[str, float] = {}
    for part in spec.replace(" ", "").split("+"):
        name, _, weight = part.partition(":")
        if name not in TERMS:
            raise FaceswapError(f"unknown loss term '{name}' in '{spec}': use {', '.join(TERMS)} joined by +, "
                                "each with an optional :weight (e.g. ssim:0.5+mae:0.5)")
        try:
            value = float(weight) if weight else 1.0
        except ValueError:
            raise FaceswapError(f"loss weight '{weight}' of '{name}' is not a number") from None
        if not 0.0 < value <= 100.0 or name in terms:
            raise FaceswapError(f"a loss names each term once, with a weight above 0 and at most 100: '{spec}'")
        terms[name] = value
    return terms


def format_loss(terms: dict[str, float]) -> str:
    """The inverse of parse_loss, in a fixed order."""
    return "+".join(f"{name}:{terms[name]:g}" for name in TERMS if name in terms)
