"""The writers: images (synthetic marker, byte-identical copies of unchanged frames), video (frame count, fps,
sound, metadata comment, odd sizes, nothing half written) and GIF; and the ffmpeg helpers they use."""
from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from lib.errors import FaceswapError
from lib.image import SYNTHETIC_KEY, SYNTHETIC_TEXT, png_text, read_image
from lib.video import VideoReader, add_gif_comment, find_ffmpeg, fps_fraction, probe_video, video_comment
from plugins.convert.writer import REGISTRY, OutputFrame, WriterOptions
from plugins.registry import load_plugin
from tests.conftest import DATA

VIDEO = DATA / "peer" / "test.mp4"


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    """The first 12 real frames of peer/test.mp4 (426x240)."""
    out = []
    for _, frame in VideoReader(VIDEO):
        out.append(frame.copy())
        if len(out) == 12:
            break
    return out


def _writer(kind: str, options: WriterOptions):  # noqa: ANN202
    return load_plugin(REGISTRY, "writer", kind)(options)


def _write_all(kind: str, options: WriterOptions, frames: list[np.ndarray]) -> None:
    writer = _writer(kind, options)
    for index, frame in enumerate(frames):
        writer.write(OutputFrame(f"f_{index:03d}", frame, changed=index % 2 == 0))
    writer.close()


# --- images --------------------------------------------------------------------------------------------------

def test_png_frames_are_lossless_and_swapped_ones_say_synthetic(tmp_path: Path, frames: list[np.ndarray]) -> None:
    _write_all("images", WriterOptions(tmp_path / "out"), frames[:4])
    files = sorted((tmp_path / "out").iterdir())
    assert [p.name for p in files] == [f"f_{i:03d}.png" for i in range(4)]
    for index, path in enumerate(files):
        assert np.array_equal(read_image(path), frames[index])
        text = png_text(path.read_bytes())
        assert (text.get(SYNTHETIC_KEY.decode()) == SYNTHETIC_TEXT) == (index % 2 == 0)


def test_unchanged_frame_of_the_same_format_is_copied_byte_for_byte(tmp_path: Path) -> None:
    source = tmp_path / "in.png"
    cv2.imwrite(str(source), read_image(DATA / "stills" / "obama" / "obama.jpg"), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    jpeg = DATA / "negative" / "dogs.jpg"
    writer = _writer("images", WriterOptions(tmp_path / "out"))
    writer.write(OutputFrame("in", read_image(source), False, source))
    writer.write(OutputFrame("dogs", read_image(jpeg), False, jpeg))  # jpg in, png out: re-encoded, lossless
    writer.close()
    assert (tmp_path / "out" / "in.png").read_bytes() == source.read_bytes()
    out = (tmp_path / "out" / "dogs.png").read_bytes()
    assert np.array_equal(read_image(tmp_path / "out" / "dogs.png"), read_image(jpeg))
    assert SYNTHETIC_KEY.decode() not in png_text(out)


def test_jpeg_output_carries_a_comment_on_swapped_frames(tmp_path: Path, frames: list[np.ndarray]) -> None:
    _write_all("images", WriterOptions(tmp_path / "out", image_format="jpg"), frames[:2])
    swapped = (tmp_path / "out" / "f_000.jpg").read_bytes()
    unchanged = (tmp_path / "out" / "f_001.jpg").read_bytes()
    assert b"\xff\xfe" + (len(SYNTHETIC_TEXT) + 2).to_bytes(2, "big") + SYNTHETIC_TEXT.encode() in swapped[:200]
    assert SYNTHETIC_TEXT.encode() not in unchanged
    assert np.abs(read_image(tmp_path / "out" / "f_000.jpg").astype(int) - frames[0]).mean() < 3


def test_options_are_checked() -> None:
    for bad in ({"crf": 52}, {"fps": 0}, {"image_format": "bmp"}, {"jpg_quality": 0}):
        with pytest.raises(FaceswapError):
            WriterOptions(Path("x"), **bad)


# --- video ---------------------------------------------------------------------------------------------------

def test_video_keeps_count_fps_and_says_synthetic(tmp_path: Path, frames: list[np.ndarray]) -> None:
    target = tmp_path / "out.mp4"
    _write_all("video", WriterOptions(target, fps=5.0, crf=12), frames)
    info = probe_video(target)
    assert (info.width, info.height, info.frame_count, info.fps) == (426, 240, len(frames), 5.0)
    assert video_comment(target) == "synthetic: made with faceswap"
    decoded = [frame for _, frame in VideoReader(target)]
    assert len(decoded) == len(frames)
    assert np.abs(decoded[5].astype(int) - frames[5]).mean() < 3  # crf 12: close to the input
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]  # the temporary file is gone


def test_video_carries_the_sound_of_the_audio_source(tmp_path: Path, frames: list[np.ndarray]) -> None:
    with_sound = tmp_path / "sound.mp4"  # the real clip with a 440 Hz tone from ffmpeg's lavfi
    subprocess.run([find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-i", str(VIDEO), "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=3", "-map", "0:v", "-map", "1:a", "-t", "2.4", "-c:v", "copy",
                    "-c:a", "aac", str(with_sound)], check=True)
    for name in ("copy.mp4", "aac.mkv"):  # same container: the track is copied; another: re-encoded
        _write_all("video", WriterOptions(tmp_path / name, fps=5.0, audio=with_sound), frames)
        info = probe_video(tmp_path / name)
        assert info.has_audio and info.frame_count == len(frames), name
    silent = tmp_path / "silent.mp4"
    _write_all("video", WriterOptions(silent, fps=5.0, audio=VIDEO), frames)  # a source without sound is fine
    assert not probe_video(silent).has_audio


def test_odd_frame_size_is_padded_and_said(tmp_path: Path, frames: list[np.ndarray]) -> None:
    writer = _writer("video", WriterOptions(tmp_path / "odd.mp4", fps=25.0))
    for frame in frames[:3]:
        writer.write(OutputFrame("x", np.ascontiguousarray(frame[:239, :425]), True))
    writer.close()
    info = probe_video(tmp_path / "odd.mp4")
    assert (info.width, info.height) == (426, 240)
    assert writer.notes and "even" in writer.notes[0]


def test_a_frame_of_another_size_fails_and_leaves_nothing(tmp_path: Path, frames: list[np.ndarray]) -> None:
    writer = _writer("video", WriterOptions(tmp_path / "out.mp4", fps=25.0))
    writer.write(OutputFrame("a", frames[0], True))
    with pytest.raises(FaceswapError, match="same size"):
        writer.write(OutputFrame("b", np.ascontiguousarray(frames[1][:200]), True))
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_abort_removes_the_partial_video(tmp_path: Path, frames: list[np.ndarray]) -> None:
    writer = _writer("video", WriterOptions(tmp_path / "out.mp4", fps=25.0))
    for frame in frames:
        writer.write(OutputFrame("a", frame, True))
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_gif_has_every_frame_and_a_comment(tmp_path: Path, frames: list[np.ndarray]) -> None:
    target = tmp_path / "out.gif"
    _write_all("gif", WriterOptions(target, fps=5.0), frames[:6])
    data = target.read_bytes()
    assert b"\x21\xfe" in data[:2000] and b"synthetic" in data[:2000]
    decoded = [frame for _, frame in VideoReader(target)]
    assert len(decoded) == 6
    assert np.abs(decoded[0].astype(int) - frames[0]).mean() < 12  # a 256-colour palette


def test_gif_comment_goes_after_the_colour_table() -> None:
    header = b"GIF89a" + (2).to_bytes(2, "little") * 2 + bytes([0x80, 0, 0]) + b"\x00" * 6 + b";"
    out = add_gif_comment(header, "hi")
    assert out == header[:19] + b"\x21\xfe\x02hi\x00" + header[19:]
    with pytest.raises(ValueError):
        add_gif_comment(b"\x89PNG", "hi")


def test_frame_rates_become_exact_fractions() -> None:
    assert fps_fraction(29.97) == Fraction(30000, 1001)
    assert fps_fraction(23.976) == Fraction(24000, 1001)
    assert fps_fraction(25.0) == Fraction(25)
    assert fps_fraction(12.5) == Fraction(25, 2)
