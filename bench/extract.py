"""Benchmark `extract`: frames/s and faces/s per detector, time per stage, start-up and peak memory, and how
well decoding and writing hide behind detection: end-to-end time / (detect + align time), target <= 1.15.

    python -m bench.extract [--detectors mtcnn dlib-hog dlib-cnn] [--frames N] [--quick] [--repeat N]
                            [--json PATH]

Runs on peer/test.mp4 (426x240) and a 1280x720 copy made in a temporary folder. Each detector and video is
measured in its own process, so its start-up time and peak memory are its own. Stages are timed by calling
the components alone on the same frames (warm, models built); end-to-end is scripts.extract.run itself.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

from bench.common import (
    DATA,
    ROOT,
    Timing,
    describe_machine,
    format_table,
    machine,
    make_video,
    peak_rss_mb,
    quiet_console,
    reset_peak_rss,
    timed,
    write_json,
)
from lib.facefile import save_faces
from lib.media import FrameSource, SourceFrame
from lib.types import DetectedFace, Detection
from lib.video import probe_video
from plugins.extract.align import AlignOptions
from plugins.extract.detect import DetectOptions
from plugins.extract.pipeline import FaceFinder
from scripts.extract import run as extract_run
from scripts.extract.args import Config

DETECTORS = ("mtcnn", "dlib-hog", "dlib-cnn")
SOURCE = DATA / "peer" / "test.mp4"
HD = (1280, 720)
SLOW_FRAMES = {"dlib-cnn": 10}  # 1.5-5 s per frame on a 2-core CPU: a few frames tell the rate
QUICK_FRAMES, QUICK_SLOW_FRAMES = 16, 2
TARGET_RATIO = 1.15


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.extract", description=__doc__.split("\n\n")[0])
    parser.add_argument("--detectors", nargs="+", choices=DETECTORS, default=list(DETECTORS),
                        help="detectors to measure (default: all)")
    parser.add_argument("--frames", type=int, default=None,
                        help="first N frames of each video (default: all; dlib-cnn: "
                             f"{SLOW_FRAMES['dlib-cnn']})")
    parser.add_argument("--quick", action="store_true",
                        help=f"small video only, {QUICK_FRAMES} frames ({QUICK_SLOW_FRAMES} for dlib-cnn)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="time each stage and the end-to-end run N times and keep the fastest (default: 1)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    parser.add_argument("--input", type=Path, default=SOURCE, help=f"source video (default: {SOURCE.name})")
    parser.add_argument("--worker", nargs=3, metavar=("DETECTOR", "VIDEO", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.frames is not None and args.frames < 1:
        parser.error("--frames must be 1 or more")
    if args.repeat < 1:
        parser.error("--repeat must be 1 or more")
    return args


# --- one detector on one video, in a process of its own ---------------------------------------------------

def measure(detector: str, video: Path, work: Path, repeat: int = 1) -> dict[str, Any]:
    """Start-up, end-to-end and per-stage timings of one detector on one video; with repeat > 1 the
    fastest of each (end-to-end and stages alternate, so a busy spell of the machine hits both)."""

    cfg = Config(input=video, output=work / "faces", alignments=work / "alignments.json", detector=detector)
    with timed() as startup:  # the same construction scripts.extract.run does
        finder = FaceFinder(cfg.detector, DetectOptions(cfg.threshold, cfg.detect_min_size, cfg.upsample),
                            "dlib68", AlignOptions(cfg.refeed))
    startup_rss = peak_rss_mb()
    _warm_up(finder, video)

    # End-to-end first, while the process holds only the models, so its peak memory is extract's own.
    reset_peak_rss()
    runs: list[dict[str, Timing]] = []
    extract_peak_rss = 0.0
    for _ in range(repeat):
        end_to_end, find_in_end_to_end, faces_written = _end_to_end(cfg, finder)
        if not runs:
            extract_peak_rss = peak_rss_mb()
            _decode(video)  # warm the page cache and ffmpeg's start
        decode, frames = _decode(video)
        images = [frame.image for frame in frames if frame.image is not None]
        detect, detections = _detect(finder, images)
        align, found = _align(finder, images, detections)
        write = _write(cfg, frames, found, work / "faces_alone")
        runs.append({"decode": decode, "detect": detect, "align": align, "write": write,
                     "end_to_end": end_to_end, "find_in_end_to_end": find_in_end_to_end})
    best = {key: vars(min((run[key] for run in runs), key=lambda t: t.wall)) for key in runs[0]}
    # The share of end-to-end spent in detect+align belongs to the end-to-end run that was kept.
    best["find_in_end_to_end"] = vars(min(runs, key=lambda run: run["end_to_end"].wall)["find_in_end_to_end"])
    height, width = images[0].shape[:2]
    return {
        "detector": detector, "video": video.name, "width": width, "height": height,
        "frames": len(images), "faces": sum(map(len, found)), "faces_end_to_end": faces_written,
        "batch_size": finder.batch_size, "repeat": repeat, "startup": vars(startup),
        "startup_rss_mb": round(startup_rss, 1), **best,
        "peak_rss_mb": round(extract_peak_rss, 1), "bench_peak_rss_mb": round(peak_rss_mb(), 1),
    }


def _warm_up(finder: FaceFinder, video: Path) -> None:
    """One full batch and one single frame through detector and aligner (first calls build kernels)."""

    images = []
    for frame in FrameSource(video):
        if frame.image is not None:
            images.append(frame.image)
        if len(images) == finder.batch_size:
            break
    finder.find(images)
    if len(images) > 1:  # a short last batch
        finder.find(images[:1])


def _end_to_end(cfg: Config, finder: FaceFinder) -> tuple[Timing, Timing, int]:
    """scripts.extract.run as the command runs it, but handed the finder already built (start-up is
    measured on its own). Also returns the wall time spent inside FaceFinder.find during the run: the
    rest of the main thread's time is waiting for frames or for room in the writer's queue."""


    inside = Timing()
    find = finder.find

    def timed_find(frames: list) -> list[list[DetectedFace]]:
        with timed() as call:
            found = find(frames)
        inside.wall += call.wall
        return found

    with mock.patch.object(extract_run, "FaceFinder", lambda *_args, **_kwargs: finder), \
            mock.patch.object(finder, "find", timed_find), timed() as timing:
        summary = extract_run.run(cfg)
    return timing, inside, summary.faces_written


def _decode(video: Path) -> tuple[Timing, list[SourceFrame]]:

    with timed() as timing:
        frames = list(FrameSource(video))
    return timing, frames


def _detect(finder: FaceFinder, images: list) -> tuple[Timing, list[list[Detection]]]:
    """The detector alone, in the pipeline's batch size."""
    size = finder.batch_size
    detections: list[list[Detection]] = []
    with timed() as timing:
        for start in range(0, len(images), size):
            detections.extend(finder.detector.detect(images[start:start + size]))
    return timing, detections


def _align(finder: FaceFinder, images: list, detections: list[list[Detection]]
           ) -> tuple[Timing, list[list[DetectedFace]]]:
    """The aligner alone on the detections, ordered as FaceFinder.find orders them."""

    found = []
    with timed() as timing:
        for image, per_frame in zip(images, detections):
            per_frame = sorted(per_frame, key=lambda d: (d.box.left, d.box.top))
            landmarks = finder.aligner.align(image, per_frame)
            found.append([DetectedFace(d.box, d.score, points) for d, points in zip(per_frame, landmarks)])
    return timing, found


def _write(cfg: Config, frames: list[SourceFrame], found: list[list[DetectedFace]], folder: Path) -> Timing:
    """Warp and write every face as extract's writer thread does, on this thread alone."""

    folder.mkdir(parents=True, exist_ok=True)
    readable = [frame for frame in frames if frame.image is not None]
    with timed() as timing:
        for frame, faces in zip(readable, found):
            save_faces(folder, cfg.input.name, frame, faces, cfg.size)
    return timing


def worker(detector: str, video: Path, result: Path, repeat: int) -> None:
    with tempfile.TemporaryDirectory(prefix="faceswap-bench-work-") as work:
        write_json(result, measure(detector, video, Path(work), repeat))


# --- the driver: videos, one process per run, the report ---------------------------------------------------

def frame_cap(detector: str, args: argparse.Namespace) -> int | None:
    """How many frames this detector gets (None: all)."""
    if args.frames is not None:
        return int(args.frames)
    if args.quick:
        return QUICK_SLOW_FRAMES if detector in SLOW_FRAMES else QUICK_FRAMES
    return SLOW_FRAMES.get(detector)


def run_one(detector: str, video: Path, tmp: Path, repeat: int) -> dict[str, Any]:
    """Measure in a fresh process; its log (progress bars, TF noise) is shown only if it fails."""
    result = tmp / f"{detector}_{video.stem}.json"
    log = tmp / f"{detector}_{video.stem}.log"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    with log.open("w") as stderr:
        command = [sys.executable, "-m", "bench.extract", "--worker", detector, str(video), str(result),
                   "--repeat", str(repeat)]
        done = subprocess.run(command, cwd=ROOT, env=env, stdout=stderr, stderr=stderr, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{detector} on {video.name} failed:\n{log.read_text()[-3000:]}")
    measured: dict[str, Any] = json.loads(result.read_text())
    return measured


def derive(r: dict[str, Any]) -> dict[str, Any]:
    """Rates and the overlap ratio from one run's raw timings."""
    core = r["detect"]["wall"] + r["align"]["wall"]
    e2e = r["end_to_end"]["wall"]
    return {
        "detect_align_fps": r["frames"] / core,
        "end_to_end_fps": r["frames"] / e2e,
        "end_to_end_faces_per_s": r["faces_end_to_end"] / e2e,
        "ratio": e2e / core,
        "stages_sum_s": sum(r[k]["wall"] for k in ("decode", "detect", "align", "write")),
        "detect_align_cores_busy": (r["detect"]["cpu"] + r["align"]["cpu"]) / core,
        "end_to_end_cores_busy": r["end_to_end"]["cpu"] / e2e,
        "main_thread_waiting_s": e2e - r["find_in_end_to_end"]["wall"],
    }


def report(results: list[dict[str, Any]], info: dict[str, Any]) -> str:
    rates, stages = [], []
    for r in results:
        d = r["derived"]
        name, video = r["detector"], f"{r['width']}x{r['height']}"
        rates.append([name, video, r["frames"], r["faces"], r["startup"]["wall"], d["detect_align_fps"],
                      d["end_to_end_fps"], d["end_to_end_faces_per_s"], f"{d['ratio']:.3f}",
                      "yes" if d["ratio"] <= TARGET_RATIO else "NO", f"{r['startup_rss_mb']:.0f}",
                      f"{r['peak_rss_mb']:.0f}"])
        ms = [1000 * seconds / r["frames"] for seconds in (
            *(r[k]["wall"] for k in ("decode", "detect", "align", "write")), d["stages_sum_s"],
            r["end_to_end"]["wall"], r["find_in_end_to_end"]["wall"], d["main_thread_waiting_s"])]
        busy = f"{d['detect_align_cores_busy']:.2f} / {d['end_to_end_cores_busy']:.2f} / " \
               f"{r['end_to_end']['machine_busy']:.2f}"
        stages.append([name, video, *ms, busy])
    return "\n".join([
        describe_machine(info),
        "",
        "Rates (models built and warm; start-up = building detector + aligner, excluded from the rates)",
        format_table(["detector", "video", "frames", "faces", "start-up s", "detect+align frames/s",
                      "end-to-end frames/s", "end-to-end faces/s", "e2e / (detect+align)",
                      f"<= {TARGET_RATIO}", "RSS after start-up MB", "peak RSS MB"], rates),
        "",
        "Stages alone, ms per frame (wall); end-to-end (scripts.extract.run), the part of it spent in "
        "detect+align, and the rest (main thread waiting: start-up, first frames, last writes, alignments "
        "file); cores busy: detect+align alone (this process) / end-to-end (this process) / end-to-end "
        f"(whole machine, of {info['cores']}: other users' work included)",
        format_table(["detector", "video", "decode", "detect", "align", "write", "sum of stages",
                      "end-to-end", "e2e: detect+align", "e2e: waiting", "cores busy"], stages),
    ])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_console()
    if args.worker:
        detector, video, result = args.worker
        worker(detector, Path(video), Path(result), args.repeat)
        return 0

    info = machine()
    results = []
    with tempfile.TemporaryDirectory(prefix="faceswap-bench-") as tmp_name:
        tmp = Path(tmp_name)
        videos = [args.input] if args.quick else [args.input, make_video(args.input, tmp / "hd.mp4", size=HD)]
        for video in videos:
            total = probe_video(video).frame_count
            for detector in args.detectors:
                cap = frame_cap(detector, args)
                clip = video
                if cap is not None and cap < total:
                    clip = tmp / f"{video.stem}_{cap}.mp4"
                    if not clip.exists():
                        make_video(video, clip, frames=cap)
                print(f"{detector} on {video.name} ({cap or total} frames)...", file=sys.stderr, flush=True)
                measured = run_one(detector, clip, tmp, args.repeat)
                measured["derived"] = derive(measured)
                results.append(measured)
    info["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(report(results, info))
    if args.json:
        write_json(args.json, {"machine": info, "target_ratio": TARGET_RATIO, "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
