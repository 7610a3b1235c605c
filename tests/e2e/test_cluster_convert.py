"""convert --cluster on a local two-worker Ray cluster gives what one process gives (frames: identical files;
video: the same frames within encoder noise, frame count, fps, sound and marker) and talks only to 127.0.0.1."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from lib.image import read_image
from lib.video import VideoReader, VideoWriter, find_ffmpeg, probe_video, video_comment
from tests.conftest import PEER_VIDEO, assert_one_line_error, assert_quiet, peer_model, run_cli
from tests.e2e.watched import assert_loopback_only, run_watched

pytestmark = pytest.mark.slow  # the fast tier leaves the end-to-end runs out
VIDEO = PEER_VIDEO  # 91 frames, 426x240, 5 fps: one man, a face in every frame


def test_convert_on_two_workers_matches_one_process(tmp_path_factory: pytest.TempPathFactory,
                                                    tmp_path: Path) -> None:
    peer = peer_model(tmp_path_factory)  # one process's extract of the clip, and a model trained on it
    common = ("-m", peer / "model", "-p", peer / "alignments.json")
    # Frames out, smoothed over neighbouring frames (a video's default): every file identical.
    single = run_cli("convert", "-i", VIDEO, "-o", tmp_path / "one", *common, check=True)
    run = run_watched("convert", "-i", VIDEO, "-o", tmp_path / "two", *common, "--cluster", "local:2")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "model lightweight (64 px, coverage 0.60), A to B, mask learned-hull" in run.stderr  # as one process
    # The closing counts (faces --follow left as drawn among them): the workers' summed, as one process counts.
    counts = [re.findall(r"(frames read: .*|swapped faces left as the model drew them.*)", result.stderr)
              for result in (single, run)]
    assert counts[0] == counts[1] and counts[0][0].startswith("frames read: 91"), counts
    assert_loopback_only(run)
    one = sorted((tmp_path / "one").iterdir())
    assert len(one) == 91
    assert [path.name for path in one] == sorted(path.name for path in (tmp_path / "two").iterdir())
    assert all(path.read_bytes() == (tmp_path / "two" / path.name).read_bytes() for path in one)

    # Video with sound out: the segments joined give the same frame count, fps, sound and marker.
    clip = tmp_path / "test.mp4"  # the clip's first 48 frames with a tone as sound; named so the alignments fit
    subprocess.run([find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-i", str(VIDEO), "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=30", "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac",
                    "-frames:v", "48", "-shortest", str(clip)], check=True)
    run_cli("convert", "-i", clip, "-o", tmp_path / "two.mp4", *common, "--cluster", "local:2", check=True)
    sharded, source = probe_video(tmp_path / "two.mp4"), probe_video(clip)
    assert (sharded.frame_count, sharded.fps, sharded.has_audio) == (48, 5.0, True)
    assert (sharded.width, sharded.height) == (source.width, source.height)
    assert abs(sharded.duration - source.duration) < 0.05, (sharded.duration, source.duration)
    assert video_comment(tmp_path / "two.mp4") == "synthetic: made with faceswap"
    assert not list(tmp_path.glob(".two.mp4*"))
    # Frames within encoder noise: the joined segments differ from one process's frames, encoded whole by the
    # same writer (H.264 at crf 18), about as much as that encoding differs from the lossless frames.
    frames = [read_image(path) for path in one[:48]]
    whole = VideoWriter(tmp_path / "one.mp4", source.width, source.height, 5.0)
    for frame in frames:
        whole.write(frame)
    whole.close()
    lossless = [frame.astype(np.int16) for frame in frames]
    first = [frame.astype(np.int16) for _, frame in VideoReader(tmp_path / "one.mp4")]
    second = [frame.astype(np.int16) for _, frame in VideoReader(tmp_path / "two.mp4")]
    assert len(first) == len(second) == 48
    noise = np.mean([np.abs(a - b).mean() for a, b in zip(first, lossless)])
    apart = [np.abs(a - b).mean() for a, b in zip(first, second)]
    assert np.mean(apart) < 1.5 * noise and max(apart) < 4 * noise, (np.mean(apart), max(apart), noise)


def test_a_worker_that_cannot_load_the_model_is_one_line(tmp_path: Path) -> None:
    """The model is loaded in the workers, not the driver: what they find wrong is told as one process tells it."""
    (tmp_path / "model").mkdir()
    result = run_cli("convert", "-i", VIDEO, "-o", tmp_path / "out", "-m", tmp_path / "model", "--cluster",
                     "local:1")
    assert_one_line_error(result, "holds no trained model")
    assert_quiet(result.stderr)
    assert not (tmp_path / "out").exists()
