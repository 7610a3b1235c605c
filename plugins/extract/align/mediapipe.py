"""MediaPipe's face landmarker (lib.facemesh): 478 points and 52 expression scores per face, and the pipeline's 68
landmarks as fixed blends of mesh points (lib.facemesh.MESH_68, fitted to dlib's predictions on video)."""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

from lib.align import PREDICTOR_BOX, TEMPLATE_5
from lib.facemesh import FaceMesh, MeshFace, landmarks_68
from lib.types import Box, DetectedFace, Detection, Frame, Landmarks, Mesh
from plugins.extract.align import AlignOptions

# Under this presence the crop holds no face (a pattern on a shirt: dlib's HOG detector finds one in the astronaut
# photo's mission patch, presence 0.1): the detection is dropped. A face cut by the frame's edge, in profile, can
# score 0.45 (peer/test_img3.jpg).
MIN_PRESENCE = 0.3
JITTER = 0.03  # refeed: crops move and scale by up to this share of the face


def box_keypoints(box: Box) -> npt.NDArray[np.float64]:
    """Five keypoints for a detector that gives none, placed as the mean face sits in the box dlib's detectors
    draw (lib.align.PREDICTOR_BOX, upright): (5, 2) float64 frame pixels; the mesh's own passes then fit them."""
    left, top, right, bottom = PREDICTOR_BOX
    x = box.left + (TEMPLATE_5[:, 0] - left) * box.width / (right - left)
    y = box.top + (TEMPLATE_5[:, 1] - top) * box.height / (bottom - top)
    return np.column_stack([x, y]).astype(np.float64)


class MediapipeAligner:
    """Fits MediaPipe's mesh to each detection: seeded by the detector's 5 keypoints (or its box), then once more
    from the mesh itself, as MediaPipe's tracker crops a face."""

    def __init__(self, options: AlignOptions) -> None:
        self.options = options
        # One thread: the pipeline runs the detector beside it, on the other core (plugins.extract.pipeline).
        self._mesh = FaceMesh(threads=1)

    def faces(self, frame: Frame, detections: list[Detection]) -> list[DetectedFace]:
        """Each detection of a BGR frame that is a face, with its mesh, expressions and 68 landmarks."""
        found = []
        for detection in detections:
            mesh = self._fit(frame, detection)
            if mesh.presence >= MIN_PRESENCE:
                found.append(DetectedFace(detection.box, detection.score, landmarks_68(mesh.points),
                                          Mesh(mesh.points, mesh.blendshapes)))
        return found

    def align(self, frame: Frame, detections: list[Detection]) -> list[Landmarks]:
        """68 landmarks (frame pixels, float64) for each detection, face or not."""
        return [landmarks_68(self._fit(frame, detection).points) for detection in detections]

    def _fit(self, frame: Frame, detection: Detection) -> MeshFace:
        seed = detection.keypoints if detection.keypoints is not None else box_keypoints(detection.box)
        face = self._mesh.fit(frame, seed)
        if self.options.refeed == 1:
            return face
        # Seeded by the mesh, so the same frame always gives the same points.
        rng = np.random.default_rng([int(abs(v)) % 2**31 for v in face.points[:5, :2].ravel()])
        runs = [face]
        size = float(np.ptp(face.points[:, 0]))
        centre = face.points[:, :2].mean(0)
        for _ in range(self.options.refeed - 1):
            dx, dy, ds = rng.uniform(-JITTER, JITTER, 3)
            moved = face.points.copy()
            moved[:, :2] = (moved[:, :2] - centre) * (1 + ds) + centre + np.array([dx, dy]) * size
            runs.append(self._mesh.fit(frame, moved, passes=1))
        presence = float(np.mean([run.presence for run in runs]))
        return MeshFace(np.mean([run.points for run in runs], axis=0), presence,
                        np.mean([run.blendshapes for run in runs], axis=0).astype(np.float32))

