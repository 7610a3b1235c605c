"""Benchmark `extract` for every detector and aligner pair: frames/s end to end at 360p and 720p, recall on the
hand-checked photos upright and turned 45 and 90 degrees, 68-point landmark error, and landmark jitter on a still.

    python -m bench.extract [--pairs retinaface/mediapipe mtcnn/dlib68 ...] [--frames N] [--quick] [--repeat N]
                            [--json PATH]

Speed: peer/test.mp4 (a real portrait, 91 frames) scaled to 640x360 and 1280x720, each pair in a process of its own
(its start-up and memory its own): scripts.extract.run end to end with the models built and warm, and the detector
and aligner alone on the same frames. Recall: tests/data/landmarks (4 photos, 18 faces with 68 hand-checked points)
as they are and turned on a canvas that holds them; a true face is found when a found face's 68 points are centred
within half an eye distance of its own and its eye distance is within a factor 2. Landmark error: the mean
distance of the 68 points from the truth over the eye distance (upright photos, found faces). Jitter: the two Ken
Burns clips (a real photo slowly zoomed and panned); the camera's motion is measured from the pixels (OpenCV's ECC,
affine, each frame against the first), every frame's landmarks are taken back through it into the first frame, and
jitter is their RMS spread about their own mean, over the eye distance: what the landmarks move that the face did
not.
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

import cv2
import numpy as np
import numpy.typing as npt

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
from lib.align import eye_centres, invert, transform_points
from lib.facefile import save_faces
from lib.image import read_image
from lib.media import FrameSource, SourceFrame
from lib.types import DetectedFace, Detection, Frame, Landmarks
from lib.video import probe_video
from plugins.extract.align import DEFAULT_ALIGNER
from plugins.extract.align import REGISTRY as ALIGNERS
from plugins.extract.detect import DEFAULT_DETECTOR
from plugins.extract.detect import REGISTRY as DETECTORS
from plugins.extract.pipeline import FaceFinder
from plugins.extract.rotate import turn
from scripts.derive_template import GROUND_TRUTH, read_ground_truth
from scripts.extract import extractor
from scripts.extract import run as extract_run
from scripts.extract.args import Config

PAIRS = tuple(f"{detector}/{aligner}" for detector in DETECTORS for aligner in ALIGNERS)
DEFAULT_PAIR = f"{DEFAULT_DETECTOR}/{DEFAULT_ALIGNER}"
BASELINE_PAIR = "mtcnn/dlib68"  # what extract used before retinaface/mediapipe
SOURCE = DATA / "peer" / "test.mp4"
SIZES = {"360p": (640, 360), "720p": (1280, 720)}
SLOW = {"dlib-cnn": 8}  # frames per clip: 1.5-10 s a frame on a 2-core CPU; a few frames tell the rate
QUICK_FRAMES, QUICK_SLOW_FRAMES = 16, 2
STILLS = (DATA / "video" / "A_obama_kenburns.mp4", DATA / "video" / "B_biden_kenburns.mp4")
TURNS = (0, 45, 90)
NEAR, SCALE = 0.5, 2.0  # a true face is found: centre within NEAR eye distances, eye distance within SCALE


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.extract", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", nargs="+", choices=PAIRS, default=list(PAIRS),
                        help="detector/aligner pairs to measure (default: all)")
    parser.add_argument("--frames", type=int, default=None,
                        help=f"first N frames of each video (default: all; dlib-cnn: {SLOW['dlib-cnn']})")
    parser.add_argument("--quick", action="store_true",
                        help=f"360p only, {QUICK_FRAMES} frames ({QUICK_SLOW_FRAMES} for dlib-cnn), one still "
                             "clip")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each pair end to end N times and keep the fastest (a busy machine's spells hit "
                             "single runs; default: 1)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    parser.add_argument("--input", type=Path, default=SOURCE, help=f"source video (default: {SOURCE.name})")
    parser.add_argument("--worker", nargs=4, metavar=("KIND", "PAIR", "INPUT", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.frames is not None and args.frames < 1:
        parser.error("--frames must be 1 or more")
    if args.repeat < 1:
        parser.error("--repeat must be 1 or more")
    return args


def build(pair: str) -> FaceFinder:
    detector, aligner = pair.split("/")
    return FaceFinder(detector, aligner=aligner)


# --- speed: one pair on one video, in a process of its own -----------------------------------------------------

def measure_speed(pair: str, video: Path, work: Path, repeat: int = 1) -> dict[str, Any]:
    """Start-up, end-to-end and per-stage timings of one pair on one video; the fastest of repeat runs of each."""
    detector, aligner = pair.split("/")
    cfg = Config(input=video, output=work / "faces", alignments=work / "alignments.json", detector=detector,
                 aligner=aligner)
    with timed() as startup:  # the same construction scripts.extract.run does
        finder = FaceFinder(cfg.detector, cfg.detect_options, cfg.aligner, cfg.align_options)
    startup_rss = peak_rss_mb()
    _warm_up(finder, video)
    reset_peak_rss()
    end_to_end, faces_written = _end_to_end(cfg, finder)
    extract_peak_rss = peak_rss_mb()
    _decode(video)  # warm the page cache and ffmpeg's start
    runs: list[dict[str, Timing]] = []
    for run in range(repeat):  # end to end and the stages alternate: a busy spell of the machine hits both
        if run:
            end_to_end, _ = _end_to_end(cfg, finder)
        decode, frames = _decode(video)
        images = [frame.image for frame in frames if frame.image is not None]
        detect, detections = _detect(finder, images)
        align, found = _align(finder, images, detections)
        write = _write(cfg, frames, found, work / "faces_alone")
        runs.append({"end_to_end": end_to_end, "decode": decode, "detect": detect, "align": align, "write": write})
    best = {key: vars(min((run[key] for run in runs), key=lambda timing: timing.wall)) for key in runs[0]}
    height, width = images[0].shape[:2]
    return {
        "pair": pair, "video": video.name, "width": width, "height": height, "frames": len(images),
        "faces": sum(map(len, found)), "faces_end_to_end": faces_written, "startup": vars(startup),
        "startup_rss_mb": round(startup_rss, 1), "peak_rss_mb": round(extract_peak_rss, 1), "repeat": repeat,
        **best,
    }


def _warm_up(finder: FaceFinder, video: Path) -> None:
    """A few frames through detector and aligner (first calls build kernels)."""
    for index, frame in enumerate(FrameSource(video)):
        if frame.image is not None:
            finder.find([frame.image])
        if index >= 2:
            break


def _end_to_end(cfg: Config, finder: FaceFinder) -> tuple[Timing, int]:
    """scripts.extract.run as the command runs it, handed the finder already built (start-up is measured alone)."""
    with mock.patch.object(extractor, "FaceFinder", lambda *_args, **_kwargs: finder), timed() as timing:
        summary = extract_run.run(cfg)
    return timing, summary.faces_written


def _decode(video: Path) -> tuple[Timing, list[SourceFrame]]:
    with timed() as timing:
        frames = list(FrameSource(video))
    return timing, frames


def _detect(finder: FaceFinder, images: list[Frame]) -> tuple[Timing, list[list[Detection]]]:
    """The detector alone, in the pipeline's batch size (no rotation search: frames here all hold a face)."""
    size = finder.batch_size
    detections: list[list[Detection]] = []
    with timed() as timing:
        for start in range(0, len(images), size):
            detections.extend(finder.detector.detect(images[start:start + size]))
    return timing, detections


def _align(finder: FaceFinder, images: list[Frame], detections: list[list[Detection]]
           ) -> tuple[Timing, list[list[DetectedFace]]]:
    with timed() as timing:
        found = [finder.aligner.faces(image, per_frame) for image, per_frame in zip(images, detections)]
    return timing, found


def _write(cfg: Config, frames: list[SourceFrame], found: list[list[DetectedFace]], folder: Path) -> Timing:
    """Warp and write every face as extract's writer thread does, on this thread alone."""
    folder.mkdir(parents=True, exist_ok=True)
    readable = [frame for frame in frames if frame.image is not None]
    with timed() as timing:
        for frame, faces in zip(readable, found):
            save_faces(folder, cfg.input.name, frame, faces, cfg.size)
    return timing


# --- quality: recall, landmark error, jitter ---------------------------------------------------------------------

def interocular(points: Landmarks) -> float:
    return float(np.linalg.norm(np.diff(eye_centres(points), axis=0)))


def nme(found: Landmarks, truth: Landmarks) -> float:
    """Mean point distance over the true eye distance."""
    return float(np.linalg.norm(found - truth, axis=1).mean() / interocular(truth))


def match(found: list[DetectedFace], truth: list[Landmarks]) -> tuple[list[int | None], int]:
    """For each true face the found face that is it (None: missed), greedy by distance; and how many found faces
    are none of them (false positives)."""
    pairs = []
    for t, points in enumerate(truth):
        eyes = interocular(points)
        for f, face in enumerate(found):
            distance = float(np.linalg.norm(face.landmarks.mean(0) - points.mean(0))) / eyes
            ratio = interocular(face.landmarks) / eyes
            if distance < NEAR and 1 / SCALE < ratio < SCALE:
                pairs.append((distance, t, f))
    matched: list[int | None] = [None] * len(truth)
    used: set[int] = set()
    for _, t, f in sorted(pairs):
        if matched[t] is None and f not in used:
            matched[t] = f
            used.add(f)
    return matched, len(found) - len(used)


def ground_truth_photos() -> list[tuple[Frame, list[Landmarks]]]:
    """The hand-checked photos and their faces' 68 points."""
    photos = read_ground_truth(DATA / GROUND_TRUTH)
    return [(read_image(DATA / "landmarks" / name), [points for _, points in photo.faces])
            for name, photo in photos.items()]


def turned_photo(image: Frame, faces: list[Landmarks], degrees: float) -> tuple[Frame, list[Landmarks]]:
    """The photo turned by degrees (counter-clockwise) on a canvas that holds all of it, and its faces with it."""
    turned, matrix = turn(image, degrees)
    return turned, [transform_points(matrix, points) for points in faces]


def recall_and_error(finder: FaceFinder, degrees: float) -> dict[str, Any]:
    """Recall, false positives and NME (68 points against the truth) on the ground-truth photos turned by
    degrees."""
    hits, total, false_positives, errors = 0, 0, 0, []
    for image, faces in ground_truth_photos():
        image, faces = turned_photo(image, faces, degrees)
        found = finder.find([image])[0]
        matched, extra = match(found, faces)
        false_positives += extra
        total += len(faces)
        for points, index in zip(faces, matched):
            if index is not None:
                hits += 1
                errors.append(nme(found[index].landmarks, points))
    return {"degrees": degrees, "recall": hits / total, "found": hits, "faces": total,
            "false_positives": false_positives, "nme_mean": float(np.mean(errors)) if errors else None,
            "nme_max": float(np.max(errors)) if errors else None}


def camera_motion(frames: list[Frame]) -> npt.NDArray[np.float64]:
    """(N, 2, 3) affine matrices taking the first frame's pixels to each frame's, measured from the pixels (ECC,
    the border eighth left out; each frame starts from the one before)."""
    grey = [cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32) for frame in frames]
    height, width = grey[0].shape
    inside = np.zeros((height, width), np.uint8)
    inside[height // 8:-height // 8, width // 8:-width // 8] = 1
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 200, 1e-6)
    found = [np.eye(2, 3, dtype=np.float32)]
    for image in grey[1:]:
        _, warp = cv2.findTransformECC(grey[0], image, found[-1].copy(), cv2.MOTION_AFFINE, criteria, inside, 5)
        found.append(np.asarray(warp, np.float32))
    return np.asarray(found, np.float64)


def jitter(points: list[Landmarks], motion: npt.NDArray[np.float64]) -> float:
    """RMS spread of the points, taken back into the first frame through the camera's motion, about their mean;
    over the eye distance."""
    back = np.array([transform_points(invert(matrix), p) for matrix, p in zip(motion, points)])
    return float(np.sqrt(((back - back.mean(0)) ** 2).sum(2).mean()) / interocular(back.mean(0)))


def still_jitter(finder: FaceFinder, clip: Path) -> float | None:
    """Jitter of the 68 points over a Ken Burns clip; None when a frame has no face or several."""
    frames = [frame.image for frame in FrameSource(clip) if frame.image is not None]
    found = [finder.find([frame])[0] for frame in frames]
    if any(len(faces) != 1 for faces in found):
        return None
    return jitter([faces[0].landmarks for faces in found], camera_motion(frames))


def measure_quality(pair: str, quick: bool) -> dict[str, Any]:
    finder = build(pair)
    turns = [recall_and_error(finder, degrees) for degrees in TURNS]
    clips = STILLS[:1] if quick else STILLS
    jitters = {clip.stem: still_jitter(finder, clip) for clip in clips}
    known = [value for value in jitters.values() if value is not None]
    return {"pair": pair, "turns": turns, "jitter": jitters,
            "jitter_mean": float(np.mean(known)) if len(known) == len(jitters) else None}


def worker(kind: str, pair: str, source: str, result: Path, repeat: int) -> None:
    if kind == "speed":
        with tempfile.TemporaryDirectory(prefix="faceswap-bench-work-") as work:
            write_json(result, measure_speed(pair, Path(source), Path(work), repeat))
    else:
        write_json(result, measure_quality(pair, source == "quick"))


# --- the driver -------------------------------------------------------------------------------------------------

def run_worker(kind: str, pair: str, source: str, tmp: Path, repeat: int = 1) -> dict[str, Any]:
    """Measure in a fresh process; its log (progress bars, TF noise) is shown only if it fails."""
    stem = f"{kind}_{pair.replace('/', '_')}_{Path(source).stem}"
    result, log = tmp / f"{stem}.json", tmp / f"{stem}.log"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    with log.open("w") as out:
        command = [sys.executable, "-m", "bench.extract", "--worker", kind, pair, source, str(result), "--repeat",
                   str(repeat)]
        done = subprocess.run(command, cwd=ROOT, env=env, stdout=out, stderr=out, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} of {pair} on {source} failed:\n{log.read_text()[-3000:]}")
    measured: dict[str, Any] = json.loads(result.read_text())
    return measured


def frame_cap(pair: str, args: argparse.Namespace) -> int | None:
    """How many frames this pair gets (None: all)."""
    detector = pair.split("/", maxsplit=1)[0]
    if args.frames is not None:
        return int(args.frames)
    if args.quick:
        return QUICK_SLOW_FRAMES if detector in SLOW else QUICK_FRAMES
    return SLOW.get(detector)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


def summary_rows(speed: list[dict[str, Any]], quality: list[dict[str, Any]], cpu: str) -> list[list[object]]:
    """One row per pair: frames/s at each size, recall upright / 45 / 90, NME, jitter, the CPU."""
    rows = []
    for q in quality:
        rates = {r["video_size"]: r["frames"] / r["end_to_end"]["wall"] for r in speed if r["pair"] == q["pair"]}
        recall = {t["degrees"]: t for t in q["turns"]}
        upright = recall[0]
        rows.append([q["pair"] + (" (default)" if q["pair"] == DEFAULT_PAIR else ""),
                     *(f"{rates[size]:.1f}" if size in rates else "-" for size in SIZES),
                     *(f"{recall[d]['recall']:.2f}" for d in TURNS), upright["false_positives"],
                     _percent(upright["nme_mean"]), _percent(upright["nme_max"]), _percent(q["jitter_mean"]), cpu])
    return rows


def report(speed: list[dict[str, Any]], quality: list[dict[str, Any]], info: dict[str, Any]) -> str:
    cpu = f"{info['cpu']} ({info['vector']})"
    stages = []
    for r in speed:
        ms = [1000 * r[key]["wall"] / r["frames"] for key in ("decode", "detect", "align", "write", "end_to_end")]
        stages.append([r["pair"], r["video_size"], r["frames"], r["faces"], f"{r['startup']['wall']:.1f}", *ms,
                       f"{r['peak_rss_mb']:.0f}", cpu])
    lines = [describe_machine(info), "",
             "Every pair: end-to-end frames/s (scripts.extract.run, models built and warm) on peer/test.mp4 "
             "scaled; "
             "recall on the 18 hand-checked faces upright and turned; false positives (upright); 68-point error "
             "(NME: mean distance over the eye distance, upright, found faces); jitter on the Ken Burns stills "
             "(RMS over the eye distance, camera motion removed)",
             format_table(["detector/aligner", *(f"frames/s {size}" for size in SIZES),
                           *(f"recall {d}°" for d in TURNS), "false pos.", "NME mean", "NME max", "jitter", "CPU"],
                          summary_rows(speed, quality, cpu))]
    by_pair = {(r["pair"], r["video_size"]): r["frames"] / r["end_to_end"]["wall"] for r in speed}
    for size in SIZES:
        if (DEFAULT_PAIR, size) in by_pair and (BASELINE_PAIR, size) in by_pair:
            ratio = by_pair[(DEFAULT_PAIR, size)] / by_pair[(BASELINE_PAIR, size)]
            lines.append(f"{DEFAULT_PAIR} / {BASELINE_PAIR} end to end at {size}: {ratio:.1f}x ({cpu})")
    lines += ["", "Stages alone, ms per frame (wall); start-up s (building detector + aligner); peak RSS MB of "
              "the "
              "end-to-end run",
              format_table(["detector/aligner", "video", "frames", "faces", "start-up s", "decode", "detect",
                            "align", "write", "end to end", "peak RSS MB", "CPU"], stages)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_console()
    if args.worker:
        kind, pair, source, result = args.worker
        worker(kind, pair, source, Path(result), args.repeat)
        return 0
    info = machine()
    speed, quality = [], []
    with tempfile.TemporaryDirectory(prefix="faceswap-bench-") as tmp_name:
        tmp = Path(tmp_name)
        sizes = dict(list(SIZES.items())[:1]) if args.quick else SIZES
        for size, (width, height) in sizes.items():
            video = make_video(args.input, tmp / f"{size}.mp4", size=(width, height))
            total = probe_video(video).frame_count
            for pair in args.pairs:
                cap = frame_cap(pair, args)
                clip = video
                if cap is not None and cap < total:
                    clip = tmp / f"{size}_{cap}.mp4"
                    if not clip.exists():
                        make_video(video, clip, frames=cap)
                print(f"speed of {pair} at {size} ({cap or total} frames)...", file=sys.stderr, flush=True)
                measured = run_worker("speed", pair, str(clip), tmp, args.repeat)
                measured["video_size"] = size
                measured["cpu"] = info["cpu"]
                speed.append(measured)
        for pair in args.pairs:
            print(f"recall, landmark error and jitter of {pair}...", file=sys.stderr, flush=True)
            measured = run_worker("quality", pair, "quick" if args.quick else "full", tmp)
            measured["cpu"] = info["cpu"]
            quality.append(measured)
    info["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(report(speed, quality, info))
    if args.json:
        write_json(args.json, {"machine": info, "speed": speed, "quality": quality})
    return 0


if __name__ == "__main__":
    sys.exit(main())
