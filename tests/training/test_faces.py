"""Loading face folders for training: real extracted faces, plain chips, and every kind of bad input."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from lib.errors import FaceswapError
from lib.facefile import read_face_meta
from lib.image import png_metadata, write_png
from lib.pose import head_pose
from lib.training.faces import FaceSet, coverage_warnings, load_faces, pose_coverage
from tests.conftest import DATA
from tests.training import extracted_faces

CHIPS = DATA / "chips" / "John_Schneider"


@pytest.fixture(scope="module")
def faces_a(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return extracted_faces(tmp_path_factory, "A")


def _copy(source: Path, dest: Path, count: int) -> list[Path]:
    dest.mkdir()
    files = sorted(source.glob("*.png"))[:count]
    for path in files:
        shutil.copy(path, dest / path.name)
    return [dest / path.name for path in files]


def _warnings(caplog: pytest.LogCaptureFixture, word: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and word in r.getMessage()]


def test_extracted_faces_load_with_their_landmarks(faces_a: Path, caplog: pytest.LogCaptureFixture) -> None:
    faces = load_faces(faces_a)
    files = sorted(faces_a.glob("*.png"))
    assert len(faces) == len(files) == 25
    assert faces.images.shape == (25, 256, 256, 3) and faces.images.dtype == np.uint8
    assert faces.size == 256
    assert faces.landmarks is not None
    assert faces.landmarks.shape == (25, 68, 2) and faces.landmarks.dtype == np.float32
    assert faces.names == [p.name for p in files]
    assert faces.skipped == {}
    meta = read_face_meta(files[3])
    assert meta is not None
    np.testing.assert_allclose(faces.landmarks[3], meta.landmarks_at(meta.size), atol=1e-3)
    # The inner face fills the middle half of an aligned face.
    inner = faces.landmarks[:, 17:]
    assert inner.min() > 256 * 0.2 and inner.max() < 256 * 0.8
    assert len(_warnings(caplog, "only 25 faces")) == 1  # under 250: said, not refused
    assert faces.poses is not None and faces.poses.shape == (25, 2)
    np.testing.assert_allclose(faces.poses[3], head_pose(meta.face.landmarks, meta.frame_shape)[:2], atol=1e-3)


def test_corrupt_files_are_skipped_and_counted(faces_a: Path, tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    files = _copy(faces_a, tmp_path / "faces", 10)
    data = files[0].read_bytes()
    (tmp_path / "faces" / "truncated.png").write_bytes(data[:len(data) // 2])
    (tmp_path / "faces" / "notes.png").write_text("not a picture")
    (tmp_path / "faces" / "readme.txt").write_text("ignored: not an image name")
    faces = load_faces(tmp_path / "faces")
    assert len(faces) == 10
    assert faces.skipped == {"unreadable": 2}
    assert "truncated.png" not in faces.names
    assert len(_warnings(caplog, "file(s) skipped")) == 1


def test_too_few_faces_are_refused(faces_a: Path, tmp_path: Path) -> None:
    _copy(faces_a, tmp_path / "faces", 7)
    with pytest.raises(FaceswapError, match="7 usable faces.*at least 8"):
        load_faces(tmp_path / "faces")
    _copy(faces_a, tmp_path / "eight", 8)
    assert len(load_faces(tmp_path / "eight")) == 8


def test_missing_or_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FaceswapError, match="does not exist"):
        load_faces(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FaceswapError, match="no face images"):
        load_faces(tmp_path / "empty")
    (tmp_path / "junk").mkdir()
    for i in range(9):
        (tmp_path / "junk" / f"{i}.png").write_text("junk")
    with pytest.raises(FaceswapError, match="0 usable faces"):
        load_faces(tmp_path / "junk")


def test_mixed_sizes_are_resized_once(faces_a: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    files = _copy(faces_a, tmp_path / "faces", 12)
    original = load_faces(tmp_path / "faces")
    for path in files[:3]:  # shrunk after extract, metadata kept (it still says 256)
        image = cv2.imread(str(path))
        write_png(path, cv2.resize(image, (128, 128), interpolation=cv2.INTER_AREA),
                  png_metadata(path.read_bytes()))
    caplog.clear()
    faces = load_faces(tmp_path / "faces")
    assert faces.images.shape == (12, 256, 256, 3)
    assert len(_warnings(caplog, "mixed sizes")) == 1
    assert faces.landmarks is not None and original.landmarks is not None
    # Landmarks follow the image through both resizes.
    np.testing.assert_allclose(faces.landmarks, original.landmarks, atol=0.02)
    diff = np.abs(faces.images[:3].astype(int) - original.images[:3]).mean()
    assert 0 < diff < 8


def test_size_argument_resizes_everything(faces_a: Path) -> None:
    full = load_faces(faces_a)
    small = load_faces(faces_a, size=128)
    assert small.images.shape == (25, 128, 128, 3)
    assert small.landmarks is not None and full.landmarks is not None
    np.testing.assert_allclose(small.landmarks, (full.landmarks + 0.5) / 2 - 0.5, atol=1e-3)


def test_plain_images_load_without_landmarks_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    faces = load_faces(CHIPS)
    assert faces.landmarks is None
    assert faces.images.shape == (11, 150, 150, 3)
    assert len(_warnings(caplog, "without extract metadata")) == 1


def test_a_few_plain_images_among_extracted_faces_are_dropped(faces_a: Path, tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    _copy(faces_a, tmp_path / "faces", 10)
    for chip in sorted(CHIPS.glob("*.jpg"))[:2]:
        shutil.copy(chip, tmp_path / "faces" / chip.name)
    faces = load_faces(tmp_path / "faces")
    assert len(faces) == 10 and faces.landmarks is not None
    assert sum(faces.skipped.values()) == 2
    assert len(_warnings(caplog, "without extract metadata")) == 1


def test_non_square_images_are_skipped(faces_a: Path, tmp_path: Path) -> None:
    files = _copy(faces_a, tmp_path / "faces", 9)
    cv2.imwrite(str(files[0]), np.zeros((100, 80, 3), np.uint8))
    faces = load_faces(tmp_path / "faces")
    assert len(faces) == 8 and faces.skipped == {"not square": 1}


def test_faces_that_would_not_fit_in_memory_are_refused(faces_a: Path) -> None:
    with pytest.raises(FaceswapError, match="smaller --size"):
        load_faces(faces_a, max_bytes=10 * 256 * 256 * 3)


def _subset(faces: FaceSet, keep: np.ndarray) -> FaceSet:
    assert faces.landmarks is not None and faces.poses is not None
    return FaceSet(faces.images[keep], faces.landmarks[keep], [faces.names[i] for i in keep], {},
                   faces.poses[keep])


def test_faces_turned_beyond_the_other_sides_are_told(faces_a: Path) -> None:
    """The faces of one video split by how far they turn: the more turned half is outside the other half's poses,
    and train says so; one set against itself is not."""
    faces = load_faces(faces_a)
    assert faces.poses is not None
    order = np.argsort(faces.poses[:, 0])
    assert faces.poses[order[-1], 0] - faces.poses[order[0], 0] > 4  # the video's faces do turn
    low, high = _subset(faces, order[:12]), _subset(faces, order[13:])
    coverage = pose_coverage(high, low)
    assert coverage is not None and coverage["faces"] == {"A": 12, "B": 12}
    assert coverage["outside"]["A"]["yaw"] > 0.5 and coverage["outside"]["B"]["yaw"] > 0.5
    assert coverage["covered"]["B"]["yaw"][1] < coverage["covered"]["A"]["yaw"][1]
    lines = coverage_warnings(coverage)
    assert any(line.startswith(f"{coverage['outside']['A']['yaw']:.0%} of the A faces are turned (yaw) beyond the "
                               "B faces'") for line in lines), lines
    assert lines[-1].startswith("or train with --pose-transfer 0.25")
    assert not any("--pose-transfer" in line for line in coverage_warnings(coverage, pose_transfer=0.25))
    same = pose_coverage(faces, faces)
    assert same is not None and max(same["outside"]["A"].values()) <= 0.2
    assert coverage_warnings(same) == []
    plain = FaceSet(faces.images, None, faces.names)
    assert pose_coverage(plain, faces) is None
