"""Two `train`s on one model folder: the second is refused in one line naming the first; once the first is
killed (SIGKILL: no chance to clean up), the next train takes the folder over and resumes it."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lib.folderlock import LOCK
from lib.model.state import read_state
from tests.conftest import ROOT, assert_one_line_error, run_cli
from tests.model import extracted_faces

pytestmark = pytest.mark.slow
SMALL = ("--model", "lightweight", "--batch-size", "2", "--preview-every", "0", "--seed", "1")


def test_a_second_train_is_refused_and_a_killed_ones_folder_taken_over(tmp_path_factory: pytest.TempPathFactory,
                                                                        tmp_path: Path) -> None:
    faces_a, faces_b = extracted_faces(tmp_path_factory, "A"), extracted_faces(tmp_path_factory, "B")
    model = tmp_path / "model"
    first = subprocess.Popen([sys.executable, str(ROOT / "faceswap.py"), "train", "-A", str(faces_a), "-B",
                              str(faces_b), "-m", str(model), *SMALL, "--save-every", "2", "--minutes", "5"],
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while (state := read_state(model) if (model / "state.json").exists() else None) is None:
            assert first.poll() is None and time.monotonic() < deadline, "the first train never saved"
            time.sleep(0.5)
        assert json.loads((model / LOCK).read_text())["pid"] == first.pid
        second = run_cli("train", "-A", faces_a, "-B", faces_b, "-m", model, "--iterations", "2")
        assert_one_line_error(second, f"{model} is in use: process {first.pid} on", "is training it")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    saved = read_state(model)
    assert saved is not None and saved.iteration >= state.iteration
    third = run_cli("train", "-A", faces_a, "-B", faces_b, "-m", model, "--iterations", "2")
    assert third.returncode == 0, third.stderr[-2000:]
    assert f"resuming at iteration {saved.iteration}" in third.stderr
    assert read_state(model).iteration == saved.iteration + 2  # type: ignore[union-attr]
