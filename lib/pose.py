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


def _camera(frame_shape: tuple[int, ...], focal: float | None = None) -> np.ndarray:
    """A pinhole camera, centred, with focal length = image width unless given (no calibration is known)."""
    height, width = frame_shape[:2]
    focal = width if focal is None else focal
    return np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], np.float64)


def _solve(landmarks: Landmarks, camera: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The generic head's rotation matrix and translation (OpenCV camera axes) that best fit the landmarks."""
    focal, width, height = camera[0, 0], 2 * camera[0, 2], 2 * camera[1, 2]
    image_points = np.asarray(landmarks, np.float64)[_POINTS]
    # Levenberg-Marquardt from a frontal head at the distance its eye span gives, the nose tip on its ray.
    # Started from OpenCV's own guess (a planar fit of eight points that are nearly coplanar) it ended on a
    # mirrored head turned 90-100 degrees for about one blurred swapped face in ten.
    span = max(float(np.linalg.norm(image_points[3] - image_points[2])), 1e-6)
    distance = focal * _EYE_SPAN / span
    nose = image_points[0]
    start = np.array([(nose[0] - width / 2) * distance / focal, (nose[1] - height / 2) * distance / focal,
                      distance]).reshape(3, 1)
    ok, rotation_vector, translation = cv2.solvePnP(_MODEL_CV, image_points, camera, np.zeros(4),
                                                    np.zeros((3, 1)), start, useExtrinsicGuess=True,
                                                    flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        return None
    return cv2.Rodrigues(rotation_vector)[0], translation.reshape(3)


def head_pose(landmarks: Landmarks, frame_shape: tuple[int, ...]) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of a face in a frame of the given (height, width).

    Yaw is positive when the face turns toward the image's right, pitch positive when it looks up,
    roll positive when the head tilts clockwise in the image. A pinhole camera with focal length = image
    width is assumed (no calibration is known); angles are for comparing faces, not for metrology.
    """
    solved = _solve(landmarks, _camera(frame_shape))
    if solved is None:
        return float("nan"), float("nan"), float("nan")
    pitch, yaw, roll = (float(a) for a in cv2.RQDecomp3x3(solved[0])[0])
    # Camera axes: x right, y down, z away. A face turning to the image's right rotates about -y.
    return _wrap(-yaw), _wrap(-pitch), _wrap(roll)


# Depth of each of the 68 landmarks in the same generic head (mm toward the camera, nose tip 0): the eight
# points above as they are, the others placed between them (jaw line from the ears round to the chin, brows
# over the eyes, the nose's bridge and wings, the lips in front of their corners).
_DEPTH_68 = np.array([
    -75, -70, -62, -52, -40, -28, -20, -15, -12.5, -15, -20, -28, -40, -52, -62, -70, -75,  # jaw 0-16
    -40, -32, -27, -24, -22, -22, -24, -27, -32, -40,  # brows 17-26
    -22, -16, -9, 0, -15, -11, -8, -11, -15,  # nose 27-35
    -26, -22, -22, -25, -24, -24, -25, -22, -22, -26, -24, -24,  # eyes 36-47
    -24.1, -18, -13, -12, -13, -18, -24.1, -19, -15, -14, -15, -19,  # outer lips 48-59
    -23, -15, -14, -15, -23, -16, -15, -16,  # inner lips 60-67
], np.float64)


def turn_landmarks(landmarks: Landmarks, yaw: float, pitch: float, image_size: int | tuple[int, ...],
                   focal: float | None = None) -> np.ndarray | None:
    """68 landmarks of a face in a square image of this side (or a frame of this (height, width) shape), moved
    as the head would move them turning by yaw and pitch degrees more (head_pose's signs), seen by a camera of
    this focal length (default: the image's width, as head_pose assumes). float32 (68, 2), or None when no head
    fits.

    The head is fitted as head_pose fits it, each landmark is lifted onto it at the generic depth of its kind,
    the lifted points turn about their centroid (the face stays where it was) and are projected again. A real
    face is not the generic head: the fit reads such a turn about 1.5x in yaw and 0.65x in pitch, so the turn
    is made again, scaled by what the first one read, and head_pose reads the asked change to within a degree
    or two.
    """
    shape = (image_size, image_size) if isinstance(image_size, int) else image_size
    camera = _camera(shape, focal)
    solved = _solve(landmarks, camera)
    if solved is None:
        return None
    lifted = _lift(np.asarray(landmarks, np.float64), *solved, camera)
    asked = np.array([yaw, pitch], np.float64)
    first = _project(_turned(lifted, asked), camera)
    read = _angles(first, camera)
    if read is None:
        return first.astype(np.float32)
    before = _angles(np.asarray(landmarks, np.float64), camera)
    change = read - (before if before is not None else 0.0)
    gain = np.where(np.abs(asked) > 0.5, np.clip(change / np.where(asked == 0, 1.0, asked), 0.4, 2.5), 1.0)
    return _project(_turned(lifted, asked / gain), camera).astype(np.float32)


def _angles(points: np.ndarray, camera: np.ndarray) -> np.ndarray | None:
    """(yaw, pitch) in head_pose's signs, from the fit with this camera."""
    solved = _solve(points, camera)
    if solved is None:
        return None
    pitch, yaw, _ = cv2.RQDecomp3x3(solved[0])[0]
    return np.array([-yaw, -pitch], np.float64)


def _lift(points: np.ndarray, rotation: np.ndarray, translation: np.ndarray, camera: np.ndarray) -> np.ndarray:
    """Camera-space points (68, 3) on the fitted head that project onto the landmarks, each at its depth.

    In head coordinates a point is (u, v, depth); its camera point P = R (u, v, d) + t must project onto the
    landmark: f Px - (x - cx) Pz = 0 and f Py - (y - cy) Pz = 0, two linear equations in u and v."""
    focal, centre = camera[0, 0], camera[:2, 2]
    offset = points - centre
    depth = -_DEPTH_68  # OpenCV's axes: z away from the camera
    rows = focal * rotation[:2][None] - offset[:, :, None] * rotation[2][None, None]  # (68, 2, 3)
    known = rows[:, :, 2] * depth[:, None] + focal * translation[None, :2] - offset * translation[2]
    uv = np.linalg.solve(rows[:, :, :2], -known[..., None])[..., 0]
    lifted: np.ndarray = np.concatenate([uv, depth[:, None]], axis=1) @ rotation.T + translation
    return lifted


def _turned(lifted: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """The camera-space points turned by (yaw, pitch) degrees about their centroid."""
    turn = cv2.Rodrigues(np.array([0.0, -np.radians(angles[0]), 0.0]))[0] @ cv2.Rodrigues(
        np.array([-np.radians(angles[1]), 0.0, 0.0]))[0]
    middle = lifted.mean(axis=0)
    turned: np.ndarray = (lifted - middle) @ turn.T + middle
    return turned


def _project(points: np.ndarray, camera: np.ndarray) -> np.ndarray:
    """Camera-space points (K, 3) to image pixels (K, 2)."""
    projected: np.ndarray = camera[0, 0] * points[:, :2] / points[:, 2:] + camera[:2, 2]
    return projected


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


def mesh_head_pose(points: np.ndarray, canonical: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees, head_pose's signs, of a face mesh: points (468+, 3) as lib.facemesh gives
    them (x, y pixels, z depth, smaller nearer), canonical (468, 3) the mean face (x right, y up, z toward the
    camera; lib.facemesh.canonical_mesh). A scaled orthographic fit of all 468 points (Kabsch): the mesh's own
    depth makes it well posed without a camera."""
    seen = np.asarray(points, np.float64)[:len(canonical)] * [1.0, -1.0, -1.0]  # y up, z toward the camera
    seen = seen - seen.mean(axis=0)
    model = canonical - canonical.mean(axis=0)
    u, _, vt = np.linalg.svd(model.T @ seen)
    flip = np.sign(np.linalg.det(vt.T @ u.T))
    rotation = vt.T @ np.diag([1.0, 1.0, flip]) @ u.T  # model -> seen
    forward, right = rotation[:, 2], rotation[:, 0]
    yaw = np.degrees(np.arctan2(forward[0], forward[2]))
    pitch = np.degrees(np.arctan2(forward[1], np.hypot(forward[0], forward[2])))
    roll = np.degrees(np.arctan2(-right[1], right[0]))
    return float(yaw), float(pitch), float(roll)
