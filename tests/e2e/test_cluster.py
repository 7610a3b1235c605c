"""extract and convert --cluster on a local two-worker Ray cluster give what one process gives, and talk only to
127.0.0.1. The clip is real (peer/test.mp4, 91 frames); the parts are 16 frames, so each run has six."""
from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from bench.cluster import Sockets
from lib.image import read_image
from lib.media import FrameSource
from lib.video import VideoReader, find_ffmpeg, probe_video, video_comment
from scripts.cluster import ALIGN, part_size, spans
from tests.conftest import DATA, ROOT, assert_one_line_error, assert_quiet, run_cli

VIDEO = DATA / "peer" / "test.mp4"  # 91 frames, 426x240, 5 fps: one man, a face in every frame
FACES_B = DATA / "video" / "B_biden_kenburns.mp4"
TRAIN = ("--model", "lightweight", "--learn-mask", "--iterations", "4", "--batch-size", "4",
         "--preview-every", "0")


# --- without a cluster -----------------------------------------------------------------------------------------

def test_parts_cover_the_frames_once_in_detector_batches() -> None:
    for total, slots in ((91, 2), (1, 8), (100_000, 3), (4096, 1)):
        size = part_size(total, slots)
        parts = spans(total, size)
        assert size % ALIGN == 0 and size <= 1000
        assert parts[0][0] == 0 and parts[-1][1] == total
        assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))


def test_parts_of_a_video_decode_as_the_whole_with_every_n() -> None:
    """Accurate seeks: a video's parts, every 3rd frame, hold exactly the frames (and indices) of one pass."""
    whole = [(frame.name, frame.index, frame.image) for frame in FrameSource(VIDEO, 3)]
    total = FrameSource(VIDEO, 3).total
    assert total == len(whole) == 31
    pieces = [(frame.name, frame.index, frame.image) for span in spans(total, 8)
              for frame in FrameSource(VIDEO, 3, span)]
    assert [(name, index) for name, index, _ in pieces] == [(name, index) for name, index, _ in whole]
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(pieces, whole))


@pytest.mark.parametrize(("args", "words"), [
    (("--cluster", "local:0"), ("--cluster", "local:N")),
    (("--cluster", "local:two"), ("--cluster", "local:N")),
])
def test_bad_cluster_option_is_one_line(args: tuple[str, ...], words: tuple[str, ...], tmp_path: Path) -> None:
    assert_one_line_error(run_cli("extract", "-i", VIDEO, "-o", tmp_path / "faces", *args), *words)


def test_gif_output_refuses_the_cluster(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    result = run_cli("convert", "-i", VIDEO, "-o", tmp_path / "out.gif", "-m", tmp_path / "model", "--cluster",
                     "local:2")
    assert_one_line_error(result, "--cluster", "GIF")


def test_a_variable_frame_rate_is_refused_before_the_cluster_starts(tmp_path: Path) -> None:
    vfr = tmp_path / "vfr.mp4"  # every frame of the first 6 s, then every third: a variable frame rate
    subprocess.run([find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-i", str(VIDEO), "-vf",
                    r"select='lt(n\,30)+not(mod(n\,3))'", "-fps_mode", "vfr", str(vfr)], check=True)
    result = run_cli("extract", "-i", vfr, "-o", tmp_path / "faces", "-D", "dlib-hog", "--cluster", "local:2")
    assert_one_line_error(result, "variable frame rate", "--cluster")
    assert not (tmp_path / "faces").exists() or not any((tmp_path / "faces").iterdir())


def test_without_ray_the_cluster_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from lib.errors import FaceswapError
    from scripts.cluster import _import_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed: importing it fails
    with pytest.raises(FaceswapError, match="requirements-cluster.txt"):
        _import_ray()


# --- on a local cluster -----------------------------------------------------------------------------------------

@dataclass
class Watched:
    returncode: int
    stderr: str
    sockets: list[str]  # every TCP socket line `ss -tnpa` showed for the run's processes
    outside: list[str]  # those with an address that is not 127.0.0.1


def run_watched(*args: str | Path, interrupt_when: Path | None = None) -> Watched:
    """Run the CLI, listing the TCP sockets of it and every process it starts (Ray's) every 0.3 s; with
    interrupt_when, Ctrl-C it once that file exists."""
    with tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen([sys.executable, str(ROOT / "faceswap.py"), *map(str, args)], cwd=ROOT,
                                   stderr=stderr, stdout=subprocess.DEVNULL, text=True)
        sockets = Sockets(process.pid)
        while interrupt_when is not None and process.poll() is None:
            if interrupt_when.exists():
                process.send_signal(signal.SIGINT)
                break
            time.sleep(0.1)
        process.wait()
        seen = sockets.stop()
        stderr.seek(0)
        return Watched(process.returncode, stderr.read(), sorted(sockets.lines), seen["not_loopback_lines"])


def assert_loopback_only(run: Watched) -> None:
    """Ray's services were seen, and every socket of theirs had 127.0.0.1 at both ends (listening ones: their
    own address)."""
    assert any("gcs_server" in line for line in run.sockets), run.sockets[:5]
    assert run.outside == []


@dataclass(frozen=True)
class Single:
    """One process's extract of the clip, and a model trained on it (for convert)."""

    work: Path
    alignments: bytes
    faces: dict[str, bytes]
    model: Path


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Single:
    work = tmp_path_factory.mktemp("cluster")
    run_cli("extract", "-i", VIDEO, "-o", work / "faces", "-p", work / "one.json", "-D", "dlib-hog", check=True)
    run_cli("extract", "-i", FACES_B, "-o", work / "faces_b", "-p", work / "b.json", "-D", "dlib-hog", check=True)
    run_cli("train", "-A", work / "faces", "-B", work / "faces_b", "-m", work / "model", *TRAIN, check=True)
    faces = {path.name: path.read_bytes() for path in sorted((work / "faces").glob("*.png"))}
    return Single(work, (work / "one.json").read_bytes(), faces, work / "model")


@pytest.mark.slow
def test_extract_on_two_workers_resumes_and_matches_one_process(single: Single, tmp_path: Path) -> None:
    parts = tmp_path / ".two.json.parts"
    # Interrupted once its first part is done: the parts done stay, and nothing else is written.
    first = run_watched("extract", "-i", VIDEO, "-o", tmp_path / "faces", "-p", tmp_path / "two.json", "-D",
                        "dlib-hog", "--cluster", "local:2",
                        interrupt_when=parts / "part-000000000-000000016.alignments.json")
    assert first.returncode == 130, first.stderr[-2000:]
    assert_loopback_only(first)
    done = len(list(parts.glob("*.alignments.json")))
    assert 1 <= done < 6 and not (tmp_path / "two.json").exists()
    # The rerun does the rest: the same alignments file, byte for byte, and the same face PNGs, as one process.
    second = run_watched("extract", "-i", VIDEO, "-o", tmp_path / "faces", "-p", tmp_path / "two.json", "-D",
                         "dlib-hog", "--cluster", "local:2")
    assert second.returncode == 0, second.stderr[-2000:]
    assert f"{done} of 6 parts done by an earlier run: skipped" in second.stderr
    assert "frames read: 91, with faces: 91, faces written: 91" in second.stderr
    assert_loopback_only(second)
    assert_quiet(second.stderr)  # neither TensorFlow's nor Ray's own log lines
    assert (tmp_path / "two.json").read_bytes() == single.alignments
    faces = {path.name: path.read_bytes() for path in sorted((tmp_path / "faces").glob("*.png"))}
    assert faces == single.faces
    assert not parts.exists()


@pytest.mark.slow
def test_convert_on_two_workers_matches_one_process(single: Single, tmp_path: Path) -> None:
    common = ("-m", single.model, "-p", single.work / "one.json")
    # Frames out, smoothed over neighbouring frames (a video's default): every file identical.
    run_cli("convert", "-i", VIDEO, "-o", tmp_path / "one", *common, check=True)
    run = run_watched("convert", "-i", VIDEO, "-o", tmp_path / "two", *common, "--cluster", "local:2")
    assert run.returncode == 0, run.stderr[-2000:]
    assert_loopback_only(run)
    one = sorted((tmp_path / "one").iterdir())
    assert len(one) == 91
    assert [path.name for path in one] == sorted(path.name for path in (tmp_path / "two").iterdir())
    assert all(path.read_bytes() == (tmp_path / "two" / path.name).read_bytes() for path in one)

    # Video with sound out: the segments joined give the same frame count, fps, sound and marker.
    clip = tmp_path / "test.mp4"  # the clip with a tone as its sound; named test.mp4 so the alignments fit
    subprocess.run([find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-i", str(VIDEO), "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=30", "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac",
                    "-shortest", str(clip)], check=True)
    run_cli("convert", "-i", clip, "-o", tmp_path / "one.mp4", *common, check=True)
    run_cli("convert", "-i", clip, "-o", tmp_path / "two.mp4", *common, "--cluster", "local:2", check=True)
    plain, sharded = probe_video(tmp_path / "one.mp4"), probe_video(tmp_path / "two.mp4")
    assert (sharded.frame_count, sharded.fps, sharded.has_audio) == (91, 5.0, True)
    assert (sharded.frame_count, sharded.fps, sharded.width, sharded.height) == (
        plain.frame_count, plain.fps, plain.width, plain.height)
    assert abs(sharded.duration - plain.duration) < 0.05
    assert video_comment(tmp_path / "two.mp4") == "synthetic: made with faceswap"
    assert not list(tmp_path.glob(".two.mp4*"))
    # Frames within encoder noise: the two videos differ from each other about as much as either differs from
    # the lossless frames it encoded (H.264 at crf 18).
    frames = [read_image(path).astype(np.int16) for path in one]
    first = [frame.astype(np.int16) for _, frame in VideoReader(tmp_path / "one.mp4")]
    second = [frame.astype(np.int16) for _, frame in VideoReader(tmp_path / "two.mp4")]
    noise = np.mean([np.abs(a - b).mean() for a, b in zip(first, frames)])
    apart = [np.abs(a - b).mean() for a, b in zip(first, second)]
    assert np.mean(apart) < 1.5 * noise and max(apart) < 4 * noise, (np.mean(apart), max(apart), noise)



@pytest.mark.slow
def test_a_worker_that_cannot_load_the_model_is_one_line(tmp_path: Path) -> None:
    """The model is loaded in the workers, not the driver: what they find wrong is told as one process tells it."""
    (tmp_path / "model").mkdir()
    result = run_cli("convert", "-i", VIDEO, "-o", tmp_path / "out", "-m", tmp_path / "model", "--cluster",
                     "local:2")
    assert_one_line_error(result, "holds no trained model")
    assert_quiet(result.stderr)
    assert not (tmp_path / "out").exists()
