"""`tools`: utilities around the pipeline. `tools alignments rebuild` remakes an alignments file from
face PNGs alone."""
from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

from lib.errors import FaceswapError

log = logging.getLogger("faceswap.tools")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="tool", required=True, metavar="TOOL")
    alignments = sub.add_parser("alignments", help="alignments file utilities")
    alignments.add_argument("action", choices=["rebuild"], help="rebuild: from a folder of face PNGs")
    alignments.add_argument("-f", "--faces", type=Path, required=True, help="folder of face PNGs from extract")
    alignments.add_argument("-p", "--alignments", type=Path, required=True, help="alignments file to write")
    alignments.add_argument("--overwrite", action="store_true", help="replace an existing alignments file")


@dataclass(frozen=True)
class Config:
    tool: str
    action: str | None = None
    faces: Path | None = None
    alignments: Path | None = None
    overwrite: bool = False


def run(cfg: Config) -> None:
    if cfg.tool == "alignments":
        assert cfg.faces is not None and cfg.alignments is not None
        rebuild_alignments(cfg.faces, cfg.alignments, cfg.overwrite)


def rebuild_alignments(faces: Path, target: Path, overwrite: bool = False) -> int:
    """Write an alignments file from the metadata of the face PNGs in a folder; returns the face count."""
    from lib.alignments import Alignments, FrameEntry  # noqa: PLC0415
    from lib.facefile import read_face_meta  # noqa: PLC0415

    if not faces.is_dir():
        raise FaceswapError(f"faces folder not found: {faces}")
    if target.exists() and not overwrite:
        raise FaceswapError(f"{target} exists: pass --overwrite to replace it")
    metas = [meta for path in sorted(faces.glob("*.png")) if (meta := read_face_meta(path)) is not None]
    if not metas:
        raise FaceswapError(f"no face PNGs with faceswap metadata in {faces}: were they made by extract?")
    sources = sorted({meta.source for meta in metas})
    if len(sources) > 1:
        raise FaceswapError(f"{faces} holds faces of {len(sources)} sources ({', '.join(sources[:3])}...): "
                            "an alignments file describes one; move them apart first")
    kind = "video" if any(meta.frame_index > 0 for meta in metas) else "images"
    alignments = Alignments(sources[0], kind)
    for meta in sorted(metas, key=lambda m: (m.frame_index, m.frame, m.face_index)):
        entry = alignments.frames.setdefault(meta.frame, FrameEntry(meta.frame_index, meta.frame_shape, []))
        entry.faces.append(meta.face)
    alignments.save(target)
    log.info("rebuilt %s: %d frames with %d faces (frames without faces are not known from face files)",
             target, len(alignments.frames), alignments.face_count)
    return alignments.face_count
