"""Fuzz every command with damaged and hostile inputs made from the real test media, and prove that nothing is
lost: each run ends in one `error: ` line that says what to fix and a non-zero exit (or skips the one bad file
among many with a warning that names it), without a traceback, leaving every file outside its output as it was.

    python -m bench.fuzz [--out DIR] [--json PATH] [--only SUBSTRING]

The pristine inputs are made once, on first use, by the real CLI from tests/data: 25 faces of A (dlib's
landmarks), 25 of B (the mediapipe mesh: face schema 2), three photos of A with their alignments file, and a
lightweight model trained two steps on the faces. Each case copies what it needs into a folder of its own,
damages one thing (face metadata, an image, a video, the alignments file, a file of the model folder) or gives
paths with spaces and non-ASCII names, snapshots every file there (path -> sha256) but the command's output, and
runs `faceswap.py` in a subprocess as a user would. Then: (a) no traceback on stderr; (b) a non-zero exit whose
last stderr line, the only one starting `error`, names what is damaged; or, for one bad file among many, exit 0
with a warning that names it; or, for the paths cases, exit 0 and the right output; (c) every file outside the
output unchanged, and none added; (d) after a failure, the output absent or as it was. Exit 1 when a case fails.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import io
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.common import (
    DATA,
    ROOT,
    describe_machine,
    format_table,
    machine,
    quiet_console,
    run_faceswap,
    write_json,
)
from lib.alignments import load_alignments
from lib.image import METADATA_KEY, PNG_SIGNATURE, is_marked_synthetic, png_metadata, read_image
from lib.model.state import STATE

VIDEO_A, VIDEO_B = DATA / "video" / "A_obama_kenburns.mp4", DATA / "video" / "B_biden_kenburns.mp4"
PHOTOS = sorted((DATA / "stills" / "obama").glob("*.jpg"))
FAST = ("-D", "dlib-hog", "-A", "dlib68")  # extract without TensorFlow: the input handling is the point here
LOCK = ".lock"  # lib/folderlock.py: who holds a folder, rewritten by every run that takes it; bookkeeping
ERROR, SKIP, WORKS = "error", "skip", "works"
TIMEOUT = 600
BOMB_SIDE = 30_000  # pixels: 2.7 GB decoded as BGR, under OpenCV's own limit of 2**30 pixels
BOMB_MEMORY = 8 * 1024**3  # bytes of address space for a process given a bomb: a machine with less is not hurt


# --- the pristine inputs ---------------------------------------------------------------------------------------

class Inputs:
    """The pristine inputs under root, each made by the real CLI on first use; cases copy, never touch them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.log = root / "prepare.log"
        root.mkdir(parents=True, exist_ok=True)

    def _made(self, name: str, make: Callable[[Path], None]) -> Path:
        """root/name, made by make(temporary folder) unless a complete one is there."""
        target = self.root / name
        if not target.exists():
            work = self.root / f".{name}.partial"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
            make(work)
            work.rename(target)
        return target

    @cached_property
    def faces_a(self) -> Path:
        """25 faces of A with dlib's 68 landmarks."""
        return self._made("faces_a", lambda work: run_faceswap(
            "extract", "-i", VIDEO_A, "-o", work / "faces", "-p", work / "alignments.json", "--every-n", "3",
            *FAST, log=self.log)) / "faces"

    @cached_property
    def faces_b(self) -> Path:
        """25 faces of B found with the mediapipe aligner: each carries the mesh and its blendshapes."""
        return self._made("faces_b", lambda work: run_faceswap(
            "extract", "-i", VIDEO_B, "-o", work / "faces", "-p", work / "alignments.json", "--every-n", "3",
            "-D", "dlib-hog", log=self.log)) / "faces"

    @cached_property
    def photos(self) -> Path:
        """Three photos of A (frames/) and their alignments file (alignments.json), made by extract."""
        def make(work: Path) -> None:
            (work / "frames").mkdir()
            for photo in PHOTOS:
                shutil.copy2(photo, work / "frames" / photo.name)
            run_faceswap("extract", "-i", work / "frames", "-o", work / "faces", "-p", work / "alignments.json",
                         *FAST, log=self.log)
        return self._made("photos", make)

    @cached_property
    def model(self) -> Path:
        """A lightweight model trained two steps on faces A and B: it loads and swaps; what it learned does not
        matter."""
        return self._made("model", lambda work: run_faceswap(
            "train", "-A", self.faces_a, "-B", self.faces_b, "-m", work / "model", "--model", "lightweight",
            "--batch-size", "2", "--iterations", "2", "--preview-every", "0", log=self.log)) / "model"


# --- cases ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    """What a case runs and what must come of it. names: what the error line (ERROR) or a warning (SKIP) names,
    any one of them; verify (WORKS): what is wrong with the output, "" when nothing."""

    args: tuple[str | Path, ...]
    output: Path
    expect: str
    names: tuple[str, ...] = ()
    verify: Callable[[Path], str] | None = None
    memory: int | None = None  # bytes of address space the process may take (RLIMIT_AS)


@dataclass(frozen=True)
class Case:
    """A hostile input: make(inputs, folder) builds it in folder and says what to run."""

    name: str
    command: str
    make: Callable[[Inputs, Path], Run]


@dataclass
class Outcome:
    """How a case went: problems is empty when it passed its checks."""

    case: str
    command: str
    exit_code: int
    seconds: float
    line: str
    problems: list[str]

    @property
    def verdict(self) -> str:
        return "pass" if not self.problems else "FAIL: " + "; ".join(self.problems)


def copy_in(source: Path, folder: Path, name: str | None = None) -> Path:
    """A copy of a file or folder in folder (named name), for the case to damage and the command to read."""
    target = folder / (name or source.name)
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy2(source, target)
    return target


def victim(faces: Path) -> Path:
    """The face file a case damages: one from the middle of the folder."""
    paths = sorted(faces.glob("*.png"))
    return paths[len(paths) // 2]


# --- damage: face PNGs -----------------------------------------------------------------------------------------

def _chunks(data: bytes) -> Iterator[tuple[bytes, bytes, bytes]]:
    """(kind, body, whole chunk) of each chunk of a PNG."""
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        yield kind, data[pos + 8:pos + 8 + length], data[pos:pos + 12 + length]
        pos += 12 + length


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def with_metadata(data: bytes, text: bytes | None) -> bytes:
    """The PNG with its faceswap metadata chunk's text replaced (None: the chunk left out), CRC right."""
    out = PNG_SIGNATURE
    for kind, body, whole in _chunks(data):
        if kind == b"tEXt" and body.startswith(METADATA_KEY + b"\0"):
            out += png_chunk(kind, METADATA_KEY + b"\0" + text) if text is not None else b""
        else:
            out += whole
    return out


MetaDamage = Callable[[dict[str, Any]], bytes | None]
Damage = Callable[[Path], object]  # changes the file or folder at a path; what it returns is ignored


def meta_set(key: str, value: Any) -> MetaDamage:
    return lambda meta: json.dumps({**meta, key: value}).encode()


def meta_drop(key: str) -> MetaDamage:
    return lambda meta: json.dumps({k: v for k, v in meta.items() if k != key}).encode()


def mesh_set(key: str, value: Any) -> MetaDamage:
    return lambda meta: json.dumps({**meta, "mesh": {**meta["mesh"], key: value}}).encode()


def meta_text(text: bytes | None) -> MetaDamage:
    return lambda _meta: text


def damage_meta(damage: MetaDamage) -> Damage:
    """Rewrite a face PNG's metadata chunk with damage(its metadata); the pixels stay as they are."""
    def apply(path: Path) -> None:
        data = path.read_bytes()
        meta = png_metadata(data)
        assert meta is not None, f"{path} carries no metadata"
        path.write_bytes(with_metadata(data, damage(meta)))
    return apply


def png_of(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


def zero_pixels(path: Path) -> None:
    """The PNG's header made to say 0x0 pixels (its CRC right); the rest of the real file after it."""
    data = path.read_bytes()
    path.write_bytes(data[:8] + png_chunk(b"IHDR", struct.pack(">II", 0, 0) + data[24:29]) + data[33:])


def face_pixels(size: int) -> Damage:
    """The face resized to size x size pixels, its metadata kept (a 1x1 face that says it is 256 px)."""
    def apply(path: Path) -> None:
        data = path.read_bytes()
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None
        small = png_of(cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA))
        meta = png_metadata(data)
        path.write_bytes(small[:33] + png_chunk(b"tEXt", METADATA_KEY + b"\0" + json.dumps(meta).encode())
                         + small[33:])
    return apply


def bomb(colour: tuple[int, int, int], side: int = BOMB_SIDE) -> bytes:
    """A small PNG (about 100 kB) that declares side x side pixels of one colour: 1-bit palette rows of zeros,
    deflated by hand."""
    packer = zlib.compressobj(9)
    row = bytes(1 + (side + 7) // 8)  # filter byte 0, then the row's bits
    body = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 3, 0, 0, 0)
    return (PNG_SIGNATURE + png_chunk(b"IHDR", header) + png_chunk(b"PLTE", bytes(colour))
            + png_chunk(b"IDAT", body) + png_chunk(b"IEND", b""))


def real_colour(path: Path) -> tuple[int, int, int]:
    """The mean colour of a real photo, RGB."""
    blue, green, red = read_image(path).reshape(-1, 3).mean(0)
    return int(red), int(green), int(blue)


def truncate(share: float) -> Damage:
    def apply(path: Path) -> None:
        data = path.read_bytes()
        path.write_bytes(data[:int(len(data) * share)])
    return apply


def write(data: bytes) -> Damage:
    return lambda path: path.write_bytes(data)


def make_folder(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.mkdir()


# --- damage: alignments files and model folders ----------------------------------------------------------------

def json_edit(edit: Callable[[dict[str, Any]], Any]) -> Callable[[str], str]:
    """A damage of a JSON file's text: edit(its object) changes it in place."""
    def apply(text: str) -> str:
        raw = json.loads(text)
        edit(raw)
        return json.dumps(raw)
    return apply


def edit_first_frame(edit: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], None]:
    def apply(raw: dict[str, Any]) -> None:
        name = next(iter(raw["frames"]))
        entry = copy.deepcopy(raw["frames"][name])
        edit(entry)
        raw["frames"][name] = entry
    return apply


def rename_frames(raw: dict[str, Any]) -> None:
    """Every frame under a key the input has not: frames of another source."""
    raw["frames"] = {f"elsewhere_{index:06d}.jpg": entry for index, entry in enumerate(raw["frames"].values())}


def checkpoint(model: Path) -> Path:
    return model / json.loads((model / STATE).read_text())["checkpoint"]


def edit_state(edit: Callable[[dict[str, Any]], Any]) -> Damage:
    def apply(model: Path) -> None:
        raw = json.loads((model / STATE).read_text())
        edit(raw)
        (model / STATE).write_text(json.dumps(raw))
    return apply


def state_text(change: Callable[[str], str]) -> Damage:
    def apply(model: Path) -> None:
        (model / STATE).write_text(change((model / STATE).read_text()))
    return apply


def damage_file(name: str, damage: Damage, *, size_in_state: bool) -> Damage:
    """Damage a file of the model's checkpoint; size_in_state: state.json then says the damaged file's size, so
    that only reading the file itself can find the damage."""
    def apply(model: Path) -> None:
        path = checkpoint(model) / name
        damage(path)
        if size_in_state:
            edit_state(lambda raw: raw["files"].__setitem__(name, path.stat().st_size))(model)
    return apply


def garbage_zip(path: Path) -> None:
    """A zip as a .keras file is, holding garbage where the config and the weights go."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("config.json", b"{\x00garbage" * 100)
        archive.writestr("metadata.json", b"[]")
        archive.writestr("model.weights.h5", np.random.default_rng(35).bytes(4096))
    path.write_bytes(buffer.getvalue())


def lambda_keras(path: Path) -> None:
    """A tiny Keras model of the encoder's input whose Lambda layer carries Python code: keras refuses to load it
    in safe_mode only (checked here: it loads without)."""
    import keras  # here: only this case needs TensorFlow in the bench's own process

    faces = keras.Input((64, 64, 3))
    model = keras.Model(faces, keras.layers.Lambda(lambda x: x * 2.0)(faces))
    model.save(path)
    keras.saving.load_model(path, compile=False, safe_mode=False)


def pickled_npz(path: Path) -> None:
    """The optimiser arrays with the first one replaced by an object array: a pickle inside the .npz."""
    with np.load(path) as stored:
        arrays = {name: stored[name] for name in stored.files}
    arrays[sorted(arrays)[0]] = np.array([{"pickled": True}, None], dtype=object)
    with open(path, "wb") as handle:  # np.savez(path) would add .npz to a name without it
        np.savez(handle, **arrays)


# --- what each case runs ---------------------------------------------------------------------------------------

Args = tuple[str | Path, ...]
FaceCommand = Callable[[Inputs, Path, Path, str], tuple[Args, Path, tuple[str, ...]]]


def the_pair(inputs: Inputs, folder: Path, faces: Path) -> tuple[Path, Path]:
    """-A and -B: the damaged folder as its side, a copy of the other side's faces as the other."""
    a = faces if faces.name == "faces_a" else copy_in(inputs.faces_a, folder, "faces_a")
    b = faces if faces.name == "faces_b" else copy_in(inputs.faces_b, folder, "faces_b")
    return a, b


def sort_by(key: str) -> FaceCommand:
    def command(_inputs: Inputs, folder: Path, faces: Path, bad: str) -> tuple[Args, Path, tuple[str, ...]]:
        return ("tools", "sort", "-i", faces, "--by", key, "-o", folder / "sorted"), folder / "sorted", (bad,)
    return command


def clean(_inputs: Inputs, _folder: Path, faces: Path, bad: str) -> tuple[Args, Path, tuple[str, ...]]:
    return ("tools", "clean", "-i", faces, "--dry-run"), faces / "clean_report.json", (bad,)


def rebuild(_inputs: Inputs, folder: Path, faces: Path, bad: str) -> tuple[Args, Path, tuple[str, ...]]:
    target = folder / "rebuilt.json"
    return ("tools", "alignments", "rebuild", "-f", faces, "-p", target), target, (bad,)


def train(inputs: Inputs, folder: Path, faces: Path, _bad: str) -> tuple[Args, Path, tuple[str, ...]]:
    a, b = the_pair(inputs, folder, faces)
    model = folder / "model"
    return (("train", "-A", a, "-B", b, "-m", model, "--model", "lightweight", "--batch-size", "2", "--iterations",
             "1", "--preview-every", "0"), model, ("skipped", "left out"))


def evaluate(inputs: Inputs, folder: Path, faces: Path, _bad: str) -> tuple[Args, Path, tuple[str, ...]]:
    a, b = the_pair(inputs, folder, faces)
    model = copy_in(inputs.model, folder)
    report = folder / "evaluation"
    return ("evaluate", "-m", model, "-A", a, "-B", b, "-o", report, "--max-faces", "25"), report, ("skipped",)


def face_case(name: str, command: FaceCommand, label: str, damage: Damage, *, side: str = "A",
              every: bool = False, expect: str = SKIP, names: tuple[str, ...] = ()) -> Case:
    """One face of side's folder damaged (every: all of them; then the run must fail naming the folder); names:
    what the warning names, if not what the command's warnings usually do."""
    def make(inputs: Inputs, folder: Path) -> Run:
        faces = copy_in(inputs.faces_a if side == "A" else inputs.faces_b, folder, f"faces_{side.lower()}")
        targets = sorted(faces.glob("*.png")) if every else [victim(faces)]
        for target in targets:
            damage(target)
        args, output, usual = command(inputs, folder, faces, targets[0].name)
        verify = None if expect != WORKS else count_faces(len(list(faces.glob("*.png"))) - 1)
        return Run(args, output, expect, (faces.name,) if every else names or usual, verify)
    return Case(name, label, make)


def count_faces(expected: int) -> Callable[[Path], str]:
    def verify(output: Path) -> str:
        found = len(list(output.glob("*.png")))
        return "" if found == expected else f"{found} faces in the output, not {expected}"
    return verify


def alignments_case(name: str, label: str, damage: Callable[[str], str | bytes],
                    names: tuple[str, ...] = ("alignments.json",)) -> Case:
    """The photos' alignments file damaged, read by label: tools alignments missing / draw / extract, convert."""
    def make(inputs: Inputs, folder: Path) -> Run:
        frames = copy_in(inputs.photos / "frames", folder)
        path = folder / "alignments.json"
        damaged = damage((inputs.photos / "alignments.json").read_text(encoding="utf-8"))
        path.write_bytes(damaged if isinstance(damaged, bytes) else damaged.encode())
        out = folder / "out"
        args: Args = {
            "tools alignments missing": ("tools", "alignments", "missing", "-p", path, "-i", frames),
            "tools alignments draw": ("tools", "alignments", "draw", "-i", frames, "-p", path, "-o", out),
            "tools alignments extract": ("tools", "alignments", "extract", "-i", frames, "-p", path, "-o", out),
        }.get(label) or ("convert", "-i", frames, "-p", path, "-m", copy_in(inputs.model, folder), "-o", out)
        return Run(args, out, ERROR, names)
    return Case(name, label, make)


def model_case(name: str, label: str, damage: Damage, names: tuple[str, ...],
               expect: str = ERROR) -> Case:
    """A copy of the model damaged, then used by label: convert, evaluate or train (resumed)."""
    def make(inputs: Inputs, folder: Path) -> Run:
        model = copy_in(inputs.model, folder)
        damage(model)
        if label == "convert":
            frames = copy_in(inputs.photos / "frames", folder)
            alignments = copy_in(inputs.photos / "alignments.json", folder)
            out = folder / "swapped"
            args: Args = ("convert", "-i", frames, "-p", alignments, "-m", model, "-o", out)
            return Run(args, out, expect, names)
        a, b = copy_in(inputs.faces_a, folder, "faces_a"), copy_in(inputs.faces_b, folder, "faces_b")
        if label == "evaluate":
            out = folder / "evaluation"
            return Run(("evaluate", "-m", model, "-A", a, "-B", b, "-o", out, "--max-faces", "4"), out, expect,
                       names)
        return Run(("train", "-A", a, "-B", b, "-m", model, "--iterations", "1", "--preview-every", "0"), model,
                   expect, names)
    return Case(name, label, make)


def extract_case(name: str, file_name: str, make_file: Damage, *, alone: bool,
                 expect: str, names: tuple[str, ...] = (), memory: int | None = None) -> Case:
    """A hostile file given to extract alone (-i FILE) or among the real photos (-i FOLDER)."""
    def make(_inputs: Inputs, folder: Path) -> Run:
        frames = folder / "frames"
        frames.mkdir()
        if not alone:
            for photo in PHOTOS:
                shutil.copy2(photo, frames / photo.name)
        hostile = frames / file_name
        make_file(hostile)
        out = folder / "out"
        args: Args = ("extract", "-i", hostile if alone else frames, "-o", out / "faces", "-p",
                      out / "alignments.json", "--every-n", "3" if hostile.suffix == ".mp4" else "1", *FAST)
        return Run(args, out, expect, names or (file_name,), memory=memory)
    return Case(name, "extract", make)


def video(damage: Damage) -> Damage:
    """The real clip of A, then damaged."""
    def apply(path: Path) -> None:
        shutil.copy2(VIDEO_A, path)
        damage(path)
    return apply


def zero_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[:64] = bytes(64)
    path.write_bytes(bytes(data))


def real_photo_as(transform: Callable[[np.ndarray], bytes]) -> Damage:
    return lambda path: path.write_bytes(transform(read_image(PHOTOS[0])))


def photo_of_no_pixels(path: Path) -> None:
    """A real photo as PNG whose header then says 0x0 pixels."""
    real_photo_as(png_of)(path)
    zero_pixels(path)


# --- paths with spaces and non-ASCII names: these must work ----------------------------------------------------

ODD = "dossier été ü 名前"  # a space, accents, CJK


def paths_extract(_inputs: Inputs, folder: Path) -> Run:
    frames = folder / f"photos {ODD}"
    frames.mkdir()
    for index, photo in enumerate(PHOTOS):
        shutil.copy2(photo, frames / f"Обама {index} ñ.jpg")
    out = folder / f"sortie {ODD}"
    alignments = out / "alignements ö.json"

    def verify(_output: Path) -> str:
        faces = list((out / "visages à").glob("*.png"))
        listed = load_alignments(alignments).frames
        return "" if len(faces) == 3 and len(listed) == 3 else f"{len(faces)} faces, {len(listed)} frames listed"
    return Run(("extract", "-i", frames, "-o", out / "visages à", "-p", alignments, *FAST), out, WORKS,
               verify=verify)


def paths_sort(inputs: Inputs, folder: Path) -> Run:
    faces = copy_in(inputs.faces_a, folder, f"visages {ODD}")
    out = folder / f"triés {ODD}"

    def verify(output: Path) -> str:
        found = len(list(output.glob("*.png")))
        return "" if found == 25 and (output / "sort.csv").is_file() else f"{found} faces sorted, not 25"
    return Run(("tools", "sort", "-i", faces, "--by", "yaw", "-o", out), out, WORKS, verify=verify)


def paths_redo(inputs: Inputs, folder: Path) -> Run:
    frames = copy_in(inputs.photos / "frames", folder, f"cadres {ODD}")
    alignments = copy_in(inputs.photos / "alignments.json", folder, "alignements ü é.json")
    out = folder / f"visages {ODD}"
    return Run(("tools", "alignments", "extract", "-i", frames, "-p", alignments, "-o", out), out, WORKS,
               verify=count_faces(3))


def paths_convert(inputs: Inputs, folder: Path) -> Run:
    frames = copy_in(inputs.photos / "frames", folder, f"cadres {ODD}")
    alignments = copy_in(inputs.photos / "alignments.json", folder, "alignements ü é.json")
    model = copy_in(inputs.model, folder, f"modèle {ODD}")
    out = folder / f"échangés {ODD}"

    def verify(output: Path) -> str:
        frames_out = sorted(output.glob("*.png"))
        marked = sum(is_marked_synthetic(path) for path in frames_out)
        return "" if len(frames_out) == 3 == marked else f"{len(frames_out)} frames out, {marked} marked synthetic"
    return Run(("convert", "-i", frames, "-p", alignments, "-m", model, "-o", out), out, WORKS, verify=verify)


def paths_train(inputs: Inputs, folder: Path) -> Run:
    a = copy_in(inputs.faces_a, folder, f"visages A {ODD}")
    b = copy_in(inputs.faces_b, folder, f"visages B {ODD}")
    model = copy_in(inputs.model, folder, f"modèle {ODD}")

    def verify(output: Path) -> str:
        iteration = json.loads((output / STATE).read_text())["iteration"]
        return "" if iteration == 3 else f"the model is at iteration {iteration}, not 3"
    return Run(("train", "-A", a, "-B", b, "-m", model, "--iterations", "1", "--preview-every", "0"), model, WORKS,
               verify=verify)


# --- the cases -------------------------------------------------------------------------------------------------

LANDMARKS_NAN = [[float("nan"), float("nan")]] * 68
SORT, BY_YAW, BY_EXPRESSION, BY_SCORE = sort_by("blur"), sort_by("yaw"), sort_by("expression"), sort_by("score")
FIFTY_MB = 50 * 1024**2
TEXT = b"a shopping list, not a picture\n"

CASES = [
    # Face PNGs whose metadata is damaged or hostile: one among 25, skipped with a warning that names it.
    face_case("meta-no-chunk", SORT, "tools sort", damage_meta(meta_text(None))),
    face_case("meta-not-json", clean, "tools clean", damage_meta(meta_text(b"{landmarks: [1, 2"))),
    face_case("meta-json-array", SORT, "tools sort", damage_meta(meta_text(b"[1, 2, 3]"))),
    face_case("meta-no-landmarks", SORT, "tools sort", damage_meta(meta_drop("landmarks"))),
    face_case("meta-no-matrix", clean, "tools clean", damage_meta(meta_drop("matrix"))),
    face_case("meta-no-size", BY_YAW, "tools sort", damage_meta(meta_drop("size"))),
    face_case("meta-landmarks-string", SORT, "tools sort", damage_meta(meta_set("landmarks", "68 points"))),
    face_case("meta-landmarks-ragged", clean, "tools clean",
              damage_meta(meta_set("landmarks", [[1.0, 2.0], [3.0]] * 34))),
    face_case("meta-landmarks-67", SORT, "tools sort", damage_meta(meta_set("landmarks", [[100.0, 100.0]] * 67))),
    face_case("meta-landmarks-nan", clean, "tools clean", damage_meta(meta_set("landmarks", LANDMARKS_NAN))),
    face_case("meta-landmarks-infinity", SORT, "tools sort",
              damage_meta(meta_set("landmarks", [[float("inf"), 1.0]] * 68))),
    face_case("meta-landmarks-1e308", clean, "tools clean",
              damage_meta(meta_set("landmarks", [[1e308, 1e308]] * 68))),
    face_case("meta-landmarks-10**30", BY_YAW, "tools sort",
              damage_meta(meta_set("landmarks", [[10**30, 1]] * 68))),
    face_case("meta-matrix-nan", SORT, "tools sort", damage_meta(meta_set("matrix", [[float("nan")] * 3] * 2))),
    face_case("meta-matrix-singular", clean, "tools clean", damage_meta(meta_set("matrix", [[0.0] * 3] * 2))),
    face_case("meta-size-zero", SORT, "tools sort", damage_meta(meta_set("size", 0))),
    face_case("meta-size-negative", clean, "tools clean", damage_meta(meta_set("size", -256))),
    face_case("meta-size-10**30", SORT, "tools sort", damage_meta(meta_set("size", 10**30))),
    face_case("meta-size-infinity", BY_YAW, "tools sort", damage_meta(meta_set("size", float("inf")))),
    face_case("meta-frame-shape-negative", BY_YAW, "tools sort",
              damage_meta(meta_set("frame_shape", [-256, 256]))),
    face_case("meta-frame-index-10**30", BY_YAW, "tools sort", damage_meta(meta_set("frame_index", 10**30))),
    face_case("meta-score-nan", BY_SCORE, "tools sort", damage_meta(meta_set("score", float("nan")))),
    face_case("meta-box-strings", SORT, "tools sort", damage_meta(meta_set("box", ["1", "2", "3", "4"]))),
    face_case("meta-version-newer", BY_YAW, "tools sort", damage_meta(meta_set("version", 10**30))),
    face_case("meta-mesh-not-object", BY_EXPRESSION, "tools sort", damage_meta(meta_set("mesh", [1, 2])),
              side="B"),
    face_case("meta-mesh-points-not-base64", BY_EXPRESSION, "tools sort", damage_meta(mesh_set("points", "%%")),
              side="B"),
    face_case("meta-mesh-blendshapes-nan", BY_EXPRESSION, "tools sort",
              damage_meta(mesh_set("blendshapes", [float("nan")] * 52)), side="B"),
    face_case("meta-mesh-origin-10**30", clean, "tools clean", damage_meta(mesh_set("origin", [10**30, 0, 0])),
              side="B"),
    face_case("meta-50MB", BY_YAW, "tools sort",
              damage_meta(lambda meta: json.dumps({**meta, "padding": " " * FIFTY_MB}).encode())),
    face_case("meta-lost-rebuild", rebuild, "tools alignments rebuild", damage_meta(meta_text(None))),
    face_case("meta-nan-train", train, "train", damage_meta(meta_set("landmarks", LANDMARKS_NAN))),
    face_case("meta-mesh-train", train, "train", damage_meta(mesh_set("unit", -1)), side="B"),
    face_case("meta-singular-evaluate", evaluate, "evaluate", damage_meta(meta_set("matrix", [[0.0] * 3] * 2))),
    # Face images that are not what they say: one among many, then all of a side.
    face_case("face-0-bytes", SORT, "tools sort", write(b"")),
    face_case("face-truncated", evaluate, "evaluate", truncate(0.5)),
    face_case("face-0x0", clean, "tools clean", zero_pixels),
    face_case("face-1x1", train, "train", face_pixels(1), names=("mixed sizes",)),
    face_case("face-text", train, "train", write(TEXT)),
    face_case("face-folder-named-png", SORT, "tools sort", make_folder, expect=WORKS),
    face_case("faces-all-text", train, "train", write(TEXT), every=True, expect=ERROR),
    face_case("faces-all-no-metadata", SORT, "tools sort", damage_meta(meta_text(None)), every=True, expect=ERROR),
    # Frames for extract: among the real photos (skipped, counted) or alone (one error line).
    extract_case("image-0-bytes", "empty.png", write(b""), alone=False, expect=SKIP),
    extract_case("image-truncated", "cut.png", real_photo_as(lambda image: png_of(image)[:30_000]), alone=False,
                 expect=SKIP),
    extract_case("image-0x0", "nothing.png", photo_of_no_pixels, alone=True, expect=ERROR),
    extract_case("image-bomb-among", "bomb.png", lambda path: path.write_bytes(bomb(real_colour(PHOTOS[0]))),
                 alone=False, expect=SKIP, memory=BOMB_MEMORY),
    extract_case("image-bomb-alone", "bomb.png", lambda path: path.write_bytes(bomb(real_colour(PHOTOS[0]))),
                 alone=True, expect=ERROR, memory=BOMB_MEMORY),
    extract_case("image-text-as-png", "notes.png", write(TEXT), alone=True, expect=ERROR),
    extract_case("image-folder-named-png", "face.png", make_folder, alone=True, expect=ERROR),
    extract_case("video-cut", "clip.mp4", video(truncate(0.6)), alone=True, expect=SKIP, names=("ended badly",)),
    extract_case("video-no-header", "clip.mp4", video(zero_header), alone=True, expect=ERROR),
    extract_case("video-0-bytes", "clip.mp4", write(b""), alone=True, expect=ERROR),
    extract_case("video-text", "clip.mp4", write(TEXT), alone=True, expect=ERROR),
    # Alignments files: one error line naming the file.
    alignments_case("alignments-not-json", "tools alignments missing", lambda text: "frames: none\n"),
    alignments_case("alignments-truncated", "convert", lambda text: text[:len(text) // 2]),
    alignments_case("alignments-binary", "tools alignments draw", lambda text: bytes(range(256)) * 4),
    alignments_case("alignments-empty-object", "tools alignments extract", lambda text: "{}"),
    alignments_case("alignments-other-schema", "tools alignments missing",
                    json_edit(lambda raw: raw.update(schema="faceswap-face"))),
    alignments_case("alignments-newer", "tools alignments draw", json_edit(lambda raw: raw.update(version=99))),
    alignments_case("alignments-frames-list", "tools alignments extract",
                    json_edit(lambda raw: raw.update(frames=list(raw["frames"].values())))),
    alignments_case("alignments-index-string", "tools alignments missing",
                    json_edit(edit_first_frame(lambda entry: entry.update(index="first")))),
    alignments_case("alignments-shape-negative", "tools alignments missing",
                    json_edit(edit_first_frame(lambda entry: entry.update(shape=[-800, 640])))),
    alignments_case("alignments-landmarks-nan", "convert",
                    json_edit(edit_first_frame(lambda entry: entry["faces"][0].update(landmarks=LANDMARKS_NAN)))),
    alignments_case("alignments-landmarks-1e308", "tools alignments draw", json_edit(edit_first_frame(
        lambda entry: entry["faces"][0].update(landmarks=[[1e308, 1e308]] * 68)))),
    alignments_case("alignments-score-10**400", "tools alignments extract", json_edit(edit_first_frame(
        lambda entry: entry["faces"][0].update(score=10**400)))),
    alignments_case("alignments-frames-elsewhere", "convert", json_edit(rename_frames),
                    names=("lists none of the frames",)),
    # Model folders: one error line naming what is damaged, the folder as it was.
    model_case("state-truncated", "train", state_text(lambda text: text[:len(text) // 2]), (STATE,)),
    model_case("state-array", "convert", state_text(lambda text: "[1, 2]"), (STATE,)),
    model_case("state-types", "train", edit_state(lambda raw: raw.update(iteration="two")), (STATE,)),
    model_case("state-size-string", "train", edit_state(lambda raw: raw["config"].update(size="64")), (STATE,)),
    model_case("state-iteration-infinity", "evaluate", edit_state(lambda raw: raw.update(iteration=float("inf"))),
               (STATE,)),
    model_case("state-missing-checkpoint", "evaluate", edit_state(lambda raw: raw.update(checkpoint="ckpt-9")),
               ("ckpt-9",)),
    model_case("state-sizes-wrong", "train",
               edit_state(lambda raw: raw["files"].__setitem__("decoder_a.keras", 12)), ("decoder_a.keras",)),
    model_case("keras-truncated", "convert", damage_file("encoder.keras", truncate(0.5), size_in_state=False),
               ("encoder.keras",)),
    model_case("keras-truncated-sized", "evaluate",
               damage_file("encoder.keras", truncate(0.5), size_in_state=True), ("encoder.keras",)),
    model_case("keras-garbage-zip", "convert", damage_file("decoder_b.keras", garbage_zip, size_in_state=True),
               ("decoder_b.keras",)),
    model_case("keras-lambda", "convert", damage_file("encoder.keras", lambda_keras, size_in_state=True),
               ("encoder.keras",)),
    model_case("npz-truncated", "train", damage_file("gen_optimizer.npz", truncate(0.5), size_in_state=True),
               ("gen_optimizer.npz",)),
    model_case("npz-pickle", "train", damage_file("gen_optimizer.npz", pickled_npz, size_in_state=True),
               ("gen_optimizer.npz",)),
    model_case("poses-damaged", "convert", lambda model: (model / "poses.json").write_text('{"shape": {"A": ['),
               ("no face shapes kept",), expect=SKIP),
    # Paths with spaces and non-ASCII names: these work.
    Case("paths-extract", "extract", paths_extract),
    Case("paths-sort", "tools sort", paths_sort),
    Case("paths-alignments-extract", "tools alignments extract", paths_redo),
    Case("paths-convert", "convert", paths_convert),
    Case("paths-train", "train", paths_train),
]


# --- running and judging a case --------------------------------------------------------------------------------

def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def snapshot(root: Path, leave_out: Path | None = None) -> dict[str, str]:
    """Every file and folder under root (relative path -> sha256, or "folder"), those at or under leave_out
    and lock files left out; a file root is itself ("."). Empty when root does not exist."""
    if root.is_file():
        return {".": _sha256(root)}
    found = {}
    for path in sorted(root.rglob("*")):
        if path.name == LOCK or (leave_out is not None and (path == leave_out or leave_out in path.parents)):
            continue
        found[str(path.relative_to(root))] = "folder" if path.is_dir() else _sha256(path)
    return found


def output_state(output: Path) -> dict[str, str] | None:
    """What the output holds (snapshot), None when there is none."""
    return snapshot(output) if output.exists() else None


def differences(before: dict[str, str], after: dict[str, str]) -> str:
    """'changed: a; new: b; gone: c' between two snapshots, "" when they are the same."""
    parts = [(word, [name for name in names][:3]) for word, names in (
        ("changed", [n for n in before if n in after and before[n] != after[n]]),
        ("new", [n for n in after if n not in before]), ("gone", [n for n in before if n not in after]))]
    return "; ".join(f"{word}: {', '.join(names)}" for word, names in parts if names)


def judge(run: Run, code: int, stderr: str, *, changed: str, output_before: dict[str, str] | None,
          output_after: dict[str, str] | None) -> list[str]:
    """What is wrong with how the command took the hostile input (empty: nothing)."""
    problems = ["traceback"] if "Traceback" in stderr else []
    lines = stderr.strip().splitlines()
    last = lines[-1] if lines else ""
    if run.expect == ERROR:
        if code == 0:
            problems.append("exit 0")
        if not last.startswith("error: ") or [line for line in lines if line.startswith("error")] != [last]:
            problems.append("no single last `error: ` line")
        elif run.names and not any(name in last for name in run.names):
            problems.append(f"the error names none of {', '.join(run.names)}")
        if output_after != output_before:
            problems.append("output left behind" if output_before is None else "output changed")
    elif code != 0:
        problems.append(f"exit {code}")
    elif run.expect == SKIP and not any(name in stderr for name in run.names):
        problems.append(f"no warning naming {' or '.join(run.names)}")
    elif run.expect == WORKS and run.verify is not None:
        problems += [wrong] if (wrong := run.verify(run.output)) else []
    return problems + ([f"outside the output: {changed}"] if changed else [])


def shown_line(run: Run, stderr: str, folder: Path) -> str:
    """The stderr line that answers the case: the last, or for a skip the first naming what was skipped; the
    case folder's path shortened to '...'."""
    lines = stderr.strip().splitlines() or [""]
    named = [line for line in lines if any(name in line for name in run.names)] if run.expect == SKIP else []
    return (named or lines)[-1 if not named else 0].replace(str(folder), "...")


def _limit_memory(limit: int | None) -> Callable[[], None] | None:
    if limit is None:
        return None
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def run_case(case: Case, inputs: Inputs, work: Path) -> Outcome:
    """Build the case in work/<name>, run it, judge it; a passing case's folder is removed."""
    folder = work / case.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    run = case.make(inputs, folder)
    before, output_before = snapshot(folder, run.output), output_state(run.output)
    command = [sys.executable, str(ROOT / "faceswap.py"), *map(str, run.args)]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, encoding="utf-8",
                              errors="replace", timeout=TIMEOUT, check=False, preexec_fn=_limit_memory(run.memory))
        code, stderr = done.returncode, done.stderr
    except subprocess.TimeoutExpired as err:
        partial = err.stderr.decode(errors="replace") if isinstance(err.stderr, bytes) else err.stderr or ""
        code, stderr = -1, f"{partial}\ntimed out after {TIMEOUT} s"
    seconds = time.perf_counter() - started
    problems = judge(run, code, stderr, changed=differences(before, snapshot(folder, run.output)),
                     output_before=output_before, output_after=output_state(run.output))
    if code == -1:
        problems.append("timed out")
    (folder / "stderr.txt").write_text(stderr, encoding="utf-8")
    if not problems:
        shutil.rmtree(folder)
    return Outcome(case.name, case.command, code, round(seconds, 1), shown_line(run, stderr, folder), problems)


# --- the report ------------------------------------------------------------------------------------------------

def report(outcomes: list[Outcome], width: int = 90) -> str:
    rows = [[o.case, o.command, o.exit_code, o.verdict, o.line if len(o.line) <= width else o.line[:width - 3]
             + "...", f"{o.seconds:.1f}"] for o in outcomes]
    return format_table(["case", "command", "exit", "verdict", "the answer (last line, or the warning)", "s"],
                        rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the pristine inputs (made once, reused) and the failed cases (default: a "
                             "temporary folder, removed when every case passes)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    parser.add_argument("--only", default=None, metavar="SUBSTRING", help="only the cases whose name holds this")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_console()  # the Lambda case loads Keras in this process
    cases = [case for case in CASES if args.only is None or args.only in case.name]
    if not cases:
        print(f"no case name holds {args.only!r}", file=sys.stderr)
        return 2
    info = machine()
    out = args.out or Path(tempfile.mkdtemp(prefix="faceswap-fuzz-"))
    inputs = Inputs(out / "pristine")
    outcomes = []
    for case in cases:
        outcome = run_case(case, inputs, out / "cases")
        print(f"{case.name}: {outcome.verdict} ({outcome.seconds:.1f} s)", file=sys.stderr, flush=True)
        outcomes.append(outcome)
    info["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    failed = [outcome for outcome in outcomes if outcome.problems]
    print(describe_machine(info))
    print(report(outcomes))
    print(f"{len(outcomes)} hostile inputs, {len(outcomes) - len(failed)} passed, {len(failed)} failed; "
          f"tracebacks: {sum('traceback' in o.problems for o in outcomes)}; files changed outside the output: "
          f"{sum(any(p.startswith('outside') for p in o.problems) for o in outcomes)}")
    if failed:
        print(f"failed cases kept in {out / 'cases'} (each with its stderr.txt)")
    if args.json:
        write_json(args.json, {"machine": info, "cases": [asdict(o) | {"verdict": o.verdict} for o in outcomes]})
    if args.out is None and not failed:
        shutil.rmtree(out, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
