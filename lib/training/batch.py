"""One training step's faces, as the feed makes them and the trainer reads them: a dict with a key per array and
side (tf.data and the distribution strategies carry dicts), typed here once for both."""
from __future__ import annotations

from typing import Any, NamedTuple, TypedDict


class Batch(TypedDict):
    """Both sides' faces, float32 (B faces a side): warped_* the model's input and target_* what it must draw,
    (B, n, n, 3) BGR [0, 1]; mask_* the face hull, weight_* each pixel's loss weight (eyes and mouth heavier),
    occluder_* where an object was pasted over the input, (B, n, n, 1)."""

    warped_a: Any
    target_a: Any
    mask_a: Any
    weight_a: Any
    occluder_a: Any
    warped_b: Any
    target_b: Any
    mask_b: Any
    weight_b: Any
    occluder_b: Any


class SideBatch(NamedTuple):
    """One side's arrays of a Batch (see Batch for shapes)."""

    warped: Any
    target: Any
    mask: Any
    weight: Any
    occluder: Any


ARRAYS = SideBatch._fields  # the arrays of a side, in the feed's order; a Batch key is f"{array}_{side}"


def join_sides(a: SideBatch, b: SideBatch) -> Batch:
    """The batch of side a and side b."""
    return Batch(warped_a=a.warped, target_a=a.target, mask_a=a.mask, weight_a=a.weight, occluder_a=a.occluder,
                 warped_b=b.warped, target_b=b.target, mask_b=b.mask, weight_b=b.weight, occluder_b=b.occluder)


def side_of(batch: Batch, side: str) -> SideBatch:
    """Side 'a' or 'b' of a batch."""
    if side == "a":
        return SideBatch(batch["warped_a"], batch["target_a"], batch["mask_a"], batch["weight_a"],
                         batch["occluder_a"])
    return SideBatch(batch["warped_b"], batch["target_b"], batch["mask_b"], batch["weight_b"], batch["occluder_b"])
