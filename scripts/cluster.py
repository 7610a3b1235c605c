"""`--cluster`: extract's and convert's frames cut into parts and worked on by Ray actors, each of which loads its
models once. Ray is optional (requirements-cluster.txt) and imported only here, only when --cluster is given.

`local:N` starts a one-machine Ray cluster of N CPU slots that listens on 127.0.0.1 only; `auto` joins the cluster
`ray start` made on this machine; any other value is a Ray address (`head:6379`, `ray://head:10001`). Every node
must see the input, the output and this faceswap checkout at the same paths (a shared filesystem): checked first.
"""
from __future__ import annotations

import io
import logging
import math
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lib.errors import FaceswapError
from lib.media import FrameSource

log = logging.getLogger("faceswap.cluster")
ROOT = Path(__file__).resolve().parents[1]
INSTALL = "pip install -r requirements-cluster.txt"
ALIGN = 8  # parts hold a multiple of the largest detector batch (MTCNN's 8): the same batches as one process


@dataclass(frozen=True)
class ClusterSpec:
    """Where the work goes: local (N slots on this machine) or a Ray address ('auto' included)."""

    local: int | None = None
    address: str | None = None

    def __str__(self) -> str:
        return f"local:{self.local}" if self.local else str(self.address)


def parse_cluster(value: str | None) -> ClusterSpec | None:
    """--cluster local:N | auto | ADDRESS, checked before anything loads."""
    if value is None:
        return None
    if value.startswith("local"):
        _, _, count = value.partition(":")
        if not count.isdigit() or not 1 <= int(count) <= 256:
            raise FaceswapError(f"--cluster {value}: give local:N with N workers on this machine (1-256), "
                                "auto, or the address of a Ray cluster (head:6379)")
        return ClusterSpec(local=int(count))
    if not value or " " in value:
        raise FaceswapError(f"--cluster '{value}' is not a Ray address: give local:N, auto or head:6379")
    return ClusterSpec(address=value)


def part_size(total: int, slots: int) -> int:
    """Frames per part: about four parts per slot (so slots that finish early take more), a multiple of ALIGN,
    at most 1000 frames (a lost part costs little to redo)."""
    size = math.ceil(total / max(1, 4 * slots))
    return max(ALIGN, min(1000, math.ceil(size / ALIGN) * ALIGN))


def spans(total: int, size: int) -> list[tuple[int, int]]:
    """[0, total) cut into (first, stop) parts of size frames."""
    return [(first, min(first + size, total)) for first in range(0, total, size)]


def check_source(source: FrameSource) -> None:
    """Parts of a video are found by seeking to a frame's time: refuse a variable frame rate."""
    if source.variable_rate:
        raise FaceswapError(f"{source.path.name} has a variable frame rate, so --cluster cannot cut it into parts "
                            f"by frame: make it constant first (ffmpeg -i {source.path.name} -fps_mode cfr "
                            "fixed.mp4), or leave --cluster out")


def one_slot_of_tensorflow() -> None:
    """In a CPU worker: TensorFlow keeps to one core (the worker's slot), so N workers on N cores do not each
    start a thread per core (measured: two workers of convert on 2 cores ran slower than one process without
    this). Called before TensorFlow runs anything."""
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)


def _import_ray() -> Any:
    try:
        import ray  # optional: only --cluster needs it
    except ImportError:
        raise FaceswapError(f"--cluster needs Ray, which is not installed: {INSTALL}") from None
    return ray


class NoProgress:
    """A worker's progress: shown by the driver's bar, part by part."""

    def update(self, count: int) -> None:
        """Nothing to draw in a worker."""


@dataclass
class Cluster:
    """A connected Ray cluster: slots is how many actors the work gets, gpus the GPUs each actor asks for."""

    ray: Any
    slots: int
    gpus: float

    def actors(self, kind: type, parts: int, *args: Any) -> list[Any]:
        """An actor of kind per slot (no more than there are parts), restarted (and its part retried) when its
        process dies."""
        remote = self.ray.remote(num_cpus=1, num_gpus=self.gpus, max_restarts=2, max_task_retries=2)(kind)
        return [remote.remote(*args) for _ in range(min(self.slots, parts))]

    def check_shared(self, paths: list[Path]) -> None:
        """Every node must see paths (folders; the first is written to) at the same place: a file written here
        must be read there, on every node that has a slot."""
        probe_dir = paths[0]
        made = not probe_dir.exists()
        probe_dir.mkdir(parents=True, exist_ok=True)
        probe = probe_dir / f".faceswap-cluster-{uuid.uuid4().hex}"
        probe.write_text(probe.name)
        try:
            nodes = [node for node in self.ray.nodes() if node.get("Alive") and node["Resources"].get("CPU")]
            sees = self.ray.remote(num_cpus=0)(_sees)
            checks = []
            for node in nodes:
                strategies = self.ray.util.scheduling_strategies
                where = strategies.NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
                checks.append(sees.options(scheduling_strategy=where).remote(
                    [str(probe), str(ROOT / "faceswap.py"), *map(str, paths[1:])], probe.name))
            for node, missing in zip(nodes, self.ray.get(checks)):
                if missing:
                    raise FaceswapError(f"node {node['NodeManagerAddress']} does not see {missing} at that path: "
                                        "--cluster needs the input, the output and faceswap on a filesystem "
                                        "shared by every node, mounted at the same path")
        finally:
            probe.unlink(missing_ok=True)
            if made:
                probe_dir.rmdir()  # the work makes it again when it writes there

    def run(self, actors: list[Any], method: str, parts: list[Any]) -> Iterator[Any]:
        """Each part given to the next free actor's method; results as they finish (any order). An error the
        user can fix (FaceswapError in a worker) comes out as itself."""
        pool = self.ray.util.ActorPool(actors)
        results = pool.map_unordered(lambda actor, part: getattr(actor, method).remote(part), parts)
        while True:
            try:
                yield next(results)
            except StopIteration:
                return
            except self.ray.exceptions.RayTaskError as err:
                if isinstance(err.cause, FaceswapError):
                    raise FaceswapError(str(err.cause)) from None
                raise
            except self.ray.exceptions.RayActorError as err:
                first = str(err).splitlines()[0]
                raise FaceswapError(f"a cluster worker died and was restarted too often ({first}): run the same "
                                    "command again") from None


def _sees(paths: list[str], token: str) -> str | None:
    """On a node: the first of paths it cannot see (the first is the probe file holding token), or None."""
    probe, *others = paths
    try:
        if Path(probe).read_text() != token:
            return probe
    except OSError:
        return str(Path(probe).parent)
    return next((path for path in others if not Path(path).exists()), None)


@contextmanager
def connect(spec: ClusterSpec, gpu_work: bool) -> Iterator[Cluster]:
    """A Ray cluster for the length of the block: started here for local:N (and stopped after), else joined."""
    if spec.local is not None:
        # Ray then binds and registers every node service on the loopback address only: nothing leaves the
        # machine. Read when ray is imported.
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # Ray reports usage to its makers unless told not to
    ray = _import_ray()
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False,
                               # workers import lib/, plugins/ and scripts/ from this checkout
                               "runtime_env": {"env_vars": {"PYTHONPATH": str(ROOT),
                                                            "TF_CPP_MIN_LOG_LEVEL": "3"}}}
    said = io.StringIO()
    try:
        with redirect_stderr(said):  # Ray prints a notice about its token checks: shown with -v only
            if spec.local is not None:
                # address "local": always a cluster of its own, even when one that `ray start` made is running
                ray.init(address="local", num_cpus=spec.local, num_gpus=0, _node_ip_address="127.0.0.1",
                         **options)
            else:
                ray.init(address=spec.address, **options)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise FaceswapError(f"--cluster {spec}: cannot reach a Ray cluster ({str(err).splitlines()[0]}); start "
                            "one with `ray start --head` or give local:N") from None
    finally:
        for line in said.getvalue().splitlines():
            log.debug("ray: %s", line)
    try:
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        use_gpus = gpu_work and gpus > 0
        slots = gpus if use_gpus else int(resources.get("CPU", 1))
        log.info("cluster %s: %d worker%s (%s)", spec, slots, "s" if slots != 1 else "",
                 f"one per GPU, {gpus} GPUs" if use_gpus else "one per CPU slot")
        yield Cluster(ray, max(1, slots), 1.0 if use_gpus else 0.0)
    finally:
        ray.shutdown()



class LogCollector(logging.Handler):
    """In a worker: faceswap's log lines kept (they have no terminal there) for the driver to show."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[tuple[int, str]] = []
        logger = logging.getLogger("faceswap")
        logger.handlers[:] = [self]
        logger.setLevel(logging.INFO)
        logger.propagate = False

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelno, record.getMessage()))

    def take(self) -> list[tuple[int, str]]:
        """The lines since the last take, as (level, message)."""
        lines, self.lines = self.lines, []
        return lines


def show_logs(lines: list[tuple[int, str]]) -> None:
    """A worker's warnings, on the driver (its info lines would repeat the driver's own)."""
    for level, message in lines:
        if level >= logging.WARNING:
            log.log(level, message)
