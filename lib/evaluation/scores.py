"""How good a swap is, measured on held-out faces (and video frames) swapped by convert's own FaceSwapper:
identity (dlib's 128-D descriptor), head pose, expression (landmark error), reconstruction (SSIM, PSNR),
temporal jitter and seam visibility; and, with a face model the swap never uses, what a viewer sees (realism)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from lib.align import MOUTH, transform_points
from lib.errors import FaceswapError
from lib.evaluation.held_out import HeldOutFaces, pick_evenly
from lib.evaluation.measure import FaceMeasurer
from lib.evaluation.realism import Look, Pair, summarise
from lib.metrics import (
    colour_difference,
    identity_scores,
    interocular,
    landmark_error,
    landmark_jitter,
    psnr,
    seam_gradient,
    ssim,
)
from lib.pose import head_pose
from lib.swap import FaceSwapper, SwappedFrame
from lib.types import Descriptor, Frame, Landmarks

SAMPLES = 8  # faces per direction shown on the sheet
PSNR_CAP = 100.0  # identical faces (MSE 0) score this instead of inf, so means and JSON stay finite
EYES = slice(36, 48)
SWAPS = {"a2b": ("A", "B"), "b2a": ("B", "A")}  # direction -> (source side, target side)
RECONSTRUCTIONS = {"a2a": "A", "b2b": "B"}
SOURCE_SIDE = {**{direction: sides[0] for direction, sides in SWAPS.items()}, **RECONSTRUCTIONS}
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Sample:
    """One face for the sheet: the source, its swap as pasted, and the mask it was pasted with (face pixels)."""

    source: Frame
    swap: Frame
    mask: np.ndarray


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return float(np.mean(values)) if values else float("nan")


def _region_error(reference: Landmarks, other: Landmarks, region: slice) -> float:
    """Mean point distance inside one region over the reference's inter-ocular distance."""
    distance = np.linalg.norm(np.asarray(reference)[region] - np.asarray(other)[region], axis=1).mean()
    return float(distance / max(interocular(reference), 1e-6))


@dataclass
class _Source:
    """A held-out face unswapped: dlib's landmarks in face pixels and descriptor, and MediaPipe's look at it
    (None: lost)."""

    landmarks: Landmarks | None
    descriptor: Descriptor | None
    look: Look | None


def _frame_scale(to_frame: np.ndarray) -> float:
    """Frame pixels per pixel of a face image, from its face -> frame matrix."""
    return float(np.sqrt(abs(np.linalg.det(np.asarray(to_frame)[:, :2]))))


def _measure_sources(faces: HeldOutFaces, measurer: FaceMeasurer, progress: Progress) -> list[_Source]:
    sources = []
    for image, near, to_frame in zip(faces.images, faces.landmarks, faces.to_frame):
        found = measurer.landmarks(image, near)
        sources.append(_Source(found, None if found is None else measurer.describe(image, found),
                               measurer.judge.look(image, near, _frame_scale(to_frame))))
        progress(1)
    return sources


def swap_faces(swapper: FaceSwapper, faces: HeldOutFaces, direction: str) -> list[SwappedFrame]:
    """Each held-out face swapped in its own aligned image, as convert swaps a face in a frame."""
    size = swapper.options.batch_size
    results: list[SwappedFrame] = []
    for start in range(0, len(faces), size):
        chunk = range(start, min(len(faces), start + size))
        results += swapper.swap_frames([faces.images[i] for i in chunk], [[faces.landmarks[i]] for i in chunk],
                                       direction, [(faces.to_frame[i], faces.frame_shapes[i]) for i in chunk])
    return results


def _score_direction(faces: HeldOutFaces, sources: list[_Source], results: list[SwappedFrame], *,
                     measurer: FaceMeasurer, centroids: tuple[Descriptor, Descriptor], progress: Progress,
                     samples: list[Sample]) -> dict[str, Any]:
    """Identity, pose and expression scores of one swap direction; sample faces for the sheet."""
    descriptors, pose_errors, expression, colours = [], [], [], []
    pairs: list[Pair | None] = []
    failed = 0
    shown = set(pick_evenly(len(faces), SAMPLES))
    for i, result in enumerate(results):
        progress(1)
        pairs.append(measurer.judge.pair(sources[i].look, (faces.images[i], result.image), faces.landmarks[i],
                                         _frame_scale(faces.to_frame[i])))
        source = sources[i].landmarks
        found = None if source is None else measurer.landmarks(result.image, faces.landmarks[i])
        if i in shown:
            samples.append(Sample(faces.images[i], result.image, result.faces[0].frame_mask(result.image.shape)))
        if source is None or found is None:
            failed += 1
            continue
        pose = [head_pose(transform_points(faces.to_frame[i], points), faces.frame_shapes[i])
                for points in (source, found)]
        if not np.isfinite(pose).all():
            failed += 1
            continue
        descriptors.append(measurer.describe(result.image, found))
        pose_errors.append(np.subtract(pose[1], pose[0]))
        colours.append(colour_difference(faces.images[i], result.image, source))
        expression.append((landmark_error(source, found), _region_error(source, found, EYES),
                           _region_error(source, found, MOUTH)))
    scores = identity_scores(descriptors, *centroids)
    signed = np.asarray(pose_errors).reshape(-1, 3)
    errors = np.abs(signed)
    # The part of the pose error every face shares (the mean signed error): the decoder pulling faces toward the
    # poses its person was recorded in, and the two face shapes as the 3-D mean face reads them. What is left once
    # it is taken away is how well the swap follows the source's pose from face to face. Both are reported; the
    # error above counts both.
    offset = signed.mean(axis=0) if len(signed) else np.full(3, np.nan)
    tracking = np.abs(signed - offset)
    nme = np.asarray(expression).reshape(-1, 3)
    colour = np.asarray(colours).reshape(-1, 3)
    return {
        "faces": len(faces), "measured": len(descriptors), "landmarks_failed": failed,
        "identity": {"to_target": scores.to_target, "to_source": scores.to_source, "retrieval": scores.retrieval},
        "pose_error_degrees": {"yaw": _mean(errors[:, 0]), "pitch": _mean(errors[:, 1]),
                               "roll": _mean(errors[:, 2]), "mean": _mean(errors.ravel())},
        "pose_offset_degrees": {"yaw": float(offset[0]), "pitch": float(offset[1]), "roll": float(offset[2])},
        "pose_tracking_degrees": {"yaw": _mean(tracking[:, 0]), "pitch": _mean(tracking[:, 1]),
                                  "roll": _mean(tracking[:, 2])},
        "expression_nme": {"face": _mean(nme[:, 0]), "eyes": _mean(nme[:, 1]), "mouth": _mean(nme[:, 2])},
        "colour_delta_e": {"face": _mean(colour[:, 0]), "eyes": _mean(colour[:, 1]), "mouth": _mean(colour[:, 2])},
        "realism": summarise(pairs),
    }


def _score_reconstruction(results: list[SwappedFrame], progress: Progress) -> dict[str, Any]:
    """SSIM and PSNR of the model's own-identity output against its input crop."""
    scores: list[tuple[float, float]] = []
    for result in results:
        face = result.faces[0]
        scores.append((ssim(face.crop, face.output), min(PSNR_CAP, psnr(face.crop, face.output))))
        progress(1)
    return {"faces": len(results), "ssim": _mean(s for s, _ in scores), "psnr": _mean(p for _, p in scores)}


def face_steps(faces_a: HeldOutFaces, faces_b: HeldOutFaces) -> int:
    """How many progress steps evaluate_faces makes: each face measured unswapped, swapped and reconstructed."""
    return 3 * (len(faces_a) + len(faces_b))


@dataclass(frozen=True)
class References:
    """The held-out faces as dlib sees them unswapped: per side, each face's landmarks and descriptor, the
    side's centroid, and where its faces sit (the report's `reference`)."""

    sources: dict[str, list[_Source]]
    centroids: dict[str, Descriptor]
    report: dict[str, Any]


def measure_references(faces_a: HeldOutFaces, faces_b: HeldOutFaces, measurer: FaceMeasurer,
                       progress: Progress | None = None) -> References:
    """Measure the unswapped held-out faces once (a model changes none of this)."""
    step = progress or (lambda _count: None)
    faces = {"A": faces_a, "B": faces_b}
    sources = {side: _measure_sources(faces[side], measurer, step) for side in faces}
    centroids = {}
    for side, measured in sources.items():
        found = [s.descriptor for s in measured if s.descriptor is not None]
        if not found:
            raise FaceswapError(f"dlib found no landmarks on any face of {faces[side].folder}: are they faces "
                                "from extract?")
        centroids[side] = np.mean(found, axis=0)
    report: dict[str, Any] = {}
    for side, measured in sources.items():
        own = np.asarray([s.descriptor for s in measured if s.descriptor is not None])
        report[side] = {  # where the unswapped faces sit: the best a swap can hope for
            "to_A": float(np.linalg.norm(own - centroids["A"], axis=1).mean()),
            "to_B": float(np.linalg.norm(own - centroids["B"], axis=1).mean()),
            "landmarks_failed": len(measured) - len(own)}
    return References(sources, centroids, report)


def score_faces(faces_a: HeldOutFaces, faces_b: HeldOutFaces, swapped: dict[str, list[SwappedFrame]],
                measurer: FaceMeasurer, *, progress: Progress | None = None,
                references: References | None = None) -> tuple[dict[str, Any], dict[str, list[Sample]]]:
    """Every face metric per direction (a2b, b2a, a2a, b2b) of the held-out faces swapped each way (swapped:
    direction -> one SwappedFrame per face of the source side), and sample faces for the sheet. references:
    the unswapped faces measured before (measure_references), else measured here."""
    step = progress or (lambda _count: None)
    faces = {"A": faces_a, "B": faces_b}
    if references is None:
        references = measure_references(faces_a, faces_b, measurer, step)
    else:
        step(len(faces_a) + len(faces_b))
    sources, centroids = references.sources, references.centroids
    report: dict[str, Any] = {"reference": dict(references.report)}
    samples: dict[str, list[Sample]] = {}
    for direction, (source, target) in SWAPS.items():
        samples[direction] = []
        report[direction] = _score_direction(faces[source], sources[source], swapped[direction], measurer=measurer,
                                             centroids=(centroids[source], centroids[target]), progress=step,
                                             samples=samples[direction])
    for direction in RECONSTRUCTIONS:
        report[direction] = _score_reconstruction(swapped[direction], step)
    return report, samples


def swap_every_way(swapper: FaceSwapper, faces_a: HeldOutFaces, faces_b: HeldOutFaces
                   ) -> dict[str, list[SwappedFrame]]:
    """The held-out faces swapped A->B, B->A, and through their own side (a2a, b2b), by direction."""
    faces = {"A": faces_a, "B": faces_b}
    return {direction: swap_faces(swapper, faces[side], direction) for direction, side in SOURCE_SIDE.items()}


def evaluate_faces(swapper: FaceSwapper, faces_a: HeldOutFaces, faces_b: HeldOutFaces, measurer: FaceMeasurer,
                   progress: Progress | None = None) -> tuple[dict[str, Any], dict[str, list[Sample]]]:
    """Swap the held-out faces every way with convert's swap and score them (score_faces)."""
    return score_faces(faces_a, faces_b, swap_every_way(swapper, faces_a, faces_b), measurer, progress=progress)


VideoItem = tuple[Frame, Landmarks | None, SwappedFrame | None]
"""A frame of a video, the landmarks of the face to swap (None: no face), and the frame swapped (None: no face)."""


def swap_video(swapper: FaceSwapper, frames: Iterable[tuple[Frame, Landmarks | None]],
               direction: str = "a2b") -> Iterator[VideoItem]:
    """Each frame with the face at its landmarks swapped as convert swaps it, in batches, in order."""
    pending: list[tuple[Frame, Landmarks]] = []

    def flush() -> Iterator[VideoItem]:
        results = swapper.swap_frames([frame for frame, _ in pending], [[points] for _, points in pending],
                                      direction)
        yield from ((frame, points, result) for (frame, points), result in zip(pending, results))
        pending.clear()

    for frame, points in frames:
        if points is None:
            yield from flush()
            yield frame, None, None
            continue
        pending.append((frame, points))
        if len(pending) >= swapper.options.batch_size:
            yield from flush()
    yield from flush()


def score_video(items: Iterable[VideoItem], measurer: FaceMeasurer, *, direction: str = "a2b",
                progress: Progress | None = None) -> dict[str, Any]:
    """Landmark jitter of the swapped face against the source's, and seam gradients before and after
    blending, over a video's frames as swap_video gives them."""
    tracks: list[tuple[list[Landmarks], list[Landmarks]]] = [([], [])]
    seams: list[tuple[float, float]] = []
    pairs: list[Pair | None] = []
    counts = Counter[str]()
    for frame, points, result in items:
        counts["frames"] += 1
        if points is None or result is None:
            tracks.append(([], []))
        else:
            counts["faces"] += 1
            pairs.append(measurer.judge.pair(measurer.judge.look(frame, points), (frame, result.image), points))
            mask = result.faces[0].frame_mask(frame.shape)
            source, found = measurer.landmarks(frame, points), measurer.landmarks(result.image, points)
            seams.append((seam_gradient(frame, mask), seam_gradient(result.image, mask)))
            if source is None or found is None:
                counts["landmarks_failed"] += 1
                tracks.append(([], []))
            else:
                tracks[-1][0].append(source)
                tracks[-1][1].append(found)
        if progress is not None:
            progress(1)
    source_jitter = _track_jitter([t[0] for t in tracks])
    swap_jitter = _track_jitter([t[1] for t in tracks])
    before, after = _mean(s for s, _ in seams), _mean(s for _, s in seams)
    return {
        "frames": counts["frames"], "faces": counts["faces"], "landmarks_failed": counts["landmarks_failed"],
        "direction": direction,
        "jitter": {"source": source_jitter, "swap": swap_jitter,
                   "ratio": swap_jitter / source_jitter if source_jitter > 0 else float("nan")},
        "seam_gradient": {"before": before, "after": after, "jump": after - before},
        "realism": summarise(pairs),
    }


def _track_jitter(tracks: list[list[Landmarks]]) -> float:
    """Mean frame-to-frame landmark motion over all runs of consecutive frames (a run of one adds nothing)."""
    steps = [(len(t) - 1, landmark_jitter(np.asarray(t))) for t in tracks if len(t) >= 2]
    total = sum(n for n, _ in steps)
    return sum(n * value for n, value in steps) / total if total else float("nan")
