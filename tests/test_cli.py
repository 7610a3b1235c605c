"""The command line: fast help, one-line errors, exit codes."""
from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT, run_cli


def test_help_lists_commands_without_heavy_imports() -> None:
    code = ("import sys, runpy; sys.argv = ['faceswap.py', '-h']\n"
            "try:\n    runpy.run_path('faceswap.py', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('tensorflow', 'keras', 'dlib', 'mtcnn') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    for command in ("extract", "train", "convert", "tools"):
        assert command in result.stdout
    assert "HEAVY []" in result.stdout


def test_extract_help_does_not_import_tensorflow() -> None:
    code = ("import sys, runpy; sys.argv = ['faceswap.py', 'extract', '-h']\n"
            "try:\n    runpy.run_path('faceswap.py', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print('TF', 'tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert "--every-n" in result.stdout
    assert "TF False" in result.stdout


def test_missing_input_is_one_line_error(tmp_path) -> None:
    result = run_cli("extract", "-i", tmp_path / "nope", "-o", tmp_path / "faces")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "input not found" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "faces").exists()
