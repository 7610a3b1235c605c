"""MediaPipe's face landmarker on LiteRT, on real faces: its points against hand-checked landmarks, its presence
score on a face and on a patch that is none, and its expression scores on faces that smile or open the mouth."""
from __future__ import annotations

import numpy as np
import pytest

from lib.align import eye_centres
from lib.facemesh import MESH_POINTS, FaceMesh, roi_matrix, seed_matrix
from lib.image import read_image
from plugins.extract.align import AlignOptions
from plugins.extract.align.dlib68 import Dlib68Aligner
from plugins.extract.detect import DetectOptions
from plugins.extract.detect.dlib_hog import DlibHogDetector
from tests.conftest import DATA, landmark_truth

# Mesh points at the iBUG points they mark: eye corners, nose tip, mouth corners.
CORNERS = {33: 36, 133: 39, 362: 42, 263: 45, 1: 30, 61: 48, 291: 54}


@pytest.fixture(scope="module")
def mesh() -> FaceMesh:
    return FaceMesh()


def test_points_land_on_hand_checked_corners(mesh: FaceMesh) -> None:
    """Placed from the true 68 points of 18 faces (most about 37 px), the mesh's eye and mouth corners and nose
    tip lie within a fifth of the eye distance of the true ones on average (a mesh placed one eye width off, or
    read in the wrong colour order, misses by more)."""
    errors = []
    for name, photo in landmark_truth().items():
        frame = read_image(DATA / "landmarks" / name)
        for _, truth in photo.faces:
            found = mesh.fit(frame, truth)
            assert found.points.shape == (MESH_POINTS, 3)
            eyes = float(np.linalg.norm(np.diff(eye_centres(truth), axis=0)))
            errors += [np.linalg.norm(found.points[m, :2] - truth[i]) / eyes for m, i in CORNERS.items()]
    assert len(errors) == 18 * len(CORNERS)
    assert np.mean(errors) < 0.2, np.mean(errors)


def _face(path: str) -> tuple[np.ndarray, np.ndarray]:
    frame = read_image(DATA / path)
    detections = DlibHogDetector(DetectOptions()).detect([frame])[0]
    return frame, Dlib68Aligner(AlignOptions()).align(frame, detections[:1])[0]


def test_expressions_told_apart(mesh: FaceMesh) -> None:
    """Obama smiling, Biden not; Obama's mouth open in obama2.jpg, closed in obama3.jpg."""
    scores = {name: mesh.fit(*_face(f"stills/{name}.jpg")) for name in ("obama/obama", "obama/obama2",
                                                                         "obama/obama3", "biden/biden")}
    assert scores["obama/obama"].blendshape("mouthSmileLeft") > 0.6 > scores["biden/biden"].blendshape(
        "mouthSmileLeft") + 0.4
    assert scores["obama/obama2"].blendshape("jawOpen") > 0.3 > scores["obama/obama3"].blendshape("jawOpen") + 0.2
    assert all(face.presence > 0.9 for face in scores.values())


def test_presence_low_where_there_is_no_face(mesh: FaceMesh) -> None:
    """The mission patch on the astronaut's suit, where dlib's HOG detector also fires: not a face."""
    frame = read_image(DATA / "stills" / "single" / "astronaut.jpg")
    face = mesh.fit(frame, _face("stills/single/astronaut.jpg")[1])
    patch = np.array([[340, 330], [420, 330], [380, 370], [350, 400], [410, 400]], np.float64)  # on the suit
    assert face.presence > 0.9
    assert mesh.fit(frame, patch).presence < 0.2


def test_crop_follows_the_face_roll() -> None:
    """The crop is turned with the eye line: a face rolled 30 degrees gives a crop matrix rolled 30 degrees, and
    a mesh or 68 points of one face place nearly the same crop."""
    _, landmarks = _face("stills/biden/biden.jpg")
    angle = np.radians(30)
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    upright, rolled = seed_matrix(landmarks), seed_matrix(landmarks @ turn.T)
    roll = np.degrees(np.arctan2(rolled[0, 1], rolled[0, 0]) - np.arctan2(upright[0, 1], upright[0, 0]))
    assert roll == pytest.approx(30, abs=0.5)
    frame = read_image(DATA / "stills" / "biden" / "biden.jpg")
    found = FaceMesh().fit(frame, landmarks)
    assert np.allclose(roi_matrix(found.points)[:, :2], upright[:, :2], rtol=0.25, atol=0.01)
