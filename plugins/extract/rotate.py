"""Frames turned for the detector, and what it found there turned back: detectors are trained on upright faces,
so a face lying on its side is found in the frame turned upright for it."""
from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from lib.align import LEFT_EYE, MOUTH, RIGHT_EYE, invert, transform_points
from lib.types import Box, DetectedFace, Frame, Landmarks, Matrix, Mesh

# Where the upright pass finds no face, the frame is turned by these (degrees counter-clockwise, as the face in
# it would need to be turned to stand up) until one finds some: a quarter turn either way, then upside down.
SEARCH = (90, -90, 180)
# A face rolled further than this from upright is found less surely (RetinaFace, upright pass alone: all 18 faces
# of the hand-checked photos turned 30 degrees, about half turned 45): a second pass with the frame turned upright
# for it.
ROLLED = 35.0
SNAP = 10.0  # a roll this close to a quarter turn is taken as one: turned exactly, without resampling


def roll(points: Landmarks) -> float:
    """How far a face is rolled from upright, degrees in (-180, 180], positive when the top of the head leans to
    the image's right (turned clockwise as seen): turn(frame, roll) stands it up. From 68 landmarks or a detector's
    5 keypoints (frame pixels), read from the mouth to the middle of the eyes: steadier than the eye line alone."""
    xy = np.asarray(points, np.float64)
    if len(xy) == 5:  # eyes, nose, mouth corners
        up = xy[:2].mean(0) - xy[3:].mean(0)
    else:
        up = (xy[LEFT_EYE].mean(0) + xy[RIGHT_EYE].mean(0)) / 2 - xy[MOUTH].mean(0)
    return float(np.degrees(np.arctan2(up[0], -up[1])))


def turn(frame: Frame, degrees: float) -> tuple[Frame, Matrix]:
    """The frame turned by degrees (counter-clockwise as seen) on a canvas that holds all of it, and the matrix
    taking frame pixels to the turned frame's. Quarter turns are exact (no resampling)."""
    height, width = frame.shape[:2]
    quarter = round(degrees / 90) % 4
    if abs(degrees - 90 * round(degrees / 90)) < 1e-6:
        codes = {1: cv2.ROTATE_90_COUNTERCLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_CLOCKWISE}
        turned = frame if quarter == 0 else np.ascontiguousarray(cv2.rotate(frame, codes[quarter]))
        # Pixel centres: x' = y, y' = W - 1 - x for a counter-clockwise quarter turn, and so on.
        matrices = {0: [[1, 0, 0], [0, 1, 0]], 1: [[0, 1, 0], [-1, 0, width - 1]],
                    2: [[-1, 0, width - 1], [0, -1, height - 1]], 3: [[0, -1, height - 1], [1, 0, 0]]}
        return np.asarray(turned, np.uint8), np.array(matrices[quarter], np.float64)
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_width, new_height = int(np.ceil(height * sin + width * cos)), int(np.ceil(height * cos + width * sin))
    matrix[:, 2] += ((new_width - 1) - (width - 1)) / 2, ((new_height - 1) - (height - 1)) / 2
    turned = cv2.warpAffine(frame, matrix, (new_width, new_height), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT)
    return np.asarray(turned, np.uint8), np.asarray(matrix, np.float64)


def turned_back(face: DetectedFace, matrix: Matrix, shape: tuple[int, ...]) -> DetectedFace:
    """A face found in a turned frame (matrix: frame -> turned frame) in the pixels of the frame of this shape: its
    box becomes the upright box around the turned one, clipped to the frame."""
    back = invert(matrix)
    box = face.box
    corners = transform_points(back, np.array([[box.left, box.top], [box.right, box.top], [box.left, box.bottom],
                                               [box.right, box.bottom]], np.float64))
    height, width = shape[:2]
    low, high = np.floor(corners.min(0)), np.ceil(corners.max(0))
    upright = Box(int(max(low[0], 0)), int(max(low[1], 0)), int(min(high[0], width)), int(min(high[1], height)))
    mesh = None
    if face.mesh is not None:
        points: npt.NDArray[np.float64] = face.mesh.points.copy()
        points[:, :2] = transform_points(back, points[:, :2])  # a turn keeps the scale: depth stays as it is
        mesh = Mesh(points, face.mesh.blendshapes)
    return DetectedFace(upright, face.score, transform_points(back, face.landmarks), mesh)
