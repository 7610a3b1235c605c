"""convert's --follow on real faces (Obama's and Biden's extracted faces, dlib's own landmark finder): the warp
moves a face's features where it is asked to, and the aim keeps the target's face shape in the source's pose."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from lib.align import (
    ALIGNED_SIZE,
    align_matrix,
    coverage_matrix,
    mean_aligned_shape,
    predictor_box,
    transform_points,
)
from lib.evaluation.held_out import HeldOutFaces, load_held_out
from lib.pose import head_pose, turn_landmarks
from lib.swap import FINDER_SIZE, FOLLOWED, crop_face, follow, follow_aim
from lib.training.faces import load_faces
from lib.types import Detection
from plugins.extract.align import AlignOptions
from plugins.extract.align.dlib68 import Dlib68Aligner
from tests.training import extracted_faces

N, COVERAGE = 64, 0.6


@pytest.fixture(scope="module")
def finder() -> Dlib68Aligner:
    return Dlib68Aligner(AlignOptions())


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory) -> dict[str, HeldOutFaces]:
    return {side: load_held_out(extracted_faces(tmp_path_factory, side), 8) for side in "AB"}


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """Each person's mean aligned face shape, as train keeps it (lib.training.faces.pose_coverage)."""
    found = {}
    for side in "AB":
        faces = load_faces(Path(extracted_faces(tmp_path_factory, side)))
        assert faces.landmarks is not None
        found[side] = mean_aligned_shape(faces.landmarks, ALIGNED_SIZE)
    return found


def _matrix(landmarks: np.ndarray) -> np.ndarray:
    """Image pixels -> the model's crop, as FaceSwapper.matrix."""
    return coverage_matrix(align_matrix(landmarks, ALIGNED_SIZE), ALIGNED_SIZE, COVERAGE, N)


def _landmarks_on(crop: np.ndarray, near: np.ndarray, finder: Dlib68Aligner) -> np.ndarray:
    """dlib's landmarks on a crop, found as follow finds them (crop pixels)."""
    scale = FINDER_SIZE / N
    big = np.asarray(cv2.resize(crop, (FINDER_SIZE, FINDER_SIZE), interpolation=cv2.INTER_CUBIC), np.uint8)
    return finder.align(big, [Detection(predictor_box(near * scale), 1.0, near * scale)])[0] / scale


def test_follow_moves_a_real_faces_features_to_the_aim(held: dict[str, HeldOutFaces],
                                                        finder: Dlib68Aligner) -> None:
    """A real face's crop, asked to take the landmarks of the same face turned 12 degrees (lib.pose) and with
    its mouth 1.5 px lower: dlib finds the warped crop's brows, eyes, nose and mouth far nearer the aim than
    they were; at strength 0 the crop comes back unchanged."""
    faces = held["A"]
    before, after = [], []
    for image, landmarks in zip(faces.images[:6], faces.landmarks[:6]):
        matrix = _matrix(landmarks)
        crop = crop_face(image, matrix, N)
        source = transform_points(matrix, landmarks)
        turned = turn_landmarks(landmarks, 12.0, 0.0, image.shape[0])
        assert turned is not None
        aim = transform_points(matrix, turned)
        aim[48:68, 1] += 1.5
        warped = follow(crop, source, aim, finder=finder, strength=1.0)
        assert warped is not None and warped.shape == crop.shape and warped.dtype == np.uint8
        drawn = _landmarks_on(crop, source, finder)
        found = _landmarks_on(warped, source, finder)
        before.append(np.linalg.norm(drawn[FOLLOWED] - aim[FOLLOWED], axis=1).mean())
        after.append(np.linalg.norm(found[FOLLOWED] - aim[FOLLOWED], axis=1).mean())
        unmoved = follow(crop, source, aim, finder=finder, strength=0.0)
        assert unmoved is not None and np.array_equal(unmoved, crop)
    assert np.mean(before) > 1.0  # the aim is a real move, in 64 px crops
    assert np.mean(after) < 0.5 * np.mean(before), (before, after)


def test_the_aim_keeps_the_targets_shape_in_the_sources_pose(held: dict[str, HeldOutFaces],
                                                              shapes: dict[str, np.ndarray]) -> None:
    """For Obama's faces swapped to Biden: the aim is Biden's mean shape moved by how each face differs from
    Obama's mean, turned back to the face's own head pose as head_pose reads it in the frame; without shapes
    it is the source's own landmarks. To be sure the turn is made, Biden's mean shape is also given turned
    15 degrees away (as if his faces had all been filmed so): the aim still reads about the source's pose (one
    turn takes up most of such an offset, not all: a real face is not the generic head)."""
    faces = held["A"]
    to_crop = coverage_matrix(np.eye(2, 3), ALIGNED_SIZE, COVERAGE, N)
    away = turn_landmarks(shapes["B"], 15.0, -8.0, ALIGNED_SIZE)
    assert away is not None
    nearer_target = 0
    for i, landmarks in enumerate(faces.landmarks):
        matrix = _matrix(landmarks)
        view = (faces.to_frame[i], faces.frame_shapes[i])
        plain = follow_aim(landmarks, matrix, view, shapes=None, coverage=COVERAGE, size=N)
        np.testing.assert_allclose(plain, transform_points(matrix, landmarks))
        crop_to_frame = (np.vstack([faces.to_frame[i], [0, 0, 1]]) @ np.linalg.inv(np.vstack([matrix, [0, 0, 1]])))
        wanted = head_pose(transform_points(faces.to_frame[i], landmarks), faces.frame_shapes[i])
        for target, within in ((shapes["B"], 2.0), (away, 4.0)):  # a quarter of the 15 degrees, at most
            aim = follow_aim(landmarks, matrix, view, shapes=(shapes["A"], target), coverage=COVERAGE, size=N)
            got = head_pose(transform_points(crop_to_frame[:2], aim), faces.frame_shapes[i])
            assert abs(got[0] - wanted[0]) < within and abs(got[1] - wanted[1]) < within, (i, wanted, got)
        # The aim's shape, centred, lies nearer Biden's mean than the source's own shape does.
        aim = follow_aim(landmarks, matrix, view, shapes=(shapes["A"], shapes["B"]), coverage=COVERAGE, size=N)
        target = transform_points(to_crop, shapes["B"])[FOLLOWED]
        target = target - target.mean(0)
        centred = [points[FOLLOWED] - points[FOLLOWED].mean(0) for points in (aim, plain)]
        nearer_target += int(np.linalg.norm(centred[0] - target) < np.linalg.norm(centred[1] - target))
    assert nearer_target >= 0.75 * len(faces.landmarks)


def test_keep_shape_trades_the_targets_face_shape_for_the_sources(held: dict[str, HeldOutFaces],
                                                                   shapes: dict[str, np.ndarray]) -> None:
    """convert's --follow-shape: at 0 the aim is the source's own landmarks (no shape to turn back); from 0 to 1
    the aim's features move steadily from the source's shape to Biden's."""
    faces = held["A"]
    to_crop = coverage_matrix(np.eye(2, 3), ALIGNED_SIZE, COVERAGE, N)
    target = transform_points(to_crop, shapes["B"])[FOLLOWED]
    target = target - target.mean(0)
    ordered = 0
    for i, landmarks in enumerate(faces.landmarks):
        matrix = _matrix(landmarks)
        view = (faces.to_frame[i], faces.frame_shapes[i])
        aims = [follow_aim(landmarks, matrix, view, shapes=(shapes["A"], shapes["B"]), coverage=COVERAGE, size=N,
                           keep_shape=keep) for keep in (0.0, 0.5, 1.0)]
        np.testing.assert_allclose(aims[0], transform_points(matrix, landmarks), atol=0.05)
        distances = [np.linalg.norm(aim[FOLLOWED] - aim[FOLLOWED].mean(0) - target) for aim in aims]
        ordered += int(distances[0] > distances[1] > distances[2])
    assert ordered >= 0.75 * len(faces.landmarks)
