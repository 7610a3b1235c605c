"""Benchmark occlusion-aware masks: train the same model with and without --occlusion-aug (same faces, seed and
budget), then score both on held-out faces with held-out occluders (evaluate --occluders), and show one held-out
frame with an object over the mouth swapped by each.

    python -m bench.occlusion [--train-a DIR --train-b DIR --holdout-a DIR --holdout-b DIR] [--media DIR]
                              [--iterations N | --minutes M] [--occluders DIR] [--show NAME] [--max-faces N]
                              [--json] --out OUT

Faces as bench/quality.py makes them (A = franck.mp4, B = cap12.mp4; held-out frames never trained on). The
occluders default to tests/data/occluders, none of which training ever sees (training cuts its occluders from
other photographs; lib/occlusion.py). Writes OUT/<with|without>/{model,evaluation}, OUT/before_after.png (the
held-out frame, the swap without, the swap with), OUT/occlusion.json.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import ROOT, describe_machine, format_table, machine, quiet_console, write_json
from bench.quality import DEFAULT_MEDIA, held_out_clip, prepare_faces
from lib.image import SYNTHETIC_PNG_TEXT, write_png

RUNS = {"without": 0.0, "with": None}  # --occlusion-aug: 0, or train's default for a model with a mask
MODEL: dict[str, Any] = {"model": "lightweight", "learn_mask": True}
SEED = 7


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.occlusion", description=__doc__.split("\n\n")[0])
    for name in ("train-a", "train-b", "holdout-a", "holdout-b"):
        parser.add_argument(f"--{name}", type=Path, default=None, help="a folder of faces from extract")
    parser.add_argument("--media", type=Path, default=DEFAULT_MEDIA,
                        help=f"folder with franck.mp4 and cap12.mp4 (default: {DEFAULT_MEDIA})")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--iterations", type=int, default=None,
                        help="train each model this many iterations (the fair budget on a busy machine)")
    budget.add_argument("--minutes", type=float, default=None, help="train each model this many minutes")
    parser.add_argument("--occluders", type=Path, default=ROOT / "tests" / "data" / "occluders",
                        help="held-out occluders (default: tests/data/occluders)")
    parser.add_argument("--show", default="frisbee.jpg",
                        help="the occluder put over the mouth in before_after.png (default: frisbee.jpg; the "
                             "first of --occluders when it has no such file)")
    parser.add_argument("--max-faces", type=int, default=200, help="held-out faces per side (default: 200)")
    parser.add_argument("--reuse", action="store_true",
                        help="score the models OUT already holds (trained by an earlier run) instead of training")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    parser.add_argument("--out", type=Path, required=True, help="folder for the results (keep it out of the "
                                                                 "repository)")
    args = parser.parse_args(argv)
    if args.iterations is None and args.minutes is None:
        args.minutes = 30.0
    folders = [args.train_a, args.train_b, args.holdout_a, args.holdout_b]
    if any(folders) and not all(folders):
        parser.error("give all four face folders, or none")
    return args


def train_and_score(name: str, folders: dict[str, Path], args: argparse.Namespace) -> dict[str, Any]:
    from scripts.evaluate.args import Config as EvaluateConfig  # TensorFlow loads here, not for --help
    from scripts.evaluate.run import run as evaluate
    from scripts.train.args import Config as TrainConfig
    from scripts.train.run import run as train

    folder = args.out / name
    if args.reuse and (folder / "train.json").is_file():
        trained = json.loads((folder / "train.json").read_text())
    else:
        shutil.rmtree(folder, ignore_errors=True)
        started = time.monotonic()
        summary = train(TrainConfig(input_a=folders["train_A"], input_b=folders["train_B"],
                                    model_dir=folder / "model", iterations=args.iterations, minutes=args.minutes,
                                    seed=SEED, preview_every=200, save_every=1000, occlusion_aug=RUNS[name],
                                    **MODEL))
        trained = {"iteration": summary.iteration, "train_minutes": round(summary.seconds / 60, 2),
                   "wall_minutes": round((time.monotonic() - started) / 60, 2)}
        write_json(folder / "train.json", trained)
    report = evaluate(EvaluateConfig(model_dir=folder / "model", input_a=folders["held_A"],
                                     input_b=folders["held_B"], occluders=args.occluders,
                                     max_faces=args.max_faces, output_dir=folder / "evaluation"))
    return {"run": name, **trained,
            "identity_to_target": {d: report[d]["identity"]["to_target"] for d in ("a2b", "b2a")},
            "retrieval": {d: report[d]["identity"]["retrieval"] for d in ("a2b", "b2a")},
            "ssim": {d: report[d]["ssim"] for d in ("a2a", "b2b")},
            "occluder_kept": {d: report["occlusion"][d]["occluder_kept"] for d in ("a2b", "b2a")},
            "face_iou": {d: report["occlusion"][d]["face_iou"] for d in ("a2b", "b2a")}}


def before_after(args: argparse.Namespace, clip: tuple[Path, Path]) -> Path:
    """A held-out frame of A with a held-out occluder (--show) over the mouth, swapped A->B by
    each model: the frame, the swap without the augmentation, the swap with it, cropped around the face."""
    from lib.alignments import load_alignments
    from lib.model.swapper import load_swapper
    from lib.occlusion import load_occluders, paste
    from lib.swap import SwapOptions
    from lib.video import VideoReader
    from plugins.convert import load_face_swapper

    video, alignments = clip
    entries = sorted(load_alignments(alignments).frames.values(), key=lambda entry: entry.index)
    entry = next(e for e in entries[len(entries) // 2:] if e.faces)
    frame = next(image for index, image in VideoReader(video) if index == entry.index).copy()
    landmarks = np.asarray(entry.faces[0].landmarks, np.float64)
    occluders, _ = load_occluders(args.occluders)
    mouth = landmarks[48:68].mean(0)
    width = float(np.linalg.norm(landmarks[16] - landmarks[0]))
    shown_occluder = next((o for o in occluders if o.name == args.show), occluders[0])
    paste(frame, shown_occluder, mouth + (0, 0.1 * width), 0.6 * width)
    shown = [frame]
    for name in RUNS:
        swapper = load_face_swapper(load_swapper(args.out / name / "model"), SwapOptions())
        shown.append(swapper.swap_frames([frame], [[landmarks]], "a2b")[0].image)
    # The part of the frame around the face: a square 1.6 face widths across.
    centre = landmarks.mean(0)
    half = int(0.8 * width)
    x0, y0 = (max(0, int(c) - half) for c in centre)
    path = args.out / "before_after.png"
    write_png(path, np.hstack([image[y0:y0 + 2 * half, x0:x0 + 2 * half] for image in shown]),
              text=SYNTHETIC_PNG_TEXT)
    return path


def table(results: list[dict[str, Any]]) -> str:
    def pair(values: dict[str, float | None], digits: int = 3) -> str:
        return " / ".join("-" if v is None else f"{v:.{digits}f}" for v in values.values())

    rows = [[r["run"], r["iteration"], f"{r['train_minutes']:.1f}", pair(r["identity_to_target"]),
             pair(r["retrieval"], 2), pair(r["ssim"]), pair(r["occluder_kept"]), pair(r["face_iou"])]
            for r in results]
    return format_table(["--occlusion-aug", "iterations", "minutes", "dist to target A->B / B->A",
                         "retrieval", "SSIM A->A / B->B", "occluder kept", "face IoU"], rows)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_console()
    info = machine()
    args.out.mkdir(parents=True, exist_ok=True)
    folders = ({"train_A": args.train_a, "train_B": args.train_b, "held_A": args.holdout_a,
                "held_B": args.holdout_b} if args.train_a else prepare_faces(args.media))
    results = [train_and_score(name, folders, args) for name in RUNS]
    without, with_ = results
    change = {key: {d: round(abs(with_[key][d] - without[key][d]), 4) for d in with_[key]}
              for key in ("identity_to_target", "ssim")}
    picture = before_after(args, held_out_clip(args.media, args.out)) if not args.train_a else None
    payload = {"machine": info, "held_out": {k: str(v) for k, v in folders.items()},
               "occluders": str(args.occluders), "results": results, "change_with_augmentation": change,
               "before_after": None if picture is None else str(picture)}
    write_json(args.out / "occlusion.json", payload)
    print(describe_machine(info))
    print(f"held out: {folders['held_A']}, {folders['held_B']}; occluders: {args.occluders}")
    print(table(results))
    print("change with the augmentation: " + "; ".join(f"{key} {pair}" for key, pair in change.items()))
    if picture is not None:
        print(f"before/after: {picture}")
    if args.json:
        print(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
