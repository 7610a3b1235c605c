"""lib.frames carries each face's mesh to the swap: from the alignments file or the detector, and moved with its
face when convert smooths the landmarks over time (a Ken Burns clip's real faces)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lib.alignments import Alignments, FrameEntry
from lib.facemesh import landmarks_68
from lib.frames import WorkFrame, frames_with_faces, open_lookup, smoothed
from lib.media import FrameSource
from lib.types import DetectedFace
from plugins.extract.pipeline import FaceFinder
from tests.conftest import DATA

CLIP = DATA / "video" / "A_obama_kenburns.mp4"


@pytest.fixture(scope="module")
def found() -> list[DetectedFace]:
    """The face of the clip's first 12 frames, with its mesh."""
    finder = FaceFinder()
    faces = [finder.find([frame.image])[0][0] for frame, _ in zip(FrameSource(CLIP), range(12))
             if frame.image is not None]
    assert len(faces) == 12 and all(face.mesh is not None for face in faces)
    return faces


def test_meshes_come_with_the_faces_of_an_alignments_file(found: list[DetectedFace], tmp_path: Path) -> None:
    alignments = Alignments(CLIP.name, "video", {f"{CLIP.stem}_{index:06d}": FrameEntry(index, (256, 256), [face])
                                                 for index, face in enumerate(found)})
    path = tmp_path / "alignments.json"
    alignments.save(path)
    source = FrameSource(CLIP)
    frames = [frame for frame in frames_with_faces(source, [(0, 11)], open_lookup(source, path), None, 0.0)
              if frame.faces]
    assert len(frames) == 12
    for frame, face in zip(frames, found):
        assert face.mesh is not None and frame.meshes[0] is not None
        np.testing.assert_allclose(frame.meshes[0], face.mesh.points[:, :2], atol=1 / 32)


def test_smoothing_moves_each_mesh_with_its_landmarks(found: list[DetectedFace]) -> None:
    """The 68 points are blends of the mesh that move with it: after smoothing, the blends of the moved mesh are
    the smoothed landmarks (to within what a similarity cannot express, a small share of a pixel)."""
    frames = []
    for index, face in enumerate(found):
        assert face.mesh is not None
        frames.append(WorkFrame(index, str(index), str(index), None, None, faces=[face.landmarks],
                                meshes=[face.mesh.points[:, :2]]))
    out = list(smoothed(iter(frames), 2.0))
    assert [frame.index for frame in out] == list(range(12))
    moved = [float(np.abs(frame.faces[0] - face.landmarks).max()) for frame, face in zip(out, found)]
    assert max(moved) > 0.05  # smoothing did move the landmarks
    for frame in out:
        mesh = frame.meshes[0]
        assert mesh is not None
        np.testing.assert_allclose(landmarks_68(mesh), frame.faces[0], atol=0.5)
