"""Benchmark swap quality against training time: train a recipe from scratch on the faces of two people for a
wall-clock budget, score snapshots at fixed times on held-out faces with evaluate's own code, and write the curves.

    python -m bench.quality [--train-a DIR --train-b DIR --holdout-a DIR --holdout-b DIR] [--media DIR]
                            [--minutes 30] [--at 5 10 20 30] [--recipe NAME ...] [--init-from MODEL]
                            [--max-faces N] --out OUT

Without the folders the faces come from the longer videos of bench/fetch-media.sh (fetched into --media when
missing), extracted once with dlib HOG and cached: A = franck.mp4, frames 0-2999 (every 8th) to train and
3000-4799 (every 20th) held out; B = cap12.mp4, every 2nd frame, to train, and cap13.mp4 (another recording of
the same man, every 4th frame) held out. Held-out faces never enter training. Each recipe trains in one folder,
in segments ending at the --at times (minutes of training, start-up excluded); after each, `evaluate` scores the
model on the held-out faces. With --init-from MODEL each recipe also trains from that model's weights
(<recipe>+init), beside the run from random weights.

Writes OUT/curves.json (every metric per recipe, time and iteration), OUT/curves.png (one panel per metric, a
line per recipe and direction, targets dashed), OUT/report.json (the last evaluation of the first recipe, in
evaluate's schema), and per recipe OUT/<recipe>/: the model, eval_<minutes>/{report.json,sheet.png}, and to look
at, the held-out clips converted (heldout_A_to_B.mp4, heldout_B_to_A.mp4) with contact.png (bench.contact: the
source's closed eyes, open mouth, smile, turned head and neutral face above the swap's).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    ROOT,
    describe_machine,
    format_table,
    machine,
    make_video,
    quiet_console,
    run_faceswap,
    write_json,
)
from lib.evaluation.report import RETRIEVAL_TARGET, TARGETS, quality_score
from lib.facefile import read_face_meta
from lib.image import SYNTHETIC_PNG_TEXT, write_png
from lib.plots import Series, plot_panels
from lib.recipes import RECIPES as NAMED
from lib.recipes import Recipe
from lib.swap import SwapOptions
from lib.training.curves import heldout_numbers, realism_numbers

DEFAULT_MEDIA = Path(os.environ.get("FACESWAP_MEDIA", "/tmp/faceswap-media"))
CACHE = Path(tempfile.gettempdir()) / "faceswap-quality-faces"
# side -> kind -> (video, first frame, last frame, step). A's faces held out are later frames of the recording it
# trains on; B's come from another recording of the same man (cap13.mp4: another day, other light), which
# flatters a model less than later frames of the video it learnt from.
SPLITS = {"A": {"train": ("franck.mp4", 0, 2999, 8), "held": ("franck.mp4", 3000, 4799, 20)},
          "B": {"train": ("cap12.mp4", 0, 1336, 2), "held": ("cap13.mp4", 0, 764, 4)}}
# Held-out clips swapped whole, for what shows over time (blinks, a mouth opening, jitter): direction ->
# (video, first frame, frames, step), as the faces held out of each side.
CLIPS = {"a2b": ("franck.mp4", 3000, 1800, 2), "b2a": ("cap13.mp4", 0, 765, 2)}
# Faster learning, and colours matched across the two sets so that the shared encoder cannot tell the people
# apart by their lighting and background tint (faceswap-GAN's random colour match); and that at a batch of 8.
_CM: dict[str, Any] = {"model": "lightweight", "learn_mask": True, "learning_rate": 2e-4, "color_match": 0.5}
_CM_B8: dict[str, Any] = {**_CM, "batch_size": 8}
def _named(recipe: Recipe) -> dict[str, Any]:
    """A recipe of lib/recipes.py in this file's form: train's options, no_warp_after, convert."""
    return {**recipe.train, **({"no_warp_after": recipe.warp_share} if recipe.warp_share is not None else {}),
            "convert": dict(recipe.convert)}


RECIPES: dict[str, dict[str, Any]] = {
    # The README's recipes, by name (lib/recipes.py): what train --recipe and demo use.
    **{name: _named(recipe) for name, recipe in NAMED.items()},
    # What train does with no options but the model and a mask head: the CPU recipe before this benchmark.
    "lightweight": {"model": "lightweight", "learn_mask": True},
    "lightweight-cm": _CM,
    # Twice the updates in the same time: a batch of 8.
    "lightweight-cm-b8": _CM_B8,
    # And half the faces of each side turned to the head pose of a face of the other side (--pose-transfer):
    # each decoder is shown its person in the poses a swap will ask of it.
    "lightweight-cm-b8-pt": {**_CM_B8, "pose_transfer": 0.5},
    # A quarter of the faces turned: less of each decoder's training on warped faces.
    "lightweight-cm-b8-pt25": {**_CM_B8, "pose_transfer": 0.25},
    # The same at twice the learning rate (the same losses per iteration; nearer the target at 20-30 minutes).
    "lightweight-cm-b8-pt25-lr4": {**_CM_B8, "pose_transfer": 0.25, "learning_rate": 4e-4},
    # Twice the learning rate without the turned faces: convert's --follow turns the features to the source's pose.
    "lightweight-cm-b8-lr4": {**_CM_B8, "learning_rate": 4e-4},
    # The inputs unwarped for the last 30 % of the budget (--no-warp-after 0.7 on a run of --minutes): the
    # decoders sharpen the faces they draw once the encoder has learnt faces (DeepFaceLab's random warp off).
    "lightweight-cm-b8-lr4-nw70": {**_CM_B8, "learning_rate": 4e-4, "no_warp_after": 0.7},
    # And converted with convert's --sharpen 0.5 (an unsharp mask on the 64 px face before it is pasted): the
    # recipe's convert settings ("convert") go to every snapshot's evaluate and to the held-out clip's convert.
    "lightweight-cm-b8-lr4-nw70-sh05": {**_CM_B8, "learning_rate": 4e-4, "no_warp_after": 0.7,
                                        "convert": {"sharpen": 0.5}},
    # The last 40 %.
    "lightweight-cm-b8-lr4-nw60": {**_CM_B8, "learning_rate": 4e-4, "no_warp_after": 0.6},
    # The same drawing more of the face (coverage 0.7: the brows whole and the jaw line inside the crop), at
    # 64 px all the same.
    "lightweight-cm-b8-lr4-c70": {**_CM_B8, "learning_rate": 4e-4, "coverage": 0.7},
    # DeepFaceLab's LIAE (one decoder for both people) with the same training: pose and expression through a
    # decoder that has drawn both people in all their poses.
    "liae-cm-b8": {**_CM_B8, "model": "liae"},
    # LIAE as DeepFaceLab has it: B drawn from the shared code alone, so that a swap of A to B feeds the decoder
    # a code in the form B's own faces train it.
    "liae-oneway-cm-b8": {**_CM_B8, "model": "liae-oneway"},
    # LIAE one-way with faces turned to the other side's poses as well.
    "liae-oneway-cm-b8-pt": {**_CM_B8, "model": "liae-oneway", "pose_transfer": 0.5},
    # And the background blanked outside the face hull in the input too (DeepFaceLab's masked training): the
    # encoder has only the face to go by, not the two recordings' walls.
    "lightweight-cm-mi": {**_CM, "mask_input": True},
}
REALISM_COLUMNS = {"detail": "detail kept", "blink_r": "blink r", "blink_range": "blink range",
                   "jaw_open_r": "jaw r", "jaw_open_range": "jaw range", "smile_r": "smile r",
                   "smile_range": "smile range", "smile_added": "smile added", "edge_excess": "edge ring - inner",
                   "judged_yaw_error": "yaw err (MediaPipe)", "judged_pitch_error": "pitch err (MediaPipe)"}
METRICS = {  # curve panel -> (key in curves.json, target)
    "distance to target": ("distance_to_target", TARGETS["distance_to_target"]),
    "retrieval as target": ("retrieval", RETRIEVAL_TARGET),
    "yaw error (degrees)": ("yaw_error", TARGETS["yaw_error"]),
    "pitch error (degrees)": ("pitch_error", TARGETS["pitch_error"]),
    "expression: face NME": ("face_nme", TARGETS["face_nme"]),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.split("\n\n")[0])
    for name in ("train-a", "train-b", "holdout-a", "holdout-b"):
        parser.add_argument(f"--{name}", type=Path, default=None, help="a folder of faces from extract")
    parser.add_argument("--media", type=Path, default=DEFAULT_MEDIA,
                        help=f"folder with franck.mp4 and cap12.mp4 (default: {DEFAULT_MEDIA}; fetched when "
                             "missing)")
    parser.add_argument("--minutes", type=float, default=30.0, help="training budget per recipe (default: 30)")
    parser.add_argument("--at", type=float, nargs="+", default=None,
                        help="minutes of training at which to evaluate (default: 5 10 20 30 within --minutes)")
    parser.add_argument("--recipe", nargs="+", default=list(RECIPES), choices=sorted(RECIPES),
                        help=f"recipes to compare (default: all: {', '.join(RECIPES)})")
    parser.add_argument("--init-from", type=Path, default=None, metavar="MODEL",
                        help="also train each recipe from this model's weights (train --init-from), as "
                             "<recipe>+init beside the run from random weights")
    parser.add_argument("--max-faces", type=int, default=200,
                        help="held-out faces per side evaluated (default: 200)")
    parser.add_argument("--out", type=Path, required=True,
                        help="folder for the results (keep it out of the repository)")
    args = parser.parse_args(argv)
    folders = [args.train_a, args.train_b, args.holdout_a, args.holdout_b]
    if any(folders) and not all(folders):
        parser.error("give all four face folders, or none")
    args.at = sorted(t for t in (args.at or (5, 10, 20, 30)) if t <= args.minutes) or [args.minutes]
    if args.at[-1] < args.minutes:
        args.at.append(args.minutes)
    return args


# --- faces -------------------------------------------------------------------------------------------------------

def _fetch(media: Path) -> None:
    videos = {video for side in SPLITS.values() for video, *_ in side.values()}
    if not all((media / video).is_file() for video in videos):
        subprocess.run(["bash", str(ROOT / "bench" / "fetch-media.sh"), str(media)], check=True,
                       stdout=subprocess.DEVNULL)


def prepare_faces(media: Path) -> dict[str, Path]:
    """Training and held-out faces of A and B from the longer videos, extracted once and cached."""
    folders = {f"{kind}_{side}": CACHE / f"{side}_{kind}" for side in SPLITS for kind in ("train", "held")}
    if all(folder.is_dir() and any(folder.iterdir()) for folder in folders.values()):
        return folders
    _fetch(media)
    CACHE.mkdir(parents=True, exist_ok=True)
    log = CACHE / "extract.log"
    for side, kinds in SPLITS.items():
        for kind, (video, first, last, step) in kinds.items():
            everything = CACHE / f"{Path(video).stem}_all"
            if not everything.is_dir():  # every 2nd frame: each split's step is a multiple of it
                run_faceswap("extract", "-i", media / video, "-o", everything, "-p",
                             CACHE / f"{Path(video).stem}_alignments.json", "-D", "dlib-hog", "--every-n", "2",
                             log=log)
            folder = folders[f"{kind}_{side}"]
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            for path in sorted(everything.glob("*.png")):
                meta = read_face_meta(path)
                if meta is not None and first <= meta.frame_index <= last and meta.frame_index % step == 0:
                    os.link(path, folder / path.name)
    return folders


def held_out_clip(media: Path, work: Path, direction: str = "a2b") -> tuple[Path, Path]:
    """A held-out clip (CLIPS) of the direction's source person and its alignments file, made once and cached."""
    video, first, count, step = CLIPS[direction]
    name = f"{Path(video).stem}_{first}_{count}_{step}"
    clip, alignments = CACHE / f"{name}.mp4", CACHE / f"{name}_alignments.json"
    if not alignments.is_file():
        _fetch(media)
        make_video(media / video, clip, frames=count // step, start=first, step=step)
        run_faceswap("extract", "-i", clip, "-o", CACHE / f"{name}_faces", "-p", alignments, "-D", "dlib-hog",
                     log=work / "extract.log")
    return clip, alignments


# --- what the decoders saw ------------------------------------------------------------------------------------

def pose_coverage(folders: dict[str, Path]) -> dict[str, Any]:
    """Each folder's yaw and pitch (5th, 50th, 95th percentile), and per swap direction the share of held-out
    source faces turned (yaw) or tilted (pitch) beyond the poses of the target's training faces
    (lib.pose.pose_range): poses a decoder of that person never learnt to draw. evaluate reports the same shares
    (pose_coverage) from the model folder's poses.json."""
    from lib.evaluation.held_out import load_held_out
    from lib.pose import ANGLES, outside_share, pose_range

    angles = {name: load_held_out(folder, 10**6).poses() for name, folder in folders.items()}
    found: dict[str, Any] = {name: {"faces": len(values),
                                    **{angle: np.percentile(values[:, i], (5, 50, 95)).round(1).tolist()
                                       for i, angle in enumerate(ANGLES)}}
                             for name, values in angles.items()}
    for direction, source, target in (("a2b", "held_A", "train_B"), ("b2a", "held_B", "train_A")):
        found[direction] = outside_share(angles[source], pose_range(angles[target]))
    return found


def coverage_table(coverage: dict[str, Any]) -> str:
    from lib.pose import ANGLES

    rows = [[name, coverage[name]["faces"], *(" / ".join(f"{v:g}" for v in coverage[name][angle])
                                               for angle in ANGLES)]
            for name in ("train_A", "held_A", "train_B", "held_B")]
    rows += [[f"{direction}: sources outside the target's 5-95 %", "-",
              *(f"{coverage[direction][angle]:.0%}" for angle in ANGLES)]
             for direction in ("a2b", "b2a")]
    return format_table(["faces", "count", *(f"{angle} deg 5 / 50 / 95 %" for angle in ANGLES)], rows)


# --- one recipe ------------------------------------------------------------------------------------------------

Clips = dict[str, tuple[Path, Path]]
"""direction -> a held-out clip of its source person and the clip's alignments file (held_out_clip)."""


def run_recipe(name: str, folders: dict[str, Path], args: argparse.Namespace, out: Path,
               clips: Clips | None, *, init_from: Path | None = None) -> list[dict[str, Any]]:
    """Train the recipe in segments up to each --at time, evaluating after each on the held-out faces and clips
    (blinks, mouths and smiles over whole clips, jitter and seams); returns the curve points. init_from: start
    from that model's weights, as the run named <recipe>+init."""
    from scripts.evaluate.args import Config as EvaluateConfig  # TensorFlow loads here, not for --help
    from scripts.evaluate.run import run as evaluate
    from scripts.train.args import Config as TrainConfig
    from scripts.train.run import run as train

    label = name if init_from is None else f"{name}+init"
    model = out / label / "model"
    shutil.rmtree(out / label, ignore_errors=True)
    points: list[dict[str, Any]] = []
    trained = 0.0
    recipe = dict(RECIPES[name])
    warped = recipe.pop("no_warp_after", None)  # a share of the whole budget, not of a segment
    recipe.pop("convert", None)  # convert's and evaluate's: convert_options
    swap = convert_options(name)
    for at in args.at:
        options = dict(recipe) if not points else {}
        if init_from is not None and not points:
            options = {key: value for key, value in options.items() if key not in ("model", "size", "learn_mask")}
            options["init_from"] = init_from
        if name in NAMED:  # the model keeps the recipe's name and convert settings, as train --recipe makes it
            options["recipe"] = name
        share = segment_warp_share(warped, args.at[-1], trained, at)
        if share is not None:
            options["no_warp_after"] = share
        summary = train(TrainConfig(input_a=folders["train_A"], input_b=folders["train_B"], model_dir=model,
                                    minutes=at - trained, preview_every=200, save_every=1000, **options))
        trained += summary.seconds / 60
        shown = clips or {}
        a2b, b2a = shown.get("a2b", (None, None)), shown.get("b2a", (None, None))
        report = evaluate(EvaluateConfig(model_dir=model, input_a=folders["held_A"], input_b=folders["held_B"],
                                         max_faces=args.max_faces, output_dir=out / label / f"eval_{at:g}",
                                         swap=swap, input=a2b[0], alignments=a2b[1], video_b=b2a[0],
                                         alignments_b=b2a[1]))
        report["score"] = quality_score(report)
        points.append({"recipe": label, "minutes": round(trained, 2), "iteration": summary.iteration,
                       **heldout_numbers(report),
                       "seam_gradient_jump": (report.get("video") or {}).get("seam_gradient", {}).get("jump"),
                       "clips": {direction: realism_numbers((report.get(section) or {}).get("realism"))
                                 for direction, section in (("a2b", "video"), ("b2a", "video_b"))
                                 if report.get(section)}})
        write_json(out / label / "report.json", report)
        print(f"{label}: {trained:.1f} min, iteration {summary.iteration}, score {report['score']}", flush=True)
    return points


def segment_warp_share(warped: float | None, budget: float, trained: float, at: float) -> float | None:
    """train's --no-warp-after for the segment from `trained` to `at` minutes of a run of `budget` minutes whose
    inputs are warped for its first share `warped`: None while the segment ends before that point."""
    if warped is None or warped * budget >= at:
        return None
    return max(0.0, (warped * budget - trained) / (at - trained))


def convert_options(name: str) -> SwapOptions:
    """How the recipe's swaps are made: convert's options with the recipe's "convert" settings."""
    return SwapOptions(**RECIPES[name].get("convert", {}))


def look_at(name: str, model: Path, clips: Clips, out: Path) -> None:
    """Each held-out clip converted with the recipe's convert settings (heldout_A_to_B.mp4, heldout_B_to_A.mp4),
    and contact.png: the frames where the source shuts its eyes, opens its mouth, smiles, turns its head most and
    looks most neutral, source above swap (bench.contact)."""
    from bench.contact import contact_sheet
    from scripts.convert.args import Config as ConvertConfig
    from scripts.convert.run import run as convert

    swapped = {}
    for direction, (clip, alignments) in clips.items():
        target = out / name / f"heldout_{direction[0].upper()}_to_{direction[2].upper()}.mp4"
        convert(ConvertConfig(input=clip, output=target, model_dir=model, alignments=alignments, overwrite=True,
                              swap_model=direction == "b2a", swap=convert_options(name)))
        swapped[direction] = (clip, alignments, [target])
    write_png(out / name / "contact.png", contact_sheet(swapped), text=SYNTHETIC_PNG_TEXT)


# --- the report ------------------------------------------------------------------------------------------------

def curves_image(points: list[dict[str, Any]]) -> np.ndarray:
    panels: dict[str, Series] = {}
    targets: dict[str, float] = {}
    recipes = list(dict.fromkeys(point["recipe"] for point in points))
    for title, (key, target) in METRICS.items():
        panels[title] = {}
        targets[title] = target
        for recipe in recipes:
            mine = [point for point in points if point["recipe"] == recipe]
            for direction, label in (("a2b", "A->B"), ("b2a", "B->A")):
                panels[title][f"{recipe} {label}" if len(recipes) > 1 else label] = (
                    [point["minutes"] for point in mine], [point[direction][key] for point in mine])
    panels["reconstruction SSIM"] = {f"{recipe} {key}": ([p["minutes"] for p in points if p["recipe"] == recipe],
                                                         [p["ssim"][key] for p in points if p["recipe"] == recipe])
                                     for recipe in recipes for key in ("a2a", "b2b")}
    targets["reconstruction SSIM"] = 1 - TARGETS["ssim_shortfall"]
    return plot_panels(panels, "minutes of training", targets)


def table(points: list[dict[str, Any]]) -> str:
    rows = []
    for point in points:
        a2b, b2a = point["a2b"], point["b2a"]

        def pair(key: str, digits: int = 3, first: dict = a2b, second: dict = b2a) -> str:
            values = [first.get(key), second.get(key)]
            return " / ".join("-" if v is None else f"{v:.{digits}f}" for v in values)

        rows.append([point["recipe"], f"{point['minutes']:.1f}", point["iteration"], pair("distance_to_target"),
                     pair("retrieval", 2), pair("yaw_error", 1), pair("pitch_error", 1),
                     pair("yaw_tracking", 1), pair("pitch_tracking", 1), pair("face_nme"),
                     pair("eyes_delta_e", 1), pair("mouth_delta_e", 1),
                     " / ".join(f"{point['ssim'][k]:.3f}" for k in ("a2a", "b2b")),
                     "-" if point["score"] is None else f"{point['score']:.2f}",
                     "-" if point.get("seam_gradient_jump") is None else f"{point['seam_gradient_jump']:.2f}"])
    return format_table(["recipe", "minutes", "iteration", "dist to target A->B / B->A", "retrieval", "yaw err",
                         "pitch err", "yaw less offset", "pitch less offset", "face NME", "eyes Delta E",
                         "mouth Delta E", "SSIM A->A / B->B", "score", "seam jump A->B clip"], rows)


def realism_table(points: list[dict[str, Any]]) -> str:
    """The realism measures (A->B / B->A) on the held-out faces, and on the held-out clips where swapped."""
    def pair(numbers: dict[str, Any], key: str) -> str:
        values = [numbers.get(direction, {}).get(key) for direction in ("a2b", "b2a")]
        return " / ".join("-" if v is None else f"{v:.2f}" for v in values)

    rows = []
    for point in points:
        for where, numbers in (("faces", point), ("clips", point.get("clips") or {})):
            if not numbers:
                continue
            rows.append([point["recipe"], f"{point['minutes']:.1f}", where,
                         *(pair(numbers, key) for key in REALISM_COLUMNS)])
    return format_table(["recipe", "minutes", "held out", *REALISM_COLUMNS.values()], rows)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_console()
    info = machine()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    folders = ({"train_A": args.train_a, "train_B": args.train_b, "held_A": args.holdout_a,
                "held_B": args.holdout_b} if args.train_a else prepare_faces(args.media))
    clips = None if args.train_a else {direction: held_out_clip(args.media, out, direction) for direction in CLIPS}
    coverage = pose_coverage(folders)
    print(coverage_table(coverage), flush=True)
    points: list[dict[str, Any]] = []
    for name in args.recipe:
        points += run_recipe(name, folders, args, out, clips)
        if args.init_from is not None:
            points += run_recipe(name, folders, args, out, clips, init_from=args.init_from)
        write_json(out / "curves.json", {"machine": info, "held_out": {k: str(v) for k, v in folders.items()},
                                         "poses": coverage, "targets": TARGETS, "points": points})
        write_png(out / "curves.png", curves_image(points))
        if clips is not None:
            look_at(name, out / name / "model", clips, out)
    shutil.copy(out / args.recipe[0] / "report.json", out / "report.json")
    print(describe_machine(info))
    print(f"held out: {', '.join(f'{k} {v}' for k, v in folders.items())}")
    print(coverage_table(coverage))
    print(table(points))
    print(realism_table(points))
    print(f"curves: {out / 'curves.png'}; frames to look at: {out}/<recipe>/contact.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
