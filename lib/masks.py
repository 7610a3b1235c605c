"""Masks drawn from the 68 landmarks: the face hull (convert's hull mask, the mask head's target, the masked
loss) and the eye and mouth loss weights."""
from __future__ import annotations

import cv2
import numpy as np

from lib.align import LEFT_EYE, MOUTH, RIGHT_EYE

JAW = slice(0, 17)
BROWS = slice(17, 27)
# How far the brows are raised toward the forehead, as a share of the chin-to-brows distance: the hull then
# takes in the lower forehead, which a swap must cover, but not the hairline.
FOREHEAD = 0.2
# Eye and mouth regions grow by this share of the distance between the eye centres: lids, lashes, lip edges.
EYE_MARGIN = 0.12
MOUTH_MARGIN = 0.08
_SHIFT = 4  # sub-pixel bits for cv2 drawing: small masks (64 px) keep their true outline


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(points, np.float64) * (1 << _SHIFT)).astype(np.int32)


def hull_points(landmarks: np.ndarray) -> np.ndarray:
    """The outline of the face: jaw and brows, the brows raised toward the forehead. (27, 2) float64."""
    points = np.asarray(landmarks, np.float64)
    up = points[BROWS].mean(0) - points[8]
    return np.concatenate([points[JAW], points[BROWS] + FOREHEAD * up])


def hull_mask(landmarks: np.ndarray, size: int) -> np.ndarray:
    """The face-hull mask of landmarks given in pixels of a size x size image: float32 (size, size) in {0, 1}."""
    hull = cv2.convexHull(_fixed(hull_points(landmarks)))
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, hull, 1, cv2.LINE_8, _SHIFT)
    return mask.astype(np.float32)


def blank_background(image: np.ndarray, landmarks: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """The image with what lies outside the face hull, grown by margin x the eye distance, set to mid grey: what
    a model trained on faces without their background (train --mask-input) is shown. BGR uint8, a copy."""
    points = np.asarray(landmarks, np.float64)
    eyes = float(np.linalg.norm(points[LEFT_EYE].mean(0) - points[RIGHT_EYE].mean(0)))
    keep = np.zeros(image.shape[:2], np.uint8)
    _dilated_hull(keep, hull_points(points), margin * eyes, 1)
    return np.where(keep[..., None] > 0, image, np.uint8(128)).astype(np.uint8)


def _dilated_hull(canvas: np.ndarray, points: np.ndarray, radius: float, value: float) -> None:
    """Set the convex hull of points, grown by radius pixels, to value in canvas, in place."""
    hull = cv2.convexHull(_fixed(points))
    cv2.fillConvexPoly(canvas, hull, value, cv2.LINE_8, _SHIFT)
    # OpenCV draws thick lines with round ends: tracing the outline with a 2r+1 pen grows it by r.
    thickness = 2 * int(round(radius)) + 1
    if thickness > 1:
        cv2.polylines(canvas, [hull], True, value, thickness, cv2.LINE_8, _SHIFT)


def region_weights(landmarks: np.ndarray, size: int, eye: float, mouth: float) -> np.ndarray:
    """Loss multipliers: eye on both eyes, mouth on the mouth, 1 elsewhere. float32 (size, size)."""
    points = np.asarray(landmarks, np.float64)
    weights = np.ones((size, size), np.float32)
    eye_distance = float(np.linalg.norm(points[LEFT_EYE].mean(0) - points[RIGHT_EYE].mean(0)))
    _dilated_hull(weights, points[MOUTH], MOUTH_MARGIN * eye_distance, mouth)
    _dilated_hull(weights, points[LEFT_EYE], EYE_MARGIN * eye_distance, eye)
    _dilated_hull(weights, points[RIGHT_EYE], EYE_MARGIN * eye_distance, eye)
    return weights
