"""Training on several workers, the parts that need no TensorFlow: TF_CONFIG read and checked, train's --cluster
and the options it cannot go with, the command each worker gets, the launcher's handling of a worker that fails.
(tests/e2e/test_train_multiworker.py trains with two real workers.)"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from lib.errors import FaceswapError
from lib.training.multiworker import (
    ENV,
    local_tf_config,
    lost_worker_reason,
    parse_tf_config,
    pipeline_seed,
    read_cluster,
)
from scripts.train.args import Config, check_workers, to_arguments
from scripts.train.launch import free_ports, start_workers, watch_workers
from tests.conftest import DATA, ROOT

TWO = {"worker": ["10.0.0.1:2222", "10.0.0.2:2222"]}


def _error(text: str) -> str:
    with pytest.raises(FaceswapError) as err:
        parse_tf_config(text)
    message = str(err.value)
    assert "\n" not in message and message.startswith(ENV)
    return message


def test_a_cluster_of_workers_and_its_chief() -> None:
    first, second = (parse_tf_config(json.dumps({"cluster": TWO, "task": {"type": "worker", "index": i}}))
                     for i in (0, 1))
    assert (first.workers, first.rank, first.is_chief, first.address) == (2, 0, True, "10.0.0.1:2222")
    assert (second.rank, second.is_chief, second.name) == (1, False, "worker 1")
    # With a chief task, it is worker number 0 and writes; worker 0 is the second.
    jobs = {"chief": ["a:1"], "worker": ["b:1", "c:1"]}
    chief, worker = (parse_tf_config(json.dumps({"cluster": jobs, "task": task}))
                     for task in ({"type": "chief", "index": 0}, {"type": "worker", "index": 0}))
    assert (chief.is_chief, chief.workers, worker.is_chief, worker.rank) == (True, 3, False, 1)
    assert read_cluster({}) is None and read_cluster({ENV: " "}) is None
    assert read_cluster({ENV: local_tf_config(["127.0.0.1:5000", "127.0.0.1:5001"], 1)}) == parse_tf_config(
        json.dumps({"cluster": {"worker": ["127.0.0.1:5000", "127.0.0.1:5001"]},
                    "task": {"type": "worker", "index": 1}}))


@pytest.mark.parametrize(("config", "words"), [
    ('{"cluster": ', ("not valid JSON", '"task"')),
    ("[1, 2]", ('no "cluster"',)),
    ('{"task": {"type": "worker", "index": 0}}', ('no "cluster"',)),
    (json.dumps({"cluster": TWO}), ('no "task"', "index")),
    (json.dumps({"cluster": TWO, "task": {"type": "worker"}}), ('no "task"',)),
    (json.dumps({"cluster": TWO, "task": {"type": "worker", "index": 2}}),
     ("index 2 is out of range", "2 worker addresses", "0 to 1")),
    (json.dumps({"cluster": TWO, "task": {"type": "worker", "index": -1}}), ("index -1 is out of range",)),
    (json.dumps({"cluster": TWO, "task": {"type": "worker", "index": "1"}}), ('index "1" is out of range',)),
    (json.dumps({"cluster": TWO, "task": {"type": "chief", "index": 0}}), ('task type "chief" is not',)),
    (json.dumps({"cluster": {**TWO, "ps": ["p:1"]}, "task": {"type": "worker", "index": 0}}),
     ("chief and worker tasks only", "remove ps")),
    (json.dumps({"cluster": {"worker": "a:1"}, "task": {"type": "worker", "index": 0}}), ("must be a list",)),
    (json.dumps({"cluster": {"worker": ["a"]}, "task": {"type": "worker", "index": 0}}),
     ('"a"', "not a \"host:port\"")),
    (json.dumps({"cluster": {"worker": ["a:99999"]}, "task": {"type": "worker", "index": 0}}), ("port 1-65535",)),
    (json.dumps({"cluster": {"worker": ["a:1", "a:1"]}, "task": {"type": "worker", "index": 0}}),
     ("listed twice",)),
    (json.dumps({"cluster": {"chief": ["a:1", "b:1"]}, "task": {"type": "chief", "index": 0}}), ("one chief",)),
])
def test_tf_config_errors_say_what_to_fix(config: str, words: tuple[str, ...]) -> None:
    message = _error(config)
    for word in words:
        assert word in message, message


def test_each_worker_feeds_other_faces() -> None:
    assert pipeline_seed(7, 0) == 7 and pipeline_seed(None, 3) is None
    seeds = {pipeline_seed(7, pipeline) for pipeline in range(16)}
    assert len(seeds) == 16 and all(0 <= seed < 2**32 for seed in seeds if seed is not None)


def test_a_lost_worker_is_named_from_tensorflow_s_message() -> None:
    class UnavailableError(Exception):
        pass

    text = ("Graph execution error:\n\nDetected at node gen_adam/CollectiveReduceV2 defined at:\n  File x\n\n"
            "Collective ops is aborted by: recvmsg:Connection reset by peer\nAdditional GRPC error information "
            "from remote target /job:worker/replica:0/task:1 while calling /tensorflow.WorkerService/RecvBuf:")
    assert lost_worker_reason(UnavailableError(text)) == \
        "UnavailableError from worker 1: recvmsg:Connection reset by peer"
    assert lost_worker_reason(UnavailableError("Graph execution error:")) == "UnavailableError"


FACES = {"input_a": DATA / "chips" / "John_Simm", "input_b": DATA / "chips" / "John_Schneider"}


@pytest.mark.parametrize(("cluster", "words"), [
    ("auto", ("--cluster auto", "takes only local:N", "set TF_CONFIG on each (see docs/cluster.md)")),
    ("10.0.0.1:6379", ("for several machines set TF_CONFIG on each",)),
    ("local:1", ("from 2 to 16", "'1'")),
    ("local:17", ("from 2 to 16",)),
    ("local:", ("from 2 to 16",)),
    ("local:two", ("from 2 to 16", "'two'")),
])
def test_cluster_takes_local_n_only(cluster: str, words: tuple[str, ...], tmp_path: Path) -> None:
    with pytest.raises(FaceswapError) as err:
        Config(**FACES, model_dir=tmp_path, cluster=cluster)
    for word in words:
        assert word in str(err.value), str(err.value)
    assert Config(**FACES, model_dir=tmp_path, cluster="local:16").cluster == "local:16"


def test_ways_to_spread_training_that_do_not_go_together(tmp_path: Path) -> None:
    cfg = Config(**FACES, model_dir=tmp_path)
    two = parse_tf_config(json.dumps({"cluster": TWO, "task": {"type": "worker", "index": 1}}))
    four = parse_tf_config(json.dumps({"cluster": {"worker": [f"h:{port}" for port in range(1, 5)]},
                                       "task": {"type": "worker", "index": 0}}))
    uneven = "--batch-size 6 must be a multiple of the 4"
    for given, cluster, words in ((replace(cfg, distributed=True), two, "leave --distributed out"),
                                  (replace(cfg, distributed=True, cluster="local:2"), None, "--distributed out"),
                                  (replace(cfg, cluster="local:2"), two, "unset TF_CONFIG"),
                                  (replace(cfg, cluster="local:4"), None, uneven), (cfg, four, uneven)):
        with pytest.raises(FaceswapError, match=words):
            check_workers(given, cluster, 6)
    check_workers(replace(cfg, cluster="local:3"), None, 6)
    check_workers(cfg, two, 4)
    check_workers(cfg, None, 5)


def test_each_worker_gets_the_same_command_line(tmp_path: Path) -> None:
    import argparse

    import faceswap
    from scripts.train.args import add_arguments

    cfg = Config(**FACES, model_dir=tmp_path, gan=True, warp=False, batch_size=4, learning_rate=1e-4,
                 holdout_a=tmp_path / "a", holdout_b=tmp_path / "b", iterations=7, seed=3)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert faceswap.to_config(Config, parser.parse_args(to_arguments(cfg))) == cfg
    assert "--cluster" not in to_arguments(cfg) and "--no-warp" in to_arguments(cfg)


def test_command_line_errors_come_before_tensorflow_loads(tmp_path: Path) -> None:
    code = ("import sys, runpy; sys.argv = ['faceswap.py', *sys.argv[1:]]\n"
            "try:\n    runpy.run_path('faceswap.py', run_name='__main__')\nexcept SystemExit as end:\n"
            "    print('EXIT', end.code)\n"
            "print('HEAVY', [m for m in ('tensorflow', 'keras') if m in sys.modules])")
    train = ["train", "-A", str(FACES["input_a"]), "-B", str(FACES["input_b"]), "-m", str(tmp_path / "model")]
    for extra, env, words in ((["--cluster", "auto"], {}, "set TF_CONFIG on each"),
                              ([], {ENV: '{"cluster": {"worker": ["a:1"]}}'}, 'no "task"'),
                              (["--cluster", "local:2", "--batch-size", "3"], {}, "multiple of the 2 workers")):
        result = subprocess.run([sys.executable, "-c", code, *train, *extra], capture_output=True, text=True,
                                cwd=ROOT, env={**os.environ, **env}, check=False)
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert "EXIT 1" in result.stdout and "HEAVY []" in result.stdout, result.stdout + result.stderr
        assert len(errors) == 1 and words in errors[0], result.stderr
    assert not (tmp_path / "model").exists()


WORKER = """
import json, os, sys, time
index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
if index == 1:
    print("some noise", flush=True)
    print("worker 1: about to fail", flush=True)
    sys.exit(3)
time.sleep(60)
"""


def test_a_failed_worker_ends_the_others_and_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert all(1024 <= port < 65536 for port in free_ports(3))
    began = time.monotonic()
    workers = start_workers([sys.executable, "-c", WORKER], 3, tmp_path)
    try:
        with pytest.raises(FaceswapError) as err:
            watch_workers(workers, tmp_path / "model", tmp_path)
    finally:
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.kill()
            worker.process.wait()
    assert time.monotonic() - began < 20
    message = str(err.value)
    assert "worker 1 of 3 failed (exit 3)" in message and str(tmp_path / "worker-1.log") in message
    assert "nothing was saved" in message
    shown = capsys.readouterr().err
    assert "worker 1: about to fail" in shown and "  some noise" in shown  # live, then its last lines
    assert (tmp_path / "worker-1.log").read_text() == "some noise\nworker 1: about to fail\n"
