"""Training on several workers with TensorFlow's MultiWorkerMirroredStrategy: TF_CONFIG read and checked, this
process's part in the cluster, the strategy, and what the workers must agree on.

Every worker runs the same step on its share of the batch; the gradients are summed over all of them by an
all-reduce (TensorFlow's ring over TCP on CPUs, NCCL between GPUs), so their weights stay the same. TF_CONFIG is
read before TensorFlow loads (train's args.check): what needs TensorFlow imports it where it is used.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from lib.errors import FaceswapError

ENV = "TF_CONFIG"
EXAMPLE = '{"cluster": {"worker": ["host1:2222", "host2:2222"]}, "task": {"type": "worker", "index": 0}}'
JOBS = ("chief", "worker")  # the tasks that train, in TensorFlow's order: the chief (if any) is worker number 0


@dataclass(frozen=True)
class Cluster:
    """The training tasks as TF_CONFIG lists them (job → "host:port" addresses) and this process's task."""

    jobs: dict[str, tuple[str, ...]]
    task_type: str
    task_index: int

    @property
    def workers(self) -> int:
        return sum(len(addresses) for addresses in self.jobs.values())

    @property
    def rank(self) -> int:
        """This task's number among the workers (TensorFlow's id in cluster): the chief 0, then the workers."""
        return self.task_index + (len(self.jobs.get("chief", ())) if self.task_type == "worker" else 0)

    @property
    def is_chief(self) -> bool:
        """The task that writes the model folder: the chief, or worker 0 when there is none."""
        return self.rank == 0

    @property
    def name(self) -> str:
        return f"{self.task_type} {self.task_index}"

    @property
    def address(self) -> str:
        return self.jobs[self.task_type][self.task_index]


def _check_address(job: str, address: str) -> None:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise FaceswapError(f'{ENV}: "{address}" in the {job} list is not a "host:port" address (port 1-65535)')


def parse_tf_config(text: str) -> Cluster:
    """TF_CONFIG's cluster and task, checked; FaceswapError (one line that says what to fix) when unusable."""
    try:
        raw = json.loads(text)
    except ValueError as err:
        raise FaceswapError(f"{ENV} is not valid JSON ({err}): set it like {EXAMPLE}") from None
    cluster = raw.get("cluster") if isinstance(raw, dict) else None
    if not isinstance(cluster, dict) or not cluster:
        raise FaceswapError(f'{ENV} has no "cluster" listing the workers\' addresses: set it like {EXAMPLE}')
    others = sorted(set(cluster) - set(JOBS))
    if others:
        raise FaceswapError(f"{ENV}: train runs chief and worker tasks only (MultiWorkerMirroredStrategy has no "
                            f"parameter servers or evaluators): remove {', '.join(others)} from the cluster")
    jobs: dict[str, tuple[str, ...]] = {}
    seen: set[str] = set()
    for job in JOBS:
        addresses = cluster.get(job)
        if addresses is None:
            continue
        if not isinstance(addresses, list) or not addresses or not all(isinstance(a, str) for a in addresses):
            raise FaceswapError(f'{ENV}: the cluster\'s "{job}" must be a list of "host:port" addresses, not '
                                f"{json.dumps(addresses)}")
        for address in addresses:
            _check_address(job, address)
            if address in seen:
                raise FaceswapError(f"{ENV}: {address} is listed twice: give each worker its own address")
            seen.add(address)
        jobs[job] = tuple(addresses)
    if len(jobs.get("chief", ())) > 1:
        raise FaceswapError(f"{ENV}: a cluster has one chief, not {len(jobs['chief'])}: list the others under "
                            "worker")
    if not jobs:
        raise FaceswapError(f'{ENV}: the cluster lists no "worker" addresses: set it like {EXAMPLE}')
    task = raw.get("task")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise FaceswapError(f'{ENV} has no "task" saying which worker this is: add "task": {{"type": "worker", '
                            '"index": K}, K being this machine\'s place in the worker list, from 0')
    kind, index = task["type"], task["index"]
    if kind not in jobs:
        raise FaceswapError(f'{ENV}: task type "{kind}" is not in the cluster, which has '
                            f"{' and '.join(jobs)}: make it one of those")
    count = len(jobs[kind])
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count:
        raise FaceswapError(f"{ENV}: task index {json.dumps(index)} is out of range: the cluster lists {count} "
                            f"{kind} address{'es' if count > 1 else ''}, so the index is 0 to {count - 1}")
    return Cluster(jobs, kind, index)


def read_cluster(environ: Mapping[str, str] = os.environ) -> Cluster | None:
    """The cluster TF_CONFIG describes, checked; None when it is not set (one process trains alone)."""
    text = environ.get(ENV, "")
    return parse_tf_config(text) if text.strip() else None


def local_tf_config(addresses: list[str], index: int) -> str:
    """TF_CONFIG for worker index of workers at addresses (worker 0 is the chief)."""
    return json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})


def pipeline_seed(seed: int | None, pipeline: int) -> int | None:
    """The seed of the data feed of worker number pipeline (TensorFlow's input pipeline id), so that each worker
    sees other faces. Pipeline 0 keeps the seed (a one-worker cluster trains as one process does); None stays
    None (each draws its own entropy)."""
    if seed is None or pipeline == 0:
        return seed
    return int(np.random.SeedSequence([seed, pipeline]).generate_state(1)[0])


def make_multiworker_strategy(cluster: Cluster) -> Any:
    """MultiWorkerMirroredStrategy over the cluster in TF_CONFIG: NCCL all-reduce between GPUs, TensorFlow's ring
    on CPUs. It must come before any other TensorFlow work: it starts this worker's server (which listens on every
    network interface at its port) and waits until every worker has joined."""
    import tensorflow as tf

    kind = tf.distribute.experimental.CommunicationImplementation
    gpus = tf.config.list_physical_devices("GPU")
    options = tf.distribute.experimental.CommunicationOptions(implementation=kind.NCCL if gpus else kind.RING)
    try:
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    except (RuntimeError, ValueError, tf.errors.OpError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FaceswapError(f"{cluster.name} could not join the cluster at {cluster.address} ({reason}): check "
                            f"that its port is free and that every address in {ENV} is reachable") from err


def lost_worker_errors() -> tuple[type[Exception], ...]:
    """What TensorFlow's collectives raise when a worker is gone (its process ended, its machine unreachable)."""
    import tensorflow as tf

    return (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError,
            tf.errors.AbortedError, tf.errors.InternalError, tf.errors.FailedPreconditionError)


def lost_worker_reason(err: Exception) -> str:
    """What a collective's error says about the lost worker, in a few words: TensorFlow's first line is only
    "Graph execution error:"; the cause and the peer are further down."""
    text = str(err)
    causes = [line.rsplit("aborted by: ", 1)[-1].strip() for line in text.splitlines() if "aborted by: " in line]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    cause = causes[0] if causes else next((line for line in lines if not line.endswith(":")), "")
    peer = re.search(r"remote target /job:(\w+)/replica:\d+/task:(\d+)", text)
    where = f" from {peer[1]} {peer[2]}" if peer else ""
    return f"{type(err).__name__}{where}: {cause[:160]}" if cause else f"{type(err).__name__}{where}"


def fingerprint(*settings: Any) -> list[int]:
    """What the workers must have alike (model, options, the iteration they start at) as four 16-bit numbers."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).digest()
    return [int.from_bytes(digest[i:i + 2], "big") for i in range(0, 8, 2)]


def _summed(strategy: Any, values: list[int], workers: int | None = None) -> list[int]:
    """values summed over the workers by one all-reduce, or (workers None) the chief's alone, on every worker.
    values: whole numbers below 2**24 (exact in float32)."""
    import tensorflow as tf

    mine = tf.constant(values, tf.float32)
    # Every worker has as many devices (replicas) as the others: each of a worker's adds its share.
    share = 1.0 if workers is None else workers / strategy.num_replicas_in_sync

    def contribute() -> Any:
        if workers is None:
            first = tf.distribute.get_replica_context().replica_id_in_sync_group == 0  # the chief's first device
            return mine * tf.cast(first, tf.float32)
        return mine * share

    shared = tf.function(lambda: strategy.reduce("SUM", strategy.run(contribute), axis=None))()
    return [round(float(value)) for value in shared.numpy()]


def values_of_chief(strategy: Any, values: list[int]) -> list[int]:
    """The chief's values, on every worker: one all-reduce to which only the chief's first replica adds its own.
    values: whole numbers below 2**24 (exact in float32)."""
    return _summed(strategy, values)


def weights_digest(variables: Iterable[Any]) -> str:
    """SHA-256 of variables' values (dtype, shape and bytes, in order): equal on two workers only when every
    weight is equal to the bit."""
    digest = hashlib.sha256()
    for variable in variables:
        array = np.ascontiguousarray(np.asarray(variable.numpy()))
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def workers_unlike_chief(strategy: Any, cluster: Cluster, digest: str) -> tuple[bool, int]:
    """Whether this worker's digest (weights_digest's) differs from the chief's, and how many workers' do: every
    worker calls this at the same point (two all-reduces)."""
    mine = [int(digest[i:i + 4], 16) for i in range(0, 16, 4)]  # 64 bits of it, in 16-bit numbers
    differs = values_of_chief(strategy, mine) != mine
    return differs, _summed(strategy, [int(differs)], cluster.workers)[0]


def check_same_as_chief(strategy: Any, cluster: Cluster, iteration: int, *settings: Any) -> None:
    """FaceswapError on every worker when one's model folder (its iteration) or options differ from the chief's:
    its weights and batches would not fit the others'. Every worker calls this once, at the start (two
    all-reduces: all of them learn how many differ, so all stop before training)."""
    mine = [iteration >> 16, iteration & 0xFFFF, *fingerprint(iteration, *settings)]
    chief = values_of_chief(strategy, mine)
    count = _summed(strategy, [int(chief != mine)], cluster.workers)[0]
    if not count:
        return
    fix = ("give every worker the same train command and the same model folder (a shared folder, or a copy of "
           "the chief's)")
    if chief == mine:
        raise FaceswapError(f"{cluster.name}: {count} of {cluster.workers} workers have another model folder or "
                            f"other options than the chief (their own lines say which): {fix}")
    at = (chief[0] << 16) + chief[1]
    differs = (f"its model folder is at iteration {iteration}, the chief's at {at}" if at != iteration
               else "its options or model differ from the chief's")
    raise FaceswapError(f"{cluster.name}: {differs}: {fix}")
