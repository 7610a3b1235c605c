"""Kill faceswap where it hurts and look at what is left: `train`, `extract` and `convert` killed with SIGKILL (no
chance to clean up) at many moments, many of train's kills aimed inside a save, then every model folder loaded part
by part and every visible output read back. (A full disk, read-only folders, vanishing files: bench/conditions.py.)

    python -m bench.faults [--train-kills 30] [--extract-kills 12] [--convert-kills 12] [--seed 0] [--json PATH]

Faces: the two bundled clips (tests/data/video), extracted once with dlib's HOG detector; extract and convert
are killed on A's clip looped eight times over (a real video long enough to be killed in). train runs the small
model (lightweight, batch 2, a save every 2 iterations) on one model folder throughout: each run resumes what the
killed one left. Half its kills wait for a save to begin (a `.ckpt-N.partial` folder appears) and strike 0-250 ms
later; the others strike at a random moment of the run (start-up, steps or saves). A kill counts as inside a save
when it left a save's traces: a partial checkpoint folder, a temporary state.json, a checkpoint newer than the
one state.json names, or more checkpoints than a finished save keeps.

After every train kill the folder is loaded as a resumed run loads it (scripts.train.session._build: the weight
average's .keras files, the weights training goes on from, the mask network, every optimiser's state), and it must
be one iteration throughout: state.json's iteration, its checkpoint's name and each optimiser's step count. After
an extract kill every visible face PNG must read with its metadata and the alignments file, if there is one,
load; after a convert kill the output video must be absent or whole (every frame), and the next convert to it
must leave no partial file.
"""
from __future__ import annotations

import argparse
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    DATA,
    ROOT,
    describe_machine,
    format_table,
    looped_video,
    machine,
    quiet_console,
    run_faceswap,
    write_json,
)
from lib.alignments import load_alignments
from lib.errors import FaceswapError
from lib.image import read_face_file
from lib.model.state import STATE, read_state
from lib.video import probe_video

VIDEOS = {"A": DATA / "video" / "A_obama_kenburns.mp4", "B": DATA / "video" / "B_biden_kenburns.mp4"}
TRAIN = ("--model", "lightweight", "--learn-mask", "--batch-size", "2", "--save-every", "2", "--preview-every",
         "0", "--minutes", "10")


@dataclass
class Tally:
    """What the kills of one command left."""

    command: str
    kills: int = 0
    inside_save: int = 0
    unloadable: int = 0
    inconsistent: int = 0
    half_written: int = 0
    phases: Counter[str] = field(default_factory=Counter)  # train: the save phase each kill inside one left
    notes: list[str] = field(default_factory=list)

    def row(self) -> list[object]:
        phases = ", ".join(f"{phase} {count}" for phase, count in sorted(self.phases.items()))
        return [self.command, self.kills, f"{self.inside_save} ({phases})" if self.command == "train" else "",
                self.unloadable, self.inconsistent, self.half_written, "; ".join(self.notes[:3])]


def _start(*args: str | Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(ROOT / "faceswap.py"), *map(str, args)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill(process: subprocess.Popen[bytes]) -> bool:
    """SIGKILL; False when the process had already ended by itself."""
    ended = process.poll() is not None
    if not ended:
        process.send_signal(signal.SIGKILL)
    process.wait()
    return not ended


def save_traces(model: Path) -> set[str]:
    """What a save interrupted part-way leaves in a model folder (nothing, after a finished save), each trace
    named with its change time, so that one left by an earlier kill is told from a new one."""
    if not model.exists():
        return set()
    traces = {f"{p.name} ({p.stat().st_ctime_ns})" for pattern in (".ckpt-*.partial", f".{STATE}.*.tmp")
              for p in model.glob(pattern)}
    checkpoints = sorted((int(p.name.split("-")[1]), p.stat().st_ctime_ns) for p in model.glob("ckpt-*")
                         if p.is_dir())
    state = read_state(model) if (model / STATE).exists() else None
    if state is not None and checkpoints and checkpoints[-1][0] > state.iteration:
        traces.add(f"ckpt-{checkpoints[-1][0]} ({checkpoints[-1][1]}) newer than state.json's {state.checkpoint}")
    if len(checkpoints) > 2:
        traces.add(f"{len(checkpoints)} checkpoints, the newest {checkpoints[-1]}")
    return traces


# Where aimed kills strike: 0-250 ms into writing a checkpoint, 0.25-1.5 s into a save (the later files, the
# rename, state.json, the pruning, or just after), or the moment the finished checkpoint is renamed into place.
AIMS = ("writing", "later", "renamed")


def _save_began(model: Path, started: int, aim: str) -> bool:
    """Whether this run (started at `started`, ns) has begun a save (or, aim 'renamed', just renamed one)."""
    if aim == "renamed":
        state = read_state(model) if (model / STATE).exists() else None
        done = state.iteration if state else 0
        return any(int(p.name.split("-")[1]) > done and p.stat().st_ctime_ns > started
                   for p in model.glob("ckpt-*") if p.is_dir())
    return any(p.stat().st_ctime_ns > started for p in model.glob(".ckpt-*.partial"))


def _phase(traces: list[str]) -> str:
    """The save phase a kill's traces show: writing the checkpoint, renamed but state.json not yet pointing to
    it, writing state.json, or pruning the older checkpoints."""
    if any(".partial" in trace for trace in traces):
        return "writing"
    if any(f".{STATE}." in trace for trace in traces):
        return "state.json"
    if any("newer than" in trace for trace in traces):
        return "renamed"
    return "pruning"


def check_model(model: Path, faces: dict[str, Path]) -> tuple[str | None, str | None]:
    """(unloadable, inconsistent): why the folder cannot be loaded as a resumed run loads it, and why its parts
    are not of one iteration; None each when all is well (or no save finished yet)."""
    import tensorflow as tf

    from scripts.train.args import Config, check
    from scripts.train.session import _build

    if not (model / STATE).exists():
        return None, None
    try:
        cfg = Config(input_a=faces["A"], input_b=faces["B"], model_dir=model)
        state, values, training, _ = check(cfg)
        assert state is not None
        trainer, _ = _build(cfg, values, training, state, tf.distribute.get_strategy(), start=None)
    except (FaceswapError, OSError, ValueError) as err:
        return f"{type(err).__name__}: {err}", None
    if state.checkpoint != f"ckpt-{state.iteration}":
        return None, f"state.json: iteration {state.iteration} in {state.checkpoint}"
    for key, optimizer in trainer.optimizers.items():
        steps = int(getattr(optimizer, "inner_optimizer", optimizer).iterations.numpy())
        if steps != state.iteration:
            return None, f"{key} at step {steps}, state.json at iteration {state.iteration}"
    return None, None


def kill_train(count: int, faces: dict[str, Path], work: Path, rng: random.Random, *,
               resume: bool = True) -> Tally:
    """count runs of train on one folder, each killed; every kill's folder checked (check_model); resume: then a
    run that must resume the folder and finish."""
    tally = Tally("train")
    model = work / "model"
    for number in range(count):
        before = save_traces(model)
        started = time.time_ns()
        process = _start("train", "-A", faces["A"], "-B", faces["B"], "-m", model, *TRAIN)
        aim = AIMS[number // 2 % len(AIMS)] if number % 2 == 0 else None
        deadline = time.monotonic() + (120 if aim else rng.uniform(3.0, 25.0))
        while time.monotonic() < deadline and process.poll() is None:
            if aim is not None and _save_began(model, started, aim):
                if aim != "renamed":
                    time.sleep(rng.uniform(0.0, 0.25) if aim == "writing" else rng.uniform(0.25, 1.5))
                break
            time.sleep(0.0005 if aim else 0.05)
        if not kill(process):
            tally.notes.append(f"run {number} ended before its kill")
            continue
        tally.kills += 1
        traces = sorted(save_traces(model) - before)
        tally.inside_save += bool(traces)
        if traces:
            tally.phases[_phase(traces)] += 1
        unloadable, inconsistent = check_model(model, faces)
        if unloadable:
            tally.unloadable += 1
            tally.notes.append(f"kill {number}: {unloadable}")
        if inconsistent:
            tally.inconsistent += 1
            tally.notes.append(f"kill {number}: {inconsistent}")
        state = read_state(model) if (model / STATE).exists() else None
        print(f"train kill {number + 1}/{count} ({'aimed: ' + aim if aim else 'at random'}): "
              f"{'inside a save: ' + ', '.join(traces) if traces else 'outside a save'}; saved iteration "
              f"{state.iteration if state else 'none yet'}; "
              f"{'loads, one iteration throughout' if not (unloadable or inconsistent) else 'BROKEN'}", flush=True)
    if not resume:
        return tally
    finished = subprocess.run([sys.executable, str(ROOT / "faceswap.py"), "train", "-A", str(faces["A"]), "-B",
                               str(faces["B"]), "-m", str(model), "--iterations", "2"], cwd=ROOT,
                              capture_output=True, text=True, check=False)
    if finished.returncode != 0:
        tally.unloadable += 1
        tally.notes.append(f"the last resume failed: {finished.stderr.strip().splitlines()[-1:]}")
    return tally


def unreadable_files(folder: Path, *, with_meta: bool) -> int:
    """How many visible PNGs under folder do not read back whole (with extract's metadata, with_meta)."""
    broken = 0
    for path in visible(folder):
        try:
            _, meta = read_face_file(path)
            broken += with_meta and meta is None
        except Exception:  # noqa: BLE001 (any failure to read counts)
            broken += 1
    return broken


def visible(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")] if folder.exists() else []


def kill_extract(count: int, video: Path, work: Path, rng: random.Random) -> Tally:
    tally = Tally("extract")
    for number in range(count):
        out, alignments = work / f"extract_{number}", work / f"extract_{number}.json"
        process = _start("extract", "-i", video, "-o", out, "-p", alignments)
        time.sleep(rng.uniform(2.0, 12.0))
        if not kill(process):
            tally.notes.append(f"run {number} ended before its kill")
            continue
        tally.kills += 1
        broken = unreadable_files(out, with_meta=True)
        if alignments.exists():
            try:
                load_alignments(alignments)
            except FaceswapError:
                broken += 1
        tally.half_written += broken
        print(f"extract kill {number + 1}/{count}: {len(visible(out))} faces visible, "
              f"alignments {'written' if alignments.exists() else 'not yet'}, {broken} unreadable", flush=True)
    if tally.kills:  # the last killed run, finished with --skip-existing: every frame in the alignments file
        run_faceswap("extract", "-i", video, "-o", out, "-p", alignments, "--skip-existing", log=work / "x.log")
        frames = probe_video(video).frame_count
        found = len(load_alignments(alignments).frames)
        tally.notes.append(f"the last, resumed with --skip-existing: {found} of {frames} frames in its alignments")
        tally.half_written += found != frames
    return tally


def kill_convert(count: int, video: Path, model: Path, work: Path, rng: random.Random) -> Tally:
    tally = Tally("convert")
    frames = probe_video(video).frame_count
    for number in range(count):
        to_video = number % 2 == 0
        target = work / ("convert.mp4" if to_video else f"convert_frames_{number}")
        process = _start("convert", "-i", video, "-o", target, "-m", model, "-D", "dlib-hog", "--overwrite")
        time.sleep(rng.uniform(3.0, 14.0))
        if not kill(process):
            tally.notes.append(f"run {number} ended before its kill")
            continue
        tally.kills += 1
        broken = 0
        if to_video and target.exists():
            broken += probe_video(target).frame_count != frames
        elif not to_video:
            broken += unreadable_files(target, with_meta=False)
        tally.half_written += broken
        print(f"convert kill {number + 1}/{count} ({'video' if to_video else 'frames'}): {broken} half-written",
              flush=True)
    run_faceswap("convert", "-i", video, "-o", work / "convert.mp4", "-m", model, "-D", "dlib-hog",
                 "--overwrite", log=work / "convert.log")
    left = [p.name for p in work.glob(".convert.partial-*")]
    if left:
        tally.half_written += len(left)
        tally.notes.append(f"partial files left after a finished run: {left}")
    return tally


def extract_faces(work: Path) -> dict[str, Path]:
    """Each bundled clip's faces (every 3rd frame, dlib's HOG detector) in work, and its alignments file."""
    faces = {}
    for side, video in VIDEOS.items():
        faces[side] = work / f"faces_{side}"
        run_faceswap("extract", "-i", video, "-o", faces[side], "-p", work / f"{side}.json", "--every-n", "3",
                     "-D", "dlib-hog", log=work / "setup.log")
    return faces


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-kills", type=int, default=30)
    parser.add_argument("--extract-kills", type=int, default=12)
    parser.add_argument("--convert-kills", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0, help="for the moments of the kills")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_console()
    rng = random.Random(args.seed)
    info = machine()
    work = Path(tempfile.mkdtemp(prefix="faceswap-faults-"))
    try:
        faces = extract_faces(work)
        frames = 8 * probe_video(VIDEOS["A"]).frame_count  # the clip eight times over
        long = looped_video(VIDEOS["A"], work / "A_looped.mp4", frames=frames)
        tallies = [kill_train(args.train_kills, faces, work, rng)]
        tallies.append(kill_extract(args.extract_kills, long, work / "extract", rng))
        tallies.append(kill_convert(args.convert_kills, long, work / "model", work, rng))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(describe_machine(info))
    print(format_table(["command", "SIGKILLs", "inside a save", "unloadable", "inconsistent",
                        "half-written visible", "notes"], [t.row() for t in tallies]))
    failed = sum(t.unloadable + t.inconsistent + t.half_written for t in tallies)
    if args.json is not None:
        results: dict[str, Any] = {"machine": info, "failed": failed,
                                   "tallies": [{**vars(t), "phases": dict(t.phases)} for t in tallies]}
        write_json(args.json, results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
