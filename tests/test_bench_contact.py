"""bench.contact on a real clip: the frames it picks carry a face, and the sheet has a row per video."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.contact import LABEL, PICKS, TILE, contact_sheet, pick_frames
from lib.alignments import load_alignments
from tests.conftest import DATA, run_cli

pytestmark = pytest.mark.slow  # it extracts a clip


def test_picks_and_sheet(tmp_path: Path) -> None:
    clip = DATA / "peer" / "test.mp4"  # a man who talks and turns: the picks differ
    alignments = tmp_path / "alignments.json"
    run_cli("extract", "-i", clip, "-o", tmp_path / "faces", "-p", alignments, "-D", "dlib-hog", check=True)
    picks = pick_frames(clip, alignments)
    with_faces = {entry.index for entry in load_alignments(alignments).frames.values() if entry.faces}
    assert list(picks) == list(PICKS) and set(picks.values()) <= with_faces
    assert len(set(picks.values())) >= 3
    sheet = contact_sheet({"peer": (clip, alignments, [clip])})  # the clip as its own "swap": two rows
    assert sheet.shape == (2 * LABEL + 2 * TILE, len(PICKS) * TILE, 3)
    assert (sheet[2 * LABEL:2 * LABEL + TILE] == sheet[2 * LABEL + TILE:]).all()
