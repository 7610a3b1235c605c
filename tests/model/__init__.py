"""Tests of the model side of train: plugins, losses, trainer, checkpoints. Real faces come from the real
extract CLI (tests.training.extracted_faces: 25 faces per side from the two test videos)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import DATA, run_cli, session_folder
from tests.training import extracted_faces

__all__ = ["extracted_faces", "still_faces"]


def still_faces(factory: pytest.TempPathFactory) -> Path:
    """The 3 faces of the Obama stills, extracted once per session: too few to train on."""
    def build(work: Path) -> None:
        run_cli("extract", "-i", DATA / "stills" / "obama", "-o", work, "-p", work.with_name("still_faces.json"),
                "-D", "dlib-hog", check=True)

    return session_folder(factory, "still_faces", build)
