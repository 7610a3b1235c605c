"""bench/gpu.py runs its small CPU plan on this machine, so the GPU benchmark keeps working before a GPU is at
hand: every measurement gives a number (or says why not), the feed and convert are measured too."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, assert_quiet

pytestmark = pytest.mark.slow  # the fast tier leaves the end-to-end runs out


def test_gpu_benchmark_runs_its_cpu_plan(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "bench.gpu", "--minutes", "0.25", "--json", str(tmp_path / "r.json")]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_quiet(result.stderr)
    report = json.loads((tmp_path / "r.json").read_text())
    measured = [row for row in report["train"] if "egs_per_s" in row]
    assert any(row["precision"] == "float32" and not row["xla"] for row in measured)
    assert all(row["egs_per_s"] > 0 for row in measured)
    assert all("egs_per_s" in row or row["error"] for row in report["train"])
    assert report["feed"]["samples_per_s"] > 0
    assert [row["video"] for row in report["convert"] if "frames_per_s" in row]
    assert "Training" in result.stdout and "Convert" in result.stdout
