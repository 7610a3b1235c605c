"""Benchmark `convert`: frames/s video to video on real 360p and 720p footage, time per stage (decode, model,
mask/colour/blend, encode), start-up and peak memory.

    python -m bench.convert [--media DIR] [--frames N] [--quick] [--model-dir DIR] [--json PATH]

The footage is franck.mp4 (360x288, 24 fps, one man talking) from bench/fetch-media.sh DIR, cut to its
first N frames, and a 900x720 copy of the same frames (720 lines, the aspect kept), both made in a temporary
folder. Faces come from an alignments file made first by extract (dlib HOG; not timed: convert reuses
extract's work). The model is the classic `original` (64 px, the model deepfakes/faceswap's figure is for),
trained for one step unless --model-dir gives one: the speed of a model does not depend on its weights.
Each video is measured in its own process, so its start-up and peak memory are its own. End-to-end is
scripts.convert.run itself; the stages are the same components called alone on the same frames.
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

import numpy as np

from bench.common import (
    ROOT,
    describe_machine,
    format_table,
    machine,
    make_video,
    peak_rss_mb,
    quiet_console,
    reset_peak_rss,
    run_faceswap,
    timed,
    write_json,
)
from lib.alignments import load_alignments
from lib.frames import VIDEO_SMOOTHING, WorkFrame, chunks
from lib.media import frame_name
from lib.smoothing import LandmarkSmoother
from lib.swap import SwapOptions
from lib.video import VideoReader, VideoWriter, probe_video
from scripts.convert.args import Config

DEFAULT_MEDIA = Path(os.environ.get("FACESWAP_MEDIA", "/tmp/faceswap-media"))
HD = (900, 720)
FRAMES, QUICK_FRAMES = 480, 96
BASELINE_FPS = 3.0  # deepfakes/faceswap, original model, 360x288, this kind of 2-core CPU (after ~17 s start-up)
TARGET_FPS = 3 * BASELINE_FPS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.convert", description=__doc__.split("\n\n")[0])
    parser.add_argument("--media", type=Path, default=DEFAULT_MEDIA,
                        help=f"folder filled by bench/fetch-media.sh (default: {DEFAULT_MEDIA})")
    parser.add_argument("--frames", type=int, default=None, help=f"first N frames (default: {FRAMES})")
    parser.add_argument("--quick", action="store_true", help=f"360p only, {QUICK_FRAMES} frames")
    parser.add_argument("--model-dir", type=Path, default=None,
                        help="a trained model to use (default: train `original` for one step)")
    parser.add_argument("--model", default="original", help="model plugin to train when --model-dir is not given")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    parser.add_argument("--worker", nargs=4, metavar=("VIDEO", "ALIGNMENTS", "MODEL", "RESULT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.frames is not None and args.frames < 16:
        parser.error("--frames must be 16 or more")
    return args


# --- one video, in a process of its own ---------------------------------------------------------------------

def measure(video: Path, alignments: Path, model: Path, work: Path) -> dict[str, Any]:
    """Start-up, end-to-end and per-stage timings of convert on one video."""
    with timed() as startup:  # what convert does before the first frame: import TensorFlow, load the model
        from scripts.convert import converter  # here, so that TensorFlow's import is timed
        from scripts.convert import run as convert_run

        swapper = converter.load_swapper(model)
    size = int(swapper.input_size)
    swapper.swap(np.zeros((16, size, size, 3), np.uint8))  # first calls build kernels
    startup_rss = peak_rss_mb()

    reset_peak_rss()
    cfg = Config(input=video, output=work / "out.mp4", model_dir=model, alignments=alignments, overwrite=True)
    with mock.patch.object(converter, "load_swapper", lambda _path: swapper), timed() as end_to_end:
        summary = convert_run.run(cfg)
    convert_peak = peak_rss_mb()

    frames, decode = _decode(video)
    entries = load_alignments(alignments).frames
    names = [frame_name(video.stem, index) for index in range(len(frames))]
    faces = [[face.landmarks for face in entries[name].faces] if name in entries else [] for name in names]
    smooth, stages = _swap_alone(swapper, frames, faces, cfg.swap.batch_size)
    encode = _encode(frames, work / "encode.mp4", probe_video(video).fps)
    height, width = frames[0].shape[:2]
    return {
        "video": video.name, "width": width, "height": height, "frames": len(frames),
        "faces": summary.faces_swapped, "frames_written": summary.frames_written,
        "model_name": swapper.model_name, "model_size": size, "startup": vars(startup),
        "end_to_end": vars(end_to_end), "decode": vars(decode), "smooth": vars(smooth),
        **{name: {"wall": seconds} for name, seconds in stages.items()}, "encode": vars(encode),
        "startup_rss_mb": round(startup_rss, 1), "peak_rss_mb": round(convert_peak, 1),
    }


def _decode(video: Path) -> tuple[list[Any], Any]:
    with timed() as timing:
        frames = [frame for _, frame in VideoReader(video)]
    return frames, timing


def _swap_alone(swapper: Any, frames: list[Any], faces: list[list[Any]],
                batch: int) -> tuple[Any, dict[str, float]]:
    """Smoothing, then crop + model + mask/colour/blend with the defaults (lib.swap, as convert), on this
    thread alone; the swap is run again with --follow 0, and the difference is what following costs."""
    with timed() as smooth:
        smoother: LandmarkSmoother[int] = LandmarkSmoother(VIDEO_SMOOTHING)
        ready = [r for index, found in enumerate(faces) for r in smoother.push(index, found)] + smoother.flush()
    work = [WorkFrame(index, str(index), str(index), frames[index], None, faces=found) for index, found in ready]
    from plugins.convert import load_face_swapper  # loaded by measure's start-up already

    stages = {}
    for follow in (SwapOptions().follow, 0.0):  # the default, then the model's faces pasted as drawn
        face_swapper = load_face_swapper(swapper, SwapOptions(batch_size=batch, follow=follow))
        for group in chunks(iter(work), batch):
            face_swapper.swap_frames([frames[frame.index] for frame in group], [frame.faces for frame in group])
        timings = face_swapper.timings
        stages["blend" if follow == 0 else "follow"] = timings["crop"] + timings["paste"]
        stages["model"] = timings["model"]
    stages["follow"] = max(0.0, stages.get("follow", 0.0) - stages["blend"])  # what --follow adds to the paste
    return smooth, stages


def _encode(frames: list[Any], target: Path, fps: float) -> Any:
    height, width = frames[0].shape[:2]
    with timed() as timing:
        writer = VideoWriter(target, width, height, fps)
        for frame in frames:
            writer.write(frame)
        writer.close()
    return timing


def worker(video: Path, alignments: Path, model: Path, result: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="faceswap-bench-work-") as work:
        write_json(result, measure(video, alignments, model, Path(work)))


# --- the driver: footage, alignments, a model, one process per video, the report ----------------------------

def prepare(args: argparse.Namespace, tmp: Path) -> tuple[list[tuple[Path, Path]], Path]:
    """The clips with their alignments files, and the model."""
    source = args.media / "franck.mp4"
    if not source.is_file():
        raise SystemExit(f"{source} not found: run bench/fetch-media.sh {args.media} first (or pass --media)")
    frames = args.frames or (QUICK_FRAMES if args.quick else FRAMES)
    log = tmp / "prepare.log"
    clips = [make_video(source, tmp / "franck_360p.mp4", frames=frames)]
    if not args.quick:
        clips.append(make_video(source, tmp / "franck_720p.mp4", size=HD, frames=frames))
    prepared = []
    for clip in clips:
        alignments = clip.with_name(f"{clip.stem}_alignments.json")
        run_faceswap("extract", "-i", clip, "-o", tmp / f"faces_{clip.stem}", "-p", alignments, "-D", "dlib-hog",
                     log=log)
        prepared.append((clip, alignments))
    if args.model_dir is not None:
        return prepared, args.model_dir
    other = make_video(args.media / "cap12.mp4", tmp / "cap12_cut.mp4", frames=48)
    run_faceswap("extract", "-i", other, "-o", tmp / "faces_b", "-p", tmp / "b.json", "-D", "dlib-hog", log=log)
    model = tmp / "model"
    run_faceswap("train", "-A", tmp / f"faces_{clips[0].stem}", "-B", tmp / "faces_b", "-m", model,
                 "--model", args.model, "--iterations", "1", "--batch-size", "8", log=log)
    return prepared, model


def run_one(video: Path, alignments: Path, model: Path, tmp: Path) -> dict[str, Any]:
    result = tmp / f"{video.stem}.json"
    log = tmp / f"{video.stem}.log"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    with log.open("w") as out:
        command = [sys.executable, "-m", "bench.convert", "--worker", str(video), str(alignments), str(model),
                   str(result)]
        done = subprocess.run(command, cwd=ROOT, env=env, stdout=out, stderr=out, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"convert bench on {video.name} failed:\n{log.read_text()[-3000:]}")
    measured: dict[str, Any] = json.loads(result.read_text())
    return measured


def report(results: list[dict[str, Any]], info: dict[str, Any]) -> str:
    rates, stages = [], []
    for r in results:
        n = r["frames"]
        e2e = r["end_to_end"]["wall"]
        fps = n / e2e
        video = f"{r['width']}x{r['height']}"
        rates.append([video, n, r["faces"], f"{r['model_name']} {r['model_size']} px", r["startup"]["wall"], fps,
                      f"{fps / BASELINE_FPS:.1f}x", "yes" if fps >= TARGET_FPS else "NO",
                      r["end_to_end"]["cpu"] / e2e, f"{r['startup_rss_mb']:.0f}", f"{r['peak_rss_mb']:.0f}"])
        parts = [r[k]["wall"] for k in ("decode", "smooth", "model", "blend", "follow", "encode")]
        stages.append([video, *(1000 * seconds / n for seconds in (*parts, sum(parts), e2e))])
    return "\n".join([
        describe_machine(info),
        "",
        f"Video to video (scripts.convert.run; model loaded and warm; H.264 crf 18, preset veryfast). deepfakes/"
        f"faceswap: ~{BASELINE_FPS:g} frames/s at 360x288 with its original model; target {TARGET_FPS:g}.",
        format_table(["video", "frames", "faces", "model", "start-up s", "frames/s", "vs deepfakes",
                      f">= {TARGET_FPS:g}", "cores busy", "RSS after start-up MB", "peak RSS MB"], rates),
        "",
        "Stages alone, ms per frame (wall, one thread each; end-to-end overlaps decode and encode with the model)",
        format_table(["video", "decode", "smooth", "model", "mask/colour/blend", "follow (--follow 1)", "encode",
                      "sum of stages", "end-to-end"], stages),
    ])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_console()
    if args.worker:
        video, alignments, model, result = args.worker
        worker(Path(video), Path(alignments), Path(model), Path(result))
        return 0
    info = machine()
    with tempfile.TemporaryDirectory(prefix="faceswap-bench-") as tmp_name:
        tmp = Path(tmp_name)
        clips, model = prepare(args, tmp)
        results = [run_one(video, alignments, model, tmp) for video, alignments in clips]
    print(report(results, info))
    if args.json:
        write_json(args.json, {"machine": info, "results": results, "baseline_fps": BASELINE_FPS,
                               "target_fps": TARGET_FPS})
    return 0


if __name__ == "__main__":
    sys.exit(main())
