"""extract's command line and its Config."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from lib.errors import FaceswapError, check_range
from lib.identity import SAME_PERSON
from lib.media import default_alignments_path
from plugins.extract.align import AlignOptions
from plugins.extract.detect import DetectOptions
from scripts.cluster import parse_cluster
from scripts.common import check_can_create
from scripts.options import (
    DEFAULT_ALIGNER,
    DEFAULT_DETECTOR,
    add_aligner_argument,
    add_cluster_argument,
    add_detector_argument,
    add_threshold_argument,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-i", "--input", type=Path, required=True,
                        help="a folder of images, one image, or a video file")
    parser.add_argument("-o", "--output", type=Path, required=True, help="folder for the aligned face PNGs")
    parser.add_argument("-p", "--alignments", type=Path, default=None,
                        help="alignments file to write (default: alignments.json in the input folder, "
                             "or <name>_alignments.json beside a file)")
    add_detector_argument(parser, "")
    add_aligner_argument(parser)
    detect = DetectOptions()
    parser.add_argument("--threshold", type=float, default=detect.threshold,
                        help="detector confidence 0-1 (default: the detector's own)")
    parser.add_argument("--detect-min-size", type=int, default=detect.min_size,
                        help=f"smallest face, in pixels, the detector looks for (default: {detect.min_size})")
    parser.add_argument("--upsample", type=int, default=detect.upsample,
                        help=f"dlib detectors: double the image this many times first (default: "
                             f"{detect.upsample})")
    parser.add_argument("--no-rotate", dest="rotate", action="store_false",
                        help="do not look for faces on their side or upside down (by default a frame without a "
                             "face is searched again turned a quarter either way and upside down, and faces found "
                             "rolled past 35 degrees send the frame through once more, turned upright for them)")
    parser.add_argument("--refeed", type=int, default=AlignOptions().refeed,
                        help="average the landmarks of N jittered boxes; steadier on video (default: 1)")
    parser.add_argument("--size", type=int, default=256, help="aligned face size in pixels (default: 256)")
    parser.add_argument("--every-n", type=int, default=1, help="take every Nth frame of a video or folder")
    parser.add_argument("--min-size", type=int, default=0,
                        help="drop faces whose box is smaller than this many pixels across (default: keep all)")
    parser.add_argument("--filter", nargs="+", type=Path, default=[], metavar="REF",
                        help="keep only faces of the person in these reference images (photos or face PNGs)")
    parser.add_argument("--nfilter", nargs="+", type=Path, default=[], metavar="REF",
                        help="drop faces of the people in these reference images")
    add_threshold_argument(parser, "--filter-threshold")
    parser.add_argument("--skip-existing", action="store_true",
                        help="resume: skip frames already in the alignments file or with faces in -o")
    add_cluster_argument(parser)


@dataclass(frozen=True)
class Config:
    input: Path
    output: Path
    alignments: Path | None = None
    detector: str = DEFAULT_DETECTOR
    aligner: str = DEFAULT_ALIGNER
    threshold: float | None = None
    detect_min_size: int = 20
    upsample: int = 0
    rotate: bool = True
    refeed: int = 1
    size: int = 256
    every_n: int = 1
    min_size: int = 0
    filter: list[Path] = field(default_factory=list)
    nfilter: list[Path] = field(default_factory=list)
    filter_threshold: float = SAME_PERSON
    skip_existing: bool = False
    cluster: str | None = None

    def __post_init__(self) -> None:
        check_range("--size", self.size, 64, 2048)
        check_range("--every-n", self.every_n, 1, 10**9)
        check_range("--min-size", self.min_size, 0, 10**9)
        check_range("--filter-threshold", self.filter_threshold, 0, 2, above=True)
        # The plugins' own range checks, now rather than after the input is opened.
        DetectOptions(self.threshold, self.detect_min_size, self.upsample, self.rotate)
        AlignOptions(self.refeed)
        parse_cluster(self.cluster)

    @property
    def detect_options(self) -> DetectOptions:
        return DetectOptions(self.threshold, self.detect_min_size, self.upsample, self.rotate)

    @property
    def align_options(self) -> AlignOptions:
        return AlignOptions(self.refeed)


def check(cfg: Config) -> Path:
    """Problems found before anything slow starts; returns where the alignments file goes."""
    if not cfg.input.exists():
        raise FaceswapError(f"input not found: {cfg.input}")
    if cfg.output.exists() and not cfg.output.is_dir():
        raise FaceswapError(f"output {cfg.output} is a file: give a folder for the face images")
    check_can_create(cfg.output, "the face folder")
    for ref in [*cfg.filter, *cfg.nfilter]:
        if not ref.is_file():
            raise FaceswapError(f"filter reference image not found: {ref}")
    alignments = cfg.alignments or default_alignments_path(cfg.input)
    if alignments.is_dir():
        raise FaceswapError(f"alignments path {alignments} is a folder: give a file name")
    check_can_create(alignments, "the alignments file")
    return alignments
