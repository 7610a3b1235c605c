"""--cluster refuses a Ray cluster whose node does not see the input or the output at the same path (the check
every run makes before any work: scripts.cluster.Cluster.check_shared). The node is real: a Ray cluster started
with `ray start` in a mount namespace of its own, where a tmpfs hides one folder of this test; faceswap joins it by
its address, as it would join a cluster of several machines; and `--cluster local:N` does not join it. Everything
listens on 127.0.0.1."""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.cluster import Sockets
from scripts.train.launch import free_ports
from tests.conftest import DATA, PEER_VIDEO
from tests.e2e.watched import run_watched

pytestmark = pytest.mark.slow


def _can_hide_folders() -> bool:
    """Whether this machine lets a process have its own mounts (root, or user namespaces allowed)."""
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs none /mnt"], capture_output=True,
                          check=False).returncode == 0


@pytest.fixture
def node_without(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """A one-node Ray cluster on 127.0.0.1 that sees all but tmp_path/hidden (an empty tmpfs there): its address
    and the hidden folder."""
    if not _can_hide_folders():
        pytest.skip("this machine allows no mount namespace (unshare -m): no node can be made not to see a folder")
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    # Ray on loopback only, with a token of this test's (not the user's ~/.ray one), for the node and faceswap.
    for name, value in (("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0"), ("RAY_USAGE_STATS_ENABLED", "0"),
                        ("RAY_AUTH_MODE", "token"), ("RAY_AUTH_TOKEN", secrets.token_hex(16))):
        monkeypatch.setenv(name, value)
    port = free_ports(1)[0]
    ray = Path(sys.executable).with_name("ray")
    start = (f'mount -t tmpfs none "$0" && exec "$1" start --head --node-ip-address 127.0.0.1 --port {port} '
             "--num-cpus 1 --include-dashboard false --disable-usage-stats --block")
    with open(tmp_path / "ray.log", "wb") as log:
        head = subprocess.Popen(["unshare", "-m", "sh", "-c", start, str(hidden), str(ray)], stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    sockets = Sockets(head.pid)
    try:
        deadline = time.monotonic() + 90
        while head.poll() is None and time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        assert head.poll() is None, (tmp_path / "ray.log").read_text()[-2000:]
        time.sleep(3)  # the raylet registers after the GCS listens
        yield f"127.0.0.1:{port}", hidden
    finally:
        head.terminate()  # `ray start --block` stops what it started
        try:
            head.wait(timeout=30)
        finally:
            with contextlib.suppress(ProcessLookupError):  # none left, as it should be
                os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        seen = sockets.stop()
    assert seen["not_loopback_lines"] == [], seen["not_loopback_lines"]


def test_a_node_that_does_not_see_the_paths_is_refused(node_without: tuple[str, Path], tmp_path: Path) -> None:
    address, hidden = node_without
    # The output where the node sees an empty tmpfs: refused before any work, and nothing left behind.
    faces = hidden / "faces"
    run = run_watched("extract", "-i", PEER_VIDEO, "-o", faces, "-p", tmp_path / "a.json", "-D", "dlib-hog",
                      "--cluster", address)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert lines[-1] == (f"error: node 127.0.0.1 does not see {faces} at that path: --cluster needs the input, "
                         "the output and faceswap on a filesystem shared by every node, mounted at the same path")
    assert list(hidden.iterdir()) == []  # neither the probe file nor the output folder stays
    assert run.outside == [] and run.sockets, run.outside
    # The input where the node cannot see it (and the output where it can): refused the same way.
    video = hidden / PEER_VIDEO.name
    shutil.copy(PEER_VIDEO, video)
    run = run_watched("extract", "-i", video, "-o", tmp_path / "faces", "-p", tmp_path / "b.json", "-D",
                      "dlib-hog", "--cluster", address)
    assert run.returncode == 1 and run.stderr.strip().splitlines()[-1].startswith(
        f"error: node 127.0.0.1 does not see {video} at that path"), run.stderr[-2000:]
    assert not (tmp_path / "faces").exists() and list(hidden.iterdir()) == [video]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["hidden", "ray.log"]
    # local:N starts a cluster of its own, whatever cluster `ray start` left running on the machine.
    frames = tmp_path / "frames"
    frames.mkdir()
    for still in ("obama/obama.jpg", "biden/biden.jpg"):
        shutil.copy(DATA / "stills" / still, frames)
    run = run_watched("extract", "-i", frames, "-o", tmp_path / "faces", "-D", "dlib-hog", "--cluster", "local:1")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "cluster local:1: 1 worker" in run.stderr and "faces written: 2" in run.stderr, run.stderr[-2000:]
