"""The command line: fast help, one-line errors, exit codes."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DATA, ROOT, run_cli


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


@pytest.mark.parametrize("module", ["scripts.demo.run", "scripts.evaluate.run"])
def test_tensorflow_loads_with_onednn_asked_for_whatever_command_imports_it_first(module: str) -> None:
    # TensorFlow reads TF_ENABLE_ONEDNN_OPTS once, on import; on an AVX2 CPU its default (off) trains at half
    # speed. demo and bench.quality import TensorFlow through convert and evaluate before they train; evaluate
    # loads it only with the model, so the import below stands for that.
    code = ("import builtins, os\nseen = []\nreal = builtins.__import__\n"
            "def hook(name, *args, **kwargs):\n"
            "    if name.split('.')[0] == 'tensorflow' and not seen:\n"
            "        seen.append(os.environ.get('TF_ENABLE_ONEDNN_OPTS'))\n"
            "    return real(name, *args, **kwargs)\n"
            f"builtins.__import__ = hook\nimport {module}\nimport tensorflow\nprint('ONEDNN', seen)")
    env = {key: value for key, value in os.environ.items() if key != "TF_ENABLE_ONEDNN_OPTS"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                            check=True)
    assert "ONEDNN ['1']" in result.stdout


def test_missing_input_is_one_line_error(tmp_path) -> None:
    result = run_cli("extract", "-i", tmp_path / "nope", "-o", tmp_path / "faces")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "input not found" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "faces").exists()


_RUN_AND_LIST_HEAVY = ("import sys, runpy; sys.argv = ['faceswap.py', *sys.argv[1:]]\n"
                       "try:\n    runpy.run_path('faceswap.py', run_name='__main__')\nexcept SystemExit as end:\n"
                       "    print('EXIT', end.code)\n"
                       "print('HEAVY', [m for m in ('tensorflow', 'keras', 'dlib', 'mtcnn') if m in sys.modules])")


SIMM, SCHNEIDER = "{data}/chips/John_Simm", "{data}/chips/John_Schneider"


@pytest.mark.parametrize(("arguments", "words"), [
    (("extract", "-i", "{tmp}/nope.mp4", "-o", "{tmp}/faces"), "input not found"),
    (("train", "-A", "{tmp}/nope", "-B", SIMM, "-m", "{tmp}/model"), "does not exist"),
    (("train", "-A", SIMM, "-B", SIMM, "-m", "{tmp}/model"), "same folder"),
    (("train", "-A", SIMM, "-B", SCHNEIDER, "-m", "{tmp}/damaged"), "damaged"),
    (("train", "-A", SIMM, "-B", SCHNEIDER, "-m", "{tmp}/model", "--occlusion-aug", "0.5"), "add --learn-mask"),
    (("train", "-A", SIMM, "-B", SCHNEIDER, "-m", "{tmp}/model", "--learn-mask", "--occlusion-aug", "2"),
     "--occlusion-aug"),
    (("train", "-A", SIMM, "-B", SCHNEIDER, "-m", "{tmp}/model", "--pose-transfer", "1.5"), "--pose-transfer"),
    (("convert", "-i", "{data}/peer/test.mp4", "-o", "{tmp}/o.mp4", "-m", "{tmp}/nope"), "model folder not found"),
    (("convert", "-i", "{data}/peer/test.mp4", "-o", "{tmp}/o.mp4", "-m", "{tmp}/nope", "--follow", "1.5"),
     "landmark follow"),
    (("evaluate", "-m", "{tmp}/damaged", "-A", "{tmp}/nope", "-B", "{tmp}/nope"), "-A face folder not found"),
])
def test_errors_in_the_command_line_come_before_tensorflow_loads(arguments: tuple[str, ...], words: str,
                                                                 tmp_path: Path) -> None:
    (tmp_path / "damaged").mkdir()
    (tmp_path / "damaged" / "state.json").write_text("{")  # a model folder whose state.json was cut short
    filled = [part.format(tmp=tmp_path, data=DATA) for part in arguments]
    result = subprocess.run([sys.executable, "-c", _RUN_AND_LIST_HEAVY, *filled], capture_output=True, text=True,
                            cwd=ROOT, check=False)
    assert "EXIT 1" in result.stdout and "HEAVY []" in result.stdout, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and words in errors[0], result.stderr


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """An empty folder nothing may be written into: bound onto itself read-only (root ignores permissions), or
    chmod a-w for another user."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    if subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True, check=False).returncode:
        pytest.skip("root ignores chmod, and mounting is not allowed here")
    try:
        remount = ["mount", "-o", "remount,bind,ro", str(folder)]
        if subprocess.run(remount, capture_output=True, check=False).returncode:
            pytest.skip("root ignores chmod, and a read-only remount is not allowed here")
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True, check=False)


@pytest.mark.parametrize("arguments", [
    ("extract", "-i", "{data}/video/A_obama_kenburns.mp4", "-o", "{ro}/faces", "-p", "{tmp}/a.json"),
    ("convert", "-i", "{data}/video/A_obama_kenburns.mp4", "-o", "{ro}/swap.mp4", "-m", "{tmp}"),
    ("convert", "-i", "{data}/video/A_obama_kenburns.mp4", "-o", "{ro}/frames", "-m", "{tmp}"),
    ("train", "-A", SIMM, "-B", SCHNEIDER, "-m", "{ro}/model"),
], ids=["extract", "convert_video", "convert_frames", "train"])
def test_an_output_in_a_read_only_folder_is_refused_before_tensorflow_loads(arguments: tuple[str, ...],
                                                                            tmp_path: Path,
                                                                            read_only_folder: Path) -> None:
    filled = [part.format(tmp=tmp_path, data=DATA, ro=read_only_folder) for part in arguments]
    result = subprocess.run([sys.executable, "-c", _RUN_AND_LIST_HEAVY, *filled], capture_output=True, text=True,
                            cwd=ROOT, check=False)
    assert "EXIT 1" in result.stdout and "HEAVY []" in result.stdout, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "read-only" in errors[0], result.stderr
    assert list(read_only_folder.iterdir()) == []
