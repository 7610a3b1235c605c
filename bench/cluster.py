"""Benchmark `--cluster`: extract and convert frames/s in one process and on a local Ray cluster of 1 and 2
workers, on the same clip, measured in one run; and every TCP socket the cluster runs opened (all on 127.0.0.1).

    python -m bench.cluster [--input VIDEO] [--frames N] [--workers 1 2] [--detector dlib-hog] [--json PATH]

Each run is the real CLI in its own process, timed from start to exit (start-up included: a cluster costs its
start, ~10-15 s here, and each worker loads its models once). overhead = local:1 time / one-process time;
speed-up = one-process time / local:N time. The convert model is a tiny one trained here (its quality does not
change the speed of convert).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import DATA, ROOT, describe_machine, format_table, machine, make_video, run_faceswap, write_json
from lib.video import probe_video

SOURCE = DATA / "peer" / "test.mp4"
FACES_B = DATA / "video" / "B_biden_kenburns.mp4"
LOOPBACK = ("127.0.0.1", "[::ffff:127.0.0.1]", "[::1]")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, default=SOURCE,
                        help="a video of one face (default: tests/data/peer/test.mp4, 91 frames; the longer "
                             "franck.mp4 of ../shared/fetch-media.sh gives steadier numbers)")
    parser.add_argument("--frames", type=int, default=None, help="its first N frames (default: all)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="local cluster sizes (default 1 2)")
    parser.add_argument("--detector", default="dlib-hog", help="extract's detector (default: dlib-hog)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    return parser.parse_args(argv)


class Sockets:
    """The TCP sockets (`ss -tnpaH`) of a process and its descendants, listed every 0.3 s while it runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.lines: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _family(self) -> set[int]:
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(parent, []).append(int(entry.name))
        found, todo = {self.pid}, [self.pid]
        while todo:
            for child in children.get(todo.pop(), []):
                if child not in found:
                    found.add(child)
                    todo.append(child)
        return found

    def _watch(self) -> None:
        while not self._stop.is_set():
            family = self._family()
            listing = subprocess.run(["ss", "-tnpaH"], capture_output=True, text=True, check=False).stdout
            self.lines.update(line for line in listing.splitlines() if any(f"pid={p}," in line for p in family))
            self._stop.wait(0.3)

    def stop(self) -> dict[str, Any]:
        """How many sockets were seen, and how many had an address other than 127.0.0.1 at either end."""
        self._stop.set()
        self._thread.join()
        outside = []
        for line in self.lines:
            state, _, _, local, peer = line.split()[:5]
            if not local.startswith(LOOPBACK) or not (peer.startswith(LOOPBACK) or state == "LISTEN"):
                outside.append(line)
        return {"sockets": len(self.lines), "not_loopback": len(outside), "not_loopback_lines": outside}


def timed_run(args: list[str | Path], log: Path) -> dict[str, Any]:
    """Run faceswap.py ARGS, timing it and watching its sockets."""
    began = time.monotonic()
    with log.open("a") as out:
        process = subprocess.Popen([sys.executable, str(ROOT / "faceswap.py"), *map(str, args)], cwd=ROOT,
                                   stdout=out, stderr=out)
        sockets = Sockets(process.pid)
        code = process.wait()
    seen = sockets.stop()
    if code != 0:
        raise RuntimeError(f"faceswap {' '.join(map(str, args))} failed:\n{log.read_text()[-3000:]}")
    return {"seconds": round(time.monotonic() - began, 2), **seen}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = machine()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="faceswap-bench-cluster-") as tmp_name:
        tmp = Path(tmp_name)
        log = tmp / "log.txt"
        clip = make_video(args.input, tmp / "clip.mp4", frames=args.frames) if args.frames else args.input
        frames = probe_video(clip).frame_count
        print(f"{clip.name}: {frames} frames; a tiny model for convert...", file=sys.stderr, flush=True)
        alignments = tmp / "clip.json"
        run_faceswap("extract", "-i", clip, "-o", tmp / "faces_a", "-p", alignments, "-D", "dlib-hog", log=log)
        run_faceswap("extract", "-i", FACES_B, "-o", tmp / "faces_b", "-p", tmp / "b.json", "-D", "dlib-hog",
                     log=log)
        run_faceswap("train", "-A", tmp / "faces_a", "-B", tmp / "faces_b", "-m", tmp / "model", "--model",
                     "lightweight", "--iterations", "4", "--batch-size", "4", "--preview-every", "0", log=log)
        for how in [None, *args.workers]:
            cluster = [] if how is None else ["--cluster", f"local:{how}"]
            name = "one process" if how is None else f"local:{how}"
            for job, command in (
                    ("extract", ["extract", "-i", clip, "-o", tmp / f"x{how}", "-p", tmp / f"x{how}.json",
                                 "-D", args.detector]),
                    ("convert", ["convert", "-i", clip, "-o", tmp / f"c{how}.mp4", "-m", tmp / "model",
                                 "-p", alignments])):
                print(f"{job}, {name}...", file=sys.stderr, flush=True)
                measured = timed_run([*command, *cluster], log)
                results.append({"job": job, "how": name, "workers": how or 0, "frames": frames, **measured,
                                "frames_per_second": round(frames / measured["seconds"], 2)})
    info["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(report(results, info))
    if args.json:
        write_json(args.json, {"machine": info, "input": str(args.input), "frames": args.frames,
                               "results": results})
    return 0


def report(results: list[dict[str, Any]], info: dict[str, Any]) -> str:
    rows = []
    for result in results:
        plain = next(r for r in results if r["job"] == result["job"] and r["workers"] == 0)
        one = next((r for r in results if r["job"] == result["job"] and r["workers"] == 1), None)
        ratio = plain["seconds"] / result["seconds"]
        overhead = f"{result['seconds'] / plain['seconds']:.2f}x" if result is one else ""
        rows.append([result["job"], result["how"], result["frames"], f"{result['seconds']:.1f}",
                     f"{result['frames_per_second']:.2f}", f"{ratio:.2f}x", overhead,
                     f"{result['sockets']} ({result['not_loopback']} not 127.0.0.1)"])
    table = format_table(["job", "run", "frames", "seconds", "frames/s", "speed-up vs one process",
                          "overhead (local:1 / one process)", "TCP sockets"], rows)
    return f"{describe_machine(info)}\n\n{table}"


if __name__ == "__main__":
    sys.exit(main())
