"""The mean-face template, the similarity transform to it, and warps between frames and aligned faces.

Face space: the template's inner points (brows, eyes, nose, mouth: landmarks 17-67) span [0, 1] in x, and
the brows touch y = 0. An aligned face of any size shows FACE_SPAN face units around FACE_CENTRE, which
is the inner face plus half a face of margin on every side: jaw, forehead and some hair, so that train and
convert can pick their own coverage later.
"""
from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt

from lib.blend import keep_grain
from lib.types import Box, Face, Frame, Landmarks, Mask, Matrix

# Derived by scripts/derive_template.py: Procrustes mean of 53 real 68-point shapes (dlib's ground
# truth plus dlib predictions on tests/data) and their mirror images, made exactly symmetric.
TEMPLATE: npt.NDArray[np.float64] = np.array([
    [-0.1237, 0.2043], [-0.1142, 0.3706], [-0.0969, 0.5332], [-0.066, 0.6959], [-0.0063, 0.8455],
    [0.0921, 0.9759], [0.2126, 1.0876], [0.3452, 1.1777], [0.5, 1.203], [0.6548, 1.1777],
    [0.7874, 1.0876], [0.9079, 0.9759], [1.0063, 0.8455], [1.066, 0.6959], [1.0969, 0.5332],
    [1.1142, 0.3706], [1.1237, 0.2043], [0.0, 0.1003], [0.0744, 0.0267], [0.1795, 0.0],
    [0.292, 0.0072], [0.4002, 0.0439], [0.5998, 0.0439], [0.708, 0.0072], [0.8205, 0.0],
    [0.9256, 0.0267], [1.0, 0.1003], [0.5, 0.1693], [0.5, 0.2735], [0.5, 0.3763], [0.5, 0.4853],
    [0.3734, 0.5541], [0.4328, 0.5765], [0.5, 0.5982], [0.5672, 0.5765], [0.6266, 0.5541],
    [0.1288, 0.1893], [0.1939, 0.1541], [0.2693, 0.1542], [0.3352, 0.1976], [0.2655, 0.2067],
    [0.1919, 0.2087], [0.6648, 0.1976], [0.7307, 0.1542], [0.8061, 0.1541], [0.8712, 0.1893],
    [0.8081, 0.2087], [0.7345, 0.2067], [0.2478, 0.7502], [0.3369, 0.7181], [0.4313, 0.7061],
    [0.5, 0.7202], [0.5687, 0.7061], [0.6631, 0.7181], [0.7522, 0.7502], [0.6672, 0.8474],
    [0.5733, 0.8901], [0.5, 0.898], [0.4267, 0.8901], [0.3328, 0.8474], [0.2861, 0.7568],
    [0.4316, 0.7494], [0.5, 0.7577], [0.5684, 0.7494], [0.7139, 0.7568], [0.5708, 0.8136],
    [0.5, 0.8238], [0.4292, 0.8136],
])
INNER = slice(17, 68)
LEFT_EYE = slice(36, 42)
RIGHT_EYE = slice(42, 48)
MOUTH = slice(48, 68)
FACE_CENTRE = (0.5, 0.45)
FACE_SPAN = 2.0
# Where dlib's 68-point predictor expects its box (the mean box it was trained on), in face space.
PREDICTOR_BOX = (-0.1263, -0.1826, 1.1263, 1.0887)
# Order of a detector's 5 keypoints: left eye, right eye, nose tip, left and right mouth corner.
# Where each of the 68 points goes in a mirror image: jaw, brows, nostrils, eyes and lips swap sides, so
# points 36-41 stay the image-left eye after a flip.
MIRROR_68 = np.array(
    [16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,  # jaw
     26, 25, 24, 23, 22, 21, 20, 19, 18, 17,  # brows
     27, 28, 29, 30, 35, 34, 33, 32, 31,  # nose
     45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,  # eyes
     54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55,  # outer lips
     64, 63, 62, 61, 60, 67, 66, 65])  # inner lips
TEMPLATE_5 = np.array([
    TEMPLATE[LEFT_EYE].mean(0), TEMPLATE[RIGHT_EYE].mean(0), TEMPLATE[30], TEMPLATE[48], TEMPLATE[54],
])
ALIGNED_SIZE = 256  # the aligned-face size the swap's coverage crop is defined on (the contract with train)


def umeyama(src: npt.NDArray[np.float64], dst: npt.NDArray[np.float64]) -> Matrix:
    """The least-squares similarity transform (rotation, uniform scale, shift) taking src points to dst.

    src, dst: (N, 2). Returns a 2x3 float64 matrix. Umeyama (1991), without reflection.
    """
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    var = src_c.var(0).sum()
    scale = np.trace(np.diag(s) @ sign) / var if var > 0 else 1.0
    shift = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, shift[:, None]])


def transform_points(matrix: Matrix, points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Apply a 2x3 affine matrix to (N, 2) points."""
    return np.asarray(points, np.float64) @ matrix[:, :2].T + matrix[:, 2]


def invert(matrix: Matrix) -> Matrix:
    """The inverse of a 2x3 affine matrix."""
    return cv2.invertAffineTransform(np.asarray(matrix, np.float64)).astype(np.float64)


def compose(outer: Matrix, inner: Matrix) -> Matrix:
    """outer after inner, as one 2x3 matrix."""
    full = np.vstack([outer, [0.0, 0.0, 1.0]]) @ np.vstack([inner, [0.0, 0.0, 1.0]])
    return full[:2]


def resize_matrix(old: int, new: int) -> Matrix:
    """Pixels of an old x old image -> pixels of the same image resized to new x new (cv2.resize keeps pixel
    centres: x' = (x + 0.5) * new / old - 0.5)."""
    scale = new / old
    return np.array([[scale, 0.0, 0.5 * scale - 0.5], [0.0, scale, 0.5 * scale - 0.5]])


def face_space_to_pixels(size: int) -> Matrix:
    """The matrix taking face-space units to pixels of an aligned face of the given size."""
    scale = size / FACE_SPAN
    return np.array([
        [scale, 0.0, size / 2 - FACE_CENTRE[0] * scale],
        [0.0, scale, size / 2 - FACE_CENTRE[1] * scale],
    ])


def align_matrix(landmarks: Landmarks, size: int) -> Matrix:
    """The matrix taking frame pixels to an upright aligned face of size x size pixels."""
    to_face_space = umeyama(np.asarray(landmarks, np.float64)[INNER], TEMPLATE[INNER])
    return compose(face_space_to_pixels(size), to_face_space)


def mean_aligned_shape(faces: npt.NDArray[np.float64], size: int) -> npt.NDArray[np.float64]:
    """The mean of faces' 68 landmarks (N, 68, 2) once each face is aligned to size x size pixels: a person's
    face shape, as the swap's crops see it. (68, 2)."""
    return np.mean([transform_points(align_matrix(points, size), points) for points in faces], axis=0)


def coverage_matrix(matrix: Matrix, size: int, coverage: float, out_size: int) -> Matrix:
    """Narrow an aligned-face matrix to its central share `coverage` (0-1], resampled to out_size."""
    crop = size * coverage
    scale = out_size / crop
    offset = (size - crop) / 2
    return compose(np.array([[scale, 0.0, -offset * scale], [0.0, scale, -offset * scale]]), matrix)


def template_points(size: int) -> npt.NDArray[np.float64]:
    """The 68 template points in pixels of an aligned face of the given size."""
    return transform_points(face_space_to_pixels(size), TEMPLATE)


def warp_face(frame: Frame, matrix: Matrix, size: int) -> Face:
    """Cut the aligned face out of a frame; outside the frame is black."""
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_CUBIC
    face = cv2.warpAffine(frame, matrix, (size, size), flags=interpolation, borderMode=cv2.BORDER_CONSTANT)
    return np.asarray(face, np.uint8)


def landmark_offsets(source: np.ndarray, moved: np.ndarray, size: int, *, sigma: float = 0.2,
                     coarse: int = 16) -> np.ndarray:
    """Backward offsets (size, size, 2) float32 that move points `source` to `moved` (both (K, 2), in output
    pixels): output pixel p reads p + offset(p), so at each moved point it reads about its source point.

    A Gaussian radial basis fit (width sigma x size) of the points' offsets, evaluated on a coarse grid and
    enlarged: smooth, and fading to no move a few widths away from every point (the crop's border stays put).
    """
    scale = sigma * size
    points = moved.astype(np.float64) / scale
    wanted = (source - moved).astype(np.float64)
    gram = np.exp(-0.5 * ((points[:, None] - points[None]) ** 2).sum(-1))
    weights = np.linalg.solve(gram + 1e-1 * np.eye(len(points)), wanted)  # the small ridge: coincident points
    grid = (np.arange(coarse) + 0.5) * (size / coarse) - 0.5
    nodes = np.stack(np.meshgrid(grid, grid), -1).reshape(-1, 2) / scale
    field = np.exp(-0.5 * ((nodes[:, None] - points[None]) ** 2).sum(-1)) @ weights
    return cv2.resize(field.reshape(coarse, coarse, 2).astype(np.float32), (size, size),
                      interpolation=cv2.INTER_CUBIC)


def offset_maps(matrix: Matrix, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cv2.remap maps for an output of offsets' size: output pixel p reads the source where the affine matrix
    (source -> output) takes p + offsets[p]."""
    size = offsets.shape[0]
    grid = np.arange(size, dtype=np.float32)
    x = grid[None, :] + offsets[..., 0]
    y = grid[:, None] + offsets[..., 1]
    inverse = invert(matrix).astype(np.float32)
    map_x = inverse[0, 0] * x + inverse[0, 1] * y + inverse[0, 2]
    map_y = inverse[1, 0] * x + inverse[1, 1] * y + inverse[1, 2]
    return map_x, map_y


def predictor_box(keypoints: npt.NDArray[np.float64]) -> Box:
    """The box dlib's 68-point predictor wants for a face, placed from 5 (or 68) points in frame pixels."""
    template = TEMPLATE_5 if len(keypoints) == 5 else TEMPLATE
    src = np.asarray(keypoints, np.float64)
    to_frame = umeyama(template if len(src) == 5 else template[INNER], src if len(src) == 5 else src[INNER])
    left, top, right, bottom = PREDICTOR_BOX
    centre = transform_points(to_frame, np.array([[(left + right) / 2, (top + bottom) / 2]]))[0]
    scale = float(np.sqrt(abs(np.linalg.det(to_frame[:, :2]))))
    half_w, half_h = (right - left) * scale / 2, (bottom - top) * scale / 2
    return Box(int(round(centre[0] - half_w)), int(round(centre[1] - half_h)),
               int(round(centre[0] + half_w)), int(round(centre[1] + half_h)))


def eye_centres(landmarks: Landmarks) -> npt.NDArray[np.float64]:
    """Left and right eye centres (image left first), shape (2, 2)."""
    points = np.asarray(landmarks, np.float64)
    return np.array([points[LEFT_EYE].mean(0), points[RIGHT_EYE].mean(0)])


def paste_face(frame: Frame, face: Face, mask: Mask, matrix: Matrix,
               blend: Callable[[Frame, Frame, Mask], Frame] | None = None, *, grain: float = 0.0) -> Frame:
    """Warp a face (n x n, BGR uint8) and its mask (n x n float32 in [0, 1]) back into a copy of the frame
    and blend them there; matrix takes frame pixels to the face's pixels. Only the face's footprint is
    warped (cubic for the face, linear for the mask), so the cost does not grow with the frame size.
    blend(background, warped face, warped mask) -> patch, alpha blending when None. grain: how much of the frame's
    detail finer than the face's resolution is kept (lib.blend.keep_grain)."""
    size = face.shape[0]
    inverse = invert(matrix)
    corners = transform_points(inverse, np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64))
    height, width = frame.shape[:2]
    left, top = (max(0, int(np.floor(v)) - 2) for v in corners.min(0))
    right = min(width, int(np.ceil(corners[:, 0].max())) + 2)
    bottom = min(height, int(np.ceil(corners[:, 1].max())) + 2)
    out = frame.copy()
    if right <= left or bottom <= top:
        return out
    # The same matrix, for pixels counted from the patch's top-left corner.
    local = matrix.copy()
    local[:, 2] += matrix[:, :2] @ np.array([left, top], np.float64)
    patch_size = (right - left, bottom - top)
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    interpolation = cv2.INTER_CUBIC if scale < 1.0 else cv2.INTER_LINEAR  # face upscaled: cubic
    warped = cv2.warpAffine(face, local, patch_size, flags=interpolation | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_REPLICATE)
    warped_mask = cv2.warpAffine(mask, local, patch_size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    alpha = np.clip(warped_mask, 0.0, 1.0).astype(np.float32)
    background = frame[top:bottom, left:right]
    warped = keep_grain(np.asarray(warped, np.uint8), background, grain, scale)
    if blend is None:
        out[top:bottom, left:right] = cv2.blendLinear(warped, background, alpha, 1.0 - alpha)
    else:
        out[top:bottom, left:right] = blend(background, np.asarray(warped, np.uint8), alpha)
    return out
