"""Loading a folder of aligned faces for training: decoded once, kept in memory with their landmarks."""
from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lib.align import ALIGNED_SIZE, mean_aligned_shape, resize_matrix, transform_points
from lib.errors import FaceswapError
from lib.expression import expression_counts
from lib.facefile import face_paths, meta_from_json
from lib.image import UnreadableImage, decode_image, png_metadata
from lib.pose import ANGLES, head_pose, outside_share, pose_range

log = logging.getLogger("faceswap.train")

MIN_FACES = 8
FEW_FACES = 250
MAX_CACHE_BYTES = 4 * 1024**3


@dataclass(frozen=True, eq=False)
class FaceSet:
    """The faces of one side, decoded.

    images: uint8 BGR (N, S, S, 3). landmarks: float32 (N, 68, 2) in pixels of these images, or None when
    the faces are plain images without metadata. skipped: reason -> count of files left out.
    """

    images: np.ndarray
    landmarks: np.ndarray | None
    names: list[str]
    skipped: dict[str, int] = field(default_factory=dict)
    # (N, 2) yaw and pitch in degrees in the source frame (lib.pose), with the landmarks; None without them.
    poses: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.images)

    @property
    def size(self) -> int:
        """S, the side of every face in pixels."""
        return int(self.images.shape[1])


@dataclass(frozen=True)
class _Read:
    """One face file as read: pixels and landmarks in its own pixels, or why it was skipped."""

    name: str
    image: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    pose: tuple[float, float] = (float("nan"), float("nan"))
    problem: str = ""


def _read_face(path: Path, size: int | None = None) -> _Read:
    try:
        data = path.read_bytes()
        image = decode_image(data, path.suffix.lower())
    except (OSError, UnreadableImage):
        return _Read(path.name, problem="unreadable")
    if image.shape[0] != image.shape[1]:
        return _Read(path.name, problem="not square")
    meta = meta_from_json(png_metadata(data))
    if size is not None and image.shape[0] != size:
        image = _resize(image, size)
    # The image may have been resized after extract: the landmarks follow it.
    if meta is None:
        return _Read(path.name, image)
    yaw, pitch, _ = head_pose(meta.face.landmarks, meta.frame_shape)
    return _Read(path.name, image, meta.landmarks_at(image.shape[0]).astype(np.float32), (yaw, pitch))


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    interpolation = cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_CUBIC
    return np.asarray(cv2.resize(image, (size, size), interpolation=interpolation), np.uint8)


def _read_all(paths: list[Path], size: int | None, max_bytes: int) -> list[_Read]:
    """Decode every file on a few threads (cv2 releases the GIL); refuse early when they will not fit."""
    reads: list[_Read] = []
    total = 0
    with ThreadPoolExecutor(max_workers=4) as pool:
        for read in pool.map(_read_face, paths, [size] * len(paths)):
            reads.append(read)
            total += 0 if read.image is None else read.image.nbytes
            if total > max_bytes:
                pool.shutdown(wait=False, cancel_futures=True)
                raise FaceswapError(
                    f"the {len(paths)} faces in {paths[0].parent} need more than {max_bytes / 1024**3:.1f} GB "
                    "of memory decoded: train on fewer faces, or extract them with a smaller --size")
    return reads


def _choose_landmarks(good: list[_Read], folder: Path, skipped: Counter[str]) -> list[_Read]:
    """Landmarks are used only when every kept face has them; a minority of plain images is dropped."""
    with_meta = [r for r in good if r.landmarks is not None]
    if len(with_meta) == len(good):
        return good
    if len(with_meta) * 2 > len(good):
        skipped["no metadata (the other faces have it)"] += len(good) - len(with_meta)
        log.warning("%s: %d faces without extract metadata left out (the others have landmarks)",
                    folder, len(good) - len(with_meta))
        return with_meta
    log.warning("%s: faces without extract metadata: training them without face masks and eye/mouth "
                "weights (extract the faces with faceswap to get them)", folder)
    return [_Read(r.name, r.image) for r in good]


def shared_faces(first: FaceSet, images: Sequence[np.ndarray] | np.ndarray) -> int:
    """How many of images are pixel for pixel faces of first (the same files given twice)."""
    def digest(image: np.ndarray) -> bytes:
        return hashlib.blake2b(image.tobytes(), digest_size=16).digest()

    seen = {digest(image) for image in first.images}
    return sum(image.shape == first.images.shape[1:] and digest(image) in seen for image in images)


def load_faces(folder: Path, size: int | None = None, max_bytes: int = MAX_CACHE_BYTES) -> FaceSet:
    """Read every face image in a folder into memory, resized to one size S (size, or the most common)."""
    folder = Path(folder)
    reads = _read_all(face_paths(folder), size, max_bytes)
    skipped: Counter[str] = Counter(r.problem for r in reads if r.problem)
    for problem, count in skipped.items():
        log.warning("%s: %d face file(s) skipped: %s", folder, count, problem)
    good = _choose_landmarks([r for r in reads if not r.problem], folder, skipped)
    if len(good) < MIN_FACES:
        raise FaceswapError(f"face folder {folder} has {len(good)} usable faces; training needs at least "
                            f"{MIN_FACES} (a few hundred is better): extract more faces")
    if len(good) < FEW_FACES:
        log.warning("%s: only %d faces; a few hundred per side (different poses and lighting) train a "
                    "much better model", folder, len(good))
    sizes = Counter(r.image.shape[0] for r in good if r.image is not None)
    target = size or sizes.most_common(1)[0][0]
    if len(sizes) > 1:
        log.warning("%s: faces of mixed sizes (%s): resized to %dx%d", folder,
                    ", ".join(f"{count} of {side}px" for side, count in sizes.most_common()), target, target)
    if target * target * 3 * len(good) > max_bytes:
        raise FaceswapError(f"the {len(good)} faces in {folder} need more than {max_bytes / 1024**3:.1f} GB "
                            "of memory decoded: train on fewer faces, or extract them with a smaller --size")
    images = np.empty((len(good), target, target, 3), np.uint8)
    landmarks = None if good[0].landmarks is None else np.empty((len(good), 68, 2), np.float32)
    for i, read in enumerate(good):
        assert read.image is not None
        side = read.image.shape[0]
        images[i] = read.image if side == target else _resize(read.image, target)
        if landmarks is not None and read.landmarks is not None:
            landmarks[i] = read.landmarks if side == target else transform_points(resize_matrix(side, target),
                                                                                   read.landmarks)
    poses = None if landmarks is None else np.array([r.pose for r in good], np.float32)
    return FaceSet(images, landmarks, [r.name for r in good], dict(skipped), poses)


# A side with this share of its faces in poses the other side's faces never show gets a warning at train's start.
UNCOVERED = 0.25


def pose_coverage(faces_a: FaceSet, faces_b: FaceSet) -> dict[str, Any] | None:
    """What train keeps in MODEL/poses.json: the poses each side's faces cover (lib.pose.pose_range), the
    share of each side's faces outside the other's and each side's mean face shape; None when a side has no
    landmarks.

    A decoder draws its person in the poses it was shown: a face of A turned further than any face of B comes
    out of the swap turned as B's faces are. evaluate reports the same share for its held-out faces."""
    if faces_a.poses is None or faces_b.poses is None:
        return None
    covered = {"A": pose_range(faces_a.poses), "B": pose_range(faces_b.poses)}
    shapes = {side: np.round(mean_aligned_shape(faces.landmarks, ALIGNED_SIZE), 2).tolist()
              for side, faces in (("A", faces_a), ("B", faces_b)) if faces.landmarks is not None}
    return {"covered": covered, "faces": {"A": len(faces_a), "B": len(faces_b)},
            "outside": {"A": outside_share(faces_a.poses, covered["B"]),
                        "B": outside_share(faces_b.poses, covered["A"])},
            # Each person's mean face shape (aligned, ALIGNED_SIZE pixels): what convert's --follow keeps.
            "shape": shapes, "shape_size": ALIGNED_SIZE,
            # How many faces of each side shut their eyes or open their mouth: evaluate puts its sources beside.
            "expressions": {side: expression_counts(faces.landmarks)
                            for side, faces in (("A", faces_a), ("B", faces_b)) if faces.landmarks is not None}}


def coverage_warnings(coverage: dict[str, Any], pose_transfer: float = 0.0) -> list[str]:
    """One line per side and angle where UNCOVERED or more of a side's faces are beyond the other's poses, and,
    when there is any and training turns no faces (pose_transfer 0), one more line that says it can."""
    lines = []
    for side, other in (("A", "B"), ("B", "A")):
        for angle, how in zip(ANGLES, ("turned", "tilted")):
            share = coverage["outside"][side][angle]
            low, high = coverage["covered"][other][angle]
            if share >= UNCOVERED:
                lines.append(f"{share:.0%} of the {side} faces are {how} ({angle}) beyond the {other} faces' "
                             f"{low:g} to {high:g} degrees: their swaps to {other} lean toward {other}'s "
                             f"{angle}; add faces of {other} in those poses")
    if lines and pose_transfer <= 0:
        lines.append("or train with --pose-transfer 0.25: a quarter of each side's faces turned to the other "
                     "side's poses (in bench.quality, held-out swaps' pitch errors 2-4 degrees lower)")
    return lines
