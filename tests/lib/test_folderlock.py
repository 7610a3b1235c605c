"""lib/folderlock.py: one process at a time in a folder; a lock left by a killed process is taken over."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lib.errors import FaceswapError
from lib.folderlock import LOCK, FolderLock
from tests.conftest import ROOT

HOLD = ("import sys, time\nfrom pathlib import Path\nfrom lib.folderlock import FolderLock\n"
        "FolderLock(Path(sys.argv[1]), 'training it').acquire()\nprint('held', flush=True)\ntime.sleep(120)\n")


def _holder(folder: Path) -> subprocess.Popen[str]:
    """Another process that takes the lock and keeps it."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], cwd=ROOT, stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process


def test_a_second_process_is_refused_and_a_killed_ones_lock_is_taken_over(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    holder = _holder(folder)
    try:
        with pytest.raises(FaceswapError, match=rf"in use: process {holder.pid} on .* is training it"):
            FolderLock(folder, "converting").acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # Killed: its lock file is still there, naming it, but the lock went with the process.
    assert json.loads((folder / LOCK).read_text())["pid"] == holder.pid
    with FolderLock(folder, "training it"):
        assert json.loads((folder / LOCK).read_text())["pid"] == os.getpid()
        with pytest.raises(FaceswapError, match=rf"process {os.getpid()} "):
            FolderLock(folder, "training it").acquire()  # not even this process twice
    assert (folder / LOCK).exists()  # the folder was there before this lock: it stays as it was


def test_a_folder_made_for_the_lock_alone_is_removed_with_it(tmp_path: Path) -> None:
    with FolderLock(tmp_path / "new", "training it"):
        assert (tmp_path / "new" / LOCK).is_file()
    assert not (tmp_path / "new").exists()
    with FolderLock(tmp_path / "used", "training it"):
        (tmp_path / "used" / "state.json").write_text("{}")
    assert sorted(p.name for p in (tmp_path / "used").iterdir()) == [LOCK, "state.json"]
