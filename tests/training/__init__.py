"""Tests of the training data feed. Face sets are cut from the real test videos by the real extract CLI."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import DATA, run_cli

VIDEOS = {"A": DATA / "video" / "A_obama_kenburns.mp4", "B": DATA / "video" / "B_biden_kenburns.mp4"}


def extracted_faces(factory: pytest.TempPathFactory, side: str) -> Path:
    """A folder of 25 aligned face PNGs of side A or B, extracted once per test session (dlib HOG: fast)."""
    folder = factory.getbasetemp() / "training_faces" / side
    if not folder.is_dir():
        work = folder.with_name(f"{side}.partial")
        run_cli("extract", "-i", VIDEOS[side], "-o", work, "-p", work.with_suffix(".json"), "--every-n", "3",
                "-D", "dlib-hog", check=True)
        work.rename(folder)
    return folder
