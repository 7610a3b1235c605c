"""Benchmark `train`: EGs/s (faces of both sides per second) per model, batch size and precision, the model
step alone (batches made beforehand) and end to end (the feed's tf.data pipeline running beside it on the
same cores); the first step (graph building), the feed alone, and peak memory; and each model's step with
its 4x4 maps convolved by Keras' Conv2D instead of PatchConv2D (the "4x4 maps" column).

    python -m bench.train [--models original lightweight residual] [--batches 16 64]
                          [--precisions float32 mixed_bfloat16] [--seconds 30] [--faces-a DIR --faces-b DIR]
                          [--pose-transfer P] [--ema DECAY] [--quick] [--json PATH]

Faces: 500 real faces per side. Without --faces-a/--faces-b, the longer real videos of two people
(bench/fetch-media.sh) are fetched into a temporary folder once and their faces extracted (dlib HOG)
and cached in /tmp/faceswap-bench-train-faces; if that fails, the two test videos' faces are used (the feed
samples with replacement, so a small set repeats). Each measurement runs in a process of its own (its own
dtype policy, its own peak memory). By default bfloat16 is measured for the original model at batch 16 only:
on a CPU without native bf16 it is emulated and many times slower. --pose-transfer P adds, for each model at the
smallest batch, an end-to-end row whose feed turns that share of the faces to the other side's poses (train's
--pose-transfer), and a feed-alone row with it: the cost of the turn, as a ratio measured in the same run.
Every trainer keeps train's weight average (--ema, train's default); each model's smallest batch is measured once
more without it (step alone), its cost as a ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    DATA,
    ROOT,
    describe_machine,
    format_table,
    machine,
    peak_rss_mb,
    quiet_console,
    timed,
    write_json,
)
from lib.model.state import DEFAULT_EMA
from plugins.train.model import REGISTRY

MODELS = ("original", "lightweight", "residual")
BATCHES = (16, 64)
PRECISIONS = ("float32", "mixed_bfloat16")
FACES = 500
CACHE = Path(tempfile.gettempdir()) / "faceswap-bench-train-faces"
MEDIA = {"A": ("franck.mp4", 9), "B": ("cap12.mp4", 2)}  # (video, --every-n): ~530 and ~670 faces
TARGET = 24.0  # EGs/s of the original model at batch 16: 3x deepfakes/faceswap's 8 on a 2-core CPU
TRAIN_FLOPS_PER_MAC = 6  # forward 2 FLOPs per multiply-add, backward twice that (input and weight gradients)


def forward_macs(model: Any) -> int:
    """Multiply-adds of one face through a Keras model's Conv2D and Dense layers (the rest is small)."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += forward_macs(layer)
        elif isinstance(layer, keras.layers.Conv2D):
            height, width = layer.output.shape[1:3]
            total += height * width * int(np.prod(layer.kernel.shape))
        elif isinstance(layer, keras.layers.Dense):
            total += int(np.prod(layer.kernel.shape))
    return total


def peak_gflops() -> float | None:
    """This CPU's float32 peak in GFLOP/s: cores x clock x FLOPs per cycle (two FMA units of 8 lanes with
    AVX2, of 16 with AVX-512); None when /proc/cpuinfo does not tell."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return None
    text = cpuinfo.read_text(errors="replace")
    clocks = [float(line.split(":")[1]) for line in text.splitlines() if line.startswith("cpu MHz")]
    if not clocks or " fma" not in text:
        return None
    per_cycle = 64 if " avx512f" in text else 32
    return len(clocks) * max(clocks) / 1000 * per_cycle


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=list(REGISTRY), default=list(MODELS))
    parser.add_argument("--batches", nargs="+", type=int, default=list(BATCHES), help="batch sizes per side")
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=None,
                        help="dtype policies (default: float32; bf16 for original at batch 16 too)")
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="time each measurement for at least this long (and 3 steps)")
    parser.add_argument("--faces-a", type=Path, default=None, help="folder of faces A (default: see above)")
    parser.add_argument("--faces-b", type=Path, default=None, help="folder of faces B")
    parser.add_argument("--no-end-to-end", action="store_true", help="model step alone, without the feed")
    parser.add_argument("--pose-transfer", type=float, default=0.0, metavar="P",
                        help="also measure end to end with this share of faces turned (train's --pose-transfer)")
    parser.add_argument("--ema", type=float, default=DEFAULT_EMA, metavar="DECAY",
                        help=f"train's weight average, as train --ema (default: {DEFAULT_EMA:g}, "
                             "train's); each model's smallest batch is also measured without it")
    parser.add_argument("--quick", action="store_true", help="lightweight at batch 16, float32, 10 s")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    parser.add_argument("--from-json", type=Path, default=None, help="print the table of an earlier --json")
    parser.add_argument("--worker", nargs=2, metavar=("SPEC", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.models, args.batches, args.precisions, args.seconds = ["lightweight"], [16], ["float32"], 10.0
    return args


# --- faces ------------------------------------------------------------------------------------------------

def _extract(video: Path, every_n: int, dest: Path) -> None:
    partial = dest.with_name(dest.name + ".partial")
    command = [sys.executable, str(ROOT / "faceswap.py"), "extract", "-i", str(video), "-o", str(partial),
               "-p", str(partial.with_suffix(".json")), "-D", "dlib-hog", "--every-n", str(every_n)]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    partial.rename(dest)


def _limited(folder: Path, count: int) -> Path:
    """A folder of hard links to the first count faces of folder."""
    dest = folder.with_name(f"{folder.name}_{count}")
    if not dest.is_dir():
        temp = dest.with_name(dest.name + ".partial")
        temp.mkdir(parents=True, exist_ok=True)
        for path in sorted(folder.glob("*.png"))[:count]:
            if not (temp / path.name).exists():
                os.link(path, temp / path.name)
        temp.rename(dest)
    return dest


def prepare_faces() -> tuple[Path, Path, str]:
    """Two folders of up to 500 real faces each, and where they came from."""
    sides = {side: CACHE / side for side in MEDIA}
    if not all(folder.is_dir() for folder in sides.values()):
        media = CACHE / "media"
        try:
            if not all((media / name).is_file() for name, _ in MEDIA.values()):
                subprocess.run(["bash", str(ROOT / "bench" / "fetch-media.sh"), str(media)], check=True,
                               capture_output=True)
            for side, (name, every_n) in MEDIA.items():
                if not sides[side].is_dir():
                    _extract(media / name, every_n, sides[side])
        except (subprocess.CalledProcessError, OSError) as err:
            print(f"fetching or extracting the long videos failed ({err}); using the test videos",
                  file=sys.stderr)
            for side, video in (("A", "A_obama_kenburns.mp4"), ("B", "B_biden_kenburns.mp4")):
                sides[side] = CACHE / f"test_{side}"
                if not sides[side].is_dir():
                    _extract(DATA / "video" / video, 1, sides[side])
            return sides["A"], sides["B"], "test videos (75 faces per side, repeated by the feed)"
    return (_limited(sides["A"], FACES), _limited(sides["B"], FACES),
            f"franck.mp4 (A) and cap12.mp4 (B), {FACES} faces per side")


# --- one measurement, in a process of its own ---------------------------------------------------------------

def _time_steps(step: Any, next_batch: Any, seconds: float, faces_per_step: int) -> dict[str, float]:
    """Run steps for at least `seconds` and 3 steps; EGs/s and cores kept busy."""
    steps = 0
    began = time.perf_counter()
    with timed() as timing:
        while steps < 3 or time.perf_counter() - began < seconds:
            float(step(next_batch())["total"])
            steps += 1
    return {"steps": steps, "seconds": timing.wall, "egs_per_s": steps * faces_per_step / timing.wall,
            "cores_busy": timing.cpu_share}


def _layers(model: Any) -> Iterator[Any]:
    """Every layer of a model, those of the models inside it included."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _layers(layer)


def measure(spec: dict[str, Any], faces: tuple[Path, Path], seconds: float) -> dict[str, Any]:
    """One model, batch size and precision: first step, step alone, end to end (float32 only)."""
    import keras
    import tensorflow as tf

    from lib.model import blocks
    from lib.model.layers import PatchConv2D
    from lib.model.parts import ModelOptions
    from lib.training.faces import load_faces
    from lib.training.feed import Feed, FeedOptions
    from lib.training.trainer import LossOptions, Trainer
    from plugins.registry import load_plugin

    keras.mixed_precision.set_global_policy(spec["precision"])
    plugin = load_plugin(REGISTRY, "model", spec["model"])(ModelOptions())
    built = plugin.build()
    if not spec.get("patch_conv", True):  # every convolution a Conv2D, as before PatchConv2D
        if not any(isinstance(layer, PatchConv2D) for part in (built.encoder, built.decoder_a, built.decoder_b)
                   for layer in _layers(part)):
            return {**spec, "skipped": "no 4x4 maps of 512 channels or more: its convolutions are all Conv2D"}
        blocks.PATCH_CONV_PIXELS = 0
        keras.backend.clear_session()
        built = plugin.build()
    sets = [load_faces(folder) for folder in faces]
    trainer = Trainer(built, LossOptions(), concat=spec["concat"], ema=spec.get("ema", 0.0))
    trainer.build_optimizers()
    batch = spec["batch"]
    feed = Feed(sets[0], sets[1], FeedOptions(size=plugin.size, batch_size=batch, seed=0,
                                              pose_transfer=spec.get("pose_transfer", 0.0)))
    ready = [{k: tf.constant(v) for k, v in feed.make_batch(i).items()} for i in range(4)]
    step = trainer.make_step_function(tf.distribute.get_strategy())
    with timed() as first:
        float(step(ready[0])["total"])
    float(step(ready[1])["total"])  # warm-up
    counter = iter(range(10**9))
    result: dict[str, Any] = {
        **spec, "size": plugin.size, "faces": [len(s) for s in sets], "first_step_s": first.wall,
        "parameters": sum(m.count_params() for m in trainer.sub_models.values()),
        "train_gflop_per_face": TRAIN_FLOPS_PER_MAC * (forward_macs(trainer.encoder)
                                                        + forward_macs(trainer.decoder_a)) / 1e9,
        "alone": _time_steps(step, lambda: ready[next(counter) % len(ready)], seconds, 2 * batch)}
    if spec["end_to_end"]:
        batches = iter(feed.dataset())
        float(step(next(batches))["total"])
        result["end_to_end"] = _time_steps(step, lambda: next(batches), seconds, 2 * batch)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return result


def measure_feed(faces: tuple[Path, Path], seconds: float, pose_transfer: float = 0.0) -> dict[str, Any]:
    """The feed alone (numpy batches, n=64, batch 16, default workers): samples/s and per CPU-second."""
    from lib.training.faces import load_faces
    from lib.training.feed import Feed, FeedOptions

    sets = [load_faces(folder) for folder in faces]
    options = FeedOptions(size=64, batch_size=16, seed=0, pose_transfer=pose_transfer)
    batches = Feed(sets[0], sets[1], options).batches()
    next(batches)
    count = 0
    began = time.perf_counter()
    with timed() as timing:
        while count < 5 or time.perf_counter() - began < seconds:
            next(batches)
            count += 1
    samples = count * 2 * options.batch_size
    return {"kind": "feed", "pose_transfer": pose_transfer, "workers": options.workers,
            "samples_per_s": samples / timing.wall,
            "samples_per_cpu_s": samples / timing.cpu if timing.cpu else 0.0, "cores_busy": timing.cpu_share,
            "peak_rss_mb": round(peak_rss_mb(), 1)}


def worker(spec: dict[str, Any], result: Path, faces: tuple[Path, Path], seconds: float) -> None:
    measured = (measure_feed(faces, seconds, spec.get("pose_transfer", 0.0)) if spec["kind"] == "feed"
                else measure(spec, faces, seconds))
    write_json(result, measured)


# --- the driver -------------------------------------------------------------------------------------------

def jobs(args: argparse.Namespace) -> list[dict[str, Any]]:
    """What to measure: every model x batch in float32 (end to end too), bf16 as asked, the concat check, and
    each model's step with its 4x4 maps convolved by Conv2D rather than PatchConv2D."""
    found: list[dict[str, Any]] = [{"kind": "feed"}]
    if args.pose_transfer > 0:
        found.append({"kind": "feed", "pose_transfer": args.pose_transfer})
    for model in args.models:
        for batch in args.batches:
            precisions = args.precisions or ["float32"] + (
                ["mixed_bfloat16"] if model == "original" and batch == min(args.batches) else [])
            for precision in precisions:
                found.append({"kind": "model", "model": model, "batch": batch, "precision": precision,
                              "concat": True, "end_to_end": precision == "float32" and not args.no_end_to_end,
                              "ema": args.ema})
            if batch == min(args.batches) and args.ema > 0 and not args.quick:  # its cost, next to its pair
                found.append({"kind": "model", "model": model, "batch": batch, "precision": "float32",
                              "concat": True, "end_to_end": False, "ema": 0.0})
            if batch == min(args.batches) and args.pose_transfer > 0:  # the feed's turn, end to end
                found.append({"kind": "model", "model": model, "batch": batch, "precision": "float32",
                              "concat": True, "end_to_end": True, "pose_transfer": args.pose_transfer,
                              "ema": args.ema})
            if batch == min(args.batches) and not args.quick:  # next to its pair: a ratio on a busy host
                found.append({"kind": "model", "model": model, "batch": batch, "precision": "float32",
                              "concat": True, "end_to_end": False, "patch_conv": False, "ema": args.ema})
    if "original" in args.models and not args.quick:
        base = {"kind": "model", "model": "original", "batch": min(args.batches), "precision": "float32",
                "end_to_end": False, "ema": args.ema}
        found.append({**base, "concat": False})  # A and B through the encoder apart, not as one batch
        found.append({**base, "concat": True, "onednn": False})  # TensorFlow's default kernels on AVX2
    return found


def run_one(spec: dict[str, Any], args: argparse.Namespace, faces: tuple[Path, Path], tmp: Path,
            index: int) -> dict[str, Any]:
    """One measurement in a fresh process; its log is shown only if it fails."""
    result = tmp / f"{index}.json"
    command = [sys.executable, "-m", "bench.train", "--worker", json.dumps(spec), str(result),
               "--faces-a", str(faces[0]), "--faces-b", str(faces[1]), "--seconds", str(args.seconds)]
    # scripts/train.py turns TensorFlow's oneDNN kernels on; one comparison row runs without them.
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
           "TF_ENABLE_ONEDNN_OPTS": "1" if spec.get("onednn", True) else "0"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{spec} failed:\n{done.stderr[-3000:]}")
    measured: dict[str, Any] = json.loads(result.read_text())
    return measured


def _gflops(egs: float, result: dict[str, Any], peak: float | None) -> str:
    """Achieved GFLOP/s of the model's convolutions and dense layers, and its share of the CPU's peak."""
    per_face = result.get("train_gflop_per_face")
    if per_face is None:
        return "-"
    share = f" ({100 * egs * per_face / peak:.0f} %)" if peak else ""
    return f"{egs * per_face:.0f}{share}"


def report(results: list[dict[str, Any]], info: dict[str, Any], source: str) -> str:
    peak = info.get("peak_gflops")
    rows = []
    feeds = [r for r in results if r["kind"] == "feed"]
    skipped = [r for r in results if r.get("skipped")]
    for r in results:
        if r["kind"] != "model" or r.get("skipped"):
            continue
        e2e = r.get("end_to_end")
        rows.append([r["model"], r["size"], f"{r['parameters'] / 1e6:.1f} M", r["batch"],
                     r["precision"].replace("mixed_", ""), "one batch" if r["concat"] else "apart",
                     "on" if r.get("onednn", True) else "off", "matmul" if r.get("patch_conv", True) else "Conv2D",
                     f"{r['pose_transfer']:.0%}" if r.get("pose_transfer") else "-",
                     f"{r['ema']:g}" if r.get("ema") else "-",
                     r["alone"]["egs_per_s"], e2e["egs_per_s"] if e2e else "-",
                     r.get("train_gflop_per_face", "-"), _gflops(r["alone"]["egs_per_s"], r, peak),
                     r["first_step_s"],
                     f"{r['alone']['steps']}", f"{r['peak_rss_mb']:.0f}"])
    lines = [describe_machine(info), f"faces: {source}", "",
             "EGs/s = faces of both sides per second (a step of batch B trains 2B faces). alone: batches made "
             "beforehand; end to end: the feed's tf.data pipeline on the same cores.",
             format_table(["model", "px", "params", "batch", "precision", "A+B in encoder", "oneDNN",
                           "4x4 maps", "faces turned", "weight average",
                           "EGs/s alone", "EGs/s end to end", "GFLOP per EG", "GFLOP/s alone (% of peak)",
                           "first step s", "steps timed", "peak RSS MB"], rows)]
    original = [r for r in results if r["kind"] == "model" and r["model"] == "original" and r["batch"] == 16
                and r["precision"] == "float32" and r["concat"] and r.get("onednn", True)
                and r.get("patch_conv", True)]
    if original:
        measured = original[0].get("end_to_end") or original[0]["alone"]
        best, how = measured["egs_per_s"], "end to end" if original[0].get("end_to_end") else "alone"
        lines.append(f"\ntarget: original at batch 16 >= {TARGET:g} EGs/s end to end: {best:.1f} {how} "
                     f"({'met' if best >= TARGET else 'NOT met'})")
        per_face = original[0].get("train_gflop_per_face")
        if per_face and peak:
            lines.append(f"this CPU's float32 peak ({peak:.0f} GFLOP/s) allows at most {peak / per_face:.1f} "
                         f"EGs/s for the original model ({per_face:.1f} GFLOP per face trained)")
    lines += [f"{r['model']} with Conv2D only: not measured ({r['skipped']})" for r in skipped]
    for feed in feeds:
        turned = f", {feed['pose_transfer']:.0%} of faces turned" if feed.get("pose_transfer") else ""
        lines.append(f"feed alone (64 px, batch 16, {feed['workers']} workers{turned}): "
                     f"{feed['samples_per_s']:.0f} samples/s, {feed['samples_per_cpu_s']:.0f} per CPU-second, "
                     f"{feed['cores_busy']:.2f} cores busy")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_console()
    if args.worker:
        worker(json.loads(args.worker[0]), Path(args.worker[1]), (args.faces_a, args.faces_b), args.seconds)
        return 0
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        print(report(saved["results"], saved["machine"], saved["faces"]))
        return 0
    if args.faces_a and args.faces_b:
        faces, source = (args.faces_a, args.faces_b), f"{args.faces_a} (A), {args.faces_b} (B)"
    else:
        *pair, source = prepare_faces()
        faces = (pair[0], pair[1])
    results = []
    with tempfile.TemporaryDirectory(prefix="faceswap-bench-train-") as tmp:
        for index, spec in enumerate(jobs(args)):
            print(f"measuring {spec}", file=sys.stderr, flush=True)
            results.append(run_one(spec, args, faces, Path(tmp), index))
    info = {**machine(), "peak_gflops": peak_gflops()}
    if args.json:  # first: the measurements survive a problem in the table
        write_json(args.json, {"machine": info, "faces": source, "seconds": args.seconds, "results": results})
    print(report(results, info, source))
    return 0


if __name__ == "__main__":
    sys.exit(main())
