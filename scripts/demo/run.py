"""demo's run: extract both bundled clips, hold every fifth face out, train for --minutes (resuming the model a
previous run left in the folder), convert A's clip to B and B's to A, evaluate on the held-out faces, and write
summary.json listing what was made."""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import tensorflow as tf

from lib.errors import FaceswapError
from lib.evaluation.report import quality_score
from lib.fileio import write_json_atomic
from lib.recipes import RECIPES
from lib.swap import SwapOptions
from lib.training.curves import heldout_numbers
from scripts.common import check_can_create
from scripts.convert.args import Config as ConvertConfig
from scripts.convert.run import run as convert
from scripts.demo.args import Config
from scripts.evaluate.args import Config as EvaluateConfig
from scripts.evaluate.run import run as evaluate
from scripts.extract.args import Config as ExtractConfig
from scripts.extract.run import run as extract
from scripts.train.args import Config as TrainConfig
from scripts.train.run import run as train

log = logging.getLogger("faceswap.demo")
CLIPS = {"A": Path(__file__).resolve().parents[2] / "tests" / "data" / "video" / "A_obama_kenburns.mp4",
         "B": Path(__file__).resolve().parents[2] / "tests" / "data" / "video" / "B_biden_kenburns.mp4"}
HOLD_OUT_EVERY = 5  # every fifth face of each clip is held out of training, for evaluate
STAGES = ("faceswap.extract", "faceswap.train", "faceswap.convert", "faceswap.evaluate")
# The README's recipes (lib/recipes.py): the CPU recipe on a CPU, the GPU one where TensorFlow sees a GPU. The
# model keeps the recipe's convert settings; convert and evaluate take them (SwapOptions given none).
MODEL_SETTINGS = SwapOptions(given=frozenset())


def _split(faces: Path, train: Path, held_out: Path) -> tuple[int, int]:
    """Every HOLD_OUT_EVERY-th face PNG into held_out, the others into train (hard links where possible)."""
    for folder in (train, held_out):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    paths = sorted(faces.glob("*.png"))
    for index, path in enumerate(paths):
        target = (held_out if index % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1 else train) / path.name
        try:
            os.link(path, target)
        except OSError:
            shutil.copy2(path, target)
    return len(paths) - len(paths) // HOLD_OUT_EVERY, len(paths) // HOLD_OUT_EVERY


def _extract(side: str, out: Path) -> None:
    """The clip's faces into faces/<side>_all (kept between runs), split into training and held-out faces."""
    faces, alignments = out / "faces" / f"{side}_all", out / "faces" / f"{side}_alignments.json"
    if not alignments.is_file():
        summary = extract(ExtractConfig(input=CLIPS[side], output=faces, alignments=alignments,
                                        detector="dlib-hog"))
        log.info("extract %s: %d frames, %d faces -> %s", side, summary.frames_read, summary.faces_written, faces)
    else:
        log.info("extract %s: done by an earlier run (%s)", side, faces)
    trained, held = _split(faces, out / "faces" / side, out / "faces" / f"{side}_held_out")
    log.info("faces of %s: %d to train on, %d held out for evaluate", side, trained, held)


def _headline(report: dict[str, Any]) -> dict[str, Any]:
    """The evaluation's headline numbers, per direction, and the video's seam."""
    numbers = heldout_numbers({**report, "score": quality_score(report)})
    numbers["video_seam_gradient_jump"] = (report.get("video") or {}).get("seam_gradient", {}).get("jump")
    return numbers


def run(cfg: Config) -> dict[str, Any]:
    """Run the pipeline; returns the summary it writes to OUTPUT/summary.json."""
    missing = [str(path) for path in CLIPS.values() if not path.is_file()]
    if missing:
        raise FaceswapError(f"the demo clips are missing ({', '.join(missing)}): use a full clone of the "
                            "repository")
    out = cfg.output
    check_can_create(out, "the demo folder")
    for name in STAGES:  # each stage says one line here; its own details only when something is wrong
        logging.getLogger(name).setLevel(logging.WARNING)
    for side in CLIPS:
        _extract(side, out)
    recipe = "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
    model = out / "model"
    resumed = (model / "state.json").is_file()
    trained = train(TrainConfig(input_a=out / "faces" / "A", input_b=out / "faces" / "B", model_dir=model,
                                minutes=cfg.minutes, preview_every=50, save_every=250, recipe=recipe))
    swap = MODEL_SETTINGS
    log.info("train: %s model, %d iterations this run (%d in all, %.1f EGs/s) -> %s",
             "resumed" if resumed else "new", trained.iteration - trained.start, trained.iteration, trained.rate,
             model)
    swapped = []
    for side, other in (("A", "B"), ("B", "A")):
        target = out / "swapped" / f"{side}_to_{other}.mp4"
        done = convert(ConvertConfig(input=CLIPS[side], output=target, model_dir=model,
                                     alignments=out / "faces" / f"{side}_alignments.json", swap_model=side == "B",
                                     swap=swap, overwrite=True))
        log.info("convert %s to %s: %d frames, %d faces swapped -> %s", side, other, done.frames_written,
                 done.faces_swapped, target)
        swapped.append(str(target))
    report = evaluate(EvaluateConfig(model_dir=model, input_a=out / "faces" / "A_held_out",
                                     input_b=out / "faces" / "B_held_out", input=CLIPS["A"],
                                     alignments=out / "faces" / "A_alignments.json",
                                     output_dir=out / "evaluation", swap=swap))
    headline = _headline(report)
    a2b, b2a = headline["a2b"], headline["b2a"]
    log.info("evaluate on held-out faces: distance to target A->B %s, B->A %s (a person's own faces: ~0.2-0.4); "
             "read as the target: %s / %s", a2b["distance_to_target"], b2a["distance_to_target"],
             a2b["retrieval"], b2a["retrieval"])
    summary = {
        "swapped_videos": swapped, "preview": str(model / "preview.png"),
        "report": str(out / "evaluation" / "report.json"),
        "sheet": str(out / "evaluation" / "sheet.png"), "model": str(model),
        "training": {"recipe": recipe, "resumed": resumed, "no_warp_after": RECIPES[recipe].warp_share,
                     "minutes_this_run": cfg.minutes,
                     "iterations": trained.iteration, "egs_per_second": round(trained.rate, 1)},
        "held_out": f"every {HOLD_OUT_EVERY}th face of each clip, never trained on",
        "headline": headline,
    }
    write_json_atomic(out / "summary.json", summary)
    log.info("made (all marked synthetic):")
    for role in ("swapped_videos", "preview", "sheet", "report", "model"):
        paths = summary[role]
        log.info("  %-15s %s", role, ", ".join(paths) if isinstance(paths, list) else paths)
    log.info("  %-15s %s", "summary", out / "summary.json")
    return summary
