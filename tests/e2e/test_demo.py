"""`demo` through the real CLI on the bundled clips: every stage, summary.json, and a second run that resumes."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from lib.model.state import read_state
from lib.recipes import RECIPES
from lib.swap import SwapOptions
from lib.video import probe_video, video_comment
from scripts.demo.run import CLIPS
from tests.conftest import assert_quiet, run_cli

pytestmark = pytest.mark.slow  # the fast tier leaves the end-to-end runs out


def test_demo_runs_the_pipeline_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    first = run_cli("demo", "-o", out, "--minutes", "0.15")
    assert first.returncode == 0, first.stderr[-3000:]
    assert_quiet(first.stderr)
    summary = json.loads((out / "summary.json").read_text())
    for role in ("preview", "report", "sheet", "model"):
        assert Path(summary[role]).exists(), role
    assert [Path(path).name for path in summary["swapped_videos"]] == ["A_to_B.mp4", "B_to_A.mp4"]
    for path, clip in zip(summary["swapped_videos"], (CLIPS["A"], CLIPS["B"])):
        info, source = probe_video(Path(path)), probe_video(clip)
        assert (info.frame_count, info.fps) == (source.frame_count, source.fps) == (75, 25.0)
        assert video_comment(Path(path)) == "synthetic: made with faceswap"
    headline = summary["headline"]
    assert 0 <= headline["a2b"]["retrieval"] <= 1 and headline["ssim"]["a2a"] > 0 and headline["score"] > 0
    report = json.loads(Path(summary["report"]).read_text())
    assert report["faces"]["A"]["used"] == 15 and report["faces"]["B"]["used"] == 15  # every 5th of 75 frames
    # The README's recipe for the machine (lib/recipes.py): the model keeps its convert settings, which convert
    # and evaluate use (the CPU recipe ends each run on unwarped faces and sharpens its swaps, the GPU one not).
    recipe = RECIPES[summary["training"]["recipe"]]
    assert summary["training"]["no_warp_after"] == recipe.warp_share
    state = read_state(out / "model")
    assert state is not None and (state.training.recipe, state.training.convert) == (recipe.name, recipe.convert)
    expected = {key: value for key, value in asdict(SwapOptions(**recipe.convert)).items() if key != "given"}
    assert {key: report["settings"][key] for key in expected} == expected
    assert "summary.json" in first.stderr and "swapped_videos" in first.stderr
    trained = read_state(out / "model")
    assert trained is not None and trained.iteration == summary["training"]["iterations"] > 0

    second = run_cli("demo", "-o", out, "--minutes", "0.1")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "done by an earlier run" in second.stderr and "resumed model" in second.stderr
    resumed = read_state(out / "model")
    assert resumed is not None and resumed.iteration > trained.iteration
    assert json.loads((out / "summary.json").read_text())["training"]["iterations"] == resumed.iteration
