"""`train --cluster local:2` end to end on real faces: two worker processes of one TensorFlow cluster on 127.0.0.1
train in step, only the chief writes the model folder, one process alone resumes what they saved, two resume that
and stop together on Ctrl-C.
(tests/training/test_multiworker.py has the fast checks of TF_CONFIG, --cluster and the launcher.)"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, assert_one_line_error, assert_quiet, run_cli
from tests.model import extracted_faces

pytestmark = pytest.mark.slow  # the fast tier leaves the end-to-end runs out
SMALL = ("--model", "lightweight", "--batch-size", "2", "--seed", "1")


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return extracted_faces(tmp_path_factory, "A"), extracted_faces(tmp_path_factory, "B")


def _state(model_dir: Path) -> dict:
    return json.loads((model_dir / "state.json").read_text())


def test_two_workers_train_in_step_one_resumes_two_stop_together(faces: tuple[Path, Path], tmp_path: Path) -> None:
    model, temp = tmp_path / "model", tmp_path / "temp"
    temp.mkdir()
    command = [sys.executable, str(ROOT / "faceswap.py"), "train", "-A", str(faces[0]), "-B", str(faces[1]), "-m",
               str(model), *SMALL, "--iterations", "3", "--save-every", "2", "--preview-every", "100",
               "--cluster", "local:2"]
    # TMPDIR: where the second worker's log goes while it runs (removed after a run that went well).
    first = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                           env={**os.environ, "TMPDIR": str(temp)}, check=False)
    assert first.returncode == 0, first.stderr
    assert_quiet(first.stderr)
    lines = first.stderr.splitlines()
    # One cluster on this machine only: every worker's address is on 127.0.0.1.
    addresses = re.findall(r"waiting for the others at (.*)$", first.stderr, re.MULTILINE)
    assert len(addresses) == 2 and all(re.fullmatch(r"127\.0\.0\.1:\d+", address)
                                       for address in addresses[0].split(", ")), addresses
    # Both stopped after the same step with the same losses (the all-reduced ones), each in its own summary.
    def summary(prefix: str) -> tuple[list[str], list[str]]:
        mine = [line.removeprefix(prefix) for line in lines if line.startswith(prefix)]
        ends = [line.split(";")[0] for line in mine if line.startswith("iterations:")]
        losses = [line for line in mine if line.startswith("last losses: loss_a ")]
        return ends, losses

    chief, worker = summary(""), summary("worker 1: ")
    assert chief == worker and chief[0] == ["iterations: 3 this run (--iterations), 3 in total"], (chief, worker)
    assert len(chief[1]) == 1
    # Each worker's own weights (models, optimisers, average), hashed by itself: the same to the bit.
    digests = re.findall(r"^(worker 1: )?weights after iteration 3: sha256 ([0-9a-f]{16}), the same on all 2 "
                         r"workers$", first.stderr, re.MULTILINE)
    assert sorted(who for who, _ in digests) == ["", "worker 1: "] and len({d for _, d in digests}) == 1, digests
    assert "saved at iteration 3" in first.stderr and not any(
        line.startswith("worker 1: saved") for line in lines)

    state = _state(model)
    assert state["iteration"] == 3 and state["checkpoint"] == "ckpt-3"
    # Only the chief's files, at any depth: the two checkpoints it kept, one TensorBoard writer, its curves and
    # preview, the training faces' poses, the lock it held; and the second worker's log folder is gone.
    events = [path.name for path in (model / "logs").iterdir()]
    expected = {"state.json", "curves.json", "curves.png", "preview.png", "poses.json", ".lock",
                *(f"logs/{name}" for name in events),
                *(f"ckpt-{it}/{name}" for it in (2, 3) for name in state["files"])}
    assert len(events) == 1 and {str(path.relative_to(model)) for path in model.rglob("*") if path.is_file()} \
        == expected
    assert list(temp.iterdir()) == []

    second = run_cli("train", "-A", faces[0], "-B", faces[1], "-m", model, "--iterations", "2", "--preview-every",
                     "0")
    assert second.returncode == 0, second.stderr
    assert "resuming at iteration 3" in second.stderr and "saved at iteration 5" in second.stderr
    assert "iterations: 2 this run (--iterations), 5 in total" in second.stderr
    resumed = _state(model)
    assert resumed["iteration"] == 5 and resumed["config"] == state["config"]
    assert resumed["training"]["batch_size"] == 2

    # Two workers again, resuming what one saved; Ctrl-C reaches both through their launcher: they stop after the
    # same step and the chief saves it.
    process = subprocess.Popen([*command[:command.index("--iterations")], "--iterations", "100000", "--save-every",
                                "100000", "--preview-every", "0", "--cluster", "local:2"], cwd=ROOT, text=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    third = []
    try:
        assert process.stderr is not None
        for line in process.stderr:
            third.append(line.rstrip("\n"))
            if line.startswith("first step took"):
                process.send_signal(signal.SIGINT)
                break
        third.extend(line.rstrip("\n") for line in process.stderr)
        assert process.wait(timeout=120) == 0, "\n".join(third)
    finally:
        process.kill()
        process.wait()
    assert "resuming at iteration 5" in "\n".join(third)
    ends = [re.search(r"iterations: (\d+) this run \(SIGINT\), (\d+) in total", line) for line in third]
    found = [(line.startswith("worker 1: "), match.groups()) for line, match in zip(third, ends) if match]
    assert len(found) == 2 and found[0][1] == found[1][1] and {chief for chief, _ in found} == {False, True}, third
    done, total = map(int, found[0][1])
    assert done >= 1 and total == 5 + done == _state(model)["iteration"]


def _two_by_hand(faces: tuple[Path, Path], models: tuple[Path, Path], extra: tuple[str, ...]) \
        -> list[subprocess.CompletedProcess[str]]:
    """Two workers of one cluster on 127.0.0.1 started by hand, as TF_CONFIG on two machines would: worker 0 (the
    chief) trains models[0], worker 1 models[1] with extra options added."""
    from lib.training.multiworker import local_tf_config
    from scripts.train.launch import free_ports

    addresses = [f"127.0.0.1:{port}" for port in free_ports(2)]
    processes = []
    for index in (0, 1):
        command = [sys.executable, str(ROOT / "faceswap.py"), "train", "-A", str(faces[0]), "-B", str(faces[1]),
                   "-m", str(models[index]), *SMALL, "--iterations", "3", "--preview-every", "0",
                   *(extra if index else ())]
        processes.append(subprocess.Popen(command, cwd=ROOT, text=True, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE,
                                          env={**os.environ, "TF_CONFIG": local_tf_config(addresses, index)}))
    try:
        ended = [process.communicate(timeout=180) for process in processes]
    finally:
        for process in processes:
            process.kill()
            process.wait()
    return [subprocess.CompletedProcess(p.args, p.returncode, "", err) for p, (_, err) in zip(processes, ended)]


def test_a_worker_unlike_the_chief_is_refused(faces: tuple[Path, Path], tmp_path: Path) -> None:
    """check_same_as_chief: a worker given other options stops with one line saying so before training, and so
    does the chief: nothing is saved."""
    fresh = tmp_path / "fresh"
    _assert_refused(faces, (fresh, fresh), ("--learning-rate", "1e-4"),
                    "worker 1: its options or model differ from the chief's")
    # (A model folder at another iteration: test_a_worker_killed_mid_training_ends_the_run_and_the_folder_resumes.)


def _assert_refused(faces: tuple[Path, Path], models: tuple[Path, Path], extra: tuple[str, ...],
                    words: str) -> None:
    """Two workers by hand, the second refused with words, the chief with it; neither folder changed."""
    def files() -> dict[Path, bytes]:
        return {path: path.read_bytes() for model in models if model.exists() for path in model.rglob("*")
                if path.is_file() and path.name != ".lock"}

    before = files()
    chief, worker = _two_by_hand(faces, models, extra)
    assert_one_line_error(worker, words, "the same train command and the same model folder")
    assert "weights after" not in worker.stderr and "first step" not in worker.stderr
    assert_one_line_error(chief, "worker 0: 1 of 2 workers have another model folder or other options")
    assert files() == before  # nothing saved (a new folder holds the chief's lock only)


def _worker_pid(launcher: int, index: int) -> int:
    """The process id of worker index that the launcher (train --cluster local:N, process launcher) started."""
    for entry in Path("/proc").iterdir():
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if f"FACESWAP_TRAIN_LAUNCHER={launcher}".encode() in environ and any(
                line.startswith(b"TF_CONFIG=") and json.loads(line[10:])["task"]["index"] == index
                for line in environ):
            return int(entry.name)
    raise AssertionError(f"no worker {index} of process {launcher}")


def test_a_worker_killed_mid_training_ends_the_run_and_the_folder_resumes(faces: tuple[Path, Path],
                                                                         tmp_path: Path) -> None:
    """A real TensorFlow worker killed by SIGKILL while the two train: the run ends (non-zero, naming it and the
    last save), and the chief's folder loads as one iteration throughout. Then the chief resumes it while a worker
    given another model folder (at iteration 0) is refused."""
    from bench.faults import check_model

    model, log = tmp_path / "model", tmp_path / "train.log"
    with open(log, "w") as stderr:
        process = subprocess.Popen([sys.executable, str(ROOT / "faceswap.py"), "train", "-A", str(faces[0]), "-B",
                                    str(faces[1]), "-m", str(model), *SMALL, "--iterations", "100000",
                                    "--save-every", "2", "--preview-every", "0", "--cluster", "local:2"], cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=stderr,
                                   env={**os.environ, "TMPDIR": str(tmp_path)})
    try:
        deadline = time.monotonic() + 300
        while process.poll() is None and time.monotonic() < deadline:  # killed once the chief has saved
            if (model / "state.json").exists():
                break
            time.sleep(0.2)
        os.kill(_worker_pid(process.pid, 1), signal.SIGKILL)
        assert process.wait(timeout=120) == 1, log.read_text()
    finally:
        process.kill()
        process.wait()
    lines = log.read_text().splitlines()
    last = lines[-1]
    assert last.startswith("error: worker 1 of 2 failed (killed by SIGKILL)"), "\n".join(lines[-20:])
    assert "Traceback" not in "\n".join(lines)
    assert_quiet("\n".join(lines))  # neither TensorFlow's log lines nor their gRPC details
    saved = _state(model)
    assert last.split("the last save is ")[1].startswith(f"{saved['checkpoint']};")
    assert check_model(model, {"A": faces[0], "B": faces[1]}) == (None, None)
    # Two workers again: the chief resumes the folder; worker 1, given a folder at another iteration (a new one),
    # is refused before training, and so is the chief.
    _assert_refused(faces, (model, tmp_path / "fresh"), (),
                    f"worker 1: its model folder is at iteration 0, the chief's at {saved['iteration']}")
