"""How good a swap is: held-out faces (and video frames) are swapped exactly as convert swaps them, then dlib
measures identity (128-D descriptor), head pose, expression (landmark error), reconstruction (SSIM, PSNR),
temporal jitter and seam visibility.

Any object with `swap(faces, direction)`, `input_size`, `coverage` and `has_mask` can be evaluated: a
lib.model.swapper.Swapper, or a stand-in (tests use one that returns its input).
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lib.align import compose, invert, transform_points
from lib.errors import FaceswapError
from lib.facefile import meta_from_json
from lib.image import UnreadableImage, read_face_file
from lib.metrics import identity_scores, interocular, landmark_error, landmark_jitter, psnr, seam_gradient, ssim
from lib.pose import head_pose
from lib.training.faces import face_paths
from lib.types import Descriptor, Face, Frame, Landmarks, Matrix

SCHEMA = "faceswap-evaluation"
VERSION = 1
SAMPLES = 8  # faces per direction shown on the sheet
PSNR_CAP = 100.0  # identical faces (MSE 0) score this instead of inf, so means and JSON stay finite
EYES = slice(36, 48)
MOUTH = slice(48, 68)
SWAPS = {"a2b": ("A", "B"), "b2a": ("B", "A")}  # direction -> (source side, target side)
RECONSTRUCTIONS = {"a2a": "A", "b2b": "B"}
Progress = Callable[[int], None]


@dataclass(frozen=True)
class EvalOptions:
    """How swapped faces go back into their face or frame: convert's mask, colour, blend and feathering."""

    mask: str = "auto"
    color: str = "avg-color"
    blend: str = "gaussian"
    blur: float = 5.0
    batch_size: int = 16

    def __post_init__(self) -> None:
        if not 0 <= self.blur <= 50:
            raise FaceswapError(f"--blur must be between 0 and 50 (%), not {self.blur}")
        if not 1 <= self.batch_size <= 256:
            raise FaceswapError(f"--batch-size must be between 1 and 256, not {self.batch_size}")


@dataclass(frozen=True, eq=False)
class HeldOutFaces:
    """Faces of one side from extract. images: BGR uint8 (S, S, 3) each; landmarks: (68, 2) in face pixels;
    to_frame: 2x3 face pixels -> frame pixels; frame_shapes: (height, width) of each source frame."""

    folder: Path
    names: list[str]
    images: list[Face]
    landmarks: list[Landmarks]
    to_frame: list[Matrix]
    frame_shapes: list[tuple[int, int]]
    files: int
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)


def pick_evenly(count: int, limit: int) -> list[int]:
    """At most limit indices of range(count), evenly spaced, first and last included (deterministic)."""
    if count <= limit:
        return list(range(count))
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, limit)})


def _resize_matrix(old: int, new: int) -> Matrix:
    """Pixels of an old x old image -> pixels of the same image resized to new x new (cv2.resize)."""
    scale = new / old
    return np.array([[scale, 0.0, 0.5 * scale - 0.5], [0.0, scale, 0.5 * scale - 0.5]])


def load_held_out(folder: Path, max_faces: int) -> HeldOutFaces:
    """Up to max_faces face PNGs of a folder made by extract, evenly spaced over its sorted files."""
    folder = Path(folder)
    paths = face_paths(folder)
    faces = HeldOutFaces(folder, [], [], [], [], [], len(paths))
    skipped: Counter[str] = Counter()
    for index in pick_evenly(len(paths), max_faces):
        try:
            image, raw = read_face_file(paths[index])
        except (OSError, UnreadableImage):
            skipped["unreadable"] += 1
            continue
        meta = meta_from_json(raw)
        if meta is None or image.shape[0] != image.shape[1]:
            skipped["no extract metadata"] += 1
            continue
        # The face may have been resized after extract: its matrix and landmarks follow it.
        matrix = compose(_resize_matrix(meta.size, image.shape[0]), meta.matrix)
        faces.names.append(paths[index].name)
        faces.images.append(image)
        faces.landmarks.append(transform_points(matrix, meta.face.landmarks))
        faces.to_frame.append(invert(matrix))
        faces.frame_shapes.append(meta.frame_shape)
    faces.skipped.update(skipped)
    if not faces.images:
        raise FaceswapError(f"none of the faces in {folder} carries extract's landmarks: evaluate needs face "
                            "PNGs made by `faceswap.py extract`")
    return faces


class FaceMeasurer:
    """dlib's 68 landmarks and 128-D descriptor of a face whose rough position is known from landmarks."""

    def __init__(self) -> None:
        from lib.identity import FaceDescriber  # noqa: PLC0415 (dlib loads only when evaluate runs)
        from plugins.extract.align import AlignOptions  # noqa: PLC0415
        from plugins.extract.align.dlib68 import Dlib68Aligner  # noqa: PLC0415

        self._aligner = Dlib68Aligner(AlignOptions())
        self._describer = FaceDescriber()

    def landmarks(self, image: Frame, near: Landmarks) -> Landmarks | None:
        """68 landmarks (pixels of image) of the face near these landmarks; None when the predictor loses it:
        points outside the image, or a face half or twice the size of the one expected."""
        from lib.types import Box, Detection  # noqa: PLC0415

        # Extract's own two passes: box from the given points (68 points place it), then from the first fit.
        found = self._aligner.align(image, [Detection(Box(0, 0, 1, 1), 1.0, np.asarray(near, np.float64))])[0]
        height, width = image.shape[:2]
        inside = ((found[:, 0] >= -1) & (found[:, 0] <= width) & (found[:, 1] >= -1) & (found[:, 1] <= height))
        scale = interocular(found) / max(interocular(near), 1e-6)
        if not np.isfinite(found).all() or inside.mean() < 0.9 or not 0.5 <= scale <= 2.0:
            return None
        return found

    def describe(self, image: Frame, landmarks: Landmarks) -> Descriptor:
        """The face's 128-D descriptor."""
        return self._describer.describe(image, landmarks)


class _Recorder:
    """Passes swap calls to the model and keeps what went in and came out (crops, faces, learned masks)."""

    def __init__(self, swapper: Any) -> None:
        self.swapper = swapper
        self.input_size = int(swapper.input_size)
        self.coverage = float(swapper.coverage)
        self.has_mask = bool(swapper.has_mask)
        self.calls: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []

    def swap(self, faces: np.ndarray, direction: str) -> tuple[np.ndarray, np.ndarray | None]:
        swapped, masks = self.swapper.swap(faces, direction)
        self.calls.append((np.asarray(faces), np.asarray(swapped), masks))
        return swapped, masks

    def take(self, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The first count crops, swapped faces and masks since the last take (batches are padded)."""
        crops = np.concatenate([c[0] for c in self.calls])[:count]
        swapped = np.concatenate([c[1] for c in self.calls])[:count]
        masks = None if self.calls[0][2] is None else np.concatenate([c[2] for c in self.calls])[:count]
        self.calls.clear()
        return crops, swapped, masks


class Swapping:
    """convert's own swap path (scripts/convert_steps.FaceSwapper: crop, model, mask, colour, blend, paste),
    run on images with known landmarks; also hands back the model's crops and the pasted masks."""

    def __init__(self, swapper: Any, options: EvalOptions, direction: str) -> None:
        # convert's code, not a copy of it, so that the numbers are those of what convert makes.
        from scripts.convert_steps import FaceSwapper, SwapOptions  # noqa: PLC0415

        mask = options.mask if options.mask != "auto" else "learned" if swapper.has_mask else "hull"
        self.recorder = _Recorder(swapper)
        self.swapper = FaceSwapper(self.recorder, SwapOptions(direction, mask, options.color, options.blend, 0.0,
                                                               options.blur, 0.0, options.batch_size))

    def swap(self, images: list[Frame], faces: list[Landmarks]) -> list[dict[str, Any]]:
        """Swap one face per image; each result: image (swapped copy), crop and output (model input and raw
        output, n x n), mask (float32 in [0, 1], as pasted, in the image's pixels)."""
        from lib.blend import erode_mask, feather_mask  # noqa: PLC0415
        from scripts.convert_steps import WorkFrame  # noqa: PLC0415

        work = [WorkFrame(i, str(i), str(i), image, None, faces=[points])
                for i, (image, points) in enumerate(zip(images, faces))]
        self.swapper.convert(work)
        crops, outputs, learned = self.recorder.take(len(work))
        size = self.swapper.size
        results = []
        for index, (frame, points) in enumerate(zip(work, faces)):
            matrix = self.swapper.matrix(points)
            mask = self.swapper.mask.make(transform_points(matrix, points), size,
                                          None if learned is None else learned[index])
            mask = feather_mask(erode_mask(mask, self.swapper.erosion), self.swapper.blur)
            height, width = images[index].shape[:2]
            pasted = cv2.warpAffine(mask, matrix, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
            results.append({"image": frame.image, "crop": crops[index], "output": outputs[index],
                            "mask": np.asarray(pasted, np.float32)})
        return results


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return float(np.mean(values)) if values else float("nan")


def _region_error(reference: Landmarks, other: Landmarks, region: slice) -> float:
    """Mean point distance inside one region over the reference's inter-ocular distance."""
    distance = np.linalg.norm(np.asarray(reference)[region] - np.asarray(other)[region], axis=1).mean()
    return float(distance / max(interocular(reference), 1e-6))


@dataclass
class _Source:
    """A held-out face as dlib sees it unswapped: landmarks in face pixels and descriptor (None: lost)."""

    landmarks: Landmarks | None
    descriptor: Descriptor | None


def _measure_sources(faces: HeldOutFaces, measurer: FaceMeasurer, progress: Progress) -> list[_Source]:
    sources = []
    for image, near in zip(faces.images, faces.landmarks):
        found = measurer.landmarks(image, near)
        sources.append(_Source(found, None if found is None else measurer.describe(image, found)))
        progress(1)
    return sources


def _chunks(count: int, size: int) -> Iterable[range]:
    return (range(start, min(count, start + size)) for start in range(0, count, size))


def _swap_direction(faces: HeldOutFaces, sources: list[_Source], swapping: Swapping, *, measurer: FaceMeasurer,
                    centroids: dict[str, Descriptor], sides: tuple[str, str], progress: Progress,
                    samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Identity, pose and expression scores of one swap direction, and sample rows for the sheet."""
    descriptors, pose_errors, expression = [], [], []
    failed = 0
    shown = set(pick_evenly(len(faces), SAMPLES))
    for chunk in _chunks(len(faces), swapping.swapper.options.batch_size):
        results = swapping.swap([faces.images[i] for i in chunk], [faces.landmarks[i] for i in chunk])
        for i, result in zip(chunk, results):
            progress(1)
            source = sources[i].landmarks
            found = None if source is None else measurer.landmarks(result["image"], faces.landmarks[i])
            if i in shown:
                samples.append({"source": faces.images[i], "swap": result["image"], "mask": result["mask"]})
            if source is None or found is None:
                failed += 1
                continue
            pose = [head_pose(transform_points(faces.to_frame[i], points), faces.frame_shapes[i])
                    for points in (source, found)]
            if not np.isfinite(pose).all():
                failed += 1
                continue
            descriptors.append(measurer.describe(result["image"], found))
            pose_errors.append(np.abs(np.subtract(pose[1], pose[0])))
            expression.append((landmark_error(source, found), _region_error(source, found, EYES),
                               _region_error(source, found, MOUTH)))
    scores = identity_scores(descriptors, centroids[sides[0]], centroids[sides[1]])
    errors = np.asarray(pose_errors).reshape(-1, 3)
    nme = np.asarray(expression).reshape(-1, 3)
    return {
        "faces": len(faces), "measured": len(descriptors), "landmarks_failed": failed,
        "identity": {"to_target": scores.to_target, "to_source": scores.to_source, "retrieval": scores.retrieval},
        "pose_error_degrees": {"yaw": _mean(errors[:, 0]), "pitch": _mean(errors[:, 1]),
                               "roll": _mean(errors[:, 2]), "mean": _mean(errors.ravel())},
        "expression_nme": {"face": _mean(nme[:, 0]), "eyes": _mean(nme[:, 1]), "mouth": _mean(nme[:, 2])},
    }


def _reconstruct(faces: HeldOutFaces, swapping: Swapping, progress: Progress) -> dict[str, Any]:
    """SSIM and PSNR of the model's own-identity output against its input crop."""
    scores: list[tuple[float, float]] = []
    for chunk in _chunks(len(faces), swapping.swapper.options.batch_size):
        for result in swapping.swap([faces.images[i] for i in chunk], [faces.landmarks[i] for i in chunk]):
            scores.append((ssim(result["crop"], result["output"]),
                           min(PSNR_CAP, psnr(result["crop"], result["output"]))))
            progress(1)
    return {"faces": len(faces), "ssim": _mean(s for s, _ in scores), "psnr": _mean(p for _, p in scores)}


def face_steps(faces_a: HeldOutFaces, faces_b: HeldOutFaces) -> int:
    """How many progress steps evaluate_faces makes: each face measured unswapped, swapped and reconstructed."""
    return 3 * (len(faces_a) + len(faces_b))


def evaluate_faces(swapper: Any, faces_a: HeldOutFaces, faces_b: HeldOutFaces, options: EvalOptions, *,
                   measurer: FaceMeasurer | None = None,
                   progress: Progress | None = None) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Every face metric per direction (a2b, b2a, a2a, b2b), and sample faces for the sheet per direction."""
    measurer = measurer or FaceMeasurer()
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
    report: dict[str, Any] = {"reference": {}}
    for side, measured in sources.items():
        own = np.asarray([s.descriptor for s in measured if s.descriptor is not None])
        report["reference"][side] = {  # where the unswapped faces sit: the best a swap can hope for
            "to_A": float(np.linalg.norm(own - centroids["A"], axis=1).mean()),
            "to_B": float(np.linalg.norm(own - centroids["B"], axis=1).mean()),
            "landmarks_failed": len(measured) - len(own)}
    samples: dict[str, list[dict[str, Any]]] = {}
    for direction, sides in SWAPS.items():
        samples[direction] = []
        swapping = Swapping(swapper, options, direction)
        report[direction] = _swap_direction(faces[sides[0]], sources[sides[0]], swapping, measurer=measurer,
                                            centroids=centroids, sides=sides, progress=step,
                                            samples=samples[direction])
    for direction, side in RECONSTRUCTIONS.items():
        report[direction] = _reconstruct(faces[side], Swapping(swapper, options, direction), step)
    return report, samples


def evaluate_video(swapper: Any, frames: Iterable[tuple[Frame, Landmarks | None]], options: EvalOptions, *,
                   direction: str = "a2b", measurer: FaceMeasurer | None = None,
                   progress: Progress | None = None) -> dict[str, Any]:
    """Landmark jitter of the swapped face against the source's, and seam gradients before and after
    blending, over frames given with the landmarks (frame pixels) of the face to swap, or None."""
    measurer = measurer or FaceMeasurer()
    swapping = Swapping(swapper, options, direction)
    tracks: list[tuple[list[Landmarks], list[Landmarks]]] = [([], [])]
    seams: list[tuple[float, float]] = []
    counts = Counter[str]()
    pending: list[tuple[Frame, Landmarks]] = []

    def flush() -> None:
        results = swapping.swap([frame for frame, _ in pending], [points for _, points in pending])
        for (frame, points), result in zip(pending, results):
            source, found = measurer.landmarks(frame, points), measurer.landmarks(result["image"], points)
            seams.append((seam_gradient(frame, result["mask"]), seam_gradient(result["image"], result["mask"])))
            if source is None or found is None:
                counts["landmarks_failed"] += 1
                tracks.append(([], []))
                continue
            tracks[-1][0].append(source)
            tracks[-1][1].append(found)
        pending.clear()

    for frame, points in frames:
        counts["frames"] += 1
        if points is None:
            if pending:
                flush()
            tracks.append(([], []))
        else:
            counts["faces"] += 1
            pending.append((frame, points))
            if len(pending) >= options.batch_size:
                flush()
        if progress is not None:
            progress(1)
    if pending:
        flush()
    source_jitter = _track_jitter([t[0] for t in tracks])
    swap_jitter = _track_jitter([t[1] for t in tracks])
    before, after = _mean(s for s, _ in seams), _mean(s for _, s in seams)
    return {
        "frames": counts["frames"], "faces": counts["faces"], "landmarks_failed": counts["landmarks_failed"],
        "direction": direction,
        "jitter": {"source": source_jitter, "swap": swap_jitter,
                   "ratio": swap_jitter / source_jitter if source_jitter > 0 else float("nan")},
        "seam_gradient": {"before": before, "after": after, "jump": after - before},
    }


def _track_jitter(tracks: list[list[Landmarks]]) -> float:
    """Mean frame-to-frame landmark motion over all runs of consecutive frames (a run of one adds nothing)."""
    steps = [(len(t) - 1, landmark_jitter(np.asarray(t))) for t in tracks if len(t) >= 2]
    total = sum(n for n, _ in steps)
    return sum(n * value for n, value in steps) / total if total else float("nan")


def finite(value: Any) -> Any:
    """A report with NaN and infinity turned into None (JSON has neither), numbers rounded to 4 places."""
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return round(float(value), 4) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def metric_rows(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(metric, A->B value, B->A value) rows for the console table and the sheet."""
    def number(value: Any, digits: int = 3) -> str:
        return "-" if value is None or (isinstance(value, float) and not math.isfinite(value)) else \
            f"{value:.{digits}f}"

    a2b, b2a = report["a2b"], report["b2a"]
    rows = [("faces measured (landmarks lost)", f"{a2b['measured']} ({a2b['landmarks_failed']})",
             f"{b2a['measured']} ({b2a['landmarks_failed']})")]
    for label, key in (("identity: distance to target (lower)", "to_target"),
                       ("identity: distance to source (higher)", "to_source"),
                       ("identity: retrieval as target (higher)", "retrieval")):
        rows.append((label, number(a2b["identity"][key]), number(b2a["identity"][key])))
    for angle in ("yaw", "pitch", "roll"):
        rows.append((f"pose kept: {angle} error, degrees (lower)", number(a2b["pose_error_degrees"][angle], 1),
                     number(b2a["pose_error_degrees"][angle], 1)))
    for part in ("face", "eyes", "mouth"):
        rows.append((f"expression kept: {part} NME (lower)", number(a2b["expression_nme"][part]),
                     number(b2a["expression_nme"][part])))
    rows.append(("reconstruction A->A / B->B: SSIM (higher)", number(report["a2a"]["ssim"]),
                 number(report["b2b"]["ssim"])))
    rows.append(("reconstruction A->A / B->B: PSNR dB (higher)", number(report["a2a"]["psnr"], 1),
                 number(report["b2b"]["psnr"], 1)))
    video = report.get("video")
    if video:
        column = (lambda text: (text, "")) if video["direction"] == "a2b" else (lambda text: ("", text))
        rows.append(("video: landmark jitter, swap / source (near 1)",
                     *column(f"{number(video['jitter']['swap'])} / {number(video['jitter']['source'])}")))
        rows.append(("video: seam gradient jump (near 0)", *column(number(video["seam_gradient"]["jump"], 2))))
    return rows
