"""ffmpeg: finding it, reading stream facts and decoding real videos, whole and cut short; a video written into
a folder that is renamed meanwhile, or past a file size limit, fails in one line and leaves no partial file."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from lib.errors import FaceswapError
from lib.video import VideoReader, VideoWriter, find_ffmpeg, probe_video
from tests.conftest import DATA, file_size_limit

VIDEO = DATA / "video" / "A_obama_kenburns.mp4"


def cut(source: Path, target: Path, share: float) -> Path:
    """The first `share` of source's bytes, as a download or a copy cut short would leave it."""
    data = source.read_bytes()
    target.write_bytes(data[:int(len(data) * share)])
    return target


def remux(target: Path, *movflags: str) -> Path:
    """The same stream copied by ffmpeg; without +faststart the mp4 index (moov) goes after the frames."""
    command = [find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(VIDEO), "-c", "copy",
               *(("-movflags", *movflags) if movflags else ()), str(target)]
    subprocess.run(command, check=True, capture_output=True)
    return target


@pytest.fixture(scope="module")
def cut_videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("videos")
    return {
        "cut": cut(VIDEO, folder / "cut.mp4", 0.6),
        "faststart_cut": cut(remux(folder / "faststart.mp4", "+faststart"), folder / "faststart_cut.mp4", 0.6),
        "moov_last": remux(folder / "moov_last.mp4"),
        "moov_last_cut": cut(folder / "moov_last.mp4", folder / "moov_last_cut.mp4", 0.6),
    }


def test_probe_reads_stream_facts() -> None:
    info = probe_video(VIDEO)
    assert (info.width, info.height, info.fps, info.frame_count) == (256, 256, 25.0, 75)
    assert info.duration == pytest.approx(3.0, abs=0.05)
    assert not info.has_audio and not info.variable_rate


def test_reader_gives_every_frame_in_bgr() -> None:
    reader = VideoReader(VIDEO)
    frames = list(reader)
    assert reader.expected == reader.decoded == len(frames) == 75
    assert [index for index, _ in frames] == list(range(75))
    assert reader.problem is None
    assert all(frame.shape == (256, 256, 3) and frame.dtype == np.uint8 for _, frame in frames)
    # OpenCV's own decoder agrees, so the colour order is BGR and no frame is shifted.
    capture = cv2.VideoCapture(str(VIDEO))
    for index in (0, 40):
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, expected = capture.read()
        assert ok
        assert np.abs(frames[index][1].astype(int) - expected.astype(int)).mean() < 2.0
    capture.release()
    assert np.abs(frames[0][1].astype(int) - frames[74][1].astype(int)).mean() > 2.0  # the frames do move


def test_every_nth_frame() -> None:
    reader = VideoReader(VIDEO, every_n=5)
    every_fifth = list(reader)
    assert [index for index, _ in every_fifth] == list(range(0, 75, 5))
    assert reader.expected == 15 and reader.problem is None
    all_frames = dict(VideoReader(VIDEO))
    for index, frame in every_fifth[:4]:
        np.testing.assert_array_equal(frame, all_frames[index])


@pytest.mark.parametrize("name", ["cut", "faststart_cut"])
def test_cut_video_gives_the_frames_before_the_cut(cut_videos: dict[str, Path], name: str) -> None:
    reader = VideoReader(cut_videos[name])
    indices = [index for index, _ in reader]
    assert 0 < reader.decoded < 75
    assert indices == list(range(reader.decoded))
    assert reader.problem
    assert "@ 0x" not in reader.problem and "\n" not in reader.problem


def test_remuxed_video_is_whole(cut_videos: dict[str, Path]) -> None:
    reader = VideoReader(cut_videos["moov_last"])
    assert sum(1 for _ in reader) == 75 and reader.problem is None


def test_cut_video_without_its_index_is_a_clear_error(cut_videos: dict[str, Path]) -> None:
    with pytest.raises(FaceswapError, match="truncated") as caught:
        VideoReader(cut_videos["moov_last_cut"])
    assert "\n" not in str(caught.value)


def test_a_text_file_is_not_a_video(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("not a video\n")
    with pytest.raises(FaceswapError, match="no readable video stream"):
        probe_video(path)


def test_missing_video(tmp_path: Path) -> None:
    with pytest.raises(FaceswapError, match="not found"):
        probe_video(tmp_path / "nope.mp4")


def test_ffmpeg_is_found() -> None:
    path = find_ffmpeg()
    assert Path(path).is_file()
    result = subprocess.run([path, "-hide_banner", "-version"], capture_output=True, text=True, check=True)
    assert "ffmpeg" in result.stdout


def test_no_ffmpeg_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ffmpeg on PATH, and imageio-ffmpeg pointed at a file that does not exist: ffmpeg is gone."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(tmp_path / "ffmpeg"))
    assert shutil.which("ffmpeg") is None
    with pytest.raises(FaceswapError, match="no ffmpeg found: IMAGEIO_FFMPEG_EXE") as caught:
        find_ffmpeg()
    assert "\n" not in str(caught.value)
    with pytest.raises(FaceswapError, match="no ffmpeg found"):
        probe_video(VIDEO)


def test_a_video_whose_folder_is_renamed_part_way_leaves_no_partial_file(tmp_path: Path) -> None:
    folder, moved = tmp_path / "out", tmp_path / "out.moved"
    folder.mkdir()
    frames = [frame for _, frame in VideoReader(VIDEO)]
    writer = VideoWriter(folder / "swap.mp4", frames[0].shape[1], frames[0].shape[0], 25.0)
    with pytest.raises(FaceswapError) as err:
        for index, frame in enumerate(frames):
            if index == 10:
                folder.rename(moved)  # as a user renaming the output folder while convert writes into it
            writer.write(frame)
        writer.close()  # ffmpeg cannot open, or (mp4 +faststart) reopen, its file by the old name
    writer.abort()  # as convert does after any error
    assert "swap.mp4" in str(err.value) and "@ 0x" not in str(err.value)  # ffmpeg's stream tags left out
    assert list(moved.iterdir()) == [] and not folder.exists()  # no hidden .swap.partial-<pid>.mp4 left


def test_a_video_past_a_file_size_limit_says_so(tmp_path: Path) -> None:
    frames = [frame for _, frame in VideoReader(VIDEO)]
    with file_size_limit(16 * 1024), pytest.raises(FaceswapError) as err:  # ffmpeg is killed by SIGXFSZ
        writer = VideoWriter(tmp_path / "swap.mp4", frames[0].shape[1], frames[0].shape[0], 25.0)
        for frame in frames:
            writer.write(frame)
        writer.close()
    assert "a file size limit was hit" in str(err.value), err.value  # not "exit code -25"
    assert list(tmp_path.iterdir()) == []
