"""The alignments file: versioned JSON listing every frame of a source and the faces found in it.

Version 2 adds, for faces found with the mediapipe aligner, a "mesh": its 478 points packed as little-endian int16
(x, y, z of each point, in `unit` pixels from `origin`, base64) and its 52 blendshapes rounded to 3 decimals, about
4.3 kB a face. Version 1 files (68 landmarks only) load as before: their faces have no mesh.

The file is written a frame a line (the header, then `"<frame>": {...},` lines), so that memory stays flat however
long the input: extract spools the frames it finds to an unnamed temporary file (SpooledFrames) and streams them
into place at the end, and convert indexes the file and reads a frame's faces when it gets to the frame
(load_alignments(lazy=True)). Files laid out otherwise (older, or edited by hand) load whole, as before.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import tempfile
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from lib.errors import FaceswapError
from lib.fileio import write_chunks_atomic
from lib.types import Box, DetectedFace, Mesh

SCHEMA = "faceswap-alignments"
VERSION = 2
MESH_POINTS, BLENDSHAPES = 478, 52
MESH_UNIT = 1 / 16  # pixels: far below the mesh's own frame-to-frame jitter (about 0.2 px on a 40 px eye distance)
# Pixels: far beyond any frame's landmarks or a face's matrix, far below where their arithmetic overflows.
COORDINATE_LIMIT = 1e7


@dataclass
class FrameEntry:
    """One frame of the source: its index, its size (height, width) and its faces (maybe none)."""

    index: int
    shape: tuple[int, int]
    faces: list[DetectedFace] = field(default_factory=list)


@dataclass
class Alignments:
    """All frames of one source, keyed by frame name (the image's file name, or `<video>_<index>`). frames is a
    dict, or a SpooledFrames (extract's, kept on disk) or LazyFrames (read from the file when asked for)."""

    source: str
    kind: str  # "images" or "video"
    frames: MutableMapping[str, FrameEntry] = field(default_factory=dict)

    @property
    def face_count(self) -> int:
        return sum(len(entry.faces) for entry in self.frames.values())

    def header(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "version": VERSION, "source": self.source, "kind": self.kind}

    def ordered(self) -> list[str]:
        """The frame names in the file's order: by frame index, then name."""
        frames = self.frames
        if isinstance(frames, (SpooledFrames, LazyFrames)):
            return frames.ordered()
        return sorted(frames, key=lambda name: (frames[name].index, name))

    def to_json(self) -> dict[str, Any]:
        return {**self.header(), "frames": {name: entry_to_json(self.frames[name]) for name in self.ordered()}}

    def save(self, path: Path) -> None:
        """Write the file a frame a line, atomically: a crash leaves the old file or the new one, never half of
        one; a frame at a time in memory."""
        def chunks() -> Iterator[bytes]:
            yield json.dumps(self.header())[:-1].encode() + b', "frames": {\n'
            names = self.ordered()
            for number, name in enumerate(names):
                line = json.dumps(name) + ": " + json.dumps(entry_to_json(self.frames[name]))
                yield (line + (",\n" if number < len(names) - 1 else "\n")).encode()
            yield b"}}\n"

        write_chunks_atomic(Path(path), chunks())


def entry_to_json(entry: FrameEntry) -> dict[str, Any]:
    return {"index": entry.index, "shape": list(entry.shape),
            "faces": [face_to_json(face) for face in entry.faces]}


def entry_from_json(raw: Any) -> FrameEntry:
    """A frame's entry; ValueError (or KeyError, TypeError, ...) when it is not one."""
    return FrameEntry(int(raw["index"]), _frame_shape(raw["shape"]),
                      [face_from_json(face) for face in raw["faces"]])


class _Stored(MutableMapping[str, FrameEntry]):
    """Frames kept as JSON lines in a file, with only each one's frame index and place in memory."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self._where: dict[str, tuple[int, int, int]] = {}  # name -> (frame index, offset, length)

    def _read(self, offset: int, length: int) -> bytes:
        self._handle.seek(offset)
        return self._handle.read(length)

    def __getitem__(self, name: str) -> FrameEntry:
        _, offset, length = self._where[name]
        return self._parse(self._read(offset, length))

    def _parse(self, line: bytes) -> FrameEntry:
        return entry_from_json(json.loads(line))

    def __delitem__(self, name: str) -> None:
        del self._where[name]

    def __setitem__(self, name: str, entry: FrameEntry) -> None:
        raise TypeError("read-only")

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, name: object) -> bool:
        return name in self._where

    def ordered(self) -> list[str]:
        return sorted(self._where, key=lambda name: (self._where[name][0], name))


class SpooledFrames(_Stored):
    """extract's frames as it finds them, each written at once to an unnamed temporary file (gone with the
    process, however it ends) in folder: memory holds a few numbers a frame, not the frame's faces.

    The file is unbuffered, so that a write that fails (a full disk) fails when the frame is added, as a
    FaceswapError, and the frames added before stay readable (a buffer would fail again at every later seek,
    read and close)."""

    def __init__(self, folder: Path, known: dict[str, FrameEntry] | None = None) -> None:
        super().__init__(tempfile.TemporaryFile(dir=folder, buffering=0))
        self._folder = folder
        self._end = 0
        for name, entry in (known or {}).items():
            self[name] = entry

    def __setitem__(self, name: str, entry: FrameEntry) -> None:
        line = json.dumps(entry_to_json(entry)).encode()
        try:
            self._handle.seek(self._end)
            done = 0
            while done < len(line):  # an unbuffered write may write part
                done += self._handle.write(line[done:])
        except OSError as err:
            raise FaceswapError(f"cannot keep the frames found in {self._folder} (where the alignments file "
                                f"goes): {err.strerror or err}") from err
        self._where[name] = (entry.index, self._end, len(line))
        self._end += len(line)

    def close(self) -> None:
        self._handle.close()


class LazyFrames(_Stored):
    """The frames of an alignments file written a frame a line, indexed once (every entry checked) and read
    again from the file when asked for."""

    def _parse(self, line: bytes) -> FrameEntry:
        _, raw = _frame_line(line)
        return entry_from_json(raw)


def _frame_line(line: bytes) -> tuple[str, Any]:
    """('<frame>', entry) from a `"<frame>": {...},` line."""
    found = json.loads(b"{" + line.rstrip().rstrip(b",") + b"}")
    if not isinstance(found, dict) or len(found) != 1:
        raise ValueError("not a frame line")
    return next(iter(found.items()))


def face_to_json(face: DetectedFace) -> dict[str, Any]:
    found = {
        "box": face.box.as_list(),
        "score": round(float(face.score), 4),
        "landmarks": np.round(face.landmarks, 2).tolist(),
    }
    return found if face.mesh is None else {**found, "mesh": mesh_to_json(face.mesh)}


def mesh_to_json(mesh: Mesh) -> dict[str, Any]:
    """The mesh packed: int16 steps of `unit` pixels from a whole-pixel origin (the unit doubles for a face too
    large for int16 at 1/16 px), base64; the blendshapes as a list."""
    origin = np.round(mesh.points.mean(0))
    reach = float(np.abs(mesh.points - origin).max())
    unit = MESH_UNIT
    while reach / unit > 32000:
        unit *= 2
    steps = np.round((mesh.points - origin) / unit).astype("<i2")
    return {
        "origin": [int(v) for v in origin],
        "unit": unit,
        "points": base64.b64encode(steps.tobytes()).decode("ascii"),
        "blendshapes": np.round(np.asarray(mesh.blendshapes, np.float64), 3).tolist(),
    }


def mesh_from_json(raw: Any) -> Mesh:
    """The mesh mesh_to_json packed; ValueError when it is not one."""
    if not isinstance(raw, dict):
        raise ValueError("mesh is not an object")
    try:
        packed = base64.b64decode(str(raw["points"]), validate=True)
    except binascii.Error as err:
        raise ValueError(f"mesh points are not base64 ({err})") from None
    if len(packed) != MESH_POINTS * 3 * 2:
        raise ValueError(f"mesh has {len(packed)} bytes of points, not {MESH_POINTS * 3 * 2}")
    origin = np.asarray(ints_from_json(raw["origin"], 3, "mesh origin", COORDINATE_LIMIT), np.float64)
    unit = float(raw["unit"])
    if not 0 < unit < 1e3:
        raise ValueError(f"mesh unit is {unit}")
    points = np.frombuffer(packed, "<i2").reshape(MESH_POINTS, 3).astype(np.float64) * unit + origin
    blendshapes = np.asarray(raw["blendshapes"], np.float32)
    if blendshapes.shape != (BLENDSHAPES,) or not np.isfinite(blendshapes).all():
        raise ValueError(f"mesh has blendshapes of shape {blendshapes.shape}, not ({BLENDSHAPES},)")
    return Mesh(points, blendshapes)


def ints_from_json(raw: Any, count: int, what: str, limit: float = 2**31) -> list[int]:
    """A JSON list of exactly `count` integers, each of magnitude under limit; ValueError otherwise
    (int("480x360"[0]) must not pass, nor 10**30)."""
    if not isinstance(raw, list) or len(raw) != count or not all(isinstance(v, int) and abs(v) < limit
                                                                   for v in raw):
        raise ValueError(f"{what} is {str(raw)[:40]}, not {count} integers")
    return raw


def finite_array(raw: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    """A JSON array of numbers of this shape as float64, each finite and under COORDINATE_LIMIT; ValueError
    otherwise (NaN, Infinity and 1e308 are JSON numbers to Python, and would reach the warps)."""
    try:
        array = np.asarray(raw, np.float64)
    except OverflowError:  # an integer beyond float64
        raise ValueError(f"{what} hold a number out of range") from None
    if array.shape != shape:
        raise ValueError(f"{what} have shape {array.shape}, not {shape}")
    if not np.isfinite(array).all() or np.abs(array).max() >= COORDINATE_LIMIT:
        raise ValueError(f"{what} hold numbers that are not finite or out of range")
    return array


def finite_number(raw: Any, what: str) -> float:
    """A JSON number that is finite as a float; ValueError otherwise (a string, NaN, Infinity, 10**400)."""
    try:
        value = float(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else math.nan
    except OverflowError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"{what} is not a finite number")
    return value


def face_from_json(raw: dict[str, Any]) -> DetectedFace:
    landmarks = finite_array(raw["landmarks"], (68, 2), "landmarks")
    mesh = mesh_from_json(raw["mesh"]) if "mesh" in raw else None
    return DetectedFace(Box(*ints_from_json(raw["box"], 4, "box")), finite_number(raw["score"], "score"),
                        landmarks, mesh)


def load_alignments(path: Path, *, lazy: bool = False) -> Alignments:
    """Read and check an alignments file; any problem is a FaceswapError naming the file. lazy: a file laid out
    a frame a line is indexed (every entry checked) and its frames read when asked for (LazyFrames), so memory
    does not grow with its length."""
    path = Path(path)
    if not path.is_file():
        raise FaceswapError(f"alignments file not found: {path} (run extract first, or pass -p)")
    if lazy:
        handle = path.open("rb")
        try:
            found = _index(path, handle)
        except BaseException:
            handle.close()
            raise
        if found is not None:
            return found
        handle.close()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FaceswapError(f"{path} is not an alignments file (not JSON: {err})") from None
    header = _check_header(path, raw)
    try:
        frames = {name: entry_from_json(entry) for name, entry in raw["frames"].items()}
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as err:
        raise FaceswapError(f"{path} is damaged ({err}): re-run extract or `tools alignments rebuild`") from None
    return Alignments(str(header.get("source", "")), str(header.get("kind", "images")), frames)


def _check_header(path: Path, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or raw.get("schema") != SCHEMA:
        raise FaceswapError(f"{path} is not a faceswap alignments file")
    version = raw.get("version")
    if not isinstance(version, int):
        raise FaceswapError(f"{path} is damaged (version {str(version)[:20]}): re-run extract or "
                            "`tools alignments rebuild`")
    if version > VERSION:
        raise FaceswapError(f"{path} was written by a newer faceswap (version {version}): upgrade")
    return raw


def _index(path: Path, handle: IO[bytes]) -> Alignments | None:
    """The file as LazyFrames when it is laid out a frame a line, else None (read it whole)."""
    first = handle.readline()
    if not first.rstrip().endswith(b'"frames": {'):
        return None
    try:
        header = json.loads(first.rstrip() + b"}}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    header = _check_header(path, header)
    frames = LazyFrames(handle)
    offset = len(first)
    ended = False
    for line in iter(handle.readline, b""):
        if line.strip() == b"}}":
            ended = True
            break
        try:
            name, raw = _frame_line(line)
            entry = entry_from_json(raw)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError,
                UnicodeDecodeError) as err:
            raise FaceswapError(f"{path} is damaged ({err}): re-run extract or `tools alignments rebuild`") \
                from None
        frames._where[name] = (entry.index, offset, len(line))
        offset += len(line)
    if not ended:
        raise FaceswapError(f"{path} is damaged (it ends part-way): re-run extract or `tools alignments rebuild`")
    return Alignments(str(header.get("source", "")), str(header.get("kind", "images")), frames)


def _frame_shape(raw: Any) -> tuple[int, int]:
    height, width = ints_from_json(raw, 2, "frame shape")
    if height <= 0 or width <= 0:
        raise ValueError(f"frame shape is {raw}, not a height and a width")
    return height, width
