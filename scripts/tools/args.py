"""tools' command line and its Config. `tools alignments rebuild` remakes an alignments file from face PNGs
alone; `tools video split|join` turns a video into frame files and frame files back into a video."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from scripts.options import add_video_arguments, check_video_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="tool", required=True, metavar="TOOL")
    alignments = sub.add_parser("alignments", help="alignments file utilities")
    alignments.add_argument("action", choices=["rebuild"], help="rebuild: from a folder of face PNGs")
    alignments.add_argument("-f", "--faces", type=Path, required=True, help="folder of face PNGs from extract")
    alignments.add_argument("-p", "--alignments", type=Path, required=True, help="alignments file to write")
    alignments.add_argument("--overwrite", action="store_true", help="replace an existing alignments file")
    video = sub.add_parser("video", help="split a video into frames, or join frames into a video (ffmpeg)")
    video.add_argument("action", choices=["split", "join"],
                       help="split: video -> frame files <name>_<index>.png; join: frame files -> video")
    video.add_argument("-i", "--input", type=Path, required=True, help="split: a video; join: a folder of frames")
    video.add_argument("-o", "--output", type=Path, required=True,
                       help="split: a folder for the frames; join: a video file (.mp4 .mov .mkv .m4v, or .gif)")
    video.add_argument("--image-format", default="png", choices=["png", "jpg"],
                       help="split: frame file format (default: png, lossless)")
    add_video_arguments(video)
    video.add_argument("--overwrite", action="store_true",
                       help="write into a non-empty folder, or replace a video")


@dataclass(frozen=True)
class Config:
    tool: str
    action: str | None = None
    faces: Path | None = None
    alignments: Path | None = None
    overwrite: bool = False
    input: Path | None = None
    output: Path | None = None
    image_format: str = "png"
    fps: float | None = None
    reference_video: Path | None = None
    crf: int = 18
    preset: str = "veryfast"

    def __post_init__(self) -> None:
        if self.tool == "video":
            assert self.output is not None
            check_video_options(self.output, self.fps, self.crf, self.preset)
