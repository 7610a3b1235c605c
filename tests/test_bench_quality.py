"""bench.quality's recipes: each training segment is told its own share of the whole budget to warp, and the
convert settings a recipe names are convert's options."""
from __future__ import annotations

import pytest

from bench.quality import RECIPES, convert_options, segment_warp_share


def test_a_budget_share_becomes_each_segments_share() -> None:
    # Warped for the first 70 % of 30 minutes (21), trained in segments ending at 10, 20 and 30 minutes.
    assert segment_warp_share(0.7, 30, 0.0, 10) is None
    assert segment_warp_share(0.7, 30, 10.0, 20) is None
    assert segment_warp_share(0.7, 30, 20.0, 30) == pytest.approx(0.1)  # 1 of the last 10 minutes warped
    assert segment_warp_share(0.5, 30, 20.0, 30) == 0.0  # unwarped from the segment's start
    assert segment_warp_share(None, 30, 20.0, 30) is None
    assert all(0 < recipe.get("no_warp_after", 0.5) < 1 for recipe in RECIPES.values())


def test_recipes_convert_settings_are_convert_options() -> None:
    # Unknown names or values out of range raise; the rest are convert's defaults.
    options = {name: convert_options(name) for name in RECIPES}
    assert options["lightweight-cm-b8-lr4-nw70-sh05"].sharpen == 0.5
    assert options["lightweight-cm-b8-lr4-nw70"].sharpen == 0.0
