"""Shared test helpers. Tests use the real media in tests/data (see its README)."""
from __future__ import annotations

import fcntl
import functools
import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from scripts.console import NATIVE_LOG
from scripts.derive_template import GROUND_TRUTH, Annotated, read_ground_truth

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_cli(*args: str | Path, check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run `python faceswap.py ARGS` in a subprocess, as a user would."""
    result = subprocess.run([sys.executable, str(ROOT / "faceswap.py"), *map(str, args)],
                            capture_output=True, text=True, cwd=ROOT, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"faceswap {' '.join(map(str, args))} failed:\n{result.stderr[-3000:]}")
    return result


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    """The command failed (exit 1) with one `error: ...` line, the last it printed, naming each of words; no
    traceback. Progress and log lines may come before it."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error")]
    assert errors == [lines[-1]] and lines[-1].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[-1], lines[-1]


@contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """Writes past limit bytes fail with EFBIG in this process (as writes to a full disk fail with ENOSPC); a
    child that does not ignore SIGXFSZ, as ffmpeg, is killed by it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def assert_quiet(stderr: str) -> None:
    """No line of TensorFlow's or absl's logging, and progress as plain lines (stderr here is no terminal)."""
    noise = [line for line in stderr.splitlines() if NATIVE_LOG.match(line.encode())
             or line.startswith(("WARNING:tensorflow", "WARNING:absl", "W0000", "I0000", "E0000"))]
    assert noise == [], "\n".join(noise[:5])
    assert "\r" not in stderr


def session_folder(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """A folder built once per test session by build(folder) and shared by every pytest-xdist worker (the first
    to ask builds it, under a file lock; the others wait for it). Tests only read it."""
    root = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, above the workers' own
    folder = root / "shared" / name
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.with_name(f"{name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not folder.is_dir():
            work = folder.with_name(f"{name}.partial")
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
            build(work)
            work.rename(folder)
    return folder


def _peer(work: Path) -> None:
    run_cli("extract", "-i", PEER_VIDEO, "-o", work / "faces", "-p", work / "alignments.json", "-D", "dlib-hog",
            check=True)
    run_cli("extract", "-i", DATA / "video" / "B_biden_kenburns.mp4", "-o", work / "faces_b", "-p",
            work / "b.json", "-D", "dlib-hog", check=True)
    run_cli("train", "-A", work / "faces", "-B", work / "faces_b", "-m", work / "model", "--model", "lightweight",
            "--learn-mask", "--iterations", "4", "--batch-size", "4", "--preview-every", "0", check=True)


PEER_VIDEO = DATA / "peer" / "test.mp4"  # 91 frames, 426x240, 5 fps: one man, a face in every frame


def peer_model(factory: pytest.TempPathFactory) -> Path:
    """One extract of peer/test.mp4 (dlib HOG: faces/ and alignments.json), Biden's clip (faces_b/) and a
    lightweight --learn-mask model trained 4 steps on them (model/): it loads and changes faces, what it has
    learned does not matter. Made once per session for the convert, cluster and faceset tests."""
    return session_folder(factory, "peer", _peer)


@functools.cache
def landmark_truth() -> dict[str, Annotated]:
    """dlib's hand-checked example photos: 4 photos, 18 faces, each a box and 68 landmarks in frame pixels."""
    return read_ground_truth(DATA / GROUND_TRUTH)


# The longest files first: pytest-xdist hands out whole files (--dist loadfile) in collection order, so starting
# the long ones first keeps the test workers busy to the end instead of one finishing a long file alone.
LONGEST_FIRST = ("tests/e2e/test_cluster_convert.py", "tests/e2e/test_convert.py", "tests/e2e/test_train.py",
                 "tests/model/test_models.py", "tests/e2e/test_cluster.py", "tests/e2e/test_demo.py",
                 "tests/e2e/test_tools_faceset.py", "tests/e2e/test_occlusion.py",
                 "tests/model/test_checkpoint.py", "tests/e2e/test_evaluate.py", "tests/e2e/test_extract.py",
                 "tests/e2e/test_bench_gpu.py", "tests/e2e/test_train_multiworker.py")


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """-n auto: one test worker more than the cores. Most tests wait on a CLI subprocess that spends seconds
    importing TensorFlow and building a model on one core; with a worker per core the cores were busy ~80 % of
    the run."""
    return len(os.sched_getaffinity(0)) + 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: the rest as found
