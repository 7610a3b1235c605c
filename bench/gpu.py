"""Measure a GPU box in minutes: training speed and peak memory per model, batch size, precision and XLA; the
data feed against the model's appetite; convert's frames/s on 360p and 1080p video and where its time goes.

    python -m bench.gpu [--minutes 8] [--json PATH]

On a GPU it measures `original` at batch 16, 64 and 256 and `residual` at 128 and 256 px, batch 16 and 64, each in
float32, mixed_float16 and mixed_bfloat16, with and without XLA (jit_compile); measurements that do not fit the
budget are listed as skipped, one that runs out of memory as such. On a CPU the same code runs a small plan
(`lightweight`, batch 4; XLA once) so that CI keeps it working. Faces: the bundled clips' (extracted here); the
videos: the bundled portrait clip scaled to 640x360 and 1920x1080. Everything is made in a temporary folder.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import (
    DATA,
    describe_machine,
    format_table,
    machine,
    make_video,
    peak_rss_mb,
    quiet_console,
    run_faceswap,
    timed,
    write_json,
)

if TYPE_CHECKING:
    from lib.training.faces import FaceSet

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
GPU_PLAN = [("original", None, batch) for batch in (16, 64, 256)] + [
    ("residual", size, batch) for size in (128, 256) for batch in (16, 64)]
CPU_PLAN = [("lightweight", None, 4)]
CLIP = DATA / "peer" / "test.mp4"
Spec = tuple[str, int | None, int, str, bool]  # model, size (None: the model's), batch, precision, XLA
SPEC_FIELDS = ("model", "size", "batch", "precision", "xla")
VIDEOS = {"360p": (640, 360), "1080p": (1920, 1080)}


@dataclass(frozen=True)
class Budget:
    """Seconds left for the rest of the run; each part takes its share of what is left."""

    end: float

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=8.0, help="the whole run's budget (default: 8)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.minutes <= 0:
        parser.error("--minutes must be above 0")
    return args


def _faces(work: Path) -> tuple[Path, Path]:
    folders = []
    for name in ("A_obama_kenburns.mp4", "B_biden_kenburns.mp4"):
        folder = work / f"faces_{name[0]}"
        run_faceswap("extract", "-i", DATA / "video" / name, "-o", folder, "-p", work / f"{name}.json", "-D",
                     "dlib-hog", log=work / "prepare.log")
        folders.append(folder)
    return folders[0], folders[1]


def _gpu_memory_peak_mb() -> float | None:
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        return None
    return float(tf.config.experimental.get_memory_info("GPU:0")["peak"]) / 2**20


def _reset_gpu_memory() -> None:
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        tf.config.experimental.reset_memory_stats("GPU:0")


def measure_train(spec: Spec, sets: tuple[FaceSet, FaceSet], seconds: float) -> dict[str, Any]:
    """EGs/s of one configuration (batches made beforehand), its compile time and peak memory."""
    import keras
    import tensorflow as tf

    from lib.model.parts import ModelOptions
    from lib.model.state import DEFAULT_EMA
    from lib.training.feed import Feed, FeedOptions
    from lib.training.trainer import LossOptions, Trainer
    from plugins.registry import load_plugin
    from plugins.train.model import REGISTRY

    model, size, batch, precision, xla = spec
    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy(precision)
    result: dict[str, Any] = {"model": model, "size": size, "batch": batch, "precision": precision, "xla": xla}
    try:
        plugin = load_plugin(REGISTRY, "model", model)(ModelOptions(size=size))
        result["size"] = plugin.size
        trainer = Trainer(plugin.build(), LossOptions(), ema=DEFAULT_EMA)  # as train makes it
        trainer.build_optimizers()
        feed = Feed(sets[0], sets[1], FeedOptions(size=plugin.size, batch_size=batch, seed=0))
        ready = [{k: tf.constant(v) for k, v in feed.make_batch(i).items()} for i in range(2)]
        step = trainer.make_step_function(tf.distribute.get_strategy(), xla)
        _reset_gpu_memory()
        with timed() as first:
            float(step(ready[0])["total"])
        steps = 0
        began = time.perf_counter()
        while steps < 2 or time.perf_counter() - began < seconds:
            float(step(ready[steps % 2])["total"])
            steps += 1
        wall = time.perf_counter() - began
        result.update(first_step_s=round(first.wall, 2), steps=steps, egs_per_s=round(steps * 2 * batch / wall, 2),
                      peak_gpu_mb=_gpu_memory_peak_mb())
    except Exception as err:  # noqa: BLE001 (an out-of-memory or unsupported configuration is a result)
        kind = "out of memory" if "OOM" in str(err) or "ResourceExhausted" in type(err).__name__ else "failed"
        result["error"] = f"{kind}: {str(err).splitlines()[0][:120]}"
    return result


def measure_feed(sets: tuple[FaceSet, FaceSet], model_rate: float | None, seconds: float) -> dict[str, Any]:
    """The feed alone with a worker per core: samples/s, and how much of a step the model would wait for it."""
    from lib.training.feed import Feed, FeedOptions, default_workers

    workers = default_workers()
    batches = Feed(sets[0], sets[1], FeedOptions(size=64, batch_size=16, workers=workers, seed=0)).batches()
    next(batches)
    count = 0
    began = time.perf_counter()
    while count < 3 or time.perf_counter() - began < seconds:
        next(batches)
        count += 1
    rate = count * 32 / (time.perf_counter() - began)
    waiting = None if model_rate is None else max(0.0, 1 - rate / model_rate)
    return {"workers": workers, "samples_per_s": round(rate, 1), "model_egs_per_s": model_rate,
            "model_waits_share": None if waiting is None else round(waiting, 3)}


def _model_folder(work: Path) -> Path:
    """A model folder of the original model, untrained (speed does not depend on the weights)."""
    import keras

    from lib.model.parts import ModelOptions
    from lib.model.state import ModelConfig, TrainingConfig
    from lib.training.checkpoint import save_checkpoint
    from lib.training.trainer import LossOptions, Trainer
    from plugins.train.model.original import Original

    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy("float32")
    trainer = Trainer(Original(ModelOptions()).build(), LossOptions())
    trainer.build_optimizers()
    config = ModelConfig(model="original", size=64, coverage=0.6, learn_mask=False, gan=False, gan_loss="lsgan",
                         gan_weight=0.1, loss="mae:1", eye_multiplier=3.0, mouth_multiplier=2.0,
                         background_weight=0.1)
    training = TrainingConfig(batch_size=16, learning_rate=5e-5, clip_norm=1.0, color_match=0.0, motion_blur=0.0,
                              warp=True)
    save_checkpoint(work / "model", trainer, config=config, training=training, iteration=0, previous=None)
    return work / "model"


def measure_convert(video: Path, model: Path, work: Path) -> dict[str, Any]:
    """convert's frames/s without an alignments file (faces found by MTCNN on the way), and each stage alone."""
    from lib.frames import WorkFrame, chunks
    from lib.model.swapper import load_swapper
    from lib.swap import SwapOptions
    from lib.video import VideoReader, VideoWriter, probe_video
    from plugins.convert import load_face_swapper
    from plugins.extract.pipeline import FaceFinder
    from scripts.convert.args import Config
    from scripts.convert.run import run as convert

    with timed() as end_to_end:
        summary = convert(Config(input=video, output=work / f"out_{video.name}", model_dir=model, overwrite=True))
    frames = summary.frames_read
    with timed() as decode:
        images = [frame for _, frame in VideoReader(video)]
    finder = FaceFinder("mtcnn")
    size = finder.batch_size
    with timed() as detect:
        found = [faces for start in range(0, len(images), size)
                 for faces in finder.find(images[start:start + size])]
    swapper = load_face_swapper(load_swapper(model), SwapOptions())
    work_frames = [WorkFrame(i, str(i), str(i), image, None, faces=[face.landmarks for face in faces])
                   for i, (image, faces) in enumerate(zip(images, found)) if faces]
    swapper.swap_frames([images[work_frames[0].index]], [work_frames[0].faces])  # traces the model once
    swapper.timings = dict.fromkeys(swapper.timings, 0.0)
    for group in chunks(iter(work_frames), 16):
        swapper.swap_frames([images[frame.index] for frame in group], [frame.faces for frame in group])
    height, width = images[0].shape[:2]
    with timed() as encode:
        writer = VideoWriter(work / "encode.mp4", width, height, probe_video(video).fps)
        for image in images:
            writer.write(image)
        writer.close()
    per_frame = {name: round(1000 * seconds / frames, 2) for name, seconds in (
        ("decode", decode.wall), ("detect_align", detect.wall), ("model", swapper.timings["model"]),
        ("blend", swapper.timings["crop"] + swapper.timings["paste"]), ("encode", encode.wall))}
    return {"video": f"{width}x{height}", "frames": frames, "frames_per_s": round(frames / end_to_end.wall, 2),
            "ms_per_frame": per_frame}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_console()
    import tensorflow as tf

    from lib.training.faces import load_faces
    from lib.training.trainer import cpu_has_bf16

    budget = Budget(time.monotonic() + 60 * args.minutes)
    info = machine()
    gpus = tf.config.list_physical_devices("GPU")
    info["gpu"] = [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name) for gpu in gpus]
    plan: list[Spec] = [(model, size, batch, precision, xla)
                        for model, size, batch in (GPU_PLAN if gpus else CPU_PLAN)
                        for precision in PRECISIONS for xla in (False, True)]
    if not gpus:  # a CPU: XLA is 7-10x slower, float16 is emulated (its path is tested on a tiny model), and so
        # is bf16 without AVX-512 BF16 or AMX: one XLA run, no float16, bf16 where native; CI stays short
        plan = [entry for entry in plan if (not entry[4] or entry[3] == "float32") and entry[3] != "mixed_float16"]
        plan = [entry for entry in plan if entry[3] != "mixed_bfloat16" or cpu_has_bf16()]
    with tempfile.TemporaryDirectory(prefix="faceswap-bench-gpu-") as tmp:
        work = Path(tmp)
        folder_a, folder_b = _faces(work)
        sets = (load_faces(folder_a), load_faces(folder_b))
        results: list[dict[str, Any]] = []
        train_budget = Budget(time.monotonic() + 0.6 * budget.left())  # then the feed, then convert
        for index, spec in enumerate(plan):
            share = train_budget.left() / (len(plan) - index)
            if share < 3 and any("egs_per_s" in row for row in results):  # the first that runs is measured
                results.append({**dict(zip(SPEC_FIELDS, spec)), "error": "skipped: out of budget"})
                continue
            print(f"train {' '.join(str(part) for part in spec)}...", flush=True)
            results.append(measure_train(spec, sets, seconds=max(1.0, share / 3)))
        rates = [float(r["egs_per_s"]) for r in results if "egs_per_s" in r and r["precision"] == "float32"]
        feed = measure_feed(sets, max(rates) if rates else None, seconds=min(10.0, budget.left() / 8))
        model_dir = _model_folder(work)
        convert: list[dict[str, Any]] = []
        for name, size in VIDEOS.items():
            if budget.left() <= 0 and convert:  # the smallest video is always measured
                convert.append({"video": name, "error": "skipped: out of budget"})
                continue
            clip = make_video(CLIP, work / f"clip_{name}.mp4", size=size, frames=96 if gpus else 24)
            print(f"convert {name}...", flush=True)
            convert.append(measure_convert(clip, model_dir, work))
    info["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(report(results, feed, convert, info, bool(gpus)))
    if args.json:
        write_json(args.json, {"machine": info, "train": results, "feed": feed, "convert": convert,
                               "peak_rss_mb": round(peak_rss_mb(), 1)})
    return 0


def report(results: list[dict[str, Any]], feed: dict[str, Any], convert: list[dict[str, Any]],
           info: dict[str, Any], gpu: bool) -> str:
    device = ", ".join(info["gpu"]) if gpu else "no GPU: the small CPU plan"
    train_rows = [[r["model"], r.get("size") or "-", r["batch"], r["precision"], "on" if r["xla"] else "off",
                   r.get("egs_per_s", "-"), r.get("first_step_s", "-"),
                   "-" if r.get("peak_gpu_mb") is None else f"{r['peak_gpu_mb']:.0f}", r.get("error", "")]
                  for r in results]
    convert_rows = [[c["video"], c.get("frames", "-"), c.get("frames_per_s", "-"),
                     *[c.get("ms_per_frame", {}).get(k, "-") for k in ("decode", "detect_align", "model", "blend",
                                                                         "encode")], c.get("error", "")]
                    for c in convert]
    waiting = feed["model_waits_share"]
    return "\n".join([
        describe_machine(info), f"device: {device}", "",
        "Training (batches made beforehand; EGs/s = faces of both sides per second)",
        format_table(["model", "px", "batch", "precision", "XLA", "EGs/s", "first step s", "peak GPU MB", "note"],
                     train_rows), "",
        f"Data feed with {feed['workers']} workers (one per core): {feed['samples_per_s']} faces/s; the fastest "
        f"float32 model above eats {feed['model_egs_per_s']}: "
        + ("the model would wait for data" if waiting else "it would not wait for data")
        + (f" {100 * waiting:.0f} % of the time" if waiting else ""), "",
        "Convert, original model, faces found on the way (MTCNN), video to video; stages alone in ms per frame",
        format_table(["video", "frames", "frames/s", "decode", "detect+align", "model", "blend", "encode", "note"],
                     convert_rows),
    ])


if __name__ == "__main__":
    sys.exit(main())
