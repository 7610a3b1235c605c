"""Shared test helpers. Tests use the real media in tests/data (see its README)."""
from __future__ import annotations

import functools
import os
import subprocess
import sys
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


def assert_quiet(stderr: str) -> None:
    """No line of TensorFlow's or absl's logging, and progress as plain lines (stderr here is no terminal)."""
    noise = [line for line in stderr.splitlines() if NATIVE_LOG.match(line.encode())
             or line.startswith(("WARNING:tensorflow", "WARNING:absl", "W0000", "I0000", "E0000"))]
    assert noise == [], "\n".join(noise[:5])
    assert "\r" not in stderr


@functools.cache
def landmark_truth() -> dict[str, Annotated]:
    """dlib's hand-checked example photos: 4 photos, 18 faces, each a box and 68 landmarks in frame pixels."""
    return read_ground_truth(DATA / GROUND_TRUTH)


# The longest files first: pytest-xdist hands out whole files (--dist loadfile) in collection order, so starting
# the long ones first keeps both test workers busy to the end instead of one finishing a long file alone.
LONGEST_FIRST = ("tests/e2e/test_demo.py", "tests/e2e/test_cluster.py", "tests/e2e/test_train.py",
                 "tests/e2e/test_occlusion.py", "tests/model/test_models.py", "tests/e2e/test_bench_gpu.py",
                 "tests/e2e/test_convert.py", "tests/e2e/test_train_multiworker.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: the rest as found
