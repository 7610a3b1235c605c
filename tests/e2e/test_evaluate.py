"""`evaluate` end to end through the real CLI: a tiny model trained here on real faces, a video, bad input."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lib.evaluation.held_out import load_held_out
from lib.expression import expression_counts
from lib.image import SYNTHETIC_KEY, png_text, read_image
from lib.pose import outside_share
from tests.conftest import DATA, assert_one_line_error, assert_quiet, run_cli
from tests.model import extracted_faces

pytestmark = pytest.mark.slow  # the fast tier leaves the end-to-end runs out

# A few steps: a model folder that loads and swaps; what it has learned does not matter here.
TRAIN = ("--model", "lightweight", "--learn-mask", "--iterations", "2", "--batch-size", "4",
         "--preview-every", "0")




@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    faces_a, faces_b = extracted_faces(tmp_path_factory, "A"), extracted_faces(tmp_path_factory, "B")
    model = tmp_path_factory.mktemp("evaluate") / "model"
    run_cli("train", "-A", faces_a, "-B", faces_b, "-m", model, *TRAIN, check=True)
    return model, faces_a, faces_b


def test_evaluate_writes_report_sheet_and_table(setup: tuple[Path, Path, Path]) -> None:
    model, faces_a, faces_b = setup
    result = run_cli("evaluate", "-m", model, "-A", faces_a, "-B", faces_b, "--max-faces", "6",
                     "-i", DATA / "video" / "A_obama_kenburns.mp4", "-D", "dlib-hog", "--max-frames", "10",
                     "--video-b", DATA / "video" / "B_biden_kenburns.mp4", check=True)
    assert_quiet(result.stderr)
    out = model / "evaluation"
    report = json.loads((out / "report.json").read_text())
    assert (report["schema"], report["version"]) == ("faceswap-evaluation", 1)
    assert (report["model"]["name"], report["model"]["iteration"], report["model"]["has_mask"]) == \
        ("lightweight", 2, True)
    assert report["faces"]["A"] == {"folder": str(faces_a), "files": 25, "used": 6, "skipped": {}}
    for direction in ("a2b", "b2a"):
        scores = report[direction]
        assert scores["faces"] == 6 and scores["measured"] + scores["landmarks_failed"] == 6
        assert set(scores["identity"]) == {"to_target", "to_source", "retrieval"}
        assert scores["measured"] == 0 or 0 <= scores["identity"]["retrieval"] <= 1
    for direction in ("a2a", "b2b"):
        assert 0 < report[direction]["ssim"] < 1 and 0 < report[direction]["psnr"] < 60  # 2 steps: far from input
    assert report["occlusion"] is None  # no --occluders
    for section, direction in (("video", "a2b"), ("video_b", "b2a")):
        video = report[section]
        assert (video["frames"], video["faces"], video["direction"]) == (10, 10, direction)
        assert video["jitter"]["source"] > 0 and video["seam_gradient"]["before"] > 0
        # What a viewer sees, judged by MediaPipe on every frame (a pan over a photo: no expression moves).
        realism = video["realism"]
        assert realism["faces"] == 10 and realism["lost"] < 10 and realism["detail"] > 0
        assert set(realism["expression"]) == {"blink", "jaw_open", "smile"}
    for direction in ("a2b", "b2a"):
        assert report[direction]["realism"]["faces"] == 6
    sheet = out / "sheet.png"
    assert SYNTHETIC_KEY.decode() in png_text(sheet.read_bytes())
    assert read_image(sheet).shape[0] > 6 * 128  # six rows of faces above the table
    assert "| identity: retrieval as target (higher)" in result.stderr
    assert "video: seam gradient jump" in result.stderr
    assert "| realism: detail kept, swap / frame (0.85-1.15)" in result.stderr
    # The held-out sources against the poses train kept of the other side's faces (poses.json).
    covered = json.loads((model / "poses.json").read_text())["covered"]
    for direction, source, target in (("a2b", faces_a, "B"), ("b2a", faces_b, "A")):
        expected = outside_share(load_held_out(source, 6).poses(), covered[target])
        assert report["pose_coverage"][direction] == pytest.approx(expected, abs=1e-3)
    # And the expressions: held-out sources that shut their eyes or open their mouth, beside the target's training
    # faces that do (poses.json; a Ken Burns pan over one photo: none of either).
    trained = json.loads((model / "poses.json").read_text())["expressions"]
    for direction, source, target in (("a2b", faces_a, "B"), ("b2a", faces_b, "A")):
        counts = report["expression_coverage"][direction]
        assert counts["target_trained"] == trained[target]
        assert counts["sources"] == expression_counts(np.array(load_held_out(source, 6).landmarks))
    assert "| sources with eyes shut / target's training faces with it" in result.stderr
    assert "| sources beyond the target's training poses: yaw / pitch" in result.stderr


def test_bad_input_is_one_line(setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    model, faces_a, faces_b = setup
    assert_one_line_error(run_cli("evaluate", "-m", tmp_path / "none", "-A", faces_a, "-B", faces_b),
                          "model folder not found")
    assert_one_line_error(run_cli("evaluate", "-m", model, "-A", tmp_path / "none", "-B", faces_b),
                          "-A face folder")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run_cli("evaluate", "-m", tmp_path / "empty", "-A", faces_a, "-B", faces_b,
                                  "--max-faces", "2"), "holds no trained model")
    plain = tmp_path / "plain"
    plain.mkdir()
    shutil.copy(DATA / "stills" / "biden" / "biden.jpg", plain)
    assert_one_line_error(run_cli("evaluate", "-m", model, "-A", faces_a, "-B", plain), "extract's landmarks")
    assert_one_line_error(run_cli("evaluate", "-m", model, "-A", faces_a, "-B", faces_b, "--max-faces", "0"),
                          "--max-faces")
    assert_one_line_error(run_cli("evaluate", "-m", model, "-A", faces_a, "-B", faces_b, "--occluders",
                                  tmp_path / "none"), "--occluders folder not found")
