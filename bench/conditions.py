"""faceswap under bad conditions, and what is left: `train`, `extract` and `convert` run on a full disk, into and
out of read-only folders, and with their files vanishing mid-run. (SIGKILLs: bench/faults.py.)

    python -m bench.conditions [--no-mount] [--trials TEXT] [--json PATH]

Inputs: the two bundled clips' faces (as bench/faults.py extracts them), a model trained 2 iterations, and A's
clip twice over (150 frames) as a video and as JPEG frames. A full disk is a tmpfs mounted on the output's folder,
sized so that the output fills it part-way: train's model folder (1.5 checkpoints: the save at iteration 2 fits,
the one at 4 does not; then room is made and the same command resumes), its timelapse images and TensorBoard logs
(training goes on, said once), extract's faces and alignments file (an earlier alignments file there), the
alignments file alone, convert's video (over an earlier one) and frames folder. A read-only folder is a bind mount
remounted read-only: each command's output inside one, a trained model resumed, extract's default alignments file
inside a read-only frames folder, and extract and convert reading a read-only frames folder and model while
writing elsewhere. Vanishing: frames deleted while extract reads their folder, extract's output folder removed or
renamed, the training faces deleted after train's first step, convert's input video deleted or input frames folder
removed, its output frames folder removed or its video's folder renamed. A command that stops must end in one
`error:` line that names the fault (exit 1, no traceback) and leave nothing half-written: every visible face or
frame reads back, no `.partial` or `.tmp` file is left, a model folder loads as its last good save, earlier
outputs are unchanged. One that goes on must warn about and count every input it skipped. Where mounting is
refused (not root, or --no-mount), a file size limit stands in for a full disk and chmod for a read-only mount;
root ignores chmod, so those trials are then not tried, and the table says why.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from bench.common import (
    ROOT,
    describe_machine,
    format_table,
    looped_video,
    machine,
    quiet_console,
    run_faceswap,
    write_json,
)
from bench.faults import VIDEOS, check_model, extract_faces, kill, unreadable_files, visible
from lib.alignments import load_alignments
from lib.errors import FaceswapError
from lib.media import image_files
from lib.model.state import STATE, read_state
from lib.video import probe_video, split_video

ENV_TRAIN = ("--model", "lightweight", "--learn-mask", "--batch-size", "2", "--save-every", "2", "--preview-every",
             "0")
FULL = ("full", "space", "limit")  # a disk-full error says one of these
READ_ONLY = ("read-only",)
GONE = ("no such file", "not found", "missing", "gone")
KIB, MIB = 1024, 1024**2


@dataclass
class Trial:
    """One command under one bad condition: what was done, what happened, what did not survive."""

    fault: str
    case: str
    happened: str = ""
    broken: list[str] = field(default_factory=list)
    skipped: str = ""

    def verdict(self) -> str:
        if self.skipped:
            return f"not tried: {self.skipped}"
        return "NO: " + "; ".join(self.broken) if self.broken else "yes"

    def row(self) -> list[object]:
        return [self.fault, self.case, self.happened, self.verdict()]


@dataclass
class Ran:
    """How a command ended: its exit code, its stderr, and what was done to it mid-run ('' when it ended first)."""

    code: int
    stderr: str
    did: str = ""

    @property
    def error(self) -> str:
        return next((line for line in reversed(self.stderr.splitlines()) if line.startswith("error: ")), "")


@dataclass(frozen=True)
class Env:
    """What the trials share: faces, A's alignments file from an earlier extract, a trained model, a video of 150
    frames (A's clip twice) and its frames as JPEG files; mounts: whether to mount (else the fallbacks)."""

    work: Path
    faces: dict[str, Path]
    alignments: Path
    model: Path
    video: Path
    frames: Path
    mounts: bool


# A file size limit set by a small Python that then becomes faceswap.py (a preexec_fn is unsafe here: TensorFlow's
# threads run in this process once check_model has loaded a model). Python ignores SIGXFSZ: a write past the limit
# fails (EFBIG), as a write to a full disk does (ENOSPC).
LIMITED = ("import os, resource, sys; limit = int(sys.argv[1]); "
           "resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)); os.execv(sys.executable, [sys.executable, "
           "*sys.argv[2:]])")


def run(env: Env, *args: str | Path, limit: int | None = None, when: Callable[[str], bool] | None = None,
        act: Callable[[], str] | None = None, timeout: float = 600) -> Ran:
    """Run faceswap.py to its end. limit: a file size limit in bytes; act() is done once, mid-run, as soon as
    when(the stderr so far) holds."""
    log = env.work / "run.err"
    command = [sys.executable, *([] if limit is None else ["-c", LIMITED, str(limit)]), str(ROOT / "faceswap.py")]
    with log.open("w") as err:
        process = subprocess.Popen([*command, *map(str, args)], cwd=ROOT,
                                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, stdout=subprocess.DEVNULL,
                                   stderr=err)
    did = ""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if act is not None and when is not None and not did and when(log.read_text(errors="replace")):
            did = act()
        time.sleep(0.05)
    kill(process)
    return Ran(process.returncode, log.read_text(errors="replace"), did)


def failed_cleanly(ran: Ran, words: tuple[str, ...]) -> list[str]:
    """How a command that should fail in one line did not: exit 0, a traceback, not one `error:` line (the
    last), or an error that says none of words."""
    lines = ran.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    problems = ["exit 0"] if ran.code == 0 else []
    problems += ["a traceback"] if "Traceback" in ran.stderr else []
    if len(errors) != 1 or lines[-1] != errors[0]:
        problems.append(f"{len(errors)} error lines" if len(errors) != 1 else "the error is not the last line")
    elif not any(word in errors[0].lower() for word in words):
        problems.append(f"the error does not say {' or '.join(repr(w) for w in words)}")
    return problems


def ran_cleanly(ran: Ran) -> list[str]:
    """How a command that should succeed did not: a non-zero exit, a traceback."""
    problems = [] if ran.code == 0 else [f"exit {ran.code} ({ran.error or 'no error line'})"]
    return problems + (["a traceback"] if "Traceback" in ran.stderr else [])


def said(env: Env, ran: Ran) -> str:
    """`exit N: <the error>` with paths shown inside the work folder."""
    return f"exit {ran.code}" + (f": {ran.error.removeprefix('error: ')}" if ran.error else "").replace(
        f"{env.work}/", "")


def leftovers(*folders: Path) -> list[str]:
    """Hidden partial and temporary files under folders (what a write cut short leaves), as trial problems."""
    return [f"left {p.name}" for folder in folders if folder.exists() for p in folder.rglob(".*")
            if p.is_file() and (".partial" in p.name or p.name.endswith(".tmp"))]


def unreadable(folder: Path, what: str) -> list[str]:
    """The faces (what "faces": read with their metadata) or frames under folder that do not read, as a trial
    problem."""
    count = unreadable_files(folder, with_meta=what == "faces")
    return [f"{count} {what} unreadable"] if count else []


def fingerprint(path: Path) -> dict[str, tuple[int, int]]:
    """Every file under path (or path, a file) with its size and modification time."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in files}


def counted(stderr: str, what: str) -> tuple[int, int, int]:
    """(read, skipped, reasons) from a closing summary: `frames read: N` and the `<what> skipped (reason): N`
    lines (reasons: how many such lines)."""
    read = re.search(r"^frames read: (\d+)", stderr, re.M)
    skips = re.findall(rf"^{what} skipped \(.*\): (\d+)$", stderr, re.M)
    return int(read.group(1)) if read else 0, sum(map(int, skips)), len(skips)


def model_kept(model: Path, faces: dict[str, Path], iteration: int) -> list[str]:
    """What is wrong with a model folder that should hold a whole save at iteration."""
    try:
        state = read_state(model) if (model / STATE).exists() else None
    except FaceswapError as err:
        return [f"state.json: {err}"]
    if state is None or state.iteration != iteration:
        return [f"saved at {state.iteration if state else 'no'} iteration, not {iteration}"]
    return [problem for problem in check_model(model, faces) if problem]


def _mount(*args: str) -> str | None:
    """Run mount or umount; None when it worked, else why not."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, check=False)
    except OSError as err:
        return str(err)
    return None if done.returncode == 0 else (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]


def _unmount(folder: Path) -> None:
    if _mount("umount", str(folder)):
        _mount("umount", "-l", str(folder))  # busy: detached now, gone when its last file closes


@dataclass(frozen=True)
class Disk:
    """Where writes run out of room: a tmpfs mounted on the folder, or (mounting refused) a file size limit the
    command runs under, which fails the same writes file by file. note: 'on a 2.0 MB tmpfs', 'under a ...'."""

    note: str
    limit: int | None = None


@contextmanager
def small_disk(folder: Path, size: int, limit: int, mounts: bool) -> Iterator[Disk]:
    """folder as a disk of size bytes while the block runs, or else limit as the file size limit."""
    folder.mkdir(parents=True, exist_ok=True)
    mount = ("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder))
    refused = _mount(*mount) if mounts else "--no-mount"
    if refused:
        yield Disk(f"under a {_size(limit)} file size limit (no tmpfs: {refused})", limit)
        return
    try:
        yield Disk(f"on a {_size(size)} tmpfs")
    finally:
        _unmount(folder)


def _size(count: int) -> str:
    return f"{count / MIB:.1f} MB" if count >= MIB else f"{count // KIB} kB"


@contextmanager
def read_only(folder: Path, mounts: bool) -> Iterator[str | None]:
    """folder made read-only in place while the block runs: bound onto itself read-only, or (mounting refused)
    chmod a-w, which root ignores; yields how, or None when neither holds."""
    how = None
    if mounts and not _mount("mount", "--bind", str(folder), str(folder)):
        if _mount("mount", "-o", "remount,bind,ro", str(folder)):
            _unmount(folder)
        else:
            how = "a read-only bind mount"
    if how is not None:
        try:
            yield how
        finally:
            _unmount(folder)
        return
    if os.geteuid() == 0:
        yield None
        return
    modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
    for path, mode in modes.items():
        path.chmod(mode & ~0o222)
    try:
        yield "chmod a-w"
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


def _remove(folder: Path) -> None:
    """rmtree a folder a command is writing into: again until it is gone."""
    while folder.exists():
        shutil.rmtree(folder, ignore_errors=True)


def _progressed(command: str) -> Callable[[str], bool]:
    """when: the command has printed a progress line with some work done (10% of it, or 5 s in)."""
    return lambda stderr: re.search(rf"^{command}: [1-9]", stderr, re.M) is not None


def _holds(folder: Path, count: int) -> Callable[[str], bool]:
    """when: folder holds count visible files."""
    return lambda _: len(visible(folder)) >= count


def full_train(env: Env) -> Trial:
    trial = Trial("disk full", "train: the model folder")
    state = read_state(env.model)
    assert state is not None
    checkpoint = sum(state.files.values())
    folder = env.work / "full_train"
    model = folder / "model"
    train = ("train", "-A", env.faces["A"], "-B", env.faces["B"], "-m", model, *ENV_TRAIN)
    with small_disk(folder, checkpoint * 3 // 2, checkpoint // 8, env.mounts) as disk:
        if disk.limit is None:  # one run: the first save fits, the second does not
            trial.case += f" {disk.note} (1.5 checkpoints): saves at iterations 2 and 4"
            ran = run(env, *train, "--iterations", "4")
        else:  # every save writes the same files: the first run saves, the resumed one cannot
            trial.case += f" {disk.note}: saved at 2, then resumed"
            trial.broken += ran_cleanly(run(env, *train, "--iterations", "2"))
            ran = run(env, *train, "--iterations", "2", limit=disk.limit)
        trial.happened = said(env, ran)
        trial.broken += failed_cleanly(ran, FULL) + model_kept(model, env.faces, 2)
        trial.broken += leftovers(folder)
        if disk.limit is None:
            _mount("mount", "-o", f"remount,size={checkpoint * 3}", str(folder))
        again = run(env, *train, "--iterations", "2")  # room made: the same command goes on
        problems = ran_cleanly(again) + model_kept(model, env.faces, 4)
        trial.happened += "; with room made, resumed to iteration 4" if not problems else ""
        trial.broken += [f"the resume: {problem}" for problem in problems]
    return trial


def full_previews(env: Env) -> Trial:
    """The disk full under what train writes beside its saves: the timelapse images and TensorBoard's logs each on
    a tmpfs too small for one preview. Training goes on (said once), the saves are whole."""
    trial = Trial("disk full", "train: timelapse images and TensorBoard logs")
    if not env.mounts:
        trial.skipped = "needs a tmpfs mount (a file size limit would fail the saves too)"
        return trial
    model = env.work / "full_previews" / "model"
    train = ("train", "-A", env.faces["A"], "-B", env.faces["B"], "-m", model, *ENV_TRAIN, "--preview-every", "1",
             "--timelapse-every", "1", "--iterations", "4")
    with small_disk(model / "timelapse", 8 * KIB, 0, True) as disk, small_disk(model / "logs", 8 * KIB, 0, True):
        if disk.limit is not None:
            trial.skipped = disk.note
            return trial
        trial.case += f", each {disk.note}"
        ran = run(env, *train)
        warned = [line for line in ran.stderr.splitlines() if " not written (" in line]
        closing = re.search(r"not written: (\d+) times", ran.stderr)
        trial.happened = f"exit {ran.code}; " + (
            f"warned once ({warned[0].split(' in ')[0]} not written), {closing.group(1) if closing else 'no'} "
            "writes counted at the end, the last save whole" if warned else "no warning")
        trial.broken += ran_cleanly(ran) + model_kept(model, env.faces, 4) + leftovers(model)
        trial.broken += [] if len(warned) == 1 else [f"{len(warned)} warnings, not one"]
        trial.broken += [] if closing else ["no closing count"]
        trial.broken += unreadable(model / "timelapse", "frames")
    return trial


def full_extract(env: Env) -> Trial:
    trial = Trial("disk full", "extract: faces and alignments file (an earlier one there)")
    folder = env.work / "full_extract"
    with small_disk(folder, 2 * MIB, 64 * KIB, env.mounts) as disk:
        trial.case += f" {disk.note}"
        out, alignments = folder / "faces", folder / "alignments.json"
        shutil.copy(env.alignments, alignments)
        earlier = fingerprint(alignments)
        ran = run(env, "extract", "-i", env.video, "-o", out, "-p", alignments, "-D", "dlib-hog", limit=disk.limit)
        trial.happened = said(env, ran) + f"; {len(visible(out))} faces kept"
        trial.broken += failed_cleanly(ran, FULL)
        trial.broken += unreadable(out, "faces")
        trial.broken += leftovers(folder)
        if fingerprint(alignments) != earlier:
            try:
                listed = len(load_alignments(alignments).frames)
                trial.happened += f"; the alignments file replaced ({listed} frames)"
            except FaceswapError as err:
                trial.broken.append(f"alignments file: {err}")
        else:
            trial.happened += "; the earlier alignments file unchanged"
    return trial


def full_alignments(env: Env) -> Trial:
    trial = Trial("disk full", "extract: the alignments file alone")
    folder = env.work / "full_alignments"
    with small_disk(folder, 256 * KIB, 512 * KIB, env.mounts) as disk:  # a limit above a face's size
        trial.case += f" {disk.note}, the faces elsewhere"
        out, alignments = env.work / "full_alignments_faces", folder / "alignments.json"
        ran = run(env, "extract", "-i", env.video, "-o", out, "-p", alignments, "-D", "dlib-hog", limit=disk.limit)
        trial.happened = said(env, ran) + f"; {len(visible(out))} faces kept"
        trial.broken += failed_cleanly(ran, FULL)
        trial.broken += unreadable(out, "faces")
        trial.broken += leftovers(folder, out)
        if alignments.exists():  # written on the way out if there was room: whole, then
            try:
                trial.happened += f"; the alignments file lists {len(load_alignments(alignments).frames)} frames"
            except FaceswapError as err:
                trial.broken.append(f"alignments file: {err}")
    return trial


def full_convert(env: Env, to_video: bool) -> Trial:
    trial = Trial("disk full", "convert: a video over an earlier one (--overwrite)" if to_video
                  else "convert: a frames folder")
    folder = env.work / ("full_video" if to_video else "full_frames")
    earlier_size = VIDEOS["A"].stat().st_size
    size = (earlier_size + 40 * KIB) // (4 * KIB) * 4 * KIB if to_video else 2 * MIB
    with small_disk(folder, size, 32 * KIB, env.mounts) as disk:
        trial.case += f" {disk.note}"
        target = folder / ("swap.mp4" if to_video else "frames")
        if to_video:
            shutil.copy(VIDEOS["A"], target)  # stands for an earlier output
        earlier = fingerprint(target)
        ran = run(env, "convert", "-i", env.video, "-o", target, "-m", env.model, "-D", "dlib-hog", "--overwrite",
                  limit=disk.limit)
        trial.happened = said(env, ran)
        trial.broken += failed_cleanly(ran, FULL)
        trial.broken += leftovers(folder)
        if to_video:
            trial.broken += ["the earlier video changed"] if fingerprint(target) != earlier else []
            others = [p.name for p in visible(folder) if p != target]
            trial.broken += [f"left {name}" for name in others]
        else:
            trial.broken += unreadable(target, "frames")
            trial.happened += f"; {len(visible(target))} whole frames kept"
    return trial


def refused_writes(env: Env) -> list[Trial]:
    """Outputs asked for inside a read-only folder: each command refused in one line, nothing written."""
    place = env.work / "read_only"
    place.mkdir()
    video, model, alignments = env.video, env.model, env.work / "ro.json"
    cases: list[tuple[str, tuple[str | Path, ...]]] = [
        ("extract: -o a new folder in it", ("extract", "-i", video, "-o", place / "faces", "-p", alignments)),
        ("extract: -o the folder itself", ("extract", "-i", video, "-o", place, "-p", alignments)),
        ("extract: -p in it", ("extract", "-i", video, "-o", env.work / "ro_faces", "-p", place / "a.json")),
        ("convert: -o a video in it", ("convert", "-i", video, "-o", place / "swap.mp4", "-m", model)),
        ("convert: -o a new frames folder in it", ("convert", "-i", video, "-o", place / "frames", "-m", model)),
        ("train: -m a new model folder in it", ("train", "-A", env.faces["A"], "-B", env.faces["B"], "-m",
                                                 place / "model", *ENV_TRAIN, "--iterations", "2")),
    ]
    trials = []
    with read_only(place, env.mounts) as how:
        for case, args in cases:
            trial = Trial("read-only", f"{case} ({how or 'not made read-only'})")
            trials.append(trial)
            if how is None:
                trial.skipped = "mounting refused, and root ignores chmod"
                continue
            ran = run(env, *args, *(("-D", "dlib-hog") if args[0] != "train" else ()))
            trial.happened = said(env, ran)
            trial.broken += failed_cleanly(ran, READ_ONLY)
            made = [p.name for p in (alignments, env.work / "ro_faces") if p.exists()] + [p.name for p in
                                                                                       place.iterdir()]
            trial.broken += [f"made {name}" for name in made]
    return trials


def read_only_inputs(env: Env) -> list[Trial]:
    """A trained model and a frames folder made read-only: resuming the model is refused in one line; extract and
    convert read them and write elsewhere, or say in one line that the default alignments file cannot go there."""
    trials = []
    with read_only(env.model, env.mounts) as how_model, read_only(env.frames, env.mounts) as how_frames:
        how = how_model and how_frames or "not made read-only"
        resume = Trial("read-only", f"train: resume a trained model in a read-only folder ({how})")
        default = Trial("read-only", f"extract: read-only frames folder, the alignments file by default in it "
                                     f"({how})")
        reads = Trial("read-only", f"extract, then convert: read-only frames folder and model, outputs elsewhere "
                                   f"({how})")
        trials += [resume, default, reads]
        if not (how_model and how_frames):
            for trial in trials:
                trial.skipped = "mounting refused, and root ignores chmod"
            return trials
        before = fingerprint(env.model)
        ran = run(env, "train", "-A", env.faces["A"], "-B", env.faces["B"], "-m", env.model, "--iterations", "2")
        resume.happened = said(env, ran)
        resume.broken += failed_cleanly(ran, READ_ONLY)
        resume.broken += ["the model folder changed"] if fingerprint(env.model) != before else []

        out = env.work / "ro_in_faces"
        ran = run(env, "extract", "-i", env.frames, "-o", out, "-D", "dlib-hog")
        default.happened = said(env, ran)
        default.broken += failed_cleanly(ran, READ_ONLY) + ([f"made {out.name}"] if out.exists() else [])

        alignments, frames_out = env.work / "ro_in.json", env.work / "ro_in_swapped"
        extracted = run(env, "extract", "-i", env.frames, "-o", out, "-p", alignments, "-D", "dlib-hog")
        converted = run(env, "convert", "-i", env.frames, "-o", frames_out, "-m", env.model, "-p", alignments)
        reads.broken += [f"extract: {p}" for p in ran_cleanly(extracted)]
        reads.broken += [f"convert: {p}" for p in ran_cleanly(converted)]
        reads.happened = (f"exit {extracted.code} and {converted.code}: {len(visible(out))} faces, "
                          f"{len(visible(frames_out))} frames written")
    return trials


def vanish_extract_frames(env: Env) -> Trial:
    trial = Trial("vanishing", "extract: every other frame of the second half of a frames folder deleted mid-run")
    frames = shutil.copytree(env.frames, env.work / "vanish_frames")
    names = image_files(frames)
    doomed = names[len(names) // 2::2]
    out, alignments = env.work / "vanish_frames_faces", env.work / "vanish_frames.json"

    def delete() -> str:
        for path in doomed:
            path.unlink()
        return f"deleted {len(doomed)} of {len(names)} frames"

    ran = run(env, "extract", "-i", frames, "-o", out, "-p", alignments, "-D", "dlib-hog", when=_holds(out, 20),
              act=delete)
    read, skipped, reasons = counted(ran.stderr, "files")
    warned = len(re.findall(r"^skipped ", ran.stderr, re.M))
    trial.happened = f"{said(env, ran)}; {ran.did}: {read} read, {skipped} skipped ({warned} warnings)"
    trial.broken += ran_cleanly(ran) + ([] if ran.did else ["ended before the deletion"])
    if read + skipped != len(names):
        trial.broken.append(f"{len(names) - read - skipped} frames neither read nor counted as skipped")
    trial.broken += [f"{warned} warnings for {skipped} skipped"] if warned != skipped else []
    trial.broken += [f"the skips are counted under {reasons} reasons"] if reasons > 1 else []
    if alignments.exists() and len(load_alignments(alignments).frames) != read:
        trial.broken.append("the alignments file does not list every frame read")
    trial.broken += unreadable(out, "faces")
    return trial


def vanish_extract_output(env: Env, rename: bool) -> Trial:
    trial = Trial("vanishing", f"extract: the output folder {'renamed' if rename else 'removed'} mid-run")
    out = env.work / f"vanish_out_{'renamed' if rename else 'removed'}"
    moved = out.with_name(out.name + ".moved")

    def take() -> str:
        count = len(visible(out))
        out.rename(moved) if rename else _remove(out)
        return f"{'renamed' if rename else 'removed'} it at {count} faces"

    alignments = out.with_suffix(".json")
    ran = run(env, "extract", "-i", env.video, "-o", out, "-p", alignments, "-D", "dlib-hog", when=_holds(out, 10),
              act=take)
    trial.happened = f"{said(env, ran)}; {ran.did}"
    if alignments.exists():  # the frames found before the error, for a run with --skip-existing
        try:
            trial.happened += f"; the alignments file lists {len(load_alignments(alignments).frames)} frames"
        except FaceswapError as err:
            trial.broken.append(f"alignments file: {err}")
    trial.broken += failed_cleanly(ran, GONE) + ([] if ran.did else ["ended before the folder went"])
    trial.broken += unreadable(moved, "faces")
    trial.broken += leftovers(out, moved)
    trial.broken += [f"made {out.name} again"] if out.exists() else []
    return trial


def vanish_train_faces(env: Env) -> Trial:
    trial = Trial("vanishing", "train: both face folders deleted after the first step")
    folder = env.work / "vanish_train"
    sides = {side: shutil.copytree(env.faces[side], folder / side) for side in "AB"}
    model = folder / "model"

    def delete() -> str:
        for side in sides.values():
            shutil.rmtree(side)
        return "deleted"

    ran = run(env, "train", "-A", sides["A"], "-B", sides["B"], "-m", model, *ENV_TRAIN, "--iterations", "6",
              when=_progressed("train"), act=delete)
    problems = ran_cleanly(ran) + model_kept(model, env.faces, 6) + ([] if ran.did else ["ended first"])
    trial.broken += problems
    trial.happened = (f"{said(env, ran)}; " + ("unaffected: trained and saved 6 iterations (the faces are read "
                                                "once, at the start)" if not problems else ran.did))
    return trial


def vanish_convert_input(env: Env, frames: bool) -> Trial:
    trial = Trial("vanishing", "convert: the input frames folder removed mid-run" if frames
                  else "convert: the input video deleted mid-run")
    source = (shutil.copytree(env.frames, env.work / "vanish_in") if frames
              else Path(shutil.copy(env.video, env.work / "vanish_in.mp4")))
    target = env.work / ("vanish_in_swapped" if frames else "vanish_in_swapped.mp4")

    def delete() -> str:
        _remove(source) if frames else source.unlink()
        return "deleted"

    total = len(image_files(source)) if frames else probe_video(source).frame_count
    ran = run(env, "convert", "-i", source, "-o", target, "-m", env.model, "-D", "dlib-hog",
              *(("--fps", "25") if frames else ()), when=_progressed("convert"), act=delete)
    read, skipped, reasons = counted(ran.stderr, "frames")
    trial.broken += ([] if ran.did else ["ended before the deletion"]) + ([] if ran.code else ran_cleanly(ran))
    if ran.code:  # stopped: in one line, with nothing half-written
        trial.broken += failed_cleanly(ran, GONE)
        trial.happened = said(env, ran)
    elif frames:  # went on: every frame read or counted as skipped
        trial.happened = f"exit 0: {read} frames converted, {skipped} skipped with a warning each"
        trial.broken += [f"{total - read - skipped} frames not counted"] if read + skipped != total else []
        trial.broken += [f"the skips are counted under {reasons} reasons"] if reasons > 1 else []
    else:
        written = probe_video(target).frame_count if target.exists() else 0
        trial.happened = f"exit 0: unaffected, {written} of {total} frames written (ffmpeg holds the file open)"
        trial.broken += [f"the video has {written} of {total} frames"] if written != total else []
    trial.broken += unreadable(target, "frames") if frames else []
    trial.broken += leftovers(env.work)
    return trial


def vanish_convert_output(env: Env, to_video: bool) -> Trial:
    trial = Trial("vanishing", "convert: the folder of the output video renamed mid-run" if to_video
                  else "convert: the output frames folder removed mid-run")
    folder = env.work / ("vanish_video_out" if to_video else "vanish_frames_out")
    folder.mkdir()
    moved = folder.with_name(folder.name + ".moved")
    target = folder / "swap.mp4" if to_video else folder

    def take() -> str:
        folder.rename(moved) if to_video else _remove(folder)
        return "done"

    ran = run(env, "convert", "-i", env.video, "-o", target, "-m", env.model, "-D", "dlib-hog", "--overwrite",
              when=_progressed("convert") if to_video else _holds(folder, 10), act=take)
    trial.happened = said(env, ran)
    trial.broken += failed_cleanly(ran, (*GONE, "ffmpeg")) + ([] if ran.did else ["ended before the folder went"])
    trial.broken += leftovers(folder, moved)
    trial.broken += [f"left {p.name}" for p in visible(moved) + visible(folder)]
    return trial


TRIALS: dict[str, Callable[[Env], Trial | list[Trial]]] = {
    "full_train": full_train,
    "full_previews": full_previews,
    "full_extract": full_extract,
    "full_alignments": full_alignments,
    "full_convert_video": partial(full_convert, to_video=True),
    "full_convert_frames": partial(full_convert, to_video=False),
    "read_only_outputs": refused_writes,
    "read_only_inputs": read_only_inputs,
    "vanish_extract_frames": vanish_extract_frames,
    "vanish_extract_output_removed": partial(vanish_extract_output, rename=False),
    "vanish_extract_output_renamed": partial(vanish_extract_output, rename=True),
    "vanish_train_faces": vanish_train_faces,
    "vanish_convert_input_video": partial(vanish_convert_input, frames=False),
    "vanish_convert_input_frames": partial(vanish_convert_input, frames=True),
    "vanish_convert_output_frames": partial(vanish_convert_output, to_video=False),
    "vanish_convert_output_video": partial(vanish_convert_output, to_video=True),
}


def bad_conditions(env: Env, only: str | None) -> list[Trial]:
    """Every trial (only those whose name holds `only`), each printed as it ends."""
    trials: list[Trial] = []
    for name, trial_of in TRIALS.items():
        if only is not None and only not in name:
            continue
        done = trial_of(env)
        for trial in done if isinstance(done, list) else [done]:
            print(f"{trial.fault}: {trial.case}: {trial.happened} -> survived: {trial.verdict()}", flush=True)
            trials.append(trial)
    return trials


def prepare(work: Path, faces: dict[str, Path], model: Path, mounts: bool) -> Env:
    """The trials' inputs: a model trained 2 iterations, A's clip twice over and its frames."""
    if not (model / STATE).exists():
        run_faceswap("train", "-A", faces["A"], "-B", faces["B"], "-m", model, *ENV_TRAIN, "--iterations", "2",
                     log=work / "setup.log")
    video = looped_video(VIDEOS["A"], work / "A_twice.mp4", frames=2 * probe_video(VIDEOS["A"]).frame_count)
    frames = work / "A_twice_frames"
    frames.mkdir()
    split_video(video, frames, "jpg")
    return Env(work, faces, work / "A.json", model, video, frames, mounts)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.conditions", description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-mount", dest="mounts", action="store_false",
                        help="without mounting anything (as a user other than root must): a file size limit for a "
                             "full disk, chmod for a read-only folder")
    parser.add_argument("--trials", default=None, metavar="TEXT",
                        help="only the trials whose name holds TEXT (full_, read_only, vanish_, ...)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_console()
    info = machine()
    work = Path(tempfile.mkdtemp(prefix="faceswap-conditions-"))
    try:
        trials = bad_conditions(prepare(work, extract_faces(work), work / "model", args.mounts), args.trials)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(describe_machine(info))
    print(format_table(["fault", "case", "what happened", "survived"], [t.row() for t in trials]))
    skipped = sum(bool(t.skipped) for t in trials)
    print(f"Tried here: a full disk, read-only folders, files vanishing mid-run; {len(trials) - skipped} "
          "trials" + (f", {skipped} not tried (each says why)." if skipped else "."))
    failed = sum(bool(t.broken) for t in trials)
    if args.json is not None:
        write_json(args.json, {"machine": info, "failed": failed, "trials": [vars(t) for t in trials]})
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
