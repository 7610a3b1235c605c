"""Curves drawn with OpenCV, the held-out quality score's rule, and the swap's border fade."""
from __future__ import annotations

import numpy as np
import pytest

from lib.evaluation.report import TARGETS, quality_score
from lib.plots import PANEL, plot_panels
from lib.swap import border_fade


def _report(distance: float, yaw: float, pitch: float, nme: float, ssim: float | None, *,
            retrieval: float = 1.0) -> dict:
    side = {"identity": {"to_target": distance, "retrieval": retrieval},
            "pose_error_degrees": {"yaw": yaw, "pitch": pitch}, "expression_nme": {"face": nme}}
    return {"a2b": side, "b2a": side, "a2a": {"ssim": ssim}, "b2b": {"ssim": ssim}}


def test_quality_score_is_one_on_target_and_grows_with_each_metric() -> None:
    on_target = _report(TARGETS["distance_to_target"], TARGETS["yaw_error"], TARGETS["pitch_error"],
                        TARGETS["face_nme"], 1 - TARGETS["ssim_shortfall"])
    assert quality_score(on_target) == pytest.approx(1.0)
    twice_the_yaw = _report(0.45, 8.0, 4.0, 0.055, 0.75)
    assert quality_score(twice_the_yaw) == pytest.approx(1.2)  # one of five terms doubled
    assert quality_score(_report(0.45, 4.0, 4.0, 0.055, None)) is None


def test_quality_score_ranks_a_model_that_does_not_swap_yet_behind_one_that_does() -> None:
    """The means over both directions of two real held-out evaluations (bench.quality on franck / cap12, 2-core
    AMD EPYC): liae at 10 minutes, whose swaps still looked like their sources (retrieval 0.69 and 0.0) and so
    kept pose and expression, and liae-oneway at 30 minutes, whose swaps were the target and kept less of both.
    By the mean of the metrics alone the first ranks better (1.27 against 1.46)."""
    not_yet = _report(0.63, 5.6, 5.3, 0.050, 0.67, retrieval=0.35)
    swapping = _report(0.52, 9.0, 7.3, 0.070, 0.80, retrieval=1.0)
    assert quality_score(not_yet) > quality_score(swapping)
    assert quality_score(_report(0.45, 4.0, 4.0, 0.055, 0.75, retrieval=0.98)) == pytest.approx(1.0)
    assert quality_score(_report(0.45, 4.0, 4.0, 0.055, 0.75, retrieval=0.97)) == pytest.approx(1.5)


def test_panels_draw_lines_and_targets() -> None:
    image = plot_panels({"distance": {"A->B": ([1, 2, 3], [0.6, 0.5, None]), "B->A": ([1, 2, 3], [0.7, 0.5, 0.4])},
                         "empty": {"x": ([], [])}}, "minutes", {"distance": 0.45}, columns=2)
    assert image.shape == (PANEL[1], 2 * PANEL[0], 3) and image.dtype == np.uint8
    left, right = image[:, :PANEL[0]], image[:, PANEL[0]:]
    assert (left < 250).mean() > (right < 250).mean()  # lines drawn where there is data
    assert ((left[..., 2] > 150) & (left[..., 0] < 80) & (left[..., 1] < 80)).any()  # the red dashed target


def test_border_fade_reaches_zero_at_the_crop_edge_smoothly() -> None:
    fade = border_fade(64, 8.0)
    assert fade.shape == (64, 64) and fade[32, 32] == 1.0
    assert fade[0].max() < 0.02 and fade[:, -1].max() < 0.02
    steps = np.abs(np.diff(fade[32, :16]))
    assert steps.max() < 0.2  # no step: a ramp over 8 pixels
