"""Memory against input length: extract and convert on the bundled clip of A looped to 1,000, 5,000 and 20,000
frames (a feature film is 150,000), each run in a process of its own, its peak resident memory read when it ends.

    python -m bench.long [--frames 1000 5000 20000] [--json PATH]

A flat column is the promise: nothing that grows with the number of frames is kept (frames, faces and swapped
frames stream through bounded queues; the alignments file is the one thing that grows, a few hundred bytes a
frame). convert uses extract's alignments file and a small model trained here for a minute (its quality does not
matter: the work per frame is the same). The peak is the largest process's, faceswap or the ffmpeg it starts.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    DATA,
    ROOT,
    describe_machine,
    format_table,
    looped_video,
    machine,
    run_faceswap,
    write_json,
)

CLIP = DATA / "video" / "A_obama_kenburns.mp4"
OTHER = DATA / "video" / "B_biden_kenburns.mp4"
MEASURE = ("import resource, subprocess, sys\n"
           "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
           "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
           "sys.stderr.write(done.stderr[-2000:])\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.long", description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    return parser.parse_args(argv)


def measured(*args: str | Path) -> tuple[float, float]:
    """Run faceswap.py ARGS in a process of its own; (seconds, peak RSS of its largest process in MB)."""
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, str(ROOT / "faceswap.py"),
                           *map(str, args)], cwd=ROOT, capture_output=True, text=True, check=False)
    code, peak_kb = (int(word) for word in done.stdout.split())
    if code != 0:
        raise RuntimeError(f"faceswap {' '.join(map(str, args))} failed:\n{done.stderr}")
    return time.perf_counter() - began, peak_kb / 1024


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = machine()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="faceswap-long-") as folder:
        work = Path(folder)
        for side, clip in (("A", CLIP), ("B", OTHER)):
            run_faceswap("extract", "-i", clip, "-o", work / f"faces_{side}", "-p", work / f"{side}.json",
                         log=work / "setup.log")
        run_faceswap("train", "-A", work / "faces_A", "-B", work / "faces_B", "-m", work / "model", "--recipe",
                     "cpu", "--iterations", "20", "--preview-every", "0", log=work / "setup.log")
        for frames in args.frames:
            video = looped_video(CLIP, work / f"A_{frames}.mp4", frames=frames)
            alignments = work / f"A_{frames}.json"
            extract_s, extract_mb = measured("extract", "-i", video, "-o", work / f"faces_{frames}", "-p",
                                             alignments)
            convert_s, convert_mb = measured("convert", "-i", video, "-p", alignments, "-m", work / "model", "-o",
                                             work / f"out_{frames}.mp4")
            rows.append({"frames": frames, "extract_seconds": round(extract_s, 1), "extract_peak_mb": extract_mb,
                         "convert_seconds": round(convert_s, 1), "convert_peak_mb": convert_mb,
                         "alignments_mb": alignments.stat().st_size / 2**20})
            print(f"{frames} frames: extract {extract_s:.0f} s, peak {extract_mb:.0f} MB; "
                  f"convert {convert_s:.0f} s, "
                  f"peak {convert_mb:.0f} MB", flush=True)
            for path in (work / f"faces_{frames}").glob("*.png"):
                path.unlink()  # faces of the long runs are not needed again: keep /tmp small
    first = rows[0]
    table = [[row["frames"], row["extract_seconds"], f"{row['extract_peak_mb']:.0f}",
              f"{row['extract_peak_mb'] / first['extract_peak_mb']:.2f}", row["convert_seconds"],
              f"{row['convert_peak_mb']:.0f}", f"{row['convert_peak_mb'] / first['convert_peak_mb']:.2f}",
              f"{row['alignments_mb']:.1f}"] for row in rows]
    print(describe_machine(info))
    print(format_table(["frames", "extract s", "extract peak MB", "× first", "convert s", "convert peak MB",
                        "× first", "alignments MB"], table))
    if args.json is not None:
        write_json(args.json, {"machine": info, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
