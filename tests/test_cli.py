"""The command line: fast help, one-line errors, exit codes."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT, run_cli


def test_help_lists_commands_without_heavy_imports() -> None:
    code = ("import sys, runpy; sys.argv = ['faceswap.py', '-h']\n"
            "try:\n    runpy.run_path('faceswap.py', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('tensorflow', 'keras', 'dlib', 'mtcnn') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    for command in ("extract", "train", "convert", "evaluate", "tools"):
        assert command in result.stdout
    assert "HEAVY []" in result.stdout


@pytest.mark.parametrize(("command", "option"), [("extract", "--every-n"), ("train", "--learn-mask"),
                                                 ("convert", "--blend"), ("evaluate", "--max-faces"),
                                                 ("tools", "video")])
def test_command_help_does_not_import_heavy_modules(command: str, option: str) -> None:
    code = (f"import sys, runpy; sys.argv = ['faceswap.py', '{command}', '-h']\n"
            "try:\n    runpy.run_path('faceswap.py', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', [m for m in ('tensorflow', 'keras', 'dlib', 'mtcnn') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert option in result.stdout
    assert "HEAVY []" in result.stdout


def test_missing_input_is_one_line_error(tmp_path) -> None:
    result = run_cli("extract", "-i", tmp_path / "nope", "-o", tmp_path / "faces")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "input not found" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "faces").exists()
