"""evaluate's command line and its Config."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from lib.errors import FaceswapError, check_range
from lib.smoothing import check_sigma
from lib.swap import SwapOptions
from scripts.options import DEFAULT_DETECTOR, add_detector_argument, add_swap_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", "--model-dir", type=Path, required=True, help="the model folder from train")
    parser.add_argument("-A", "--input-a", type=Path, required=True,
                        help="faces of person A from extract, held out of training")
    parser.add_argument("-B", "--input-b", type=Path, required=True,
                        help="faces of person B from extract, held out of training")
    parser.add_argument("-i", "--input", type=Path, default=None,
                        help="also swap this video or folder of frames of A (B with --swap-model) and measure "
                             "jitter and seams")
    parser.add_argument("-p", "--alignments", type=Path, default=None,
                        help="alignments file of -i (default: where extract put it; without one, faces are "
                             "found on the fly)")
    parser.add_argument("-o", "--output-dir", type=Path, default=None,
                        help="folder for report.json and sheet.png (default: MODEL_DIR/evaluation; both are "
                             "replaced)")
    parser.add_argument("--video-b", type=Path, default=None,
                        help="also swap this video or folder of frames of B to A and measure it as -i's: with -i, "
                             "blinks, mouth and smiles carried over whole clips both ways")
    parser.add_argument("--alignments-b", type=Path, default=None,
                        help="alignments file of --video-b (default: where extract put it)")
    add_detector_argument(parser, "for the faces of -i when there is no alignments file")
    parser.add_argument("--swap-model", action="store_true", help="-i shows B: swap it B to A")
    parser.add_argument("--occluders", type=Path, default=None,
                        help="a folder of object photos (PNG with alpha, or any image, cut to a random shape): "
                             "pasted over the held-out faces to measure whether the mask leaves them in front "
                             "(report.json's occlusion section, occlusion.png)")
    parser.add_argument("--max-faces", type=int, default=200,
                        help="faces per side, evenly spaced over each folder (default: 200)")
    parser.add_argument("--max-frames", type=int, default=None, help="the first N frames of -i (default: all)")
    parser.add_argument("--smooth", type=float, default=None,
                        help="temporal smoothing of -i's landmarks in frames, as convert (default: 1 for a "
                             "video, off for frames)")
    add_swap_arguments(parser)


@dataclass(frozen=True)
class Config:
    model_dir: Path
    input_a: Path
    input_b: Path
    input: Path | None = None
    alignments: Path | None = None
    output_dir: Path | None = None
    video_b: Path | None = None
    alignments_b: Path | None = None
    detector: str = DEFAULT_DETECTOR
    swap_model: bool = False
    occluders: Path | None = None
    max_faces: int = 200
    max_frames: int | None = None
    smooth: float | None = None
    swap: SwapOptions = field(default_factory=SwapOptions)

    def __post_init__(self) -> None:
        check_range("--max-faces", self.max_faces, 1, 100_000)
        check_range("--max-frames (jitter needs two frames)", self.max_frames, 2, 10**9)
        check_sigma(self.smooth)

    @property
    def report_dir(self) -> Path:
        return self.output_dir if self.output_dir is not None else self.model_dir / "evaluation"


def check(cfg: Config) -> None:
    """Problems found before anything slow starts."""
    if not cfg.model_dir.is_dir():
        raise FaceswapError(f"model folder not found: {cfg.model_dir} (train one first: faceswap.py train)")
    for flag, folder in (("-A", cfg.input_a), ("-B", cfg.input_b)):
        if not folder.is_dir():
            raise FaceswapError(f"{flag} face folder not found: {folder} (make one with faceswap.py extract)")
    if cfg.input is not None and not cfg.input.exists():
        raise FaceswapError(f"input not found: {cfg.input}")
    if cfg.video_b is not None and not cfg.video_b.exists():
        raise FaceswapError(f"--video-b not found: {cfg.video_b}")
    if cfg.video_b is not None and cfg.swap_model:
        raise FaceswapError("--video-b is B's video swapped to A: give -i A's video without --swap-model")
    if cfg.occluders is not None and not cfg.occluders.is_dir():
        raise FaceswapError(f"--occluders folder not found: {cfg.occluders}")
    for alignments in (cfg.alignments, cfg.alignments_b):
        if alignments is not None and not alignments.is_file():
            raise FaceswapError(f"alignments file not found: {alignments}")
    if cfg.report_dir.is_file():
        raise FaceswapError(f"report folder {cfg.report_dir} is a file: choose another -o")
