"""`tools sort` and `tools clean`: rank a folder of face PNGs by one key, or move the faces that hurt training
aside; both read only the faces and the metadata extract wrote into them, and both can be undone."""
from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import dlib
import numpy as np

from lib.curation import (
    CleanOptions,
    FaceFacts,
    colour_histogram,
    expression_order,
    extract_name,
    face_facts,
    face_inside,
    histogram_order,
    near_duplicates,
    people,
    robust_spread,
    sharpness,
    taken_order,
)
from lib.errors import FaceswapError
from lib.expression import blendshape_counts
from lib.facefile import FaceMeta, face_paths, meta_from_json, read_face_meta
from lib.fileio import write_bytes_atomic, write_json_atomic
from lib.identity import SAME_PERSON, FaceDescriber, reference_descriptor
from lib.image import UnreadableImage, read_face_file
from lib.metrics import interocular
from lib.pose import head_pose
from lib.types import Descriptor
from plugins.extract.pipeline import FaceFinder

log = logging.getLogger("faceswap.tools")
SORT_CSV = "sort.csv"
NEEDS = {"identity": "descriptor", "blur": "blur", "histogram": "histogram"}  # what a key reads; the rest: "meta"


@dataclass(frozen=True, eq=False)
class Face:
    """A face file: its path, metadata, and (when a key needs them) its numbers and descriptor."""

    path: Path
    meta: FaceMeta
    facts: FaceFacts | None = None
    descriptor: Descriptor | None = None
    blur: float | None = None  # for sort --by blur alone (facts has it too)
    histogram: np.ndarray | None = None  # for sort --by histogram alone


def _read(path: Path, need: str, describer: FaceDescriber | None) -> Face | str:
    """One face file with what need asks for ("meta", "blur", "histogram", "descriptor", or "facts": every
    number and, with a describer, the descriptor), or why it cannot be used."""
    if need == "meta":
        meta = read_face_meta(path)
        return Face(path, meta) if meta is not None else "no extract metadata"
    try:
        image, raw = read_face_file(path)
    except (OSError, UnreadableImage):
        return "unreadable"
    meta = meta_from_json(raw)
    if meta is None or image.shape[0] != image.shape[1]:
        return "no extract metadata"
    if need == "blur":
        return Face(path, meta, blur=sharpness(image, face_inside(image, meta)))
    if need == "histogram":
        return Face(path, meta, histogram=colour_histogram(image, face_inside(image, meta)))
    descriptor = None if describer is None else describer.describe(image, meta.landmarks_at(image.shape[0]))
    return Face(path, meta, None if need == "descriptor" else face_facts(path.name, image, meta), descriptor)


def read_faces(folder: Path, need: str, *, identity: bool = False) -> tuple[list[Face], dict[str, int]]:
    """The face PNGs of a folder (sorted by name) with what need asks for (see _read), on a few threads; and
    how many files were skipped, by reason."""
    paths = [path for path in face_paths(folder) if path.suffix.lower() == ".png"]
    describer = FaceDescriber() if identity else None
    faces: list[Face] = []
    skipped: dict[str, int] = {}
    with ThreadPoolExecutor(max_workers=4) as pool:  # PNG decoding releases the GIL (dlib does not)
        for path, read in zip(paths, pool.map(lambda p: _read(p, need, describer), paths)):
            if isinstance(read, str):
                log.warning("skipped %s: %s", path.name, read)
                skipped[read] = skipped.get(read, 0) + 1
            else:
                faces.append(read)
    if not faces:
        raise FaceswapError(f"no face PNGs with extract's metadata in {folder}: sort and clean read what extract "
                            "wrote into each face")
    return faces, skipped


# --- sort ----------------------------------------------------------------------------------------------------

def _identity_rank(faces: list[Face], threshold: float) -> tuple[list[int], list[float]]:
    """Grouped by person (the most faces first), each group by distance to its own centre; value: the group."""
    descriptors = [face.descriptor for face in faces if face.descriptor is not None]
    labels = people(descriptors, threshold)
    groups: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        groups.setdefault(label, []).append(index)
    centres = {label: np.mean([descriptors[i] for i in members], axis=0) for label, members in groups.items()}
    distance = [float(np.linalg.norm(descriptors[i] - centres[labels[i]])) for i in range(len(faces))]
    order = sorted(range(len(faces)), key=lambda i: (labels[i], distance[i], faces[i].path.name))
    return order, [float(labels[i]) for i in range(len(faces))]


SORTERS: dict[str, tuple[Callable[[Face], float], bool]] = {  # key -> (value, highest first)
    "blur": (lambda face: face.blur if face.blur is not None else 0.0, True),
    "yaw": (lambda face: _pose(face)[0], False),
    "pitch": (lambda face: _pose(face)[1], False),
    "size": (lambda face: interocular(face.meta.face.landmarks), True),
    "score": (lambda face: face.meta.face.score, True),
}


def _pose(face: Face) -> tuple[float, float]:
    yaw, pitch, _ = head_pose(face.meta.face.landmarks, face.meta.frame_shape)
    return yaw, pitch


def _expression_rank(faces: list[Face]) -> tuple[list[int], list[float]]:
    """Alike expressions together (lib.curation.expression_order); faces without a mesh last, in name order."""
    known = [index for index, face in enumerate(faces) if face.meta.face.mesh is not None]
    if not known:
        raise FaceswapError("these faces carry no expression scores: extract them with the mediapipe aligner "
                            "(extract -A mediapipe, the default) to sort them by expression")
    chain, steps = expression_order([faces[i].meta.face.mesh.blendshapes for i in known  # type: ignore[union-attr]
                                     ])
    values = [0.0] * len(faces)
    for position, step in enumerate(steps):
        values[known[position]] = step
    rest = sorted(set(range(len(faces))) - set(known), key=lambda i: faces[i].path.name)
    return [known[position] for position in chain] + rest, values


def expressions(faces: list[Face]) -> dict[str, int]:
    """Faces with expression scores, and how many of them have both eyes closed and the mouth open."""
    return blendshape_counts([None if face.meta.face.mesh is None else face.meta.face.mesh.blendshapes
                              for face in faces])


def rank(faces: list[Face], key: str, threshold: float = SAME_PERSON) -> tuple[list[int], list[float]]:
    """The order of the faces by key (stable: ties in file-name order) and each face's value of the key."""
    if key == "identity":
        return _identity_rank(faces, threshold)
    if key == "expression":
        return _expression_rank(faces)
    if key == "histogram":
        chain, steps = histogram_order([face.histogram for face in faces if face.histogram is not None])
        values = [0.0] * len(faces)
        for index, step in zip(chain, steps):
            values[index] = step
        return chain, values
    value, descending = SORTERS[key]
    values = [float(value(face)) for face in faces]
    order = sorted(range(len(faces)), key=lambda i: (-values[i] if descending else values[i], faces[i].path.name))
    return order, values


def _prefixed(rank_index: int, name: str) -> str:
    return f"{rank_index:05d}_{name}"


def undo_sort(folder: Path) -> int:
    """Give the files of an in-place sort their names back (from sort.csv); returns how many."""
    table = folder / SORT_CSV
    if not table.is_file():
        raise FaceswapError(f"{folder} has no {SORT_CSV}: nothing to undo")
    with table.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    renamed = 0
    for row in rows:
        current, original = folder / row["new_name"], folder / row["file"]
        if row["new_name"] != row["file"] and current.is_file() and not original.exists():
            os.replace(current, original)
            renamed += 1
    table.unlink()
    return renamed


@dataclass(frozen=True)
class Sorted:
    """What a sort did: the table it wrote, how many faces, and their expression counts (expressions())."""

    table: Path
    count: int
    expressions: dict[str, int]


def sort_faces(folder: Path, key: str, output: Path | None = None, threshold: float = SAME_PERSON) -> Sorted:
    """Rank the faces of folder by key: rename them in place with a rank prefix, or copy them so into output.
    Writes sort.csv (file, value, rank, new name) beside them."""
    if output is None and (folder / SORT_CSV).is_file():
        undo_sort(folder)  # a second in-place sort starts from the original names
    faces, _ = read_faces(folder, NEEDS.get(key, "meta"), identity=key == "identity")
    order, values = rank(faces, key, threshold)
    target = output or folder
    target.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, str | int]] = [
        {"file": faces[index].path.name, "value": f"{values[index]:.6g}", "rank": position + 1,
         "new_name": _prefixed(position + 1, faces[index].path.name)} for position, index in enumerate(order)]
    # The table first: a run cut short half-way can still be undone from it.
    table = target / SORT_CSV
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=["file", "value", "rank", "new_name"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_bytes_atomic(table, text.getvalue().encode())
    for row, index in zip(rows, order):
        new_name = str(row["new_name"])
        if output is None:
            os.replace(faces[index].path, folder / new_name)
        else:
            shutil.copy2(faces[index].path, output / new_name)
    return Sorted(table, len(rows), expressions(faces))


# --- clean ---------------------------------------------------------------------------------------------------

REJECTED = "_rejected"
CLEAN_REPORT = "clean_report.json"
REASONS = ("not_a_face", "other_person", "misaligned", "tiny", "blurry", "duplicate")


def _main_person(faces: list[Face], references: list[Descriptor], options: CleanOptions) -> Descriptor:
    """The centre of the references' descriptors, else of the largest group of alike faces in the set."""
    if references:
        return np.mean(references, axis=0)
    descriptors = [face.descriptor for face in faces if face.descriptor is not None]
    labels = people(descriptors, options.identity * 0.85)
    return np.mean([d for d, label in zip(descriptors, labels) if label == 0], axis=0)


def find_rejects(faces: list[Face], references: list[Descriptor], options: CleanOptions,
                 looks_like_a_face: Callable[[Face], bool]) -> list[tuple[str | None, float | None]]:
    """For each face, (reason, the value that triggered it), or (None, None) when it is kept."""
    centre = _main_person(faces, references, options)
    facts = [face.facts for face in faces]
    assert all(fact is not None for fact in facts)
    blur_median, _ = robust_spread([f.blur for f in facts if f is not None])
    fit_median, fit_spread = robust_spread([f.fit for f in facts if f is not None])
    size_median, _ = robust_spread([f.size for f in facts if f is not None])
    first = [extract_name(face.meta) == face.path.name for face in faces]  # of two copies, keep extract's file
    duplicates = near_duplicates([f.thumb for f in facts if f is not None], options.duplicate, first)
    verdicts: list[tuple[str | None, float | None]] = []
    for face, fact in zip(faces, facts):
        assert fact is not None and face.descriptor is not None
        distance = float(np.linalg.norm(face.descriptor - centre))
        if distance > options.identity:
            verdicts.append(("other_person", distance) if looks_like_a_face(face) else ("not_a_face", distance))
        elif fact.fit > max(fit_median + options.fit * fit_spread, 0.08):
            verdicts.append(("misaligned", fact.fit))
        elif fact.size < options.tiny * size_median:
            verdicts.append(("tiny", fact.size))
        elif fact.blur < options.blur * blur_median:
            verdicts.append(("blurry", fact.blur))
        else:
            verdicts.append((None, None))
    for index in taken_order(len(faces), first):  # kept faces come before their copies
        kept = duplicates[index]
        if verdicts[index][0] is None and kept is not None and verdicts[kept][0] in (None, "duplicate"):
            verdicts[index] = ("duplicate", float(kept))
    return verdicts


def clean_faces(folder: Path, references: list[Path], options: CleanOptions, *, dry_run: bool,
                finder: FaceFinder | None = None) -> dict[str, Any]:
    """Move the faces that hurt training to FACES/_rejected/<reason>/ and write clean_report.json listing every
    file with its verdict (with dry_run, only the report). Returns the report."""
    if (folder / REJECTED).is_dir() and not dry_run:
        raise FaceswapError(f"{folder} was cleaned before ({REJECTED}/ is there): undo it first (tools clean "
                            "--undo)")
    faces, skipped = read_faces(folder, "facts", identity=True)
    describer = FaceDescriber()
    people_refs = [reference_descriptor(path, describer, finder or FaceFinder("dlib-hog")) for path in references]
    hog = dlib.get_frontal_face_detector()

    def looks_like_a_face(face: Face) -> bool:
        image, _ = read_face_file(face.path)
        rgb = np.ascontiguousarray(image[..., ::-1])
        return len(hog(rgb, 0)) > 0

    verdicts = find_rejects(faces, people_refs, options, looks_like_a_face)
    entries = [{"file": face.path.name, "reason": reason, "value": None if value is None else round(value, 4)}
               for face, (reason, value) in zip(faces, verdicts)]
    counts = {reason: sum(entry["reason"] == reason for entry in entries) for reason in REASONS}
    report = {"folder": str(folder), "dry_run": dry_run, "options": asdict(options),
              "references": [str(path) for path in references], "faces": len(faces), "rejected": counts,
              "expressions": expressions([face for face, (reason, _) in zip(faces, verdicts) if reason is None]),
              "skipped": skipped, "files": entries}
    write_json_atomic(folder / CLEAN_REPORT, report)  # first: a run cut short can be undone from it
    if not dry_run:
        for entry in entries:
            if entry["reason"] is not None:
                target = folder / REJECTED / str(entry["reason"])
                target.mkdir(parents=True, exist_ok=True)
                os.replace(folder / str(entry["file"]), target / str(entry["file"]))
    return report


def undo_clean(folder: Path) -> int:
    """Put the faces a clean moved aside back, remove _rejected/ and the report; returns how many moved."""
    path = folder / CLEAN_REPORT
    if not path.is_file():
        raise FaceswapError(f"{folder} has no {CLEAN_REPORT}: nothing to undo")
    try:
        report = json.loads(path.read_text())
        entries = [(str(e["file"]), e["reason"]) for e in report["files"]]
    except (ValueError, KeyError, TypeError) as err:
        raise FaceswapError(f"{path} is damaged ({err}): move the files in {REJECTED}/ back by hand") from None
    moved = 0
    for name, reason in entries:
        source = folder / REJECTED / str(reason) / name
        if reason is not None and source.is_file() and not (folder / name).exists():
            os.replace(source, folder / name)
            moved += 1
    shutil.rmtree(folder / REJECTED, ignore_errors=True)
    path.unlink()
    return moved
