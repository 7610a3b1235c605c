"""Numbers that say how good a swap is: identity, pose, expression, reconstruction, stability, seams."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from skimage.metrics import structural_similarity

from lib.align import LEFT_EYE, MIRROR_68, MOUTH, RIGHT_EYE, eye_centres
from lib.types import Descriptor, Face, Frame, Landmarks, Mask


def mirror_landmarks(landmarks: Landmarks, width: int) -> Landmarks:
    """The landmarks of the horizontally flipped image (width pixels wide), in the same point order."""
    flipped = np.asarray(landmarks, np.float64)[MIRROR_68].copy()
    flipped[:, 0] = width - 1 - flipped[:, 0]
    return flipped


def interocular(landmarks: Landmarks) -> float:
    """Distance between the eye centres, in pixels."""
    left, right = eye_centres(landmarks)
    return float(np.linalg.norm(right - left))


def landmark_error(reference: Landmarks, other: Landmarks) -> float:
    """Mean point-to-point distance over the reference's inter-ocular distance (NME)."""
    distance = np.linalg.norm(np.asarray(reference) - np.asarray(other), axis=1).mean()
    return float(distance / max(interocular(reference), 1e-6))


def colour_difference(reference: Frame, other: Frame, landmarks: Landmarks) -> tuple[float, float, float]:
    """How far other's colours are from reference's at the same place: the CIE76 colour difference (Delta E, in
    CIELAB units; about 2.3 is just noticeable) between the mean colours of the face (the hull of the landmarks),
    of the eyes and of the outer lips. Two BGR uint8 images of one shape, landmarks (68, 2) in their pixels."""
    points = np.asarray(landmarks, np.float64)
    regions = (points, np.vstack([points[LEFT_EYE], points[RIGHT_EYE]]), points[MOUTH][:12])
    lab = [cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_BGR2Lab) for image in (reference, other)]
    differences = []
    for index, region in enumerate(regions):
        mask = np.zeros(reference.shape[:2], np.uint8)
        hulls = [region[:6], region[6:]] if index == 1 else [region]  # the two eyes apart
        for hull in hulls:
            cv2.fillConvexPoly(mask, cv2.convexHull(np.round(hull).astype(np.int32)), 1)
        inside = mask.astype(bool)
        if not inside.any():
            differences.append(float("nan"))
            continue
        differences.append(float(np.linalg.norm(lab[0][inside].mean(0) - lab[1][inside].mean(0))))
    return differences[0], differences[1], differences[2]


def landmark_jitter(track: npt.NDArray[np.float64]) -> float:
    """Mean frame-to-frame landmark motion over inter-ocular distance; track is (T, 68, 2)."""
    track = np.asarray(track, np.float64)
    if len(track) < 2:
        return 0.0
    steps = np.linalg.norm(np.diff(track, axis=0), axis=2).mean(axis=1)
    scale = np.array([interocular(points) for points in track[1:]])
    return float(np.mean(steps / np.maximum(scale, 1e-6)))


def psnr(reference: Face, other: Face) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 images (inf when identical)."""
    mse = np.mean((reference.astype(np.float64) - other.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def ssim(reference: Face, other: Face) -> float:
    """Structural similarity of two uint8 colour images, in [-1, 1] (1 = identical): the standard form of Wang et
    al. (2004), an 11x11 Gaussian window of sigma 1.5, as tf.image.ssim and the training loss compute it, so the
    numbers compare with papers."""
    return float(structural_similarity(reference, other, channel_axis=2, data_range=255, gaussian_weights=True,
                                       sigma=1.5, use_sample_covariance=False))


@dataclass(frozen=True)
class IdentityScores:
    """Where swapped faces sit between the identities: mean descriptor distances, and the share of faces
    whose nearest identity centroid is the target."""

    to_target: float
    to_source: float
    retrieval: float


def identity_scores(swapped: list[Descriptor], source_centroid: Descriptor,
                    target_centroid: Descriptor) -> IdentityScores:
    """Identity transfer of swapped faces from the source person toward the target person."""
    if not swapped:
        return IdentityScores(float("nan"), float("nan"), float("nan"))
    faces = np.asarray(swapped)
    to_target = np.linalg.norm(faces - target_centroid, axis=1)
    to_source = np.linalg.norm(faces - source_centroid, axis=1)
    return IdentityScores(float(to_target.mean()), float(to_source.mean()), float(np.mean(to_target < to_source)))


def seam_gradient(frame: Frame, mask: Mask) -> float:
    """Mean gradient magnitude (grey levels per pixel) on the mask's border: high where a seam shows."""
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32)
    # Sobel 3x3 sums four differences: divide by 4 for grey levels per pixel.
    gradient = cv2.magnitude(cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3) / 4,
                             cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3) / 4)
    hard = (mask > 0.5).astype(np.uint8)
    border = cv2.morphologyEx(hard, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)).astype(bool)
    return float(gradient[border].mean()) if border.any() else 0.0
