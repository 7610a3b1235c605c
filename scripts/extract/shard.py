"""extract --cluster: the frames cut into parts, each part extracted by a Ray actor (detector and aligner loaded
once per actor) into its face PNGs and a part alignments file, then the parts merged into the one alignments file.

Parts live in `.<alignments name>.parts/` beside the alignments file: plan.json (the part size), and per part a
summary and an alignments file, written atomically in that order, so a part's alignments file means it is done.
A rerun skips the parts that are done; the folder goes once the merge is saved.
"""
from __future__ import annotations

import json
import logging
import shutil
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lib.alignments import Alignments, load_alignments
from lib.errors import FaceswapError
from lib.fileio import write_json_atomic
from lib.media import FrameSource
from scripts.cluster import (
    LogCollector,
    NoProgress,
    check_source,
    connect,
    one_slot_of_tensorflow,
    parse_cluster,
    part_size,
    show_logs,
    spans,
)
from scripts.extract.args import Config, check
from scripts.extract.extractor import Extractor, Summary

log = logging.getLogger("faceswap.extract")


class ExtractWorker:
    """A Ray actor: one Extractor, many parts."""

    def __init__(self, cfg: Config, source_name: str, parts_dir: str, known: list[str]) -> None:
        self.logs = LogCollector()
        if cfg.detector == "mtcnn":  # the one detector on TensorFlow
            one_slot_of_tensorflow()
        self.cfg, self.source_name, self.parts_dir, self.known = cfg, source_name, Path(parts_dir), set(known)
        self.problem: FaceswapError | None = None
        try:
            self.extractor = Extractor(cfg)
        except FaceswapError as err:  # told by the first part (an actor that fails to start would be retried)
            self.problem = err

    def extract(self, span: tuple[int, int]) -> dict[str, Any]:
        """Extract the frames of span; returns its summary as plain data (also saved beside its alignments)."""
        if self.problem is not None:
            raise self.problem
        source = FrameSource(self.cfg.input, self.cfg.every_n, span)
        alignments = Alignments(self.source_name, source.kind)
        summary = Summary()
        self.extractor.extract(source, alignments, summary, NoProgress(), self.known)
        result = {"span": list(span), "frames": source.total, "summary": _to_json(summary),
                  "logs": self.logs.take()}
        write_json_atomic(_part(self.parts_dir, span, "summary"), result)
        alignments.save(_part(self.parts_dir, span, "alignments"))  # last: the part is done
        return result


def _part(folder: Path, span: tuple[int, int], kind: str) -> Path:
    return folder / f"part-{span[0]:09d}-{span[1]:09d}.{kind}.json"


def _to_json(summary: Summary) -> dict[str, Any]:
    return {**asdict(summary), "faces_filtered": dict(summary.faces_filtered), "skipped": dict(summary.skipped)}


def _add(summary: Summary, part: dict[str, Any]) -> None:
    for name in ("frames_read", "frames_with_faces", "faces_written", "frames_skipped_existing"):
        setattr(summary, name, getattr(summary, name) + part[name])
    summary.faces_filtered.update(Counter(part["faces_filtered"]))
    summary.skipped.update(Counter(part["skipped"]))
    summary.problem = summary.problem or part["problem"]


def _plan(folder: Path, total: int, slots: int) -> int:
    """The part size: an earlier run's (so its finished parts count), else a new one, saved."""
    plan = folder / "plan.json"
    if plan.is_file():
        saved = json.loads(plan.read_text())
        if saved.get("total") == total:
            return int(saved["size"])
        shutil.rmtree(folder)  # parts of another input: start again
    folder.mkdir(parents=True, exist_ok=True)
    size = part_size(total, slots)
    write_json_atomic(plan, {"total": total, "size": size})
    return size


def extract_on_cluster(cfg: Config, source: FrameSource, alignments: Alignments, summary: Summary,
                       progress: Any) -> Path:
    """Fill alignments and summary as run() does in one process, the parts done by the cluster's actors; returns
    the parts folder, for the caller to remove once it has saved the alignments."""
    spec = parse_cluster(cfg.cluster)
    assert spec is not None
    check_source(source)
    alignments_path = check(cfg)
    folder = alignments_path.with_name(f".{alignments_path.name}.parts")
    with connect(spec, gpu_work=cfg.detector == "dlib-cnn") as cluster:
        cluster.check_shared([cfg.output, folder.parent, source.path])
        size = _plan(folder, source.total, cluster.slots)
        parts = spans(source.total, size)
        todo = [span for span in parts if not _part(folder, span, "alignments").is_file()]
        if len(todo) < len(parts):
            log.info("%d of %d parts done by an earlier run: skipped", len(parts) - len(todo), len(parts))
            progress.update(sum(stop - first for first, stop in parts) - sum(stop - first for first, stop in todo))
        known = sorted(alignments.frames) if cfg.skip_existing else []
        actors = cluster.actors(ExtractWorker, len(todo), cfg, source.source_name, str(folder), known)
        for result in cluster.run(actors, "extract", todo):
            show_logs(result["logs"])
            progress.update(result["frames"])
    _merge(folder, parts, source, alignments, summary)
    return folder


def _merge(folder: Path, parts: list[tuple[int, int]], source: FrameSource, alignments: Alignments,
           summary: Summary) -> None:
    """Every part's frames into alignments, checking that the parts cover the input once: each part is there,
    follows the one before, and lists only frames of its own span, none twice."""
    names = source.frame_names() if source.kind == "images" else None
    seen: set[str] = set()
    end = 0
    for span in parts:
        first, stop = span
        if first != end:
            raise FaceswapError(f"the parts in {folder} leave frames {end}-{first - 1} out: remove the folder and "
                                "run again")
        end = stop
        result = json.loads(_part(folder, span, "summary").read_text())
        part = load_alignments(_part(folder, span, "alignments"))
        allowed = set(names[first:stop]) if names is not None else None
        for name, entry in part.frames.items():
            inside = (name in allowed if allowed is not None
                      else first * source.every_n <= entry.index < stop * source.every_n)
            if not inside or name in seen:
                raise FaceswapError(f"part {first}-{stop} in {folder} lists frame {name} of another part: remove "
                                    "the folder and run again")
            seen.add(name)
            alignments.frames[name] = entry
        _add(summary, result["summary"])
    if end != source.total:
        raise FaceswapError(f"the parts in {folder} end at frame {end} of {source.total}: remove the folder and "
                            "run again")
