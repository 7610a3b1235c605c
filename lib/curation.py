"""What makes a face good or bad for training, measured from a face PNG and the metadata it carries: sharpness,
head pose, size, detector score, colour histogram, near-duplicates, how well the landmarks fit a face, who it
is (dlib's descriptor, grouped into people) and its expression (the mesh's blendshapes, for faces found with the
mediapipe aligner). tools sort and tools clean rank and sort faces by these."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from lib.align import INNER, template_points, transform_points, umeyama
from lib.facefile import FaceMeta
from lib.identity import SAME_PERSON
from lib.masks import hull_mask
from lib.metrics import interocular
from lib.pose import head_pose
from lib.types import Descriptor, Face

THUMB = 24  # side of the grey thumbnails that near-duplicates are compared on
KEYS = ("identity", "blur", "yaw", "pitch", "size", "histogram", "score", "expression")  # what faces sort by


@dataclass(frozen=True)
class CleanOptions:
    """When a face is rejected. identity: descriptor distance from the set's main person (or the references)
    that makes another person; blur: sharpness under this share of the set's median; duplicate: grey levels of
    mean difference under which two faces are the same picture; fit: landmarks this many robust standard
    deviations (and at least 0.08 eye distances) further from the mean face than the set's median; tiny: eye
    distance in the source frame under this share of the set's median."""

    identity: float = SAME_PERSON
    blur: float = 0.3
    duplicate: float = 0.5
    fit: float = 4.0
    tiny: float = 0.4


@dataclass(frozen=True, eq=False)
class FaceFacts:
    """One face file's numbers. blur: variance of the Laplacian inside the face hull (higher is sharper); yaw,
    pitch: degrees; size: eye-to-eye distance in the source frame (pixels); score: the detector's; fit: how far the
    landmarks sit from the mean face after alignment (over the eye distance); thumb: float32 (THUMB, THUMB) grey;
    histogram: float32, normalised."""

    name: str
    blur: float
    yaw: float
    pitch: float
    size: float
    score: float
    fit: float
    thumb: np.ndarray
    histogram: np.ndarray


def face_inside(image: Face, meta: FaceMeta) -> np.ndarray:
    """Which pixels of a face PNG lie inside the face hull: bool (n, n)."""
    return hull_mask(meta.landmarks_at(image.shape[0]), image.shape[0]) > 0


def sharpness(image: Face, inside: np.ndarray) -> float:
    """Variance of the Laplacian of the grey face inside the hull: higher is sharper."""
    laplacian = cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_32F)
    return float(laplacian[inside].var()) if inside.any() else 0.0


def colour_histogram(image: Face, inside: np.ndarray) -> np.ndarray:
    """Hue x saturation histogram (16 x 8) of the face inside the hull, normalised: float32 (128,)."""
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    histogram = cv2.calcHist([hsv], [0, 1], inside.astype(np.uint8), [16, 8], [0, 180, 0, 256]).ravel()
    return (histogram / max(float(histogram.sum()), 1.0)).astype(np.float32)


def thumbnail(image: Face) -> np.ndarray:
    """The face in grey at THUMB x THUMB pixels, float32: what near-duplicates are compared on."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.resize(grey, (THUMB, THUMB), interpolation=cv2.INTER_AREA).astype(np.float32)


def extract_name(meta: FaceMeta) -> str:
    """The file name extract gives this face: <frame>_<face index>.png."""
    return f"{meta.frame}_{meta.face_index}.png"


def face_facts(name: str, image: Face, meta: FaceMeta) -> FaceFacts:
    """The numbers of one face PNG from extract (image BGR uint8, square)."""
    landmarks = meta.landmarks_at(image.shape[0])
    inside = face_inside(image, meta)
    yaw, pitch, _ = head_pose(meta.face.landmarks, meta.frame_shape)
    template = template_points(image.shape[0])
    fitted = transform_points(umeyama(landmarks[INNER], template[INNER]), landmarks)
    fit = float(np.linalg.norm(fitted - template, axis=1).mean() / max(interocular(template), 1e-6))
    return FaceFacts(name, sharpness(image, inside), yaw, pitch, interocular(meta.face.landmarks),
                     float(meta.face.score), fit, thumbnail(image), colour_histogram(image, inside))


def histogram_order(histograms: Sequence[np.ndarray]) -> tuple[list[int], list[float]]:
    """An order in which each face's colour histogram is close to the one before (a greedy nearest-neighbour
    chain from the first face), and each face's Bhattacharyya distance to the one before it (0 for the first)."""
    if not histograms:
        return [], []
    left = set(range(1, len(histograms)))
    order, steps = [0], [0.0]
    while left:
        last = histograms[order[-1]]
        best = min(left, key=lambda i: (cv2.compareHist(last, histograms[i], cv2.HISTCMP_BHATTACHARYYA), i))
        steps.append(float(cv2.compareHist(last, histograms[best], cv2.HISTCMP_BHATTACHARYYA)))
        order.append(best)
        left.remove(best)
    return order, steps


def people(descriptors: Sequence[Descriptor], threshold: float) -> list[int]:
    """A person label per face: the faces whose descriptors are within threshold of each other chain into one
    person (dlib's Chinese whispers). Labels are renumbered so that 0 is the person with the most faces."""
    import dlib  # dlib loads only when faces are grouped by identity

    if not descriptors:
        return []
    labels = dlib.chinese_whispers_clustering([dlib.vector(list(map(float, d))) for d in descriptors], threshold)
    sizes: dict[int, int] = {}
    for label in labels:
        sizes[label] = sizes.get(label, 0) + 1
    ranked = {label: rank for rank, label in enumerate(sorted(sizes, key=lambda lab: (-sizes[lab], lab)))}
    return [ranked[label] for label in labels]


def taken_order(count: int, first: Sequence[bool] | None = None) -> list[int]:
    """The order near_duplicates takes faces in: those marked in first before the rest, each in index order."""
    return sorted(range(count), key=lambda i: (not first[i], i) if first is not None else (False, i))


def near_duplicates(thumbs: Sequence[np.ndarray], tolerance: float,
                    first: Sequence[bool] | None = None) -> list[int | None]:
    """For each face, the index of a face it nearly repeats (mean absolute difference of their grey thumbnails,
    after removing their mean brightness, under tolerance grey levels), or None. Faces are taken in order, those
    marked in first (say, the files that still have extract's name) before the rest, and each is compared with
    the ones taken before it: of a pair, the one taken first is kept."""
    flat = np.stack([t.ravel() - t.mean() for t in thumbs]) if thumbs else np.zeros((0, THUMB * THUMB))
    order = taken_order(len(flat), first)
    found: list[int | None] = [None] * len(flat)
    for position, index in enumerate(order[1:], start=1):
        earlier = order[:position]
        differences = np.abs(flat[earlier] - flat[index]).mean(axis=1)
        nearest = int(np.argmin(differences))
        found[index] = earlier[nearest] if differences[nearest] < tolerance else None
    return found


def robust_spread(values: Sequence[float]) -> tuple[float, float]:
    """Median and the median absolute deviation scaled to a normal distribution's standard deviation."""
    array = np.asarray(values, np.float64)
    median = float(np.median(array))
    return median, float(1.4826 * np.median(np.abs(array - median)))


def expression_order(expressions: Sequence[np.ndarray]) -> tuple[list[int], list[float]]:
    """An order in which alike expressions sit together: a greedy nearest-neighbour chain through the blendshape
    vectors (52,), starting from the face nearest the set's median expression (its most usual one), so the faces
    drift from the usual expression toward the rarest. Also each face's distance from the one before it in that
    order (0 for the first), by face."""
    if not expressions:
        return [], []
    scores = np.stack([np.asarray(e, np.float64)[1:] for e in expressions])  # [0] is _neutral: not an expression
    start = int(np.argmin(np.linalg.norm(scores - np.median(scores, axis=0), axis=1)))
    left = np.ones(len(scores), bool)
    left[start] = False
    order, steps = [start], [0.0]
    while left.any():
        distance = np.where(left, np.linalg.norm(scores - scores[order[-1]], axis=1), np.inf)
        best = int(np.argmin(distance))  # ties: the lowest index, so the order is stable
        order.append(best)
        steps.append(float(distance[best]))
        left[best] = False
    values = [0.0] * len(scores)
    for index, step in zip(order, steps):
        values[index] = step
    return order, values
