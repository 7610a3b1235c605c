"""What a model plugin builds and is built from: the encoder and two decoders, the options, the size check."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lib.errors import FaceswapError


@dataclass(frozen=True)
class ModelOptions:
    """size: model input n in pixels (None: the model's default). learn_mask: add a mask head."""

    size: int | None = None
    learn_mask: bool = False


@dataclass(frozen=True)
class ModelParts:
    """What a plugin builds. Every model takes and returns BGR float32 faces in [0, 1] (n, n, 3).

    encoder: faces → latent. decoder_a/decoder_b: latent → [face] or [face, mask (n, n, 1) in [0, 1]].
    """

    encoder: Any
    decoder_a: Any
    decoder_b: Any
    input_size: int
    value_range: tuple[float, float] = (0.0, 1.0)


def check_size(name: str, size: int | None, default: int, low: int, high: int, *, step: int = 16) -> int:
    """The model input size to use: the default when None, else size if model `name` allows it."""
    if size is None:
        return default
    if low == high and size != low:
        raise FaceswapError(f"model '{name}' takes {low} px faces only: leave out the size or use {low}")
    if not low <= size <= high or size % step:
        raise FaceswapError(f"the input size of model '{name}' must be a multiple of {step} from {low} to "
                            f"{high}, not {size}")
    return size
