"""The recipes: tested ways to train a model and convert with it, by name. Defined here once; train --recipe,
demo, bench.quality and docs/usage.md (generated) read them, and a test holds the README to them. A model trained
with a recipe keeps its convert settings in state.json, so that a plain `convert -m MODEL` uses them."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lib.errors import FaceswapError


@dataclass(frozen=True)
class Recipe:
    """train's options (its Config's field names), the share of each --minutes/--iterations run trained on warped
    faces (train --no-warp-after; None: the whole run), and convert's options (lib.swap.SwapOptions fields)."""

    name: str
    summary: str
    train: Mapping[str, Any]
    warp_share: float | None = None
    convert: Mapping[str, Any] = field(default_factory=dict)


RECIPES = {recipe.name: recipe for recipe in (
    Recipe("cpu", "the small model that learns a recognisable swap on a 2-core CPU in an hour",
           {"model": "lightweight", "learn_mask": True, "batch_size": 8, "learning_rate": 4e-4,
            "color_match": 0.5},
           # Convert: the mask's edge kept to skin colours (no strip of the other person's background on the
           # cheeks), the features moved half-way to the source's (all the way smeared open mouths and pulled the
           # identity toward the source), a light unsharp mask, and the frame's own detail finer than the 64 px
           # face can draw (docs/realism.md has the measurements).
           warp_share=0.7, convert={"sharpen": 0.5, "follow": 0.5, "skin": True, "grain": 1.0}),
    Recipe("gpu", "the classic 64 px model with a learned mask, overnight on a GPU",
           {"model": "original", "learn_mask": True}),
)}


def recipe(name: str) -> Recipe:
    """The recipe of this name; FaceswapError naming the choices otherwise."""
    if name not in RECIPES:
        raise FaceswapError(f"unknown recipe '{name}': choose one of {', '.join(RECIPES)}")
    return RECIPES[name]
