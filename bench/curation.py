"""Benchmark the face-set tools: how well `tools clean` finds bad faces injected into a real face set (and how
few good ones it takes with them), and how fast `tools sort` ranks faces by each key.

    python -m bench.curation [--faces DIR] [--others DIR] [--media DIR] [--json PATH]

The set: real faces of one man (franck.mp4, every 8th of its first 3000 frames, extracted with dlib HOG; the same
faces bench.quality trains on) with bad faces mixed in: about 5 % faces of another man (cap12.mp4), detector false
positives (dlib HOG at its lowest threshold on real photos without a human face where it fires: the astronaut's
mission patch, the dogs), heavily blurred copies of good faces, exact copies, and near copies (re-encoded as JPEG
and back). `tools clean` runs on it through the CLI; then `--undo`, which must give the folder back byte for byte.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.common import DATA, describe_machine, format_table, machine, quiet_console, run_faceswap, write_json
from bench.quality import DEFAULT_MEDIA, prepare_faces
from lib.curation import KEYS
from lib.facefile import read_face_meta
from lib.image import read_face_file, write_png
from scripts.tools.faceset import sort_faces

INJECTED_SHARE = 0.05  # other people, as a share of the good faces
BLURRED, COPIES, NEAR_COPIES = 10, 5, 5
NO_HUMAN_FACE = [DATA / "negative" / "dogs.jpg", DATA / "stills" / "single" / "astronaut.jpg"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.curation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=Path, default=None, help="good faces of one person (default: see above)")
    parser.add_argument("--others", type=Path, default=None, help="faces of somebody else (default: cap12's)")
    parser.add_argument("--media", type=Path, default=DEFAULT_MEDIA, help="folder of bench/fetch-media.sh")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    return parser.parse_args(argv)


def false_positives(work: Path) -> list[Path]:
    """What dlib's HOG detector takes for a face, at its lowest threshold, in photos: not human faces (the
    astronaut's own face, its surest hit, is left out)."""
    found = []
    for photo in NO_HUMAN_FACE:
        folder = work / f"fp_{photo.stem}"
        run_faceswap("extract", "-i", photo, "-o", folder, "-p", work / f"fp_{photo.stem}.json", "-D", "dlib-hog",
                     "--threshold", "0", "--upsample", "1", log=work / "extract.log")
        faces = sorted(folder.glob("*.png"))
        if photo.stem == "astronaut":
            scores = [meta.face.score if (meta := read_face_meta(path)) else 0.0 for path in faces]
            faces = [path for path, score in zip(faces, scores) if score < max(scores)]
        found += faces
    return found


def build_set(good: Path, others: Path, work: Path) -> tuple[Path, dict[str, str], list[str]]:
    """The mixed folder, the injected files with the reason clean should give, and the good files."""
    folder = work / "mixed"
    shutil.copytree(good, folder)
    good_names = sorted(path.name for path in folder.glob("*.png"))
    rng = np.random.default_rng(7)
    injected: dict[str, str] = {}
    other_faces = sorted(others.glob("*.png"))
    chosen = rng.choice(len(other_faces), int(round(INJECTED_SHARE * len(good_names))), replace=False)
    for path in (other_faces[int(i)] for i in chosen):
        shutil.copy(path, folder / f"other_{path.name}")
        injected[f"other_{path.name}"] = "other_person"
    for index, path in enumerate(false_positives(work)):
        shutil.copy(path, folder / f"fp{index}_{path.name}")
        injected[f"fp{index}_{path.name}"] = "not_a_face"
    picks = rng.choice(good_names, BLURRED + COPIES + NEAR_COPIES, replace=False)
    for name in picks[:BLURRED]:
        image, meta = read_face_file(folder / name)
        write_png(folder / f"blurred_{name}", cv2.GaussianBlur(image, (0, 0), 4), meta)
        injected[f"blurred_{name}"] = "blurry"
    for name in picks[BLURRED:BLURRED + COPIES]:
        shutil.copy(folder / name, folder / f"copy_{name}")
        injected[f"copy_{name}"] = "duplicate"
    for name in picks[BLURRED + COPIES:]:
        image, meta = read_face_file(folder / name)
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        assert ok
        write_png(folder / f"near_{name}", np.asarray(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), np.uint8), meta)
        injected[f"near_{name}"] = "duplicate"
    return folder, injected, good_names


def measure_clean(folder: Path, injected: dict[str, str], good: list[str], work: Path) -> dict[str, Any]:
    before = {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}
    started = time.perf_counter()
    run_faceswap("tools", "clean", "-i", folder, log=work / "clean.log")
    seconds = time.perf_counter() - started
    report = json.loads((folder / "clean_report.json").read_text())
    verdicts = {entry["file"]: entry["reason"] for entry in report["files"]}
    moved = {name for name in injected if verdicts.get(name) is not None}
    right_reason = {name for name in injected if verdicts.get(name) == injected[name]}
    wrongly = [name for name in good if verdicts.get(name) is not None]
    per_kind: dict[str, list[int]] = {}
    for name, reason in injected.items():
        per_kind.setdefault(reason, [0, 0])
        per_kind[reason][0] += 1
        per_kind[reason][1] += name in moved
    run_faceswap("tools", "clean", "-i", folder, "--undo", log=work / "clean.log")
    after = {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}
    return {"faces": len(before), "good": len(good), "injected": len(injected), "injected_moved": len(moved),
            "injected_right_reason": len(right_reason), "good_moved": len(wrongly), "good_moved_files": wrongly,
            "per_kind": per_kind, "seconds": round(seconds, 1), "undo_exact": before == after}


def measure_sort(folder: Path, work: Path) -> list[dict[str, Any]]:
    """tools sort's own work per key (scripts.tools.faceset.sort_faces, in this process, modules loaded): read
    the faces, compute the key, rank, copy, write sort.csv."""
    count = len(list(folder.glob("*.png")))
    rows = []
    for key in KEYS:
        started = time.perf_counter()
        sort_faces(folder, key, work / f"sorted_{key}")
        seconds = time.perf_counter() - started
        rows.append({"key": key, "faces": count, "seconds": round(seconds, 2),
                     "faces_per_second": round(count / seconds, 1)})
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_console()
    info = machine()
    folders = prepare_faces(args.media) if args.faces is None or args.others is None else {}
    good = args.faces or folders["train_A"]
    others = args.others or folders["train_B"]
    with tempfile.TemporaryDirectory(prefix="faceswap-bench-curation-") as tmp:
        work = Path(tmp)
        folder, injected, good_names = build_set(good, others, work)
        clean = measure_clean(folder, injected, good_names, work)
        sort = measure_sort(good, work)
    print(describe_machine(info))
    print(f"set: {clean['good']} real faces of one man ({good}) + {clean['injected']} injected")
    kinds = [[kind, total, hit, f"{100 * hit / total:.0f} %"] for kind, (total, hit) in clean["per_kind"].items()]
    print(format_table(["injected", "faces", "moved", "share"], kinds))
    print(f"injected moved: {clean['injected_moved']}/{clean['injected']} "
          f"({100 * clean['injected_moved'] / clean['injected']:.1f} %, target >= 95 %); with the right reason: "
          f"{clean['injected_right_reason']}; good faces moved: {clean['good_moved']}/{clean['good']} "
          f"({100 * clean['good_moved'] / clean['good']:.1f} %, target <= 2 %); clean took {clean['seconds']} s; "
          f"--undo gives the folder back byte for byte: {clean['undo_exact']}")
    print(format_table(["sort key", "faces", "seconds", "faces/s"],
                       [[row["key"], row["faces"], row["seconds"], row["faces_per_second"]] for row in sort]))
    if args.json:
        write_json(args.json, {"machine": info, "clean": clean, "sort": sort})
    return 0


if __name__ == "__main__":
    sys.exit(main())
