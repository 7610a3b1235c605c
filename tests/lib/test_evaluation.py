"""lib/evaluation on real extracted faces and video frames, swapped in known ways whose right scores are known:
left as they are (every error zero), given the other person's real face (the identity moves), pasted back 80
levels brighter without feathering (a seam). The swaps are built with the same paste as convert's; a trained
model is evaluated end to end in tests/e2e/test_evaluate.py."""
from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from lib.align import align_matrix, coverage_matrix, paste_face, transform_points
from lib.blend import feather_mask
from lib.errors import FaceswapError
from lib.evaluation.held_out import HeldOutFaces, load_held_out, pick_evenly
from lib.evaluation.measure import FaceMeasurer
from lib.evaluation.occlusion import occlude, score_masks
from lib.evaluation.report import finite, metric_rows
from lib.evaluation.scores import PSNR_CAP, SOURCE_SIDE, score_faces, score_video
from lib.facefile import read_face_meta
from lib.masks import hull_mask
from lib.metrics import mirror_landmarks
from lib.occlusion import load_occluders
from lib.pose import head_pose
from lib.swap import ALIGNED_SIZE, SwappedFace, SwappedFrame, crop_face
from lib.types import Face, Frame, Landmarks
from lib.video import VideoReader
from plugins.extract.align import AlignOptions
from plugins.extract.align.dlib68 import Dlib68Aligner
from tests.conftest import DATA
from tests.model import extracted_faces, still_faces
from tests.training import VIDEOS

FACES = 10  # per side: enough for means, few enough to stay quick
SIZE, COVERAGE = 128, 0.5  # 128 px at coverage 0.5 of a 256 px aligned face: the crop at scale 1


def swapped(image: Frame, landmarks: Landmarks, output: Callable[[Face], Face] | None, blur: float = 5.0
            ) -> SwappedFrame:
    """image with the model crop of the face at landmarks replaced by output(crop), pasted back with the
    feathered hull mask (blur in % of the crop) as convert pastes; output None leaves the image as it is."""
    matrix = coverage_matrix(align_matrix(landmarks, ALIGNED_SIZE), ALIGNED_SIZE, COVERAGE, SIZE)
    crop = crop_face(image, matrix, SIZE)
    face = crop if output is None else output(crop)
    made = hull_mask(transform_points(matrix, landmarks), SIZE)
    mask = feather_mask(made, blur / 100 * SIZE)
    pasted = image.copy() if output is None else paste_face(image, face, mask, matrix)
    return SwappedFrame(pasted, [SwappedFace(crop, face, face, mask, matrix, made)])


def swap_all(faces: dict[str, HeldOutFaces], output: dict[str, Callable[[Face], Face] | None]
             ) -> dict[str, list[SwappedFrame]]:
    """Every direction's faces swapped with that direction's output (a missing direction: unchanged)."""
    return {direction: [swapped(image, points, output.get(direction))
                        for image, points in zip(faces[side].images, faces[side].landmarks)]
            for direction, side in SOURCE_SIDE.items()}


def brighter(crop: Face) -> Face:
    return np.clip(crop.astype(np.int16) + 80, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return extracted_faces(tmp_path_factory, "A"), extracted_faces(tmp_path_factory, "B")


@pytest.fixture(scope="module")
def faces(folders: tuple[Path, Path]) -> tuple[HeldOutFaces, HeldOutFaces]:
    return load_held_out(folders[0], FACES), load_held_out(folders[1], FACES)


@pytest.fixture(scope="module")
def measurer() -> FaceMeasurer:
    return FaceMeasurer(Dlib68Aligner(AlignOptions()))


@pytest.fixture(scope="module")
def identity_report(faces: tuple[HeldOutFaces, HeldOutFaces], measurer: FaceMeasurer) -> dict:
    unchanged = swap_all({"A": faces[0], "B": faces[1]}, {})
    return score_faces(*faces, unchanged, measurer)[0]


def test_unchanged_faces_score_retrieval_toward_the_source(identity_report: dict) -> None:
    for direction in ("a2b", "b2a"):
        scores = identity_report[direction]
        assert (scores["faces"], scores["measured"], scores["landmarks_failed"]) == (FACES, FACES, 0)
        identity = scores["identity"]
        assert identity["retrieval"] == 0.0
        assert identity["to_source"] < 0.3
        assert identity["to_target"] > 0.6


def test_unchanged_faces_keep_pose_and_expression_exactly(identity_report: dict) -> None:
    for direction in ("a2b", "b2a"):
        assert identity_report[direction]["pose_error_degrees"] == pytest.approx(
            {"yaw": 0, "pitch": 0, "roll": 0, "mean": 0}, abs=1e-3)
        assert identity_report[direction]["expression_nme"] == pytest.approx(
            {"face": 0, "eyes": 0, "mouth": 0}, abs=1e-6)
        for key in ("pose_offset_degrees", "pose_tracking_degrees"):
            assert identity_report[direction][key] == pytest.approx({"yaw": 0, "pitch": 0, "roll": 0}, abs=1e-3)
        assert identity_report[direction]["colour_delta_e"] == {"face": 0.0, "eyes": 0.0, "mouth": 0.0}
    for direction in ("a2a", "b2b"):
        assert identity_report[direction] == {"faces": FACES, "ssim": pytest.approx(1.0), "psnr": PSNR_CAP}
    rows = {name: values for name, *values in metric_rows({**identity_report, "occlusion": None})}
    assert rows["pose followed: yaw error less the shared offset (offset)"] in (["0.0 (+0.0)"] * 2,
                                                                                 ["0.0 (-0.0)"] * 2)
    assert rows["colour kept: eyes Delta E to the source (lower)"] == ["0.0", "0.0"]


def test_the_target_persons_real_face_scores_full_retrieval(faces: tuple[HeldOutFaces, HeldOutFaces],
                                                            measurer: FaceMeasurer) -> None:
    """A->B gives each A face the crop of a real B face (as a perfect model would): it reads as B."""
    b_crops = [swapped(image, points, None).faces[0].crop for image, points in zip(faces[1].images,
                                                                                    faces[1].landmarks)]
    turn = iter(range(10**6))

    def b_face(_crop: Face) -> Face:
        return b_crops[next(turn) % len(b_crops)]

    swaps = swap_all({"A": faces[0], "B": faces[1]}, {"a2b": b_face})
    report, samples = score_faces(*faces, swaps, measurer)
    identity = report["a2b"]["identity"]
    assert report["a2b"]["measured"] >= FACES - 1
    assert identity["retrieval"] == 1.0
    assert identity["to_target"] < 0.6 < identity["to_source"]
    assert report["b2a"]["identity"]["retrieval"] == 0.0  # b2a left unchanged
    shown = samples["a2b"]
    assert 1 < len(shown) <= 8
    assert not np.array_equal(shown[0].swap, shown[0].source)
    assert shown[0].mask.shape == shown[0].source.shape[:2] and shown[0].mask.max() > 0.99


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
    """Frames of the A video with extract's landmarks: an unchanged face adds no jitter and no seam, a
    brightened face pasted without feathering shows one."""
    metas = {meta.frame_index: meta for path in sorted(folders[0].glob("*.png"))
             if (meta := read_face_meta(path)) is not None}
    frames = [(frame, metas[index].face.landmarks) for index, frame in VideoReader(VIDEOS["A"]) if index in metas]
    frames = frames[:8]
    frames.insert(4, (frames[4][0], None))  # a frame without a face breaks the run
    same = score_video([(frame, points, None if points is None else swapped(frame, points, None))
                        for frame, points in frames], measurer)
    assert (same["frames"], same["faces"], same["landmarks_failed"]) == (9, 8, 0)
    assert same["jitter"]["source"] > 0
    assert same["jitter"]["ratio"] == pytest.approx(1.0, abs=0.15)
    assert abs(same["seam_gradient"]["jump"]) < 1.0
    seam = score_video([(frame, points, None if points is None else swapped(frame, points, brighter, blur=0))
                        for frame, points in frames], measurer)
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


def _masked_swap(image: Frame, landmarks: Landmarks, alpha: np.ndarray | None) -> SwappedFrame:
    """The face at landmarks pasted back 80 levels brighter with the hull mask, less the occluder (alpha in
    image pixels) when one is given: what a mask that knows the occluder would do."""
    matrix = coverage_matrix(align_matrix(landmarks, ALIGNED_SIZE), ALIGNED_SIZE, COVERAGE, SIZE)
    crop = crop_face(image, matrix, SIZE)
    made = hull_mask(transform_points(matrix, landmarks), SIZE)
    if alpha is not None:
        made = made * (cv2.warpAffine(alpha, matrix, (SIZE, SIZE)) < 0.5)
    mask = feather_mask(made, 0.02 * SIZE)
    face = brighter(crop)
    return SwappedFrame(paste_face(image, face, mask, matrix), [SwappedFace(crop, face, face, mask, matrix, made)])


def test_occlusion_scores_a_mask_that_leaves_the_occluder_out_as_kept(
        faces: tuple[HeldOutFaces, HeldOutFaces]) -> None:
    """Held-out occluders on real faces: the hull mask pastes over them (kept ~0, IoU = visible share of the
    hull); a mask less the occluder keeps them (kept ~1, IoU ~1), and the pixels under them are the source's."""
    occluders, _ = load_occluders(DATA / "occluders")
    covered, alphas = occlude(faces[0], occluders)
    assert len(alphas) == FACES and all(0 < (a > 0.5).sum() for a in alphas)
    assert all(np.abs(c.astype(int) - f).max() > 50 for c, f in zip(covered.images, faces[0].images))
    hull = [_masked_swap(image, points, None) for image, points in zip(covered.images, covered.landmarks)]
    aware = [_masked_swap(image, points, alpha)
             for image, points, alpha in zip(covered.images, covered.landmarks, alphas)]
    blind, knowing = score_masks(covered, hull, alphas), score_masks(covered, aware, alphas)
    assert blind["measured"] >= FACES - 2 and knowing["measured"] == blind["measured"]
    assert blind["occluder_kept"] < 0.05 and 0.5 < blind["face_iou"] < 0.97
    assert knowing["occluder_kept"] > 0.97 and knowing["face_iou"] > 0.97
    for result, image, alpha in zip(aware, covered.images, alphas):
        core = cv2.erode((alpha > 0.99).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        if core.any():  # the occluder in front: the source's pixels (up to the feathered edge)
            assert np.abs(result.image[core].astype(int) - image[core]).mean() < 2
