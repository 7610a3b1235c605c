"""Benchmark the training feed alone: samples/s (faces of both sides) with 1 and 2 workers at n=64 and n=128,
and per core (samples per CPU-second of this process, all threads).

    python -m bench.feed [--faces-a DIR --faces-b DIR] [--batches N] [--quick] [--json PATH]

Without face folders, A and B are extracted (dlib HOG) from the two test videos into a temporary folder.
Three ways to hand the batches over are timed: the numpy iterator (`Feed.batches`), the chosen tf.data
pipeline (`Feed.dataset`: from_generator over worker threads, then prefetch), and the alternative it was
chosen over (`Dataset.range().map(tf.numpy_function, num_parallel_calls=workers)`), and the hand-over
alone (one ready batch yielded again and again), which is what tf.data itself costs.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import DATA, ROOT, describe_machine, format_table, machine, quiet_console, timed, write_json

if TYPE_CHECKING:
    import tensorflow as tf

    from lib.training.batch import Batch
    from lib.training.feed import Feed

SIZES = (64, 128)
WORKERS = (1, 2)
BATCH = 16
WARM_UP = 4
HANDOVER = "tf.data hand-over only (no work)"
OCCLUDED = "numpy Feed.batches(), occluders on 50 %"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.feed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces-a", type=Path, default=None, help="face folder A (default: extract one)")
    parser.add_argument("--faces-b", type=Path, default=None, help="face folder B (default: extract one)")
    parser.add_argument("--batches", type=int, default=40, help="batches timed per measurement (default 40)")
    parser.add_argument("--quick", action="store_true", help="10 batches per measurement")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    return parser.parse_args(argv)


def extract(video: Path, dest: Path) -> Path:
    """Aligned faces of every frame of a test video, with the real extract CLI."""
    command = [sys.executable, str(ROOT / "faceswap.py"), "extract", "-i", str(video), "-o", str(dest),
               "-p", str(dest.with_suffix(".json")), "-D", "dlib-hog"]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return dest


def map_dataset(feed: Feed) -> tf.data.Dataset:
    """The alternative pipeline: batch indices mapped through tf.numpy_function on tf.data's own threads."""
    import tensorflow as tf

    spec = feed.element_spec()
    keys = list(spec)

    def make(index: Any) -> tuple[Any, ...]:
        batch: dict[str, Any] = dict(feed.make_batch(int(index)))
        return tuple(batch[key] for key in keys)

    def wrap(index: tf.Tensor) -> dict[str, tf.Tensor]:
        values = tf.numpy_function(make, [index], [tf.float32] * len(keys))
        return {key: tf.ensure_shape(value, spec[key].shape) for key, value in zip(keys, values)}

    workers = feed.options.workers
    dataset = tf.data.Dataset.range(2**62).map(wrap, num_parallel_calls=workers, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def handover_dataset(feed: Feed) -> tf.data.Dataset:
    """Feed.dataset()'s hand-over alone: one ready batch, yielded again and again through from_generator."""
    import tensorflow as tf

    batch = feed.make_batch(0)

    def again() -> Iterator[Batch]:
        while True:
            yield batch

    return tf.data.Dataset.from_generator(again, output_signature=feed.element_spec()).prefetch(tf.data.AUTOTUNE)


def measure(batches: Iterator[Any], count: int) -> dict[str, float]:
    """Time count batches from a warm iterator."""
    for _ in range(WARM_UP):
        next(batches)
    with timed() as timing:
        for _ in range(count):
            next(batches)
    samples = 2 * BATCH * count
    return {"samples_per_s": samples / timing.wall, "samples_per_cpu_s": samples / timing.cpu,
            "cpu_share": timing.cpu_share, "machine_busy": timing.machine_busy}


def run(faces_a: Path, faces_b: Path, count: int) -> list[dict[str, Any]]:
    from lib.training.faces import load_faces
    from lib.training.feed import Feed, FeedOptions

    sets = load_faces(faces_a), load_faces(faces_b)
    paths: dict[str, Callable[[Feed], Iterator[Any]]] = {
        "numpy Feed.batches()": lambda feed: feed.batches(),
        "tf.data Feed.dataset()": lambda feed: iter(feed.dataset()),
        "tf.data map(numpy_function)": lambda feed: iter(map_dataset(feed)),
    }
    results = []
    for size in SIZES:
        for workers in WORKERS:
            for path, make in paths.items():
                feed = Feed(*sets, FeedOptions(size=size, batch_size=BATCH, workers=workers, seed=0))
                print(f"n={size} workers={workers} {path}...", file=sys.stderr, flush=True)
                iterator = make(feed)
                results.append({"size": size, "workers": workers, "path": path, **measure(iterator, count)})
                del iterator
            # What train --learn-mask adds by default: an occluder pasted over half of the faces.
            feed = Feed(*sets, FeedOptions(size=size, batch_size=BATCH, workers=workers, occlusion=0.5, seed=0))
            results.append({"size": size, "workers": workers, "path": OCCLUDED,
                            **measure(feed.batches(), count)})
        feed = Feed(*sets, FeedOptions(size=size, batch_size=BATCH, seed=0))
        results.append({"size": size, "workers": 0, "path": HANDOVER,
                        **measure(iter(handover_dataset(feed)), 10 * count)})
    return results


def report(results: list[dict[str, Any]], info: dict[str, Any], faces: tuple[int, int]) -> str:
    headers = ["n", "workers", "path", "samples/s", "samples/CPU-s (per core)", "CPU share", "machine busy"]
    rows = [[r["size"], r["workers"], r["path"], r["samples_per_s"], r["samples_per_cpu_s"], r["cpu_share"],
             r["machine_busy"]] for r in results]
    return "\n".join([
        describe_machine(info),
        f"feed alone: batch {BATCH} per side, default augmentation, {faces[0]} + {faces[1]} faces; a sample is "
        "one face of either side (warped input, target, mask, weights)",
        format_table(headers, rows),
        "CPU share: cores this process kept busy; machine busy: cores busy on the whole machine (others too); "
        f"'{HANDOVER}': what tf.data alone costs to hand the batches to TensorFlow",
    ])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_console()
    count = 10 if args.quick else args.batches
    with tempfile.TemporaryDirectory(prefix="bench_feed_") as tmp:
        faces_a = args.faces_a or extract(DATA / "video" / "A_obama_kenburns.mp4", Path(tmp) / "A")
        faces_b = args.faces_b or extract(DATA / "video" / "B_biden_kenburns.mp4", Path(tmp) / "B")
        info = machine()
        results = run(faces_a, faces_b, count)
        faces = (len(list(faces_a.iterdir())), len(list(faces_b.iterdir())))
    print(report(results, info, faces))
    if args.json:
        write_json(args.json, {"machine": info, "batch_size": BATCH, "faces": faces, "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
