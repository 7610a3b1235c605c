"""The realism measures on real faces: detail against the frame (blur lowers it, sharpening raises it, an enlarged
face PNG reads as its frame), expressions carried over a set of faces, the colour strip at the face's edge, and the
head pose MediaPipe's mesh gives."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from lib.align import align_matrix, invert, warp_face
from lib.blend import sharpen
from lib.evaluation.realism import (
    EXPRESSIONS,
    Look,
    MeshJudge,
    Pair,
    detail_share,
    edge_delta_e,
    summarise,
)
from lib.image import read_image
from lib.metrics import mirror_landmarks
from lib.types import Frame, Landmarks
from plugins.extract.align import AlignOptions
from plugins.extract.align.dlib68 import Dlib68Aligner
from plugins.extract.detect import DetectOptions
from plugins.extract.detect.dlib_hog import DlibHogDetector
from tests.conftest import DATA


def _face(path: str) -> tuple[Frame, Landmarks]:
    frame = read_image(DATA / path)
    detections = DlibHogDetector(DetectOptions()).detect([frame])[0]
    return frame, Dlib68Aligner(AlignOptions()).align(frame, detections[:1])[0]


@pytest.fixture(scope="module")
def judge() -> MeshJudge:
    return MeshJudge()


def test_detail_falls_with_blur_and_rises_with_sharpening() -> None:
    frame, landmarks = _face("stills/obama/obama.jpg")
    original = detail_share(frame, landmarks)
    blurred = detail_share(cv2.GaussianBlur(frame, (0, 0), 1.5), landmarks)
    sharpened = detail_share(sharpen(frame, 1.0), landmarks)
    assert blurred < 0.7 * original < original < sharpened


def test_an_enlarged_face_reads_as_its_frame() -> None:
    """A face PNG is its frame enlarged (here 2.5x): shrunk back to the face's size in the frame, its detail is the
    frame's, not the enlargement's (which has none above the frame's own resolution)."""
    frame, landmarks = _face("stills/biden/biden.jpg")
    small = cv2.resize(frame, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA)
    points = landmarks * 0.4
    matrix = align_matrix(points, 256)
    face = warp_face(small, matrix, 256)
    scale = float(np.sqrt(abs(np.linalg.det(invert(matrix)[:, :2]))))  # frame pixels per face pixel
    in_face = (points @ matrix[:, :2].T) + matrix[:, 2]
    assert scale < 0.6
    assert detail_share(face, in_face, scale) == pytest.approx(detail_share(small, points), rel=0.15)
    assert detail_share(face, in_face) < 0.5 * detail_share(small, points)  # read as is, it looks blurred


def _look(expression: list[float]) -> Look:
    return Look(np.array(expression), (0.0, 0.0, 0.0), 0.2, np.zeros((3, 2)))


def test_expressions_carried() -> None:
    """A swap that blinks with the source scores r 1 and range 1; one that never blinks r 0 and range 0; one that
    smiles where the source does not adds what it smiles."""
    rng = np.random.default_rng(0)
    source = rng.uniform(0, 1, (40, len(EXPRESSIONS)))
    same = summarise([Pair(_look(list(s)), _look(list(s)), (1.0, 1.0)) for s in source])
    assert same["expression"]["blink"] == pytest.approx({"r": 1.0, "range": 1.0, "added": 0.0})
    still = source.copy()
    still[:, 0] = 0.1
    still[:, 2] = source[:, 2] + 0.3
    frozen = summarise([Pair(_look(list(s)), _look(list(t)), (1.0, 1.0)) for s, t in zip(source, still)])
    assert frozen["expression"]["blink"]["r"] == 0.0 and frozen["expression"]["blink"]["range"] == 0.0
    assert frozen["expression"]["smile"]["added"] == pytest.approx(0.3)
    assert summarise([None, None])["lost"] == 2


def test_edge_strip(judge: MeshJudge) -> None:
    """A blue strip (franck's wall) painted along the inside of the face oval raises the outer ring's colour
    difference above the inner face's; the face against itself differs nowhere."""
    frame, landmarks = _face("stills/biden/biden.jpg")
    look = judge.look(frame, landmarks)
    assert look is not None
    assert edge_delta_e(frame, frame, look.oval) == (0.0, 0.0)
    mask = np.zeros(frame.shape[:2], np.uint8)
    cv2.polylines(mask, [np.round(look.oval).astype(np.int32)], True, 1, thickness=6)
    striped = frame.copy()
    striped[mask > 0] = (200, 90, 30)  # BGR: the blue of franck's wall
    outer, inner = edge_delta_e(frame, striped, look.oval)
    assert outer > 20 and inner == 0.0


def test_judge_reads_pose_and_expression(judge: MeshJudge) -> None:
    """A face mirrored turns the other way (yaw changes sign); Obama smiles, Biden does not."""
    frame, landmarks = _face("stills/obama/obama3.jpg")
    look = judge.look(frame, landmarks)
    mirror = judge.look(frame[:, ::-1].copy(), mirror_landmarks(landmarks, frame.shape[1]))
    assert look is not None and mirror is not None
    assert abs(look.pose[0]) > 5 and mirror.pose[0] == pytest.approx(-look.pose[0], abs=3)
    smiling, plain = judge.look(*_face("stills/obama/obama.jpg")), judge.look(*_face("stills/biden/biden.jpg"))
    assert smiling is not None and plain is not None
    assert smiling.expression[2] > 0.6 > plain.expression[2] + 0.4
