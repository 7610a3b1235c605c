"""Tests of the model side of train: plugins, losses, trainer, checkpoints. Real faces come from the real
extract CLI (tests.training.extracted_faces: 25 faces per side from the two test videos)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import DATA, run_cli
from tests.training import extracted_faces

__all__ = ["extracted_faces", "still_faces"]


def still_faces(factory: pytest.TempPathFactory) -> Path:
    """The 3 faces of the Obama stills, extracted once per session: too few to train on."""
    folder = factory.getbasetemp() / "model_still_faces"
    if not folder.is_dir():
        work = folder.with_name("model_still_faces.partial")
        run_cli("extract", "-i", DATA / "stills" / "obama", "-o", work, "-p", work.with_suffix(".json"),
                "-D", "dlib-hog", check=True)
        work.rename(folder)
    return folder
