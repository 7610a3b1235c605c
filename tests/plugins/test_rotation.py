"""The rotation search (plugins.extract.rotate, plugins.extract.pipeline): the hand-checked photos turned on their
side, upside down and by 45 degrees, the faces found there taken back into the photo's pixels, and what it costs
on a photo whose faces are upright."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from bench.extract import recall_and_error, turned_photo
from lib.align import transform_points
from lib.image import read_image
from lib.types import Box, DetectedFace, Mesh
from plugins.extract.detect import DetectOptions
from plugins.extract.pipeline import FaceFinder
from plugins.extract.rotate import roll, turn, turned_back
from tests.conftest import DATA, landmark_truth

RecordProperty = Callable[[str, object], None]


@pytest.fixture(scope="module")
def default() -> FaceFinder:
    return FaceFinder()


@pytest.mark.parametrize("degrees", [90, -90, 180, 45])
def test_turned_photos_are_searched(default: FaceFinder, degrees: int, record_property: RecordProperty) -> None:
    found = recall_and_error(default, degrees)
    record_property(f"recall_{degrees}", found["recall"])
    assert found["recall"] >= 0.8  # measured 1.0 each (MTCNN with dlib's landmarks, before the search: 0.0 at 90)
    assert found["false_positives"] == 0
    # Found in the turned frame, taken back: the points land on the truth as well as upright ones do (0.078).
    assert found["nme_mean"] <= 0.1


def test_without_the_search_most_turned_faces_are_lost(default: FaceFinder) -> None:
    upright_only = FaceFinder(detect_options=DetectOptions(rotate=False))
    assert recall_and_error(upright_only, 90)["recall"] < 0.5  # measured 0.11
    assert recall_and_error(upright_only, 0)["recall"] == 1.0


def test_the_search_costs_nothing_where_faces_are_upright(default: FaceFinder) -> None:
    calls = []
    detect = default.detector.detect

    def counted(frames: list) -> list:
        calls.append(len(frames))
        return detect(frames)

    default.detector.detect = counted  # type: ignore[method-assign]
    try:
        found = default.find([read_image(DATA / "landmarks" / "2007_007763.jpg")])[0]
        assert len(found) == 7 and calls == [1]
        calls.clear()
        turned, _ = turn(read_image(DATA / "landmarks" / "2007_007763.jpg"), -90)
        assert len(default.find([turned])[0]) == 7 and len(calls) >= 2
    finally:
        del default.detector.detect


@pytest.mark.parametrize("degrees", [90, -90, 180, 270, 45, -30])
def test_turn_moves_pixels_as_its_matrix_says(degrees: float) -> None:
    frame = read_image(DATA / "landmarks" / "2008_001009.jpg")  # 360 x 480, not square
    turned, matrix = turn(frame, degrees)
    points = np.array([[10.0, 20.0], [200.0, 300.0], [350.0, 470.0], [180.0, 240.0]])
    moved = transform_points(matrix, points)
    if degrees % 90 == 0:  # whole pixels go to whole pixels, exactly
        rounded = np.round(moved).astype(int)
        np.testing.assert_allclose(moved, rounded, atol=1e-9)
        for (x, y), (u, v) in zip(points.astype(int), rounded):
            assert (turned[v, u] == frame[y, x]).all()
    else:  # resampled: the neighbourhood keeps its colour
        for (x, y), (u, v) in zip(points.astype(int)[1:3], np.round(moved).astype(int)[1:3]):
            assert np.abs(turned[v, u].astype(int) - frame[y, x].astype(int)).max() < 40
    assert turned.shape[0] * turned.shape[1] >= frame.shape[0] * frame.shape[1]


def test_a_face_comes_back_with_its_box_landmarks_and_mesh() -> None:
    truth = landmark_truth()["2008_001009.jpg"].faces[0][1]
    frame = read_image(DATA / "landmarks" / "2008_001009.jpg")
    _, [turned_points] = turned_photo(frame, [truth], 90)
    turned, matrix = turn(frame, 90)
    mesh = np.column_stack([turned_points[:, :2], np.arange(68.0)])
    low, high = turned_points.min(0), turned_points.max(0)
    face = DetectedFace(Box(int(low[0]), int(low[1]), int(high[0]) + 1, int(high[1]) + 1), 0.9, turned_points,
                        Mesh(mesh, np.zeros(52, np.float32)))
    back = turned_back(face, matrix, frame.shape)
    np.testing.assert_allclose(back.landmarks, truth, atol=1e-6)
    assert back.mesh is not None
    np.testing.assert_allclose(back.mesh.points[:, :2], truth, atol=1e-6)
    np.testing.assert_array_equal(back.mesh.points[:, 2], np.arange(68.0))  # depth is not turned
    assert back.box.left <= truth[:, 0].min() and back.box.right >= truth[:, 0].max()
    assert back.box.top <= truth[:, 1].min() and back.box.bottom >= truth[:, 1].max()
    assert abs(roll(turned_points) - roll(truth) - (-90)) < 1  # a quarter turn counter-clockwise: leans left
