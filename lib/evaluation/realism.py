"""What a viewer sees of a swap, measured with a face model the swap path never uses (MediaPipe's face landmarker,
lib.facemesh): blinks, a mouth opening and smiles carried over from the source, the head's pose, the detail of the
swapped face against the frame it is pasted into, and colour leaking in at the face's edge."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from lib.align import ALIGNED_SIZE, align_matrix, coverage_matrix
from lib.facemesh import FaceMesh, MeshFace, canonical_mesh
from lib.pose import mesh_head_pose
from lib.types import Frame, Landmarks, Matrix

# Expressions followed from source to swap, each the mean of these blendshapes (the subject's two sides).
EXPRESSIONS = {"blink": ("eyeBlinkLeft", "eyeBlinkRight"), "jaw_open": ("jawOpen",),
               "smile": ("mouthSmileLeft", "mouthSmileRight")}
# The mesh's face oval, in order round the face (MediaPipe's FACEMESH_FACE_OVAL).
FACE_OVAL = np.array([10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
                      152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109])
MIN_PRESENCE = 0.5  # below this the landmarker does not see a face in the crop: the pair is not scored
INNER_COVERAGE = 0.5  # the inner face for detail: the central half of the aligned face, brows to lower lip
DETAIL_CUTOFF = 0.125  # cycles per pixel: a quarter of Nyquist
EDGE_RING = 0.08  # the outer ring: the oval's pixels within this share of its width from its edge
EDGE_INNER = 0.16  # the inner face: farther than this from the edge
RANGE = (1.0, 99.0)  # an expression's range over frames: these percentiles (a blink is a few frames in a hundred)
MIN_SPREAD = 0.02  # an expression that moves less than this over the source frames has no correlation to keep


@dataclass(frozen=True)
class Look:
    """One face as the judge sees it: its expressions (EXPRESSIONS order), head pose (yaw, pitch, roll in degrees),
    the high-frequency share of its inner face at the face's size in its frame, its face oval (image pixels)."""

    expression: npt.NDArray[np.float64]
    pose: tuple[float, float, float]
    detail: float
    oval: npt.NDArray[np.float64]


@dataclass(frozen=True)
class Pair:
    """A source face and its swap as the judge saw them, and the colour difference at the edge and inside."""

    source: Look
    swap: Look
    edge: tuple[float, float]


class MeshJudge:
    """Looks at faces with MediaPipe's landmarker, placed near known 68 landmarks."""

    def __init__(self) -> None:
        self._mesh = FaceMesh()
        self._canonical = canonical_mesh()

    def look(self, image: Frame, near: Landmarks, frame_scale: float = 1.0) -> Look | None:
        """The face near these landmarks (image pixels) of a BGR image, or None when the landmarker sees none.
        frame_scale: frame pixels per image pixel (an aligned face PNG is its frame enlarged: below 1)."""
        face = self._mesh.fit(image, near)
        if face.presence < MIN_PRESENCE:
            return None
        return Look(expressions(face), mesh_head_pose(face.points, self._canonical),
                    detail_share(image, near, frame_scale), face.points[FACE_OVAL, :2])

    def pair(self, source: Look | None, images: tuple[Frame, Frame], near: Landmarks,
             frame_scale: float = 1.0) -> Pair | None:
        """A face already looked at (source) and its swap: images (source image, swapped image) of one shape;
        None when the judge sees no face in either."""
        if source is None:
            return None
        swap = self.look(images[1], near, frame_scale)
        if swap is None:
            return None
        return Pair(source, swap, edge_delta_e(*images, source.oval))


def expressions(face: MeshFace) -> npt.NDArray[np.float64]:
    """The face's EXPRESSIONS scores, each in [0, 1]."""
    return np.array([np.mean([face.blendshape(name) for name in names]) for names in EXPRESSIONS.values()])


def inner_face(image: Frame, landmarks: Landmarks, frame_scale: float = 1.0) -> Frame:
    """The inner face (INNER_COVERAGE of the aligned face, upright) at the size it has in its frame."""
    matrix = align_matrix(landmarks, ALIGNED_SIZE)
    natural = INNER_COVERAGE * ALIGNED_SIZE / float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))  # image pixels
    side = max(16, int(round(natural * frame_scale)))
    if side >= natural:
        crop: Matrix = coverage_matrix(matrix, ALIGNED_SIZE, INNER_COVERAGE, side)
        return np.asarray(cv2.warpAffine(image, crop, (side, side), flags=cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_REFLECT), np.uint8)
    # An enlarged face (a face PNG) shrunk back to its size in the frame: averaged, as the frame had it.
    big = int(round(natural))
    face = cv2.warpAffine(image, coverage_matrix(matrix, ALIGNED_SIZE, INNER_COVERAGE, big), (big, big),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return np.asarray(cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA), np.uint8)


def high_frequency_share(image: Frame) -> float:
    """The share of a grey image's spectral energy (mean removed, Hann-windowed) above DETAIL_CUTOFF cycles per
    pixel: what blur takes away and sharpening adds."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float64)
    grey -= grey.mean()
    height, width = grey.shape
    window = np.outer(np.hanning(height), np.hanning(width))
    power = np.abs(np.fft.fft2(grey * window)) ** 2
    frequency = np.hypot(*np.meshgrid(np.fft.fftfreq(width), np.fft.fftfreq(height)))
    total = float(power[frequency > 0].sum())
    return float(power[frequency > DETAIL_CUTOFF].sum()) / total if total > 0 else float("nan")


def detail_share(image: Frame, landmarks: Landmarks, frame_scale: float = 1.0) -> float:
    return high_frequency_share(inner_face(image, landmarks, frame_scale))


def edge_delta_e(source: Frame, swap: Frame, oval: npt.NDArray[np.float64]) -> tuple[float, float]:
    """The 95th percentile of the colour difference (CIE76 Delta E) between swap and source in the outer ring of
    the face oval, and the same over the inner face: a strip of another background or skin at the face's edge
    raises the first above the second."""
    mask = np.zeros(source.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(oval).astype(np.int32)], 1)
    distance = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
    width = float(np.ptp(oval[:, 0]))
    ring = (mask > 0) & (distance <= EDGE_RING * width)
    inner = distance > EDGE_INNER * width
    if not ring.any() or not inner.any():
        return float("nan"), float("nan")
    lab = [cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_BGR2Lab) for image in (source, swap)]
    difference = np.linalg.norm(lab[0] - lab[1], axis=2)
    return float(np.percentile(difference[ring], 95)), float(np.percentile(difference[inner], 95))


def _carried(source: np.ndarray, swap: np.ndarray) -> dict[str, float | None]:
    """How one expression carries over a set of faces: correlation, range ratio, and what the swap adds where the
    source shows little (the mean excess over the faces at or below the source's median)."""
    if len(source) < 3:
        return {"r": None, "range": None, "added": None}
    spread = np.subtract(*np.percentile(source, RANGE[::-1]))
    if spread < MIN_SPREAD:
        return {"r": None, "range": None, "added": None}
    quiet = source <= np.median(source)
    return {"r": float(np.corrcoef(source, swap)[0, 1]) if swap.std() > 0 else 0.0,
            "range": float(np.subtract(*np.percentile(swap, RANGE[::-1])) / spread),
            "added": float(np.maximum(swap[quiet] - source[quiet], 0).mean())}


def summarise(pairs: list[Pair | None]) -> dict[str, object]:
    """The realism numbers of a set of swapped faces (or video frames): detail kept (median of swap / source
    high-frequency share), each expression carried (_carried), head-pose error by the judge (mean absolute,
    degrees) and the edge's colour difference (mean p95 in the outer ring and inside, and their difference)."""
    seen = [pair for pair in pairs if pair is not None]
    result: dict[str, object] = {"faces": len(pairs), "lost": len(pairs) - len(seen)}
    if not seen:
        return {**result, "detail": None, "expression": {name: _carried(np.zeros(0), np.zeros(0))
                                                          for name in EXPRESSIONS},
                "pose_error_degrees": None, "edge_delta_e": None}
    source = np.array([pair.source.expression for pair in seen])
    swap = np.array([pair.swap.expression for pair in seen])
    detail = np.array([pair.swap.detail / pair.source.detail for pair in seen])
    pose = np.abs(np.subtract([pair.swap.pose for pair in seen], [pair.source.pose for pair in seen]))
    edge = np.array([pair.edge for pair in seen])
    outer, inner = np.nanmean(edge[:, 0]), np.nanmean(edge[:, 1])
    return {**result,
            "detail": float(np.nanmedian(detail)),
            "expression": {name: _carried(source[:, k], swap[:, k]) for k, name in enumerate(EXPRESSIONS)},
            "pose_error_degrees": {"yaw": float(pose[:, 0].mean()), "pitch": float(pose[:, 1].mean()),
                                   "roll": float(pose[:, 2].mean())},
            "edge_delta_e": {"outer": float(outer), "inner": float(inner), "excess": float(outer - inner)}}
