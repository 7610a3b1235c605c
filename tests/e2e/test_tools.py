"""`tools alignments rebuild` through the real CLI: an alignments file remade from face PNGs alone."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from lib.alignments import Alignments, load_alignments
from tests.conftest import DATA, assert_one_line_error, run_cli

pytestmark = pytest.mark.slow  # the fast tier leaves the end-to-end runs out

VIDEO = DATA / "video" / "A_obama_kenburns.mp4"




def extracted(folder: Path, source: Path) -> tuple[Path, Alignments]:
    """Faces and alignments of a real extract run (dlib's HOG detector: quick, and enough here)."""
    run_cli("extract", "-i", source, "-o", folder / "faces", "-p", folder / "alignments.json", "-D", "dlib-hog",
            check=True)
    return folder / "faces", load_alignments(folder / "alignments.json")


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Alignments]:
    folder = tmp_path_factory.mktemp("photos")
    (folder / "frames").mkdir()
    for path in [*sorted((DATA / "peer").glob("test_img*.jpg")), DATA / "negative" / "dogs.jpg"]:
        shutil.copy(path, folder / "frames")
    return extracted(folder, folder / "frames")


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Alignments]:
    return extracted(tmp_path_factory.mktemp("video"), VIDEO)


def assert_same_faces(rebuilt: Alignments, original: Alignments) -> None:
    """The rebuilt file holds exactly the original's frames that have faces, with the same faces."""
    assert (rebuilt.source, rebuilt.kind) == (original.source, original.kind)
    with_faces = {name for name, entry in original.frames.items() if entry.faces}
    assert set(rebuilt.frames) == with_faces
    for name in with_faces:
        before, after = original.frames[name], rebuilt.frames[name]
        assert (after.index, after.shape) == (before.index, before.shape)
        assert [face.box for face in after.faces] == [face.box for face in before.faces]
        assert [face.score for face in after.faces] == [face.score for face in before.faces]
        for old, new in zip(before.faces, after.faces):
            np.testing.assert_array_equal(new.landmarks, old.landmarks)


def test_rebuild_from_photos(photos: tuple[Path, Alignments], tmp_path: Path) -> None:
    faces, original = photos
    assert original.frames["dogs.jpg"].faces == [] and original.face_count >= 5  # measured 6
    result = run_cli("tools", "alignments", "rebuild", "-f", faces, "-p", tmp_path / "rebuilt.json")
    assert result.returncode == 0, result.stderr
    rebuilt = load_alignments(tmp_path / "rebuilt.json")
    assert_same_faces(rebuilt, original)
    assert "dogs.jpg" not in rebuilt.frames  # a frame without faces leaves no face file: absent by design


def test_rebuild_from_video(video: tuple[Path, Alignments], tmp_path: Path) -> None:
    faces, original = video
    assert len(original.frames) == 75
    result = run_cli("tools", "alignments", "rebuild", "-f", faces, "-p", tmp_path / "rebuilt.json")
    assert result.returncode == 0, result.stderr
    assert_same_faces(load_alignments(tmp_path / "rebuilt.json"), original)


def test_rebuild_knows_a_video_by_its_source(video: tuple[Path, Alignments], tmp_path: Path) -> None:
    faces = tmp_path / "faces"
    faces.mkdir()
    shutil.copy(video[0] / "A_obama_kenburns_000000_0.png", faces)  # only frame 0 had a face
    result = run_cli("tools", "alignments", "rebuild", "-f", faces, "-p", tmp_path / "rebuilt.json")
    assert result.returncode == 0, result.stderr
    rebuilt = load_alignments(tmp_path / "rebuilt.json")
    assert rebuilt.kind == "video" and list(rebuilt.frames) == ["A_obama_kenburns_000000"]


def test_rebuild_keeps_an_existing_file_unless_told(photos: tuple[Path, Alignments], tmp_path: Path) -> None:
    faces, original = photos
    target = tmp_path / "alignments.json"
    target.write_text("precious")
    result = run_cli("tools", "alignments", "rebuild", "-f", faces, "-p", target)
    assert_one_line_error(result, "--overwrite")
    assert target.read_text() == "precious"
    result = run_cli("tools", "alignments", "rebuild", "-f", faces, "-p", target, "--overwrite")
    assert result.returncode == 0, result.stderr
    assert_same_faces(load_alignments(target), original)
    assert [path.name for path in tmp_path.iterdir()] == ["alignments.json"]


def test_rebuild_refuses_faces_of_two_sources(photos: tuple[Path, Alignments], video: tuple[Path, Alignments],
                                              tmp_path: Path) -> None:
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for folder in (photos[0], video[0]):
        for path in sorted(folder.glob("*.png"))[:3]:
            shutil.copy(path, mixed)
    result = run_cli("tools", "alignments", "rebuild", "-f", mixed, "-p", tmp_path / "a.json")
    assert_one_line_error(result, "2 sources")
    assert not (tmp_path / "a.json").exists()


def test_rebuild_needs_face_files_from_extract(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    shutil.copy(DATA / "stills" / "obama" / "obama.jpg", plain)
    (plain / "photo.png").write_bytes((DATA / "stills" / "obama" / "obama.jpg").read_bytes())
    result = run_cli("tools", "alignments", "rebuild", "-f", plain, "-p", tmp_path / "a.json")
    assert_one_line_error(result, "no face PNGs with faceswap metadata")
    result = run_cli("tools", "alignments", "rebuild", "-f", tmp_path / "nope", "-p", tmp_path / "a.json")
    assert_one_line_error(result, "faces folder not found")
    assert not (tmp_path / "a.json").exists()
