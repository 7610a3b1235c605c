"""`tools video split|join` through the real CLI: the ffmpeg round trip for users who work on frames."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from lib.image import SYNTHETIC_KEY, encode_png, read_image
from lib.video import VideoReader, find_ffmpeg, probe_video, video_comment
from tests.conftest import DATA, assert_one_line_error, assert_quiet, run_cli

pytestmark = pytest.mark.slow  # the fast tier leaves the end-to-end runs out

VIDEO = DATA / "peer" / "test.mp4"  # 91 frames, 426x240, 5 fps, no sound




@pytest.fixture(scope="module")
def with_sound(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 4 s (about 20 frames) of the real clip with a 440 Hz tone from ffmpeg's lavfi as its sound."""
    target = tmp_path_factory.mktemp("sound") / "clip.mp4"
    subprocess.run([find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-i", str(VIDEO), "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=4", "-map", "0:v", "-map", "1:a", "-t", "4", "-c:v", "copy",
                    "-c:a", "aac", str(target)], check=True)
    return target


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory, with_sound: Path) -> Path:
    folder = tmp_path_factory.mktemp("split") / "frames"
    assert_quiet(run_cli("tools", "video", "split", "-i", with_sound, "-o", folder, check=True).stderr)
    return folder


def test_split_writes_every_frame_named_like_extract(split: Path, with_sound: Path) -> None:
    files = sorted(split.iterdir())
    info = probe_video(with_sound)
    decoded = [frame for _, frame in VideoReader(with_sound)]
    assert len(files) == info.frame_count == len(decoded) >= 20
    assert [p.name for p in files[:2]] == ["clip_000000.png", "clip_000001.png"]
    assert np.array_equal(read_image(files[7]), decoded[7])  # PNG frames are the decoded frames, exactly
    assert not [p for p in split.parent.iterdir() if p.name.startswith(".")]  # no partial folder left


def test_join_with_reference_video_keeps_count_fps_and_sound(split: Path, with_sound: Path,
                                                             tmp_path: Path) -> None:
    target = tmp_path / "joined.mp4"
    run_cli("tools", "video", "join", "-i", split, "-o", target, "--reference-video", with_sound, check=True)
    info, source = probe_video(target), probe_video(with_sound)
    assert (info.frame_count, info.fps, info.width, info.height) == (source.frame_count, source.fps, 426, 240)
    assert info.has_audio
    assert video_comment(target) is None  # untouched frames are not called synthetic
    joined = [frame for _, frame in VideoReader(target)]
    assert np.abs(joined[10].astype(int) - read_image(sorted(split.iterdir())[10])).mean() < 3


def test_join_of_swapped_frames_says_synthetic(split: Path, tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    for index, path in enumerate(sorted(split.iterdir())[:6]):
        text = {SYNTHETIC_KEY.decode(): "synthetic"} if index == 3 else None
        (frames / f"frame{index}.png").write_bytes(encode_png(read_image(path), text=text))
    target = tmp_path / "out.mp4"
    run_cli("tools", "video", "join", "-i", frames, "-o", target, "--fps", "12.5", check=True)
    info = probe_video(target)
    assert (info.frame_count, info.fps) == (6, 12.5) and not info.has_audio
    assert video_comment(target) == "synthetic: made with faceswap"


def test_join_orders_unpadded_numbers_as_numbers(split: Path, tmp_path: Path) -> None:
    """ffmpeg's own %d names (frame1, frame2, ..., frame10) must not join as 1, 10, 11, 2."""
    frames = tmp_path / "frames"
    frames.mkdir()
    sources = sorted(split.iterdir())[:12]
    for index, path in enumerate(sources, start=1):
        (frames / f"frame{index}.png").write_bytes(path.read_bytes())
    target = tmp_path / "out.mp4"
    run_cli("tools", "video", "join", "-i", frames, "-o", target, "--fps", "5", "--crf", "0", check=True)
    joined = [frame for _, frame in VideoReader(target)]
    errors = [np.abs(joined[i].astype(int) - read_image(sources[i])).mean() for i in range(12)]
    assert max(errors) < 3, errors


def test_bad_input_is_one_line(split: Path, tmp_path: Path) -> None:
    assert_one_line_error(run_cli("tools", "video", "join", "-i", split, "-o", tmp_path / "x.mp4"), "--fps")
    assert_one_line_error(run_cli("tools", "video", "split", "-i", VIDEO, "-o", split), "not empty", "--overwrite")
    existing = tmp_path / "exists.mp4"
    existing.write_bytes(b"keep me")
    assert_one_line_error(run_cli("tools", "video", "join", "-i", split, "-o", existing, "--fps", "5"),
                          "--overwrite")
    assert existing.read_bytes() == b"keep me"
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video")
    assert_one_line_error(run_cli("tools", "video", "split", "-i", not_video, "-o", tmp_path / "f"),
                          "no readable video")
    assert not (tmp_path / "f").exists()
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "a.png").write_bytes(sorted(split.iterdir())[0].read_bytes())
    (mixed / "b.jpg").write_bytes((DATA / "negative" / "dogs.jpg").read_bytes())
    assert_one_line_error(run_cli("tools", "video", "join", "-i", mixed, "-o", tmp_path / "m.mp4", "--fps", "5"),
                          "different sizes", "b.jpg")
    assert not (tmp_path / "m.mp4").exists()
