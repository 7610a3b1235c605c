"""`train` itself killed with SIGKILL inside a save, the short version of `python -m bench.faults`: the kill
leaves a folder that loads as a resumed run loads it (the weight average, the weights training goes on from, the
mask network, every optimiser: train's own resume code) at one iteration throughout."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from bench.faults import kill_train
from tests.model import extracted_faces

pytestmark = pytest.mark.slow


def test_train_killed_inside_a_save_leaves_a_folder_that_loads(tmp_path_factory: pytest.TempPathFactory,
                                                                  tmp_path: Path) -> None:
    faces = {side: extracted_faces(tmp_path_factory, side) for side in ("A", "B")}
    # The kill strikes 0-250 ms into writing a checkpoint (bench.faults aims at every phase, and at random
    # moments, 30 times over, then resumes the folder with train).
    tally = kill_train(1, faces, tmp_path, random.Random(2), resume=False)
    assert tally.kills == 1 and tally.inside_save == 1, (tally.phases, tally.notes)
    assert (tally.unloadable, tally.inconsistent) == (0, 0), tally.notes
