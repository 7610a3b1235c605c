"""Tests of the training data feed. Face sets are cut from the real test videos by the real extract CLI."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import DATA, run_cli, session_folder

VIDEOS = {"A": DATA / "video" / "A_obama_kenburns.mp4", "B": DATA / "video" / "B_biden_kenburns.mp4"}


def extracted_faces(factory: pytest.TempPathFactory, side: str) -> Path:
    """A folder of 25 aligned face PNGs of side A or B, extracted once per test session (dlib HOG: fast). With
    dlib's landmarks: the pose tests read head turns in these Ken Burns stills that only those landmarks' jitter
    makes (the mesh's steady points find the faces all but still); the default extract is tested end to end in
    tests/e2e/test_extract_default.py."""
    def build(work: Path) -> None:
        run_cli("extract", "-i", VIDEOS[side], "-o", work, "-p", work.with_name(f"training_{side}.json"),
                "--every-n", "3", "-D", "dlib-hog", "-A", "dlib68", check=True)

    return session_folder(factory, f"training_faces_{side}", build)
