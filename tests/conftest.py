"""Shared test fixtures. Tests use the real media in ../shared/data (see its README)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_sessionstart(session: pytest.Session) -> None:
    if not (DATA / "README.md").is_file():
        raise pytest.UsageError(f"test media not found at {DATA}: clone beside the shared/ folder")


def run_cli(*args: str | Path, check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run `python faceswap.py ARGS` in a subprocess, as a user would."""
    result = subprocess.run([sys.executable, str(ROOT / "faceswap.py"), *map(str, args)],
                            capture_output=True, text=True, cwd=ROOT, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"faceswap {' '.join(map(str, args))} failed:\n{result.stderr[-3000:]}")
    return result
