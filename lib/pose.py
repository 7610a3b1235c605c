"""Head pose (yaw, pitch, roll in degrees) from 68 landmarks with solvePnP and a 3-D mean face."""
from __future__ import annotations

import cv2
import numpy as np

from lib.types import Landmarks

# A generic adult head in millimetres (x right, y up, z toward the camera; nose tip at the origin), for the
# landmarks: nose tip 30, chin 8, outer eye corners 36 and 45, mouth corners 48 and 54, and the inner eye
# corners 39 and 42. Anthropometric averages, as used widely for PnP head pose.
_POINTS = [30, 8, 36, 45, 48, 54, 39, 42]
_MODEL = np.array([
    [0.0, 0.0, 0.0],
    [0.0, -63.6, -12.5],
    [-43.3, 32.7, -26.0],
    [43.3, 32.7, -26.0],
    [-28.9, -28.9, -24.1],
    [28.9, -28.9, -24.1],
    [-15.0, 32.7, -25.0],
    [15.0, 32.7, -25.0],
])
_EYE_SPAN = float(np.linalg.norm(_MODEL[3] - _MODEL[2]))  # outer eye corners, mm
# The same in OpenCV's camera convention (y down, z away from the camera), so a frontal face has no rotation.
_MODEL_CV = _MODEL * [1.0, -1.0, -1.0]


def head_pose(landmarks: Landmarks, frame_shape: tuple[int, ...]) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of a face in a frame of the given (height, width).

    Yaw is positive when the face turns toward the image's right, pitch positive when it looks up,
    roll positive when the head tilts clockwise in the image. A pinhole camera with focal length = image
    width is assumed (no calibration is known); angles are for comparing faces, not for metrology.
    """
    height, width = frame_shape[:2]
    camera = np.array([[width, 0, width / 2], [0, width, height / 2], [0, 0, 1]], np.float64)
    image_points = np.asarray(landmarks, np.float64)[_POINTS]
    # Levenberg-Marquardt from a frontal head at the distance its eye span gives, the nose tip on its ray.
    # Started from OpenCV's own guess (a planar fit of eight points that are nearly coplanar) it ended on a
    # mirrored head turned 90-100 degrees for about one blurred swapped face in ten.
    span = max(float(np.linalg.norm(image_points[3] - image_points[2])), 1e-6)
    distance = width * _EYE_SPAN / span
    nose = image_points[0]
    start = np.array([(nose[0] - width / 2) * distance / width, (nose[1] - height / 2) * distance / width,
                      distance]).reshape(3, 1)
    ok, rotation_vector, _ = cv2.solvePnP(_MODEL_CV, image_points, camera, np.zeros(4), np.zeros((3, 1)), start,
                                          useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        return float("nan"), float("nan"), float("nan")
    rotation, _ = cv2.Rodrigues(rotation_vector)
    pitch, yaw, roll = (float(a) for a in cv2.RQDecomp3x3(rotation)[0])
    # Camera axes: x right, y down, z away. A face turning to the image's right rotates about -y.
    return _wrap(-yaw), _wrap(-pitch), _wrap(roll)


def _wrap(angle: float) -> float:
    """Fold an angle into (-90, 90]: RQ decomposition may return the equivalent angle + 180."""
    while angle > 90:
        angle -= 180
    while angle <= -90:
        angle += 180
    return angle


# The poses a person's training faces cover: the 5th to 95th percentile of their yaw and of their pitch (a few
# odd faces do not widen it).
COVERED = (5.0, 95.0)
ANGLES = ("yaw", "pitch")


def pose_range(poses: np.ndarray) -> dict[str, list[float]]:
    """poses (N, 2) yaw and pitch in degrees → {'yaw': [low, high], 'pitch': [low, high]} they cover (COVERED)."""
    values = np.asarray(poses, np.float64).reshape(-1, 2)
    values = values[np.isfinite(values).all(axis=1)]
    return {angle: [round(float(np.percentile(values[:, i], q)), 1) for q in COVERED]
            for i, angle in enumerate(ANGLES)}


def outside_share(poses: np.ndarray, covered: dict[str, list[float]]) -> dict[str, float]:
    """The share of poses (N, 2) turned (yaw) or tilted (pitch) beyond a range of pose_range's."""
    values = np.asarray(poses, np.float64).reshape(-1, 2)
    values = values[np.isfinite(values).all(axis=1)]
    if not len(values):
        return {angle: float("nan") for angle in ANGLES}
    return {angle: round(float(np.mean((values[:, i] < covered[angle][0]) | (values[:, i] > covered[angle][1]))),
                         3) for i, angle in enumerate(ANGLES)}
