"""The evaluate pipeline (lib/evaluation.py) on real extracted faces, with stand-in models whose right answers
are known: one returns its input, one returns the target person's own faces, one paints a seam."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from lib.align import transform_points
from lib.errors import FaceswapError
from lib.evaluation import (
    PSNR_CAP,
    EvalOptions,
    FaceMeasurer,
    HeldOutFaces,
    evaluate_faces,
    evaluate_video,
    finite,
    load_held_out,
    pick_evenly,
)
from lib.facefile import read_face_meta
from lib.metrics import mirror_landmarks
from lib.pose import head_pose
from lib.video import VideoReader
from tests.model import extracted_faces, still_faces
from tests.training import VIDEOS

FACES = 10  # per side: enough for means, few enough to stay quick


class IdentityModel:
    """A "model" that gives back what it is given. 128 px at coverage 0.5 of a 256 px face is the crop at
    scale 1, so cropping and pasting back are exact and every error must be zero."""

    input_size = 128
    coverage = 0.5
    has_mask = False

    def swap(self, faces: np.ndarray, direction: str) -> tuple[np.ndarray, None]:
        return np.array(faces), None


class TargetModel(IdentityModel):
    """A perfect identity swapper: for a2b it returns B's own faces (cropped as the model sees them)."""

    def __init__(self, target: HeldOutFaces) -> None:
        self.faces = np.stack([image[64:192, 64:192] for image in target.images])  # the coverage crop

    def swap(self, faces: np.ndarray, direction: str) -> tuple[np.ndarray, None]:
        if direction != "a2b":
            return np.array(faces), None
        return self.faces[np.arange(len(faces)) % len(self.faces)], None


class BrightModel(IdentityModel):
    """Returns its input 80 levels brighter: pasted without feathering, a seam shows all round the mask."""

    def swap(self, faces: np.ndarray, direction: str) -> tuple[np.ndarray, None]:
        return np.clip(faces.astype(np.int16) + 80, 0, 255).astype(np.uint8), None


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return extracted_faces(tmp_path_factory, "A"), extracted_faces(tmp_path_factory, "B")


@pytest.fixture(scope="module")
def faces(folders: tuple[Path, Path]) -> tuple[HeldOutFaces, HeldOutFaces]:
    return load_held_out(folders[0], FACES), load_held_out(folders[1], FACES)


@pytest.fixture(scope="module")
def measurer() -> FaceMeasurer:
    return FaceMeasurer()


@pytest.fixture(scope="module")
def identity_report(faces: tuple[HeldOutFaces, HeldOutFaces], measurer: FaceMeasurer) -> dict:
    return evaluate_faces(IdentityModel(), *faces, EvalOptions(), measurer=measurer)[0]


def test_identity_model_scores_retrieval_toward_the_source(identity_report: dict) -> None:
    for direction in ("a2b", "b2a"):
        scores = identity_report[direction]
        assert (scores["faces"], scores["measured"], scores["landmarks_failed"]) == (FACES, FACES, 0)
        identity = scores["identity"]
        assert identity["retrieval"] == 0.0
        assert identity["to_source"] < 0.3
        assert identity["to_target"] > 0.6


def test_identity_model_keeps_pose_and_expression_exactly(identity_report: dict) -> None:
    for direction in ("a2b", "b2a"):
        assert identity_report[direction]["pose_error_degrees"] == pytest.approx(
            {"yaw": 0, "pitch": 0, "roll": 0, "mean": 0}, abs=1e-3)
        assert identity_report[direction]["expression_nme"] == pytest.approx(
            {"face": 0, "eyes": 0, "mouth": 0}, abs=1e-6)
    for direction in ("a2a", "b2b"):
        assert identity_report[direction] == {"faces": FACES, "ssim": pytest.approx(1.0), "psnr": PSNR_CAP}


def test_a_model_that_gives_the_target_face_scores_full_retrieval(faces: tuple[HeldOutFaces, HeldOutFaces],
                                                                  measurer: FaceMeasurer) -> None:
    report, samples = evaluate_faces(TargetModel(faces[1]), *faces, EvalOptions(), measurer=measurer)
    identity = report["a2b"]["identity"]
    assert report["a2b"]["measured"] >= FACES - 1
    assert identity["retrieval"] == 1.0
    assert identity["to_target"] < 0.6 < identity["to_source"]
    assert report["b2a"]["identity"]["retrieval"] == 0.0  # b2a stays the identity
    shown = samples["a2b"]
    assert 1 < len(shown) <= 8
    assert not np.array_equal(shown[0]["swap"], shown[0]["source"])
    assert shown[0]["mask"].shape == shown[0]["source"].shape[:2] and shown[0]["mask"].max() > 0.99


def test_reference_descriptors_separate_the_people(identity_report: dict, faces: tuple[HeldOutFaces, HeldOutFaces],
                                                   measurer: FaceMeasurer,
                                                   tmp_path_factory: pytest.TempPathFactory) -> None:
    """Obama's faces sit nearer Obama's centroid than Biden's, and so do the faces of other Obama photos."""
    reference = identity_report["reference"]
    assert reference["A"]["to_A"] < 0.6 < reference["A"]["to_B"]
    assert reference["B"]["to_B"] < 0.6 < reference["B"]["to_A"]
    centroids = [np.mean([measurer.describe(image, measurer.landmarks(image, points))
                          for image, points in zip(side.images, side.landmarks)], axis=0) for side in faces]
    stills = load_held_out(still_faces(tmp_path_factory), 10)
    assert len(stills) == 3
    for image, points in zip(stills.images, stills.landmarks):
        found = measurer.landmarks(image, points)
        assert found is not None
        descriptor = measurer.describe(image, found)
        to_obama, to_biden = (float(np.linalg.norm(descriptor - c)) for c in centroids)
        assert to_obama < 0.6 < to_biden


def test_yaw_of_a_mirrored_face_flips_sign(tmp_path_factory: pytest.TempPathFactory,
                                           measurer: FaceMeasurer) -> None:
    stills = load_held_out(still_faces(tmp_path_factory), 10)
    yaws = []
    for image, points, to_frame, shape in zip(stills.images, stills.landmarks, stills.to_frame,
                                              stills.frame_shapes):
        found = measurer.landmarks(image, points)
        mirrored = np.ascontiguousarray(image[:, ::-1])
        found_mirrored = measurer.landmarks(mirrored, mirror_landmarks(points, image.shape[1]))
        assert found is not None and found_mirrored is not None
        yaws.append((head_pose(transform_points(to_frame, found), shape)[0],
                     head_pose(found_mirrored, image.shape)[0], head_pose(found, image.shape)[0]))
    turned = max(yaws, key=lambda y: abs(y[0]))
    assert abs(turned[0]) > 10, "one Obama still shows a turned head"
    assert np.sign(turned[1]) == -np.sign(turned[2])
    assert abs(turned[1] + turned[2]) < 5


def test_video_jitter_and_seams(faces: tuple[HeldOutFaces, HeldOutFaces], folders: tuple[Path, Path],
                                measurer: FaceMeasurer) -> None:
    """Frames of the A video with extract's landmarks: the identity model adds no jitter and no seam, a
    brightened face pasted without feathering shows one."""
    metas = {meta.frame_index: meta for path in sorted(folders[0].glob("*.png"))
             if (meta := read_face_meta(path)) is not None}
    frames = [(frame, metas[index].face.landmarks) for index, frame in VideoReader(VIDEOS["A"]) if index in metas]
    frames = frames[:8]
    frames.insert(4, (frames[4][0], None))  # a frame without a face breaks the run
    same = evaluate_video(IdentityModel(), frames, EvalOptions(), measurer=measurer)
    assert (same["frames"], same["faces"], same["landmarks_failed"]) == (9, 8, 0)
    assert same["jitter"]["source"] > 0
    assert same["jitter"]["ratio"] == pytest.approx(1.0, abs=0.15)
    assert abs(same["seam_gradient"]["jump"]) < 1.0
    seam = evaluate_video(BrightModel(), frames, EvalOptions(color="none", blur=0), measurer=measurer)
    assert seam["seam_gradient"]["jump"] > 5 + same["seam_gradient"]["jump"]


def test_held_out_faces_are_evenly_spaced_and_checked(folders: tuple[Path, Path], tmp_path: Path) -> None:
    assert pick_evenly(25, 5) == [0, 6, 12, 18, 24]
    assert pick_evenly(3, 5) == [0, 1, 2]
    names = sorted(p.name for p in folders[0].glob("*.png"))
    picked = load_held_out(folders[0], 5)
    assert picked.names == [names[i] for i in (0, 6, 12, 18, 24)] and picked.files == 25
    mixed = tmp_path / "mixed"
    shutil.copytree(folders[0], mixed)
    shutil.copy(VIDEOS["A"].parents[1] / "stills" / "biden" / "biden.jpg", mixed / "zz_plain.jpg")
    (mixed / "zz_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    loaded = load_held_out(mixed, 100)
    assert (len(loaded), loaded.files) == (25, 27)
    assert loaded.skipped == {"no extract metadata": 1, "unreadable": 1}
    plain = tmp_path / "plain"
    plain.mkdir()
    shutil.copy(mixed / "zz_plain.jpg", plain / "biden.jpg")
    with pytest.raises(FaceswapError, match="extract's landmarks"):
        load_held_out(plain, 10)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FaceswapError, match="no face images"):
        load_held_out(tmp_path / "empty", 10)
    with pytest.raises(FaceswapError, match="does not exist"):
        load_held_out(tmp_path / "nowhere", 10)


def test_report_numbers_are_json_safe() -> None:
    report = finite({"a": float("nan"), "b": [float("inf"), np.float32(0.123456)], "c": np.int64(3), "d": "x"})
    assert report == {"a": None, "b": [None, 0.1235], "c": 3, "d": "x"}
