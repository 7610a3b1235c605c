"""Frame order of a frames folder: numbers in names count as numbers, as ffmpeg's %d names them; frames that
vanish once listed are skipped, each for the same reason."""
from __future__ import annotations

import shutil
from pathlib import Path

from lib.media import FrameSource, image_files
from tests.conftest import DATA


def test_frames_folder_is_read_in_number_order(tmp_path: Path) -> None:
    photos = sorted((DATA / "peer").glob("test_img*.jpg"))
    names = ["frame10.jpg", "frame2.jpg", "frame1.jpg", "frame9.jpg"]
    for photo, name in zip(photos, names):
        shutil.copy(photo, tmp_path / name)
    (tmp_path / "notes.txt").write_text("not a frame")
    expected = ["frame1.jpg", "frame2.jpg", "frame9.jpg", "frame10.jpg"]
    assert [p.name for p in image_files(tmp_path)] == expected
    frames = list(FrameSource(tmp_path))
    assert [f.name for f in frames] == expected
    assert all(f.image is not None and f.image.ndim == 3 for f in frames)


def test_frames_deleted_after_listing_are_skipped_for_one_reason(tmp_path: Path) -> None:
    photos = sorted((DATA / "stills").rglob("*.jpg"))
    for photo in photos:
        shutil.copy(photo, tmp_path / photo.name)
    source = FrameSource(tmp_path)  # lists the folder
    gone = image_files(tmp_path)[1::2]
    for path in gone:
        path.unlink()
    frames = list(source)
    skipped = [f for f in frames if f.image is None]
    assert sorted(f.name for f in skipped) == sorted(p.name for p in gone)
    # The summary counts skipped files by reason: one reason for all of them, not one per path.
    assert {f.problem for f in skipped} == {"No such file or directory"}
    assert len(frames) - len(skipped) == len(photos) - len(gone)
