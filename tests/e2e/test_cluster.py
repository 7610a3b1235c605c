"""extract --cluster on a local two-worker Ray cluster gives what one process gives and talks only to 127.0.0.1
(convert: test_cluster_convert.py); the parts, the options and their errors. The clip is real (peer/test.mp4,
91 frames); the parts are 16 frames, so each run has six."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from lib.media import FrameSource
from lib.video import find_ffmpeg
from scripts.cluster import ALIGN, part_size, spans
from tests.conftest import PEER_VIDEO, assert_one_line_error, assert_quiet, peer_model, run_cli
from tests.e2e.watched import assert_loopback_only, run_watched

VIDEO = PEER_VIDEO  # 91 frames, 426x240, 5 fps: one man, a face in every frame


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


# --- on a local cluster (convert: test_cluster_convert.py, so that the two run on different test workers) ---

@dataclass(frozen=True)
class Single:
    """One process's extract of the clip, and a model trained on it (for convert)."""

    work: Path
    alignments: bytes
    faces: dict[str, bytes]
    model: Path


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Single:
    peer = peer_model(tmp_path_factory)  # one process's extract of the clip, and a model trained on it
    faces = {path.name: path.read_bytes() for path in sorted((peer / "faces").glob("*.png"))}
    return Single(peer, (peer / "alignments.json").read_bytes(), faces, peer / "model")


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
