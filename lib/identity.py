"""Who is this? dlib's 128-D face descriptor (ResNet, 99.38% on LFW) and distances between them."""
from __future__ import annotations

import numpy as np

from lib.types import Descriptor, Frame, Landmarks
from lib.weights import FACE_DESCRIPTOR, dlib_model

SAME_PERSON = 0.6  # dlib's published threshold: distances under this are usually the same person


class FaceDescriber:
    """Computes face descriptors from a frame and a face's 68 landmarks."""

    def __init__(self) -> None:
        import dlib  # noqa: PLC0415

        self._dlib = dlib
        self._model = dlib.face_recognition_model_v1(str(dlib_model(FACE_DESCRIPTOR)))

    def describe(self, frame: Frame, landmarks: Landmarks) -> Descriptor:
        """The 128-D descriptor of the face with these landmarks in a BGR frame."""
        dlib = self._dlib
        points = [dlib.point(int(round(x)), int(round(y))) for x, y in landmarks]
        xs, ys = landmarks[:, 0], landmarks[:, 1]
        rect = dlib.rectangle(int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))
        shape = dlib.full_object_detection(rect, points)
        rgb = np.ascontiguousarray(frame[..., ::-1])
        return np.asarray(self._model.compute_face_descriptor(rgb, shape), np.float64)


def distances(descriptor: Descriptor, references: list[Descriptor]) -> np.ndarray:
    """Euclidean distance from one descriptor to each reference."""
    if not references:
        return np.zeros(0)
    return np.linalg.norm(np.asarray(references) - descriptor, axis=1)
