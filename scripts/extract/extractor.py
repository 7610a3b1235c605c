"""extract's work on frames: read ahead, faces found in batches, filtered by --filter/--nfilter, written behind as
face PNGs and alignments entries; used whole by run.py and in parts by shard.py's cluster workers."""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lib.alignments import Alignments, FrameEntry, load_alignments
from lib.facefile import frames_from_faces, read_face_meta, save_faces
from lib.identity import FaceDescriber, IdentityFilter, reference_descriptor
from lib.media import FrameSource, SourceFrame
from lib.readahead import read_ahead
from lib.types import DetectedFace, Frame
from lib.writebehind import WriteBehind
from plugins.extract.pipeline import FaceFinder
from scripts.common import input_lines
from scripts.extract.args import Config

log = logging.getLogger("faceswap.extract")
FILTERED = {IdentityFilter.NOT_KEPT: "not the --filter person", IdentityFilter.DROPPED: "an --nfilter person"}


@dataclass
class Summary:
    """What a run did, for the closing report and for tests."""

    frames_read: int = 0
    frames_with_faces: int = 0
    faces_written: int = 0
    frames_skipped_existing: int = 0
    faces_filtered: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    problem: str | None = None

    def lines(self) -> list[str]:
        out = [f"frames read: {self.frames_read}, with faces: {self.frames_with_faces}, "
               f"faces written: {self.faces_written}"]
        if self.frames_skipped_existing:
            out.append(f"frames already done (--skip-existing): {self.frames_skipped_existing}")
        for reason, count in sorted(self.faces_filtered.items()):
            out.append(f"faces dropped ({reason}): {count}")
        return out + input_lines(self.skipped, "files", self.problem)


def _identity_filter(cfg: Config, finder: FaceFinder) -> IdentityFilter | None:
    """--filter / --nfilter: the reference people's descriptors (None when there are none)."""
    if not cfg.filter and not cfg.nfilter:
        return None
    describer = FaceDescriber()

    def people(paths: list[Path]) -> list:
        return [reference_descriptor(path, describer, finder) for path in paths]

    return IdentityFilter(describer, people(cfg.filter), people(cfg.nfilter), cfg.filter_threshold)


def _keep(frame: Frame, faces: list[DetectedFace], cfg: Config, people: IdentityFilter | None,
          dropped: Counter) -> list[DetectedFace]:
    """The faces that pass --min-size and the identity filters; counts the others in dropped by reason."""
    kept = []
    for face in faces:
        if max(face.box.width, face.box.height) < cfg.min_size:
            dropped["smaller than --min-size"] += 1
            continue
        verdict = None if people is None else people.verdict(frame, face.landmarks)
        if verdict is not None:
            dropped[FILTERED[verdict]] += 1
            continue
        kept.append(face)
    return kept


def known_frames(cfg: Config, path: Path, source_name: str) -> dict[str, FrameEntry]:
    """--skip-existing: frames in the alignments file, and frames with faces in -o from an interrupted run."""
    known = dict(load_alignments(path).frames) if path.is_file() else {}
    metas = [meta for face in sorted(cfg.output.glob("*.png")) if (meta := read_face_meta(face)) is not None
             and meta.source == source_name and meta.frame not in known]
    return {**known, **frames_from_faces(metas)}


class Extractor:
    """extract's work on frames, for the whole input or a part of it (a cluster worker's): the detector,
    aligner and identity filters loaded once."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.finder = FaceFinder(cfg.detector, cfg.detect_options, cfg.aligner, cfg.align_options)
        self.people = _identity_filter(cfg, self.finder)

    def extract(self, source: FrameSource, alignments: Alignments, summary: Summary, progress: Any,
                known: Collection[str] = ()) -> None:
        """Faces of every frame of source into alignments and -o, counted in summary; frames named in known
        (--skip-existing) are passed over. Waits for every face file to be written, also on an error."""
        cfg = self.cfg

        def write(item: tuple[SourceFrame, list[DetectedFace]]) -> None:
            save_faces(cfg.output, source.source_name, item[0], item[1], cfg.size)

        writer: WriteBehind[tuple[SourceFrame, list[DetectedFace]]] = WriteBehind(write, f"faces to {cfg.output}",
                                                                                  32)
        try:
            for batch in _batches(read_ahead(iter(source), depth=16), self.finder.batch_size):
                ready = []
                for frame in batch:
                    if frame.image is None:
                        log.warning("skipped %s: %s", frame.name, frame.problem)
                        summary.skipped[frame.problem or "unreadable"] += 1
                    elif frame.name in known:
                        summary.frames_skipped_existing += 1
                    else:
                        ready.append(frame)
                    progress.update(1)
                if ready:
                    self._find(ready, alignments, summary, writer)
        finally:
            writer.close()  # waits for queued faces, re-raises a write error
        summary.problem = source.problem

    def _find(self, ready: list[SourceFrame], alignments: Alignments, summary: Summary,
              writer: WriteBehind[tuple[SourceFrame, list[DetectedFace]]]) -> None:
        for frame, faces in zip(ready, self.finder.find([f.image for f in ready if f.image is not None])):
            assert frame.image is not None
            summary.frames_read += 1
            kept = _keep(frame.image, faces, self.cfg, self.people, summary.faces_filtered)
            shape = frame.image.shape
            alignments.frames[frame.name] = FrameEntry(frame.index, (int(shape[0]), int(shape[1])), kept)
            summary.frames_with_faces += bool(kept)
            summary.faces_written += len(kept)
            if kept:
                writer.put((frame, kept))


def _batches(items: Iterator[SourceFrame], size: int) -> Iterator[list[SourceFrame]]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
