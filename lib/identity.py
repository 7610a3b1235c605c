"""Who is this? dlib's 128-D face descriptor (ResNet, 99.38% on LFW), distances between them, and the
reference people that extract's filters and convert's --reference keep or drop."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lib.errors import FaceswapError
from lib.facefile import meta_from_json
from lib.image import UnreadableImage, read_face_file
from lib.types import Descriptor, FaceFinder, Frame, Landmarks
from lib.weights import FACE_DESCRIPTOR, dlib_model

SAME_PERSON = 0.6  # dlib's published threshold: distances under this are usually the same person


class FaceDescriber:
    """Computes face descriptors from a frame and a face's 68 landmarks."""

    def __init__(self) -> None:
        import dlib  # here, not at the top: the command line reads SAME_PERSON without loading dlib

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


def reference_descriptor(path: Path, describer: FaceDescriber, finder: FaceFinder) -> Descriptor:
    """The descriptor of the person in a reference image: a face PNG from extract (its landmarks are known)
    or a photo, whose largest face the finder finds."""
    try:
        image, raw = read_face_file(path)
    except (UnreadableImage, OSError) as err:
        raise FaceswapError(f"reference {path} cannot be read: {err}") from None
    meta = meta_from_json(raw)
    if meta is not None:
        return describer.describe(image, meta.landmarks_at(image.shape[0]))
    faces = finder.find([image])[0]
    if not faces:
        raise FaceswapError(f"no face found in reference {path}: give a clear photo of the person")
    largest = max(faces, key=lambda face: face.box.width * face.box.height)
    return describer.describe(image, largest.landmarks)


class IdentityFilter:
    """Keeps the faces of the `keep` people (when any are given) and drops those of the `drop` people."""

    KEPT, NOT_KEPT, DROPPED = None, "not a person to keep", "a person to drop"

    def __init__(self, describer: FaceDescriber, keep: list[Descriptor], drop: list[Descriptor],
                 threshold: float = SAME_PERSON) -> None:
        self.describer = describer
        self.keep = keep
        self.drop = drop
        self.threshold = threshold

    def verdict(self, frame: Frame, landmarks: Landmarks) -> str | None:
        """None when the face passes, else NOT_KEPT or DROPPED."""
        descriptor = self.describer.describe(frame, landmarks)
        if self.keep and distances(descriptor, self.keep).min() > self.threshold:
            return self.NOT_KEPT
        if self.drop and distances(descriptor, self.drop).min() <= self.threshold:
            return self.DROPPED
        return self.KEPT
