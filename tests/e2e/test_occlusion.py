"""Occlusion-aware masks end to end through the real CLI: a model trained here with --occlusion-aug on real
faces keeps a real object photo (a held-out occluder: training never sees it) in front of a real face it never
trained on, where the hull mask pastes the swapped face over it; evaluate --occluders measures the same."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from lib.align import MOUTH, align_matrix, coverage_matrix
from lib.alignments import load_alignments
from lib.image import is_marked_synthetic, read_image, write_png
from lib.masks import hull_mask
from lib.occlusion import load_occluders, paste
from lib.swap import ALIGNED_SIZE
from tests.conftest import DATA, run_cli
from tests.model import extracted_faces

pytestmark = pytest.mark.slow  # the fast tier leaves the end-to-end runs out

# Long enough for the mask network to learn what is not face (it learns far faster than the faces do: here the
# frisbee is kept to within 1 grey level after 60 steps with an occluder on every face).
TRAIN = ("--model", "lightweight", "--learn-mask", "--occlusion-aug", "1", "--iterations", "60",
         "--batch-size", "8", "--preview-every", "0", "--save-every", "1000", "--seed", "3")
PHOTO = DATA / "stills" / "obama" / "obama2.jpg"  # not the photo the training clip was made from
OCCLUDERS = DATA / "occluders"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    faces_a, faces_b = extracted_faces(tmp_path_factory, "A"), extracted_faces(tmp_path_factory, "B")
    model = tmp_path_factory.mktemp("occlusion") / "model"
    run_cli("train", "-A", faces_a, "-B", faces_b, "-m", model, *TRAIN, check=True)
    return model, faces_a, faces_b


def test_a_real_object_over_the_mouth_stays_in_front_while_the_face_around_it_changes(
        model: tuple[Path, Path, Path], tmp_path: Path) -> None:
    clean, covered = tmp_path / "clean", tmp_path / "covered"
    clean.mkdir()
    covered.mkdir()
    write_png(clean / "obama2.png", read_image(PHOTO))
    alignments = tmp_path / "obama2.json"
    run_cli("extract", "-i", clean, "-o", tmp_path / "faces", "-p", alignments, "-D", "dlib-hog", check=True)
    (entry,) = load_alignments(alignments).frames.values()
    landmarks = np.asarray(entry.faces[0].landmarks, np.float64)
    # The frisbee photo (tests/data/occluders) over the mouth, as extract's landmarks of the clean photo place it.
    frame = read_image(clean / "obama2.png")
    occluders, _ = load_occluders(OCCLUDERS)
    frisbee = occluders[sorted(p.name for p in OCCLUDERS.iterdir()).index("frisbee.jpg")]
    width = float(np.linalg.norm(landmarks[16] - landmarks[0]))
    alpha = paste(frame, frisbee, landmarks[MOUTH].mean(0), 0.7 * width)
    write_png(covered / "obama2.png", frame)
    outputs = {}
    for mask in ("auto", "hull"):
        run_cli("convert", "-i", covered, "-o", tmp_path / mask, "-m", model[0], "-p", alignments, "--mask", mask,
                check=True)
        outputs[mask] = read_image(tmp_path / mask / "obama2.png").astype(np.int16)
    source = frame.astype(np.int16)
    # Pixels of the occluder well inside it, and of the face well away from it (past the mask's feathered edge,
    # 5 % of the crop, and its 64 px resolution); both inside the model's crop.
    matrix = coverage_matrix(align_matrix(landmarks, ALIGNED_SIZE), ALIGNED_SIZE, 0.6, 64)
    crop = cv2.warpAffine(np.full((64, 64), 255, np.uint8), matrix, frame.shape[1::-1],
                          flags=cv2.WARP_INVERSE_MAP) > 0
    margin = int(round(0.06 * 64 / np.sqrt(abs(np.linalg.det(matrix[:, :2])))))  # 6 % of the crop, in frame px
    grow = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    occluder = cv2.erode((alpha > 0.99).astype(np.uint8), grow) > 0
    face = (cv2.erode(hull_mask(landmarks, max(frame.shape)).astype(np.uint8)[:frame.shape[0], :frame.shape[1]],
                      grow) > 0) & ~(cv2.dilate((alpha > 0.01).astype(np.uint8), grow) > 0)
    occluder, face = occluder & crop, face & crop
    assert occluder.sum() > 300 and face.sum() > 2000
    kept = np.abs(outputs["auto"] - source).max(-1)
    assert kept[occluder].mean() < 6 and np.percentile(kept[occluder], 90) < 20  # the frisbee, as it was
    assert np.abs(outputs["auto"] - source).max(-1)[face].mean() > 8  # the face around it: swapped
    # The hull mask knows no occluders: it pastes the swapped face over the frisbee.
    assert np.abs(outputs["hull"] - source).max(-1)[occluder].mean() > 20


def test_evaluate_measures_held_out_occluders(model: tuple[Path, Path, Path], tmp_path: Path) -> None:
    path, faces_a, faces_b = model
    run_cli("evaluate", "-m", path, "-A", faces_a, "-B", faces_b, "--max-faces", "10", "--occluders", OCCLUDERS,
            "-o", tmp_path / "eval", check=True)
    occlusion = json.loads((tmp_path / "eval" / "report.json").read_text())["occlusion"]
    assert (occlusion["occluders"], occlusion["files"]) == (str(OCCLUDERS), 5)
    for direction in ("a2b", "b2a"):
        scores = occlusion[direction]
        assert scores["faces"] == 10 and scores["measured"] >= 8
        assert 0.3 < scores["occluder_kept"] <= 1 and 0.6 < scores["face_iou"] <= 1
    assert read_image(tmp_path / "eval" / "occlusion.png").shape[0] == 6 * 128
    assert is_marked_synthetic(tmp_path / "eval" / "occlusion.png")
