"""tools' command line and its Config: `alignments` (rebuild, remove-deleted, missing, merge, draw, extract),
`video split|join`, `sort`, `clean`, `preview`."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from lib.curation import KEYS, CleanOptions
from lib.errors import FaceswapError, check_range
from lib.identity import SAME_PERSON
from lib.video import DEFAULT_CRF, DEFAULT_PRESET
from scripts.options import (
    DEFAULT_DETECTOR,
    add_detector_argument,
    add_threshold_argument,
    add_video_arguments,
    check_video_options,
)

ALIGNMENT_ACTIONS = ["rebuild", "remove-deleted", "missing", "merge", "draw", "extract"]
NEEDS = {"rebuild": ("faces", "alignments"), "remove-deleted": ("faces", "alignments"), "missing": ("alignments",),
         "merge": ("alignments", "output"), "draw": ("input", "alignments", "output"),
         "extract": ("input", "alignments", "output")}
FLAGS = {"faces": "-f", "alignments": "-p", "input": "-i", "output": "-o"}
VARIABLE = ("mask", "color", "blend", "erosion", "blur", "sharpen")  # what tools preview --vary can vary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="tool", required=True, metavar="TOOL")
    alignments = sub.add_parser("alignments", help="alignments file utilities")
    alignments.add_argument("action", choices=ALIGNMENT_ACTIONS,
                            help="rebuild -f FACES -p OUT: a file from face PNGs alone; remove-deleted -f "
                                 "FACES -p FILE: drop the faces whose PNGs were deleted (a .bak is kept); missing "
                                 "-p FILE [-i INPUT]: the frames without a face; merge -p FILE FILE... -o OUT: "
                                 "one file of several; draw -i INPUT -p FILE -o DIR: frames with the faces drawn; "
                                 "extract -i INPUT -p FILE -o FACES [--size N]: cut the faces out again, without "
                                 "detecting")
    alignments.add_argument("-f", "--faces", type=Path, default=None, help="folder of face PNGs from extract")
    alignments.add_argument("-p", "--alignments", type=Path, nargs="+", default=[], metavar="FILE",
                            help="alignments file(s)")
    alignments.add_argument("-i", "--input", type=Path, default=None, help="the frames folder or video")
    alignments.add_argument("-o", "--output", type=Path, default=None, help="file or folder to write")
    alignments.add_argument("--size", type=int, default=256, help="extract: face size in pixels (default: 256)")
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
    sort = sub.add_parser("sort", help="rank a folder of faces by identity, sharpness, pose, size, colour, "
                                       "score or expression; says how many have their eyes closed or mouth open")
    sort.add_argument("-i", "--input", type=Path, required=True, help="folder of face PNGs from extract")
    sort.add_argument("--by", choices=KEYS, default="identity",
                      help="identity: grouped by person; blur: sharpest first; yaw, pitch: head turned left "
                           "to right, down to up; size: largest in its frame first; histogram: alike colours "
                           "together; score: the detector's surest first; expression: alike expressions together, "
                           "from the set's usual one to its rarest (faces from -A mediapipe) (default: identity)")
    sort.add_argument("-o", "--output", type=Path, default=None,
                      help="copy the faces here, ranked (default: rename them in place with a rank prefix)")
    sort.add_argument("--undo", action="store_true", help="give the faces of an in-place sort their names back")
    add_threshold_argument(sort, "--identity-threshold")
    preview = sub.add_parser("preview", help="a sheet of a few frames swapped with every combination of the "
                                             "convert settings to compare")
    preview.add_argument("-i", "--input", type=Path, required=True, help="a folder of frames, an image or a video")
    preview.add_argument("-m", "--model-dir", type=Path, required=True, help="the model folder from train")
    preview.add_argument("-p", "--alignments", type=Path, nargs="+", default=[], metavar="FILE",
                         help="alignments file of -i (default: where extract put it; without one, faces are found "
                              "on the fly)")
    preview.add_argument("--frames", type=int, nargs="+", default=[], metavar="N",
                         help="frames to show, counted from 0 (default: 4 spread over the input)")
    preview.add_argument("--vary", nargs="+", default=[], metavar="SETTING=A,B",
                         help="convert settings to compare, each with its values: mask=learned-hull,hull "
                              "color=avg-color,match-hist blur=2,8 (settings: mask, color, blend, erosion, blur, "
                              "sharpen)")
    preview.add_argument("--swap-model", action="store_true", help="swap B to A instead of A to B")
    add_detector_argument(preview, "for faces found on the fly")
    preview.add_argument("-o", "--output", type=Path, default=None,
                         help="the sheet (default: MODEL_DIR/convert_preview.png)")
    clean = sub.add_parser("clean", help="move the faces that hurt training (other people, non-faces, blurred, "
                                         "duplicated, misaligned, tiny) to FACES/_rejected/<reason>/")
    clean.add_argument("-i", "--input", type=Path, required=True, help="folder of face PNGs from extract")
    clean.add_argument("--reference", nargs="+", type=Path, default=[], metavar="FACE",
                       help="photos or face PNGs of the person the folder is of (default: the person most of its "
                            "faces show)")
    clean.add_argument("--dry-run", action="store_true", help="write clean_report.json only; move nothing")
    clean.add_argument("--undo", action="store_true", help="put back what a clean moved")
    default = CleanOptions()
    add_threshold_argument(clean, "--identity-threshold")
    clean.add_argument("--blur-share", type=float, default=default.blur,
                       help=f"blurry: sharpness under this share of the folder's median (default: "
                            f"{default.blur:g})")
    clean.add_argument("--duplicate-tolerance", type=float, default=default.duplicate,
                       help="duplicate: mean difference of two faces under this many grey levels (default: "
                            f"{default.duplicate:g})")
    clean.add_argument("--fit-limit", type=float, default=default.fit,
                       help="misaligned: landmarks this many robust standard deviations further from the mean "
                            f"face than the folder's median (default: {default.fit:g})")
    clean.add_argument("--tiny-share", type=float, default=default.tiny,
                       help="tiny: eye distance in the source frame under this share of the folder's median "
                            f"(default: {default.tiny:g})")


@dataclass(frozen=True)
class Config:
    tool: str
    action: str | None = None
    faces: Path | None = None
    alignments: list[Path] = field(default_factory=list)
    size: int = 256
    overwrite: bool = False
    input: Path | None = None
    output: Path | None = None
    image_format: str = "png"
    fps: float | None = None
    reference_video: Path | None = None
    crf: int = DEFAULT_CRF
    preset: str = DEFAULT_PRESET
    by: str = "identity"
    undo: bool = False
    reference: list[Path] = field(default_factory=list)
    dry_run: bool = False
    identity_threshold: float = SAME_PERSON
    blur_share: float = CleanOptions.blur
    duplicate_tolerance: float = CleanOptions.duplicate
    fit_limit: float = CleanOptions.fit
    tiny_share: float = CleanOptions.tiny
    model_dir: Path | None = None
    frames: list[int] = field(default_factory=list)
    vary: list[str] = field(default_factory=list)
    swap_model: bool = False
    detector: str = DEFAULT_DETECTOR

    def __post_init__(self) -> None:
        if self.tool == "alignments":
            assert self.action is not None
            absent = [name for name in NEEDS[self.action] if not getattr(self, name)]
            if absent:
                raise FaceswapError(f"tools alignments {self.action} needs "
                                    f"{' and '.join(FLAGS[name] for name in absent)}")
            if self.action == "merge" and len(self.alignments) < 2:
                raise FaceswapError("tools alignments merge needs two or more files after -p")
        if self.tool == "video":
            assert self.output is not None
            check_video_options(self.output, self.fps, self.crf, self.preset)
        check_range("--identity-threshold", self.identity_threshold, 0, 2, above=True)
        check_range("--size", self.size, 64, 2048)
        check_range("--blur-share", self.blur_share, 0, 1)
        check_range("--duplicate-tolerance", self.duplicate_tolerance, 0, 255)
        check_range("--fit-limit", self.fit_limit, 0.5, 100)
        check_range("--tiny-share", self.tiny_share, 0, 1)

    @property
    def clean_options(self) -> CleanOptions:
        return CleanOptions(self.identity_threshold, self.blur_share, self.duplicate_tolerance, self.fit_limit,
                            self.tiny_share)


def check(cfg: Config) -> None:
    """Problems found from the command line and the files it names, before anything slow loads."""
    if cfg.tool == "alignments" and cfg.action != "rebuild":
        for path in cfg.alignments:
            if not path.is_file():
                raise FaceswapError(f"alignments file not found: {path}")
    if cfg.tool == "preview":
        assert cfg.input is not None and cfg.model_dir is not None
        parse_vary(cfg.vary)  # a mistyped setting fails first
        if not cfg.input.exists():
            raise FaceswapError(f"input not found: {cfg.input}")
        if not cfg.model_dir.is_dir():
            raise FaceswapError(f"model folder not found: {cfg.model_dir} (train one first: faceswap.py train)")


def parse_vary(values: list[str]) -> dict[str, list[str | float]]:
    """['mask=hull,learned', 'blur=2,8'] -> {'mask': ['hull', 'learned'], 'blur': [2.0, 8.0]}."""
    numeric = {"erosion", "blur", "sharpen"}
    found: dict[str, list[str | float]] = {}
    for value in values:
        key, sep, choices = value.partition("=")
        if not sep or key not in VARIABLE or not choices:
            raise FaceswapError(f"--vary {value}: give a setting and its values, like mask=hull,learned "
                                f"(settings: {', '.join(VARIABLE)})")
        try:
            found[key] = [float(c) if key in numeric else c for c in choices.split(",")]
        except ValueError:
            raise FaceswapError(f"--vary {value}: {key} takes numbers") from None
    return found
