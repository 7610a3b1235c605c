"""`train` itself killed with SIGKILL inside its saves, the short version of `python -m bench.faults`: every kill
leaves a folder that loads as a resumed run loads it (the weight average, the weights training goes on from, the
mask network, every optimiser) at one iteration throughout, and the next run resumes it."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from bench.faults import kill_train
from tests.model import extracted_faces

pytestmark = pytest.mark.slow


def test_train_killed_inside_its_saves_leaves_a_folder_that_loads(tmp_path_factory: pytest.TempPathFactory,
                                                                  tmp_path: Path) -> None:
    faces = {side: extracted_faces(tmp_path_factory, side) for side in ("A", "B")}
    # Kill 0 strikes 0-250 ms into writing a checkpoint, kill 1 at a random moment of the run (here 3-25 s in,
    # after the first saves). Then a run that must resume and finish.
    tally = kill_train(2, faces, tmp_path, random.Random(2))
    assert tally.kills == 2 and tally.inside_save >= 1, (tally.phases, tally.notes)
    assert (tally.unloadable, tally.inconsistent) == (0, 0), tally.notes
