"""`extract` through the real CLI on input that is missing, broken, unusual or in the way.

Every error is exit code 1 and one line on stderr, without a traceback. Runs use dlib's HOG detector: the
point here is the input handling, and it spares each subprocess the TensorFlow start-up.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from lib.alignments import load_alignments
from lib.facefile import read_face_meta
from lib.image import read_image
from lib.video import find_ffmpeg
from tests.conftest import DATA, assert_one_line_error, run_cli

pytestmark = pytest.mark.slow  # the fast tier leaves the end-to-end runs out

VIDEO = DATA / "video" / "A_obama_kenburns.mp4"
OBAMA = DATA / "stills" / "obama" / "obama.jpg"
BIDEN = DATA / "stills" / "biden" / "biden.jpg"
FAST = ("-D", "dlib-hog")




def leftovers(*folders: Path) -> list[str]:
    """Temporary files of atomic writes that were never renamed into place."""
    return [path.name for folder in folders if folder.is_dir() for path in folder.iterdir()
            if path.name.endswith(".tmp")]


def test_missing_input(tmp_path: Path) -> None:
    result = run_cli("extract", "-i", tmp_path / "nope", "-o", tmp_path / "faces", *FAST)
    assert_one_line_error(result, "input not found", "nope")
    assert list(tmp_path.iterdir()) == []


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "readme.txt").write_text("no photos here\n")
    result = run_cli("extract", "-i", tmp_path / "frames", "-o", tmp_path / "faces", *FAST)
    assert_one_line_error(result, "no images in")
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["frames", "readme.txt"]


# ------------------------------------------------------------------------------------ broken among good

@pytest.fixture(scope="module")
def broken_among_good(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    folder = tmp_path_factory.mktemp("broken")
    frames = folder / "frames"
    frames.mkdir()
    for photo in (OBAMA, BIDEN):
        (frames / photo.name).write_bytes(photo.read_bytes())
    data = (DATA / "stills" / "obama" / "obama3.jpg").read_bytes()
    (frames / "half.jpg").write_bytes(data[:len(data) // 2])
    (frames / "notes.jpg").write_text("a shopping list, not a photo\n")
    (frames / "empty.png").write_bytes(b"")
    result = run_cli("extract", "-i", frames, "-o", folder / "faces", *FAST)
    return folder, result


def test_broken_images_are_skipped_and_counted(broken_among_good: tuple[Path, subprocess.CompletedProcess[str]]
                                               ) -> None:
    _, result = broken_among_good
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    for warning in ("skipped half.jpg: truncated image", "skipped notes.jpg: not an image",
                    "skipped empty.png: empty file"):
        assert warning in result.stderr
    for line in ("files skipped (truncated image): 1", "files skipped (empty file): 1",
                 "files skipped (not an image OpenCV can decode): 1", "frames read: 2, with faces: 2"):
        assert line in result.stderr


def test_good_images_beside_broken_ones_give_faces(broken_among_good: tuple[Path, subprocess.CompletedProcess[str]]
                                                   ) -> None:
    folder, _ = broken_among_good
    faces = sorted(path.name for path in (folder / "faces").iterdir())
    assert faces == ["biden_000000_0.png", "obama_000000_0.png"]
    alignments = load_alignments(folder / "frames" / "alignments.json")  # the default place, in the input folder
    found = {name: len(entry.faces) for name, entry in alignments.frames.items()}
    assert found == {"obama.jpg": 1, "biden.jpg": 1}  # unreadable files are not frames
    assert leftovers(folder / "frames", folder / "faces") == []


def test_nothing_readable_is_an_error(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "notes.jpg").write_text("not a photo\n")
    (frames / "empty.png").write_bytes(b"")
    result = run_cli("extract", "-i", frames, "-o", tmp_path / "faces", *FAST)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: no frame of") and "empty file" in last
    assert not (frames / "alignments.json").exists()


# ----------------------------------------------------------------------------------------------- video

def cut(data: bytes, target: Path) -> Path:
    target.write_bytes(data[:int(len(data) * 0.6)])
    return target


def remuxed(target: Path, *movflags: str) -> bytes:
    command = [find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(VIDEO), "-c", "copy",
               *(("-movflags", *movflags) if movflags else ()), str(target)]
    subprocess.run(command, check=True, capture_output=True)
    return target.read_bytes()


@pytest.mark.parametrize("faststart", [False, True], ids=["as_shipped", "faststart"])
def test_cut_video_extracts_the_frames_before_the_cut(tmp_path: Path, faststart: bool) -> None:
    data = remuxed(tmp_path / "whole.mp4", "+faststart") if faststart else VIDEO.read_bytes()
    video = cut(data, tmp_path / "cut.mp4")
    result = run_cli("extract", "-i", video, "-o", tmp_path / "faces", *FAST)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "the video ended badly" in result.stderr
    alignments = load_alignments(tmp_path / "cut_alignments.json")
    count = len(alignments.frames)
    assert 0 < count < 75  # measured 27
    assert sorted(entry.index for entry in alignments.frames.values()) == list(range(count))
    assert len(list((tmp_path / "faces").glob("cut_*.png"))) == alignments.face_count == count
    assert f"frames read: {count}" in result.stderr


def test_cut_video_without_its_index_is_a_clear_error(tmp_path: Path) -> None:
    # ffmpeg writes an mp4's index (moov) after the frames unless told +faststart: cut, nothing decodes.
    video = cut(remuxed(tmp_path / "whole.mp4"), tmp_path / "cut.mp4")
    result = run_cli("extract", "-i", video, "-o", tmp_path / "faces", *FAST)
    assert_one_line_error(result, "cut.mp4", "truncated")
    assert not (tmp_path / "faces").exists() and not (tmp_path / "cut_alignments.json").exists()


def test_text_file_named_mp4(tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").write_text("not a video\n")
    result = run_cli("extract", "-i", tmp_path / "clip.mp4", "-o", tmp_path / "faces", *FAST)
    assert_one_line_error(result, "clip.mp4", "no readable video stream")


def test_no_ffmpeg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ffmpeg removed: none on PATH, and imageio-ffmpeg pointed at a file that does not exist."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(tmp_path / "ffmpeg"))
    result = run_cli("extract", "-i", VIDEO, "-o", tmp_path / "faces", "-p", tmp_path / "a.json", *FAST)
    assert_one_line_error(result, "no ffmpeg found", "IMAGEIO_FFMPEG_EXE")
    assert sorted(path.name for path in tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------- unusual images

@pytest.fixture(scope="module")
def unusual(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """One real photo as grayscale, RGBA with transparent parts, 16-bit PNG and TIFF, and a non-ASCII name."""
    folder = tmp_path_factory.mktemp("unusual")
    frames = folder / "frames"
    frames.mkdir()
    photo = read_image(OBAMA)
    cv2.imwrite(str(frames / "gray.png"), cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY))
    alpha = np.full(photo.shape[:2], 255, np.uint8)
    alpha[:80] = 0
    alpha[:, :60] = 128
    cv2.imwrite(str(frames / "rgba.png"), np.dstack([photo, alpha]))
    cv2.imwrite(str(frames / "deep.png"), photo.astype(np.uint16) * 257)
    cv2.imwrite(str(frames / "deep.tif"), photo.astype(np.uint16) * 257)
    (frames / "Обама 照片.jpg").write_bytes(OBAMA.read_bytes())
    result = run_cli("extract", "-i", frames, "-o", folder / "faces", *FAST)
    assert result.returncode == 0, result.stderr
    return folder, result


@pytest.mark.parametrize(("name", "stem"), [("gray.png", "gray"), ("rgba.png", "rgba"), ("deep.png", "deep_png"),
                                            ("deep.tif", "deep_tif"), ("Обама 照片.jpg", "Обама 照片")])
def test_unusual_images_give_their_face(unusual: tuple[Path, subprocess.CompletedProcess[str]], name: str,
                                        stem: str) -> None:
    folder, result = unusual
    assert "skipped" not in result.stderr
    alignments = load_alignments(folder / "frames" / "alignments.json")
    faces = alignments.frames[name].faces
    assert len(faces) == 1
    meta = read_face_meta(folder / "faces" / f"{stem}_000000_0.png")
    assert meta is not None and meta.frame == name and meta.source == "frames"
    # Every version shows the same face: landmarks within a pixel or two of the plain JPEG's.
    reference = alignments.frames["Обама 照片.jpg"].faces[0]
    assert np.abs(faces[0].landmarks - reference.landmarks).mean() < 1.5


def test_16_bit_image_reads_as_the_same_pixels(unusual: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    folder, _ = unusual
    frames = load_alignments(folder / "frames" / "alignments.json").frames
    plain = frames["Обама 照片.jpg"].faces[0].landmarks
    np.testing.assert_array_equal(frames["deep.png"].faces[0].landmarks, plain)
    np.testing.assert_array_equal(frames["deep.tif"].faces[0].landmarks, plain)


# ------------------------------------------------------------------------------------------ in the way

def test_output_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "faces").write_text("keep me\n")
    result = run_cli("extract", "-i", OBAMA, "-o", tmp_path / "faces", "-p", tmp_path / "a.json", *FAST)
    assert_one_line_error(result, "is a file")
    assert (tmp_path / "faces").read_text() == "keep me\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["faces"]


def test_output_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "notes").write_text("keep me\n")
    result = run_cli("extract", "-i", OBAMA, "-o", tmp_path / "notes" / "faces", "-p", tmp_path / "a.json", *FAST)
    assert_one_line_error(result, "cannot write the face folder", "is a file")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes"]


def test_alignments_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "notes").write_text("keep me\n")
    result = run_cli("extract", "-i", OBAMA, "-o", tmp_path / "faces", "-p", tmp_path / "notes" / "a.json", *FAST)
    assert_one_line_error(result, "cannot write the alignments file")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes"]


def test_failed_run_leaves_old_alignments_untouched(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "obama.jpg").write_bytes(OBAMA.read_bytes())
    previous = b'{"schema": "faceswap-alignments", "version": 1, "frames": {}, "note": "from an earlier run"}'
    (frames / "alignments.json").write_bytes(previous)
    # The reference shows no face: the run stops after loading the detector, before writing anything.
    result = run_cli("extract", "-i", frames, "-o", tmp_path / "faces", *FAST,
                     "--filter", DATA / "negative" / "dogs.jpg")
    assert_one_line_error(result, "no face found in reference", "dogs.jpg")
    assert (frames / "alignments.json").read_bytes() == previous
    assert leftovers(frames, tmp_path / "faces") == []
    assert not list((tmp_path / "faces").glob("*.png"))
