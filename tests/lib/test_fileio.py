"""lib.fileio's atomic writes: the file appears whole or not at all, also when its folder is renamed part-way,
and a failed write leaves no temporary file."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lib.fileio import write_bytes_atomic, write_chunks_atomic
from lib.image import read_image
from tests.conftest import DATA

PHOTO = DATA / "stills" / "obama" / "obama.jpg"


def test_a_folder_renamed_part_way_gets_the_whole_file(tmp_path: Path) -> None:
    folder, moved = tmp_path / "faces", tmp_path / "faces.moved"
    folder.mkdir()
    data = PHOTO.read_bytes()

    def chunks() -> Iterator[bytes]:
        yield data[:1000]
        folder.rename(moved)  # as a user renaming the output folder while a run writes into it
        yield data[1000:]

    write_chunks_atomic(folder / "frame.jpg", chunks())
    assert [p.name for p in moved.iterdir()] == ["frame.jpg"]  # no temporary file left beside it
    assert (moved / "frame.jpg").read_bytes() == data
    assert read_image(moved / "frame.jpg").shape[:2] == read_image(PHOTO).shape[:2]


def test_a_failed_write_leaves_the_old_file_and_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "alignments.json"
    target.write_bytes(b"the earlier file")

    def chunks() -> Iterator[bytes]:
        yield PHOTO.read_bytes()
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_chunks_atomic(target, chunks())
    assert [p.name for p in tmp_path.iterdir()] == ["alignments.json"]
    assert target.read_bytes() == b"the earlier file"


def test_files_get_the_users_usual_mode(tmp_path: Path) -> None:
    write_bytes_atomic(tmp_path / "a.json", b"{}")
    umask = os.umask(0o022)
    os.umask(umask)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~umask  # not a temporary file's 0600
