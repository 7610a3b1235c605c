"""convert's mesh masks on a real face: the mesh's face oval against the 68-point hull, its regions, and the
fallback for a face stored without a mesh."""
from __future__ import annotations

import numpy as np
import pytest

from lib.align import align_matrix, transform_points
from lib.errors import FaceswapError
from lib.facemesh import FaceMesh, landmarks_68, mesh_mask
from lib.image import read_image
from lib.masks import hull_mask
from plugins.convert.mask import REGISTRY
from plugins.convert.mask.mesh import LearnedMeshMask, MeshMask
from plugins.extract.detect import DetectOptions
from plugins.extract.detect.retinaface import RetinafaceDetector
from plugins.registry import load_plugin
from tests.conftest import DATA

SIZE = 256


@pytest.fixture(scope="module")
def face() -> tuple[np.ndarray, np.ndarray]:
    """Biden's 68 points and mesh (x, y) in the pixels of his aligned 256 px face."""
    frame = read_image(DATA / "stills" / "biden" / "biden.jpg")
    keypoints = RetinafaceDetector(DetectOptions()).detect([frame])[0][0].keypoints
    assert keypoints is not None
    points = FaceMesh().fit(frame, keypoints).points[:, :2]
    landmarks = landmarks_68(points)
    matrix = align_matrix(landmarks, SIZE)
    return transform_points(matrix, landmarks), transform_points(matrix, points)


def _inside(mask: np.ndarray, points: np.ndarray) -> np.ndarray:
    xy = np.round(points).astype(int)
    return mask[xy[:, 1], xy[:, 0]] > 0


def test_the_oval_holds_the_face_and_reaches_the_forehead(face: tuple[np.ndarray, np.ndarray]) -> None:
    landmarks, mesh = face
    oval = MeshMask().make(landmarks, SIZE, None, mesh)
    hull = hull_mask(landmarks, SIZE)
    assert oval.dtype == np.float32 and set(np.unique(oval)) == {0.0, 1.0}
    assert _inside(oval, landmarks[17:]).all()  # brows, eyes, nose and mouth
    overlap = float((oval * hull).sum() / np.maximum(oval, hull).sum())
    assert overlap > 0.75  # the same face, outlined two ways
    rows = np.flatnonzero(oval.any(axis=1))
    brows = landmarks[17:27, 1].min()
    # The forehead, above the brows by a fifth of the brows-to-chin height (the hull guesses 0.2 of it).
    assert rows[0] < brows - 0.15 * (landmarks[8, 1] - brows)  # measured 0.21
    assert oval[:8].sum() == 0 and oval[:, :8].sum() == 0  # not the crop's border: hair and background


def test_regions_are_where_their_features_are(face: tuple[np.ndarray, np.ndarray]) -> None:
    landmarks, mesh = face
    eyes, mouth = mesh_mask(mesh, SIZE, ("eyes",)), mesh_mask(mesh, SIZE, ("mouth",))
    brows, oval = mesh_mask(mesh, SIZE, ("brows",)), mesh_mask(mesh, SIZE, ("oval",))
    centres = np.array([landmarks[36:42].mean(0), landmarks[42:48].mean(0)])
    assert _inside(eyes, centres).all() and not _inside(eyes, landmarks[48:68]).any()
    assert _inside(mouth, landmarks[60:68]).mean() > 0.7 and not _inside(mouth, centres).any()
    assert brows.sum() > 0 and (brows * eyes).sum() == 0
    assert ((eyes + mouth + brows) * (1 - oval)).sum() == 0  # every feature inside the oval
    both = mesh_mask(mesh, SIZE, ("eyes", "mouth"))
    np.testing.assert_array_equal(both, np.maximum(eyes, mouth))
    with pytest.raises(FaceswapError, match="unknown face region 'nose'"):
        mesh_mask(mesh, SIZE, ("nose",))


def test_a_face_without_a_mesh_gets_the_hull(face: tuple[np.ndarray, np.ndarray]) -> None:
    landmarks, _ = face
    np.testing.assert_array_equal(MeshMask().make(landmarks, SIZE, None, None), hull_mask(landmarks, SIZE))


def test_learned_mesh_is_the_learned_mask_inside_the_oval(face: tuple[np.ndarray, np.ndarray]) -> None:
    landmarks, mesh = face
    learned = np.linspace(0, 1, SIZE * SIZE, dtype=np.float32).reshape(SIZE, SIZE)
    made = LearnedMeshMask().make(landmarks, SIZE, learned, mesh)
    np.testing.assert_array_equal(made, np.minimum(learned, mesh_mask(mesh, SIZE)))
    assert LearnedMeshMask.needs_learned and not MeshMask.needs_learned


def test_registered_for_convert() -> None:
    assert isinstance(load_plugin(REGISTRY, "mask", "mesh")(), MeshMask)
    assert isinstance(load_plugin(REGISTRY, "mask", "learned-mesh")(), LearnedMeshMask)
