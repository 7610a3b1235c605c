"""convert's command line and its Config."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from lib.errors import FaceswapError, check_range
from lib.identity import SAME_PERSON
from lib.image import is_image_path
from lib.smoothing import check_sigma
from lib.swap import SwapOptions
from lib.video import DEFAULT_CRF, DEFAULT_PRESET, is_video_path
from plugins.convert.writer import REGISTRY as WRITERS
from plugins.convert.writer import writer_kind
from scripts.cluster import parse_cluster
from scripts.common import check_can_create
from scripts.options import (
    DEFAULT_DETECTOR,
    add_cluster_argument,
    add_detector_argument,
    add_swap_arguments,
    add_threshold_argument,
    add_video_arguments,
    check_video_options,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-i", "--input", type=Path, required=True,
                        help="a folder of frames, one image, or a video")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="a folder for frames, a video file (.mp4 .mov .mkv .m4v: H.264), a .gif, or an image "
                             "file (.png .jpg) for one image in")
    parser.add_argument("-m", "--model-dir", type=Path, required=True, help="the model folder from train")
    parser.add_argument("-p", "--alignments", type=Path, default=None,
                        help="alignments file from extract (default: where extract put it; without one, faces "
                             "are found on the fly)")
    parser.add_argument("--swap-model", action="store_true", help="swap B to A instead of A to B")
    parser.add_argument("--frame-ranges", nargs="+", default=[], metavar="RANGE",
                        help="swap only these frames, counted from 0 (e.g. 10-50 90-100)")
    parser.add_argument("--keep-unchanged", action="store_true",
                        help="with --frame-ranges: write the other frames unchanged (default: leave them out)")
    parser.add_argument("--reference", nargs="+", type=Path, default=[], metavar="FACE",
                        help="swap only faces of this person (photos or face PNGs from extract); others stay")
    add_threshold_argument(parser, "--reference-threshold")
    add_detector_argument(parser, "for faces found on the fly and in reference photos")
    add_swap_arguments(parser)
    parser.add_argument("--smooth", type=float, default=None,
                        help="temporal smoothing of the landmarks, in frames (Gaussian sigma; 0 = off; default: "
                             "1 for a video input, off for frames)")
    parser.add_argument("--writer", default=None, choices=list(WRITERS),
                        help="output kind (default: from -o: .gif, a video suffix, an image suffix, else a folder "
                             "of images)")
    parser.add_argument("--image-format", default="png", choices=["png", "jpg"],
                        help="images writer: png (lossless, default) or jpg")
    add_video_arguments(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_cluster_argument(parser)


def parse_frame_ranges(values: list[str]) -> list[tuple[int, int]]:
    """'10-50' -> (10, 50), '7' -> (7, 7); both ends inclusive, frames counted from 0."""
    ranges = []
    for value in values:
        start, sep, end = value.partition("-")
        try:
            first, last = int(start), int(end) if sep else int(start)
        except ValueError:
            raise FaceswapError(f"--frame-ranges: '{value}' is not a range like 10-50 or a frame like 7") from None
        if first < 0 or last < first:
            raise FaceswapError(f"--frame-ranges: '{value}' must count up from 0 (like 10-50)")
        ranges.append((first, last))
    return ranges


@dataclass(frozen=True)
class Config:
    input: Path
    output: Path
    model_dir: Path
    alignments: Path | None = None
    swap_model: bool = False
    frame_ranges: list[str] = field(default_factory=list)
    keep_unchanged: bool = False
    reference: list[Path] = field(default_factory=list)
    reference_threshold: float = SAME_PERSON
    detector: str = DEFAULT_DETECTOR
    swap: SwapOptions = field(default_factory=SwapOptions)
    smooth: float | None = None
    writer: str | None = None
    image_format: str = "png"
    fps: float | None = None
    reference_video: Path | None = None
    crf: int = DEFAULT_CRF
    preset: str = DEFAULT_PRESET
    overwrite: bool = False
    cluster: str | None = None

    def __post_init__(self) -> None:
        parse_frame_ranges(self.frame_ranges)
        parse_cluster(self.cluster)
        check_sigma(self.smooth)
        check_range("--reference-threshold", self.reference_threshold, 0, 2, above=True)
        check_video_options(self.output, self.fps, self.crf, self.preset)

    @property
    def writer_kind(self) -> str:
        return self.writer or writer_kind(self.output)

    @property
    def direction(self) -> str:
        return "b2a" if self.swap_model else "a2b"


def check(cfg: Config) -> None:
    """Problems that need no model and no decoding, found before anything slow starts."""
    if not cfg.input.exists():
        raise FaceswapError(f"input not found: {cfg.input}")
    if not cfg.model_dir.is_dir():
        raise FaceswapError(f"model folder not found: {cfg.model_dir} (train one first: faceswap.py train)")
    if cfg.reference_video is not None and not cfg.reference_video.is_file():
        raise FaceswapError(f"--reference-video not found: {cfg.reference_video}")
    for ref in cfg.reference:
        if not ref.is_file():
            raise FaceswapError(f"--reference image not found: {ref}")
    output, kind = cfg.output, cfg.writer_kind
    if output.resolve() == cfg.input.resolve():
        raise FaceswapError(f"output {output} would write over the input: choose another -o")
    check_can_create(output, "the output")  # a read-only folder: now, not once the model has loaded
    if kind == "images":
        if output.is_file():
            raise FaceswapError(f"output {output} is a file: give a folder for frames, or a video suffix")
        if output.is_dir() and any(output.iterdir()) and not cfg.overwrite:
            raise FaceswapError(f"output folder {output} is not empty: pass --overwrite to write into it")
        return
    if output.is_dir():
        raise FaceswapError(f"output {output} is a folder: give a file name")
    if output.exists() and not cfg.overwrite:
        raise FaceswapError(f"output {output} exists: pass --overwrite to replace it")
    if cfg.cluster is not None and kind in ("image", "gif"):
        what = "a GIF" if kind == "gif" else "one image"
        raise FaceswapError(f"--cluster writes frames or a video, not {what}: leave --cluster out")
    if kind == "image":
        if not (cfg.input.is_file() and is_image_path(cfg.input)):
            raise FaceswapError(f"{output.name} is one image file, but {cfg.input.name} holds many frames: give "
                                "a folder for the frames, or a video file")
    elif not is_video_path(cfg.input) and cfg.fps is None and cfg.reference_video is None:
        raise FaceswapError("frames in, video out: give the frame rate with --fps or take it (and the sound) "
                            "from the original with --reference-video")
