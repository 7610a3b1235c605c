"""`extract`: frames → faces with landmarks → aligned face PNGs and an alignments file."""
from __future__ import annotations

import argparse
import logging
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lib.errors import FaceswapError
from lib.readahead import read_ahead

if TYPE_CHECKING:
    from lib.alignments import Alignments, FrameEntry

log = logging.getLogger("faceswap.extract")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-i", "--input", type=Path, required=True,
                        help="a folder of images, one image, or a video file")
    parser.add_argument("-o", "--output", type=Path, required=True, help="folder for the aligned face PNGs")
    parser.add_argument("-p", "--alignments", type=Path, default=None,
                        help="alignments file to write (default: alignments.json in the input folder, "
                             "or <name>_alignments.json beside a file)")
    parser.add_argument("-D", "--detector", default="mtcnn", choices=["mtcnn", "dlib-hog", "dlib-cnn"],
                        help="face detector (default: mtcnn)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="detector confidence 0-1 (default: the detector's own)")
    parser.add_argument("--detect-min-size", type=int, default=20,
                        help="smallest face, in pixels, the detector looks for (default: 20)")
    parser.add_argument("--upsample", type=int, default=0,
                        help="dlib detectors: double the image this many times first (default: 0)")
    parser.add_argument("--refeed", type=int, default=1,
                        help="average the landmarks of N jittered boxes; steadier on video (default: 1)")
    parser.add_argument("--size", type=int, default=256, help="aligned face size in pixels (default: 256)")
    parser.add_argument("--every-n", type=int, default=1, help="take every Nth frame of a video or folder")
    parser.add_argument("--min-size", type=int, default=0,
                        help="drop faces whose box is smaller than this many pixels across (default: keep all)")
    parser.add_argument("--filter", nargs="+", type=Path, default=[], metavar="REF",
                        help="keep only faces of the person in these reference images")
    parser.add_argument("--nfilter", nargs="+", type=Path, default=[], metavar="REF",
                        help="drop faces of the people in these reference images")
    parser.add_argument("--filter-threshold", type=float, default=0.6,
                        help="face descriptor distance that counts as the same person (default: 0.6)")
    parser.add_argument("--skip-existing", action="store_true",
                        help="resume: skip frames already in the alignments file or with faces in -o")


@dataclass(frozen=True)
class Config:
    input: Path
    output: Path
    alignments: Path | None = None
    detector: str = "mtcnn"
    threshold: float | None = None
    detect_min_size: int = 20
    upsample: int = 0
    refeed: int = 1
    size: int = 256
    every_n: int = 1
    min_size: int = 0
    filter: list[Path] = field(default_factory=list)
    nfilter: list[Path] = field(default_factory=list)
    filter_threshold: float = 0.6
    skip_existing: bool = False

    def __post_init__(self) -> None:
        if not 64 <= self.size <= 2048:
            raise FaceswapError(f"--size must be between 64 and 2048, not {self.size}")
        if self.every_n < 1:
            raise FaceswapError(f"--every-n must be 1 or more, not {self.every_n}")
        if self.min_size < 0:
            raise FaceswapError(f"--min-size must be 0 or more, not {self.min_size}")
        if not 0.0 < self.filter_threshold < 2.0:
            raise FaceswapError(f"--filter-threshold must be between 0 and 2, not {self.filter_threshold}")


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
        for reason, count in sorted(self.skipped.items()):
            out.append(f"files skipped ({reason}): {count}")
        if self.problem:
            out.append(f"video: {self.problem}")
        return out


def _check_paths(cfg: Config) -> Path:
    if not cfg.input.exists():
        raise FaceswapError(f"input not found: {cfg.input}")
    if cfg.output.exists() and not cfg.output.is_dir():
        raise FaceswapError(f"output {cfg.output} is a file: give a folder for the face images")
    _check_can_create(cfg.output, "the face folder")
    for ref in [*cfg.filter, *cfg.nfilter]:
        if not ref.is_file():
            raise FaceswapError(f"filter reference image not found: {ref}")
    alignments = cfg.alignments or _default_alignments(cfg.input)
    if alignments.is_dir():
        raise FaceswapError(f"alignments path {alignments} is a folder: give a file name")
    _check_can_create(alignments, "the alignments file")
    return alignments


def _check_can_create(path: Path, what: str) -> None:
    """Fail now, not after the whole run, when path cannot be made: a file in the way, a read-only folder."""
    folder = next((parent for parent in (path, *path.parents) if parent.exists()), Path("."))
    if folder == path and not path.is_dir():
        folder = path.parent  # an existing file is replaced through a temporary file beside it
    if not folder.is_dir():
        raise FaceswapError(f"cannot write {what} {path}: {folder} is a file")
    if not os.access(folder, os.W_OK):
        raise FaceswapError(f"cannot write {what} {path}: {folder} is read-only")


def _default_alignments(source: Path) -> Path:
    from lib.media import default_alignments_path  # noqa: PLC0415

    return default_alignments_path(source)


def run(cfg: Config) -> Summary:
    """Extract every face of the input; returns the summary it also logs."""
    alignments_path = _check_paths(cfg)
    from tqdm import tqdm  # noqa: PLC0415 (heavy imports happen only when the command runs)

    from lib.alignments import Alignments, load_alignments
    from lib.media import FrameSource
    from plugins.extract.align import AlignOptions
    from plugins.extract.detect import DetectOptions
    from scripts.extract_steps import FaceFilter, FaceWriter, recover_from_faces

    source = FrameSource(cfg.input, cfg.every_n)
    detect_options = DetectOptions(cfg.threshold, cfg.detect_min_size, cfg.upsample)
    align_options = AlignOptions(cfg.refeed)
    cfg.output.mkdir(parents=True, exist_ok=True)
    alignments_path.parent.mkdir(parents=True, exist_ok=True)
    from plugins.extract.pipeline import FaceFinder  # noqa: PLC0415

    finder = FaceFinder(cfg.detector, detect_options, "dlib68", align_options)
    face_filter = FaceFilter(finder, cfg.filter, cfg.nfilter, cfg.filter_threshold, cfg.min_size)

    alignments = Alignments(source.source_name, source.kind)
    if cfg.skip_existing:
        if alignments_path.is_file():
            alignments.frames.update(load_alignments(alignments_path).frames)
        alignments.frames.update(recover_from_faces(cfg.output, source.source_name, alignments.frames))
    summary = Summary()
    writer = FaceWriter(cfg.output, cfg.size, source.source_name)
    progress = tqdm(total=source.total, unit="frame", desc="extract", dynamic_ncols=True)
    try:
        for batch in _batches(read_ahead(iter(source), depth=16), finder.batch_size):
            ready = []
            for frame in batch:
                progress.update(1)
                if frame.image is None:
                    log.warning("skipped %s: %s", frame.name, frame.problem)
                    summary.skipped[frame.problem or "unreadable"] += 1
                elif cfg.skip_existing and frame.name in alignments.frames:
                    summary.frames_skipped_existing += 1
                else:
                    ready.append(frame)
            if not ready:
                continue
            for frame, faces in zip(ready, finder.find([f.image for f in ready])):
                summary.frames_read += 1
                assert frame.image is not None
                kept = face_filter.keep(frame.image, faces, summary.faces_filtered)
                alignments.frames[frame.name] = _entry(frame.index, frame.image.shape, kept)
                summary.frames_with_faces += bool(kept)
                summary.faces_written += len(kept)
                writer.put(frame, kept)
    finally:
        progress.close()
        writer.close()  # waits for queued faces, re-raises a write error
        if alignments.frames:
            _save(alignments, alignments_path)
    summary.problem = source.problem
    if source.problem:
        log.warning("the video ended badly (%s): the frames before that point were extracted", source.problem)
    if summary.frames_read == 0 and not summary.frames_skipped_existing:
        raise FaceswapError(f"no frame of {cfg.input} could be read: {', '.join(summary.skipped) or 'empty'}")
    for line in summary.lines():
        log.info(line)
    log.info("alignments: %s", alignments_path)
    return summary


def _save(alignments: Alignments, path: Path) -> None:
    try:
        alignments.save(path)
    except OSError as err:
        raise FaceswapError(f"cannot write the alignments file {path}: {err.strerror or err}") from err


def _entry(index: int, shape: tuple[int, ...], faces: list) -> FrameEntry:
    from lib.alignments import FrameEntry as Entry  # noqa: PLC0415

    return Entry(index, (int(shape[0]), int(shape[1])), faces)


def _batches(items: Iterator, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
