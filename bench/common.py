"""Shared bench helpers: the machine, timing with CPU time, peak memory, derived test videos, tables, JSON."""
from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lib.fileio import write_json_atomic
from lib.tables import markdown_table
from lib.video import find_ffmpeg
from scripts.console import setup_logging

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


# CPU flags that change what TensorFlow runs (bf16 training needs avx512_bf16 or AMX): the same model name
# ("AMD EPYC") has been seen both with AVX2 only and with AVX-512 BF16, at 2.5 times the training speed.
VECTOR_FLAGS = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_bf16": "AVX-512 BF16", "amx_bf16": "AMX"}


def machine() -> dict[str, Any]:
    """What the numbers were measured on: CPU model and vector units, cores, load, Python."""
    model, flags = "unknown", set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):  # the first processor's: the loop ends at its flags
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    vector = ", ".join(name for flag, name in VECTOR_FLAGS.items() if flag in flags) or "unknown"
    return {"cpu": model, "vector": vector, "cores": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version(),
            "system": platform.platform()}


def describe_machine(info: dict[str, Any]) -> str:
    """One line for the top of a bench report."""
    load = " ".join(f"{x:.2f}" for x in info["load_average"])
    if "load_average_after" in info:
        load += " (after: " + " ".join(f"{x:.2f}" for x in info["load_average_after"]) + ")"
    vector = f" ({info['vector']})" if info.get("vector") else ""
    return f"machine: {info['cpu']}{vector}, {info['cores']} cores, load average {load}, Python {info['python']}"


@dataclass
class Timing:
    """Wall seconds, CPU seconds of this process (all threads) plus its waited-for children, and how many
    cores the whole machine kept busy meanwhile (other users' work included)."""

    wall: float = 0.0
    cpu: float = 0.0
    machine_busy: float = 0.0

    @property
    def cpu_share(self) -> float:
        """CPU seconds per wall second: 1.0 is one core kept busy."""
        return self.cpu / self.wall if self.wall > 0 else 0.0


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs from /proc/stat; (0, 0) where there is none."""
    stat = Path("/proc/stat")
    if not stat.is_file():
        return 0, 0
    fields = [int(x) for x in stat.read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


@contextmanager
def timed() -> Iterator[Timing]:
    """Time the block: `with timed() as t: ...`, then t.wall, t.cpu and t.machine_busy."""
    timing = Timing()
    busy, total = _machine_ticks()
    wall, cpu = time.perf_counter(), _cpu_seconds()
    try:
        yield timing
    finally:
        timing.wall = time.perf_counter() - wall
        timing.cpu = _cpu_seconds() - cpu
        busy_after, total_after = _machine_ticks()
        if total_after > total:
            timing.machine_busy = (busy_after - busy) / (total_after - total) * (os.cpu_count() or 1)


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB (since start, or since reset_peak_rss)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def reset_peak_rss() -> bool:
    """Start peak_rss_mb afresh from the current RSS (Linux 4+); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def make_video(source: Path, dest: Path, *, size: tuple[int, int] | None = None, frames: int | None = None,
               start: int = 0, step: int = 1) -> Path:
    """Re-encode a video with ffmpeg (H.264, near-lossless), scaled to size (w, h) and/or cut to `frames` frames
    from frame `start`, every `step`th (exact: frames are counted, not seeked by time); for benches only, so the
    test media stay as they are."""
    command = [find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(source)]
    chosen = f"gte(n\\,{start})" + (f"*not(mod(n-{start}\\,{step}))" if step > 1 else "")
    filters = [f"select={chosen},setpts=N/FRAME_RATE/TB"] if start or step > 1 else []
    filters += [f"scale={size[0]}:{size[1]}"] if size is not None else []
    if filters:
        command += ["-vf", ",".join(filters)]
    if frames is not None:
        command += ["-frames:v", str(frames)]
    command += ["-an", "-c:v", "libx264", "-crf", "16", "-preset", "fast", "-pix_fmt", "yuv420p", str(dest)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg could not make {dest.name}: {result.stderr.strip()[-500:]}")
    return dest


def looped_video(source: Path, dest: Path, *, frames: int) -> Path:
    """source played over and over, cut to `frames` frames, stream-copied (nothing re-encoded): a long real input
    for benches that need one."""
    subprocess.run([find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-stream_loop", "-1",
                    "-i", str(source), "-frames:v", str(frames), "-c", "copy", str(dest)], check=True)
    return dest


def quiet_console() -> None:
    """TensorFlow's and absl's log lines off the console and the logs, as the commands keep them."""
    setup_logging(debug=False)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (lib.tables); floats get 2 decimals unless already formatted as strings."""
    return "\n".join(markdown_table(headers, rows))


def write_json(path: Path, obj: Any) -> None:
    """Write bench results as indented JSON, atomically."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(Path(path), obj)


def run_faceswap(*args: str | Path, log: Path) -> None:
    """Run faceswap.py as a user would; its output goes to log, shown if it fails."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    with log.open("a") as out:
        done = subprocess.run([sys.executable, str(ROOT / "faceswap.py"), *map(str, args)], cwd=ROOT, env=env,
                              stdout=out, stderr=out, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"faceswap {' '.join(map(str, args))} failed:\n{log.read_text()[-3000:]}")
