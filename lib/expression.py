"""Expressions read from the 68 landmarks (how open the eyes and the mouth are; any face) or from the mesh's
blendshapes (faces found with the mediapipe aligner: tools sort and clean count them), and what training does with
them: faces of rare expressions shown more often, and eyes closed on faces that never show them (a person filmed
without blinking), so that a decoder learns to draw a blink before a swap asks it to."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from lib.align import LEFT_EYE, RIGHT_EYE
from lib.facemesh import BLENDSHAPES
from lib.types import Face, Landmarks

# Eye aspect ratio (Soukupova and Cech 2016) under which an eye counts as closed, and the mouth's opening (inner
# lips apart over the mouth's width) over which it counts as open; on dlib's points of real faces: open eyes
# 0.25-0.35, a blink 0.05-0.15; a closed mouth 0-0.1, speech 0.1-0.3, a wide-open mouth 0.4 and more.
CLOSED_EYES = 0.18
OPEN_MOUTH = 0.3
BANDWIDTH = 0.5  # of the expression density estimate, in standard deviations of each feature
MAX_WEIGHT = 10.0  # the most a face is shown more often than the median face
LASH_DARKNESS = 0.45  # how much darker the lash line of a closed eye is than the skin it crosses
# Both eyes closed: MediaPipe's eyeBlinkLeft and eyeBlinkRight at or above this. Mouth open: jawOpen at or above
# MOUTH_OPEN. Read off frames of franck, cap12 and cap13 (bench/fetch-media.sh) a face at a time: lids shut at 0.45
# and above, narrowed (a smile, a downward look) at 0.3-0.4; lips apart, teeth showing, from 0.15, closed at 0.05.
EYES_CLOSED = 0.45
MOUTH_OPEN = 0.15
_BLINKS = (BLENDSHAPES.index("eyeBlinkLeft"), BLENDSHAPES.index("eyeBlinkRight"))
_JAW_OPEN = BLENDSHAPES.index("jawOpen")


def eye_openness(landmarks: Landmarks) -> float:
    """Mean eye aspect ratio of the two eyes: lid-to-lid height over corner-to-corner width."""
    points = np.asarray(landmarks, np.float64)
    ratios = []
    for eye in (points[LEFT_EYE], points[RIGHT_EYE]):
        height = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
        ratios.append(height / max(2 * float(np.linalg.norm(eye[0] - eye[3])), 1e-6))
    return float(np.mean(ratios))


def mouth_openness(landmarks: Landmarks) -> float:
    """Inner lips apart (62 to 66) over the inner mouth's width (60 to 64)."""
    points = np.asarray(landmarks, np.float64)
    return float(np.linalg.norm(points[62] - points[66]) / max(float(np.linalg.norm(points[60] - points[64])),
                                                                1e-6))


def mouth_width(landmarks: Landmarks) -> float:
    """The mouth's corners apart (48 to 54) over the eye distance: a smile widens it."""
    points = np.asarray(landmarks, np.float64)
    eyes = float(np.linalg.norm(points[LEFT_EYE].mean(0) - points[RIGHT_EYE].mean(0)))
    return float(np.linalg.norm(points[48] - points[54]) / max(eyes, 1e-6))


def expression_features(faces: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """(N, 3) eye openness, mouth openness and mouth width of faces' landmarks (N, 68, 2)."""
    features = [[eye_openness(points), mouth_openness(points), mouth_width(points)] for points in faces]
    return np.array(features, np.float64).reshape(-1, 3)


def rarity_weights(features: npt.NDArray[np.float64], strength: float) -> npt.NDArray[np.float64]:
    """How often to show each face so that rare expressions come up more: the inverse of the faces' density in
    expression space (a Gaussian kernel estimate, BANDWIDTH standard deviations wide) raised to `strength` (0: all
    alike, 1: every expression about as often as any other), capped at MAX_WEIGHT times the median. Sums to 1."""
    count = len(features)
    if count == 0 or strength <= 0:
        return np.full(count, 1.0 / max(count, 1))
    spread = features.std(axis=0)
    scaled = features / np.where(spread > 0, spread, 1.0) / BANDWIDTH
    density = np.zeros(count)
    for start in range(0, count, 512):  # (512, N) distances at a time: a few MB for 100,000 faces
        block = scaled[start:start + 512]
        density[start:start + len(block)] = np.exp(
            -0.5 * ((block[:, None] - scaled[None]) ** 2).sum(-1)).sum(1)
    weights = density ** -strength
    weights = np.minimum(weights, MAX_WEIGHT * np.median(weights))
    return np.asarray(weights / weights.sum(), np.float64)


def expression_counts(faces: npt.NDArray[np.float64]) -> dict[str, Any]:
    """How many faces (N, 68, 2) have their eyes closed and their mouth open."""
    features = expression_features(faces)
    return {"faces": len(features), "eyes_closed": int(np.sum(features[:, 0] < CLOSED_EYES)),
            "mouth_open": int(np.sum(features[:, 1] > OPEN_MOUTH))}


def close_eyes(image: Face, landmarks: Landmarks, amount: float = 1.0) -> Face:
    """A face with both eyes shut: each eye's opening filled from the lid skin around it (inpainting) down to
    where the lids meet, and a soft lash line drawn there. amount (0-1]: how far the upper lid comes down (1: to
    the lower lid). landmarks: the 68 points in the image's pixels. BGR uint8, a copy."""
    points = np.asarray(landmarks, np.float64)
    closed = image.copy()
    eyes = float(np.linalg.norm(points[LEFT_EYE].mean(0) - points[RIGHT_EYE].mean(0)))
    lash = np.zeros(image.shape[:2], np.float32)
    for eye in (points[LEFT_EYE], points[RIGHT_EYE]):
        upper = eye[[0, 1, 2, 3]]  # corner, upper lid, upper lid, corner
        lower = eye[[0, 5, 4, 3]]  # the same corners, lower lid beneath each upper point
        meet = lower + (1 - amount) * (upper - lower)  # where the lids meet
        # Grown past the lids' own lashes (which would otherwise stay as a dark ring round the shut eye).
        radius = max(1, int(round(0.08 * eyes)))
        reach = max(2.0, 0.1 * eyes)  # how far the inpainting looks for skin
        # Only the eye's box is inpainted: a tenth of the time of the whole face.
        margin = radius + int(np.ceil(reach)) + 2
        left, top = np.maximum(np.floor(eye.min(0)).astype(int) - margin, 0)
        right, bottom = np.minimum(np.ceil(eye.max(0)).astype(int) + margin + 1, image.shape[1::-1])
        if right <= left or bottom <= top:
            continue
        local = np.vstack([upper, meet[::-1]]) - (left, top)
        outline = np.zeros((bottom - top, right - left), np.uint8)
        cv2.fillPoly(outline, [np.round(local * 16).astype(np.int32)], 255, cv2.LINE_8, 4)
        opening = cv2.dilate(outline, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2))
        patch = np.ascontiguousarray(closed[top:bottom, left:right])
        closed[top:bottom, left:right] = cv2.inpaint(patch, opening, reach, cv2.INPAINT_TELEA)
        cv2.polylines(lash, [np.round(meet * 16).astype(np.int32)], False, 1.0, max(1, int(round(0.025 * eyes))),
                      cv2.LINE_AA, 4)
    soft = cv2.GaussianBlur(lash, (0, 0), max(0.5, 0.02 * eyes))
    shade = 1.0 - LASH_DARKNESS * np.clip(soft / max(float(soft.max()), 1e-6), 0.0, 1.0)
    return np.asarray(np.clip(closed * shade[..., None], 0, 255), np.uint8)


def expression_warnings(landmarks_a: npt.NDArray[np.float64] | None, landmarks_b: npt.NDArray[np.float64] | None,
                        blink_aug: float = 0.0) -> list[str]:
    """A line for each expression one side's faces show and the other's hardly do (under 1 % of its faces, while
    3 % or more of the first's): a decoder draws only what it was shown, so a swap to that side loses it."""
    if landmarks_a is None or landmarks_b is None or not len(landmarks_a) or not len(landmarks_b):
        return []
    counts = {"A": expression_counts(landmarks_a), "B": expression_counts(landmarks_b)}
    lines = []
    for key, what, remedy in (("eyes_closed", "closed eyes", "blinking"), ("mouth_open", "an open mouth",
                                                                           "with the mouth open")):
        for side, other in (("A", "B"), ("B", "A")):
            mine, theirs = counts[side], counts[other]
            if mine[key] < 0.01 * mine["faces"] and theirs[key] >= 0.03 * theirs["faces"]:
                advice = f"add faces of {side} {remedy}"
                if key == "eyes_closed" and blink_aug <= 0:
                    advice += ", or train with --blink-aug 0.1"
                lines.append(f"{mine[key]} of {mine['faces']} {side} faces show {what} ({theirs[key]} of "
                             f"{theirs['faces']} {other} faces do): swaps to {side} will not show it; {advice}")
    return lines


def eyes_closed(blendshapes: np.ndarray) -> bool:
    """Both eyes shut, by MediaPipe's blink scores (52,) float32."""
    return bool(min(blendshapes[_BLINKS[0]], blendshapes[_BLINKS[1]]) >= EYES_CLOSED)


def mouth_open(blendshapes: np.ndarray) -> bool:
    """The jaw dropped, lips apart, by MediaPipe's jawOpen score."""
    return bool(blendshapes[_JAW_OPEN] >= MOUTH_OPEN)


def blendshape_counts(expressions: Sequence[np.ndarray | None]) -> dict[str, int]:
    """How many faces carry an expression (a mesh's blendshapes; None: a face without one), and of those how many
    have both eyes closed and the mouth open."""
    known = [e for e in expressions if e is not None]
    return {"with_expression": len(known), "eyes_closed": sum(map(eyes_closed, known)),
            "mouth_open": sum(map(mouth_open, known))}
