"""Benchmark `evaluate`: how long an evaluation of 200 faces (100 per side: each measured, swapped both ways and
reconstructed) takes on this CPU, end to end and per stage, with start-up and peak memory.

    python -m bench.evaluate [--faces N] [--faces-a DIR --faces-b DIR] [--model-dir DIR] [--json PATH]

Faces: the 500 real faces per side that bench.train caches in /tmp/faceswap-bench-train-faces (A_500, B_500)
when they are there, else every frame of the two test videos extracted here (75 per side, dlib HOG). The model
is the classic `original` (64 px) trained for one step unless --model-dir gives one: the speed of a model does
not depend on its weights. End-to-end is scripts.evaluate.run itself (model loaded and warm); the stages are
the same components called alone on the same faces.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

from bench.common import (
    DATA,
    describe_machine,
    format_table,
    machine,
    peak_rss_mb,
    quiet_console,
    reset_peak_rss,
    run_faceswap,
    timed,
    write_json,
)
from lib.evaluation.held_out import load_held_out
from lib.evaluation.measure import FaceMeasurer
from lib.swap import SwapOptions
from scripts.evaluate.args import Config

CACHE = Path(tempfile.gettempdir()) / "faceswap-bench-train-faces"
FACES = 100  # per side: 200 faces in all


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=int, default=FACES, help=f"faces per side (default: {FACES})")
    parser.add_argument("--faces-a", type=Path, default=None, help="folder of faces A (default: see above)")
    parser.add_argument("--faces-b", type=Path, default=None, help="folder of faces B")
    parser.add_argument("--model-dir", type=Path, default=None,
                        help="a trained model to use (default: train `original` for one step)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.faces < 2:
        parser.error("--faces must be 2 or more")
    return args


def prepare(args: argparse.Namespace, tmp: Path) -> tuple[Path, Path, Path]:
    """Face folders A and B, and the model."""
    log = tmp / "prepare.log"
    if args.faces_a and args.faces_b:
        faces_a, faces_b = args.faces_a, args.faces_b
    elif (CACHE / "A_500").is_dir() and (CACHE / "B_500").is_dir():
        faces_a, faces_b = CACHE / "A_500", CACHE / "B_500"
    else:
        faces_a, faces_b = tmp / "faces_a", tmp / "faces_b"
        for video, folder in (("A_obama_kenburns.mp4", faces_a), ("B_biden_kenburns.mp4", faces_b)):
            run_faceswap("extract", "-i", DATA / "video" / video, "-o", folder, "-p", tmp / f"{folder.name}.json",
                         "-D", "dlib-hog", log=log)
    if args.model_dir is not None:
        return faces_a, faces_b, args.model_dir
    model = tmp / "model"
    run_faceswap("train", "-A", faces_a, "-B", faces_b, "-m", model, "--model", "original", "--iterations", "1",
                 "--batch-size", "8", "--preview-every", "0", log=log)
    return faces_a, faces_b, model


def measure(faces_a: Path, faces_b: Path, model: Path, count: int, work: Path) -> dict[str, Any]:
    """Start-up, end-to-end and per-stage timings of one evaluation."""
    with timed() as startup:  # what evaluate does before the first face: import TensorFlow, load the model
        from scripts.evaluate import run as evaluate_run  # here, so that TensorFlow's import is timed

        swapper = evaluate_run.load_swapper(model)
        size = int(swapper.input_size)
        swapper.swap(np.zeros((16, size, size, 3), np.uint8), "a2b")  # first calls build kernels
    startup_rss = peak_rss_mb()
    reset_peak_rss()
    cfg = Config(model_dir=model, input_a=faces_a, input_b=faces_b, output_dir=work / "report", max_faces=count)
    with mock.patch.object(evaluate_run, "load_swapper", lambda _path: swapper), timed() as end_to_end:
        report = evaluate_run.run(cfg)
    peak = peak_rss_mb()

    with timed() as load:
        sides = [load_held_out(folder, count) for folder in (faces_a, faces_b)]
    images = [image for side in sides for image in side.images]
    points = [[p] for side in sides for p in side.landmarks]
    from plugins.convert import load_face_swapper  # these were loaded by the start-up already
    from plugins.extract.align import AlignOptions
    from plugins.extract.align.dlib68 import Dlib68Aligner

    measurer = FaceMeasurer(Dlib68Aligner(AlignOptions()))
    with timed() as landmarks:
        found = [measurer.landmarks(image, near[0]) for image, near in zip(images, points)]
    with timed() as describe:
        for image, face in zip(images, found):
            if face is not None:
                measurer.describe(image, face)
    face_swapper = load_face_swapper(swapper, SwapOptions())
    with timed() as convert_path:
        results = [result for start in range(0, len(images), 16)
                   for result in face_swapper.swap_frames(images[start:start + 16], points[start:start + 16])]
    crops = np.stack([result.faces[0].crop for result in results])
    with timed() as model_alone:
        for start in range(0, len(crops), 16):
            swapper.swap(crops[start:start + 16], "a2b")
    return {
        "faces": len(images), "faces_per_side": count, "face_size": int(images[0].shape[0]),
        "model_name": swapper.model_name, "model_size": size, "startup": vars(startup),
        "end_to_end": vars(end_to_end), "load": vars(load), "landmarks": vars(landmarks),
        "describe": vars(describe), "swap_convert_path": vars(convert_path), "model": vars(model_alone),
        "measured": {d: report[d]["measured"] for d in ("a2b", "b2a")},
        "startup_rss_mb": round(startup_rss, 1), "peak_rss_mb": round(peak, 1),
    }


def report_text(result: dict[str, Any], info: dict[str, Any]) -> str:
    n = result["faces"]
    e2e = result["end_to_end"]["wall"]
    per_face = [1000 * result[k]["wall"] / n for k in ("load", "landmarks", "describe", "swap_convert_path",
                                                         "model")]
    return "\n".join([
        describe_machine(info),
        "",
        f"Evaluation of {n} faces ({result['faces_per_side']} per side, {result['face_size']} px; each measured "
        "unswapped, swapped and reconstructed): scripts.evaluate.run, model loaded and warm",
        format_table(["faces", "model", "start-up s", "end-to-end s", "faces/s", "cores busy",
                      "RSS after start-up MB", "peak RSS MB"],
                     [[n, f"{result['model_name']} {result['model_size']} px", result["startup"]["wall"], e2e,
                       n / e2e, result["end_to_end"]["cpu"] / e2e, f"{result['startup_rss_mb']:.0f}",
                       f"{result['peak_rss_mb']:.0f}"]]),
        "",
        "Stages alone, ms per face (wall, one pass; end-to-end runs dlib landmarks 2x, descriptors 2x and the "
        "convert path 3x per face)",
        format_table(["read faces", "dlib 68 landmarks (2 passes)", "dlib descriptor", "crop+model+paste",
                      "model alone"], [per_face]),
    ])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_console()
    info = machine()
    with tempfile.TemporaryDirectory(prefix="faceswap-bench-") as tmp_name:
        tmp = Path(tmp_name)
        faces_a, faces_b, model = prepare(args, tmp)
        result = measure(faces_a, faces_b, model, args.faces, tmp)
    info["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(report_text(result, info))
    if args.json:
        write_json(args.json, {"machine": info, "result": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
