"""The face oval of MediaPipe's mesh (lib.facemesh.FACE_OVAL): chin, jaw and cheeks where the face's own surface
turns away, and the forehead up to the hairline, rather than the 68 points' jaw and brows raised by a guess. A face
stored without a mesh (found with dlib68, or an alignments file of version 1) gets the 68-point hull."""
from __future__ import annotations

import numpy as np

from lib.facemesh import mesh_mask
from lib.masks import hull_mask
from lib.types import Landmarks, Mask, MeshXY


class MeshMask:
    """The mesh's face oval, or the 68-point hull for a face without a mesh."""

    needs_learned = False
    regions: tuple[str, ...] = ("oval",)

    def make(self, landmarks: Landmarks, size: int, learned: Mask | None, mesh: MeshXY | None = None) -> Mask:
        return hull_mask(landmarks, size) if mesh is None else mesh_mask(mesh, size, self.regions)


class LearnedMeshMask(MeshMask):
    """min(the model's learned mask, the mesh's face oval): learned-hull with the mesh's outline."""

    needs_learned = True

    def make(self, landmarks: Landmarks, size: int, learned: Mask | None, mesh: MeshXY | None = None) -> Mask:
        assert learned is not None  # FaceSwapper refuses this mask for a model without a mask head
        oval = super().make(landmarks, size, None, mesh)
        return np.minimum(np.clip(np.asarray(learned, np.float32), 0.0, 1.0), oval)
