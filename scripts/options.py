"""Command-line options that several commands share, declared once: how a swapped face is pasted back
(convert, evaluate), the face detector and the same-person threshold (extract, convert, evaluate), the video
output settings (convert, tools video join). Choices come from the plugin registries."""
from __future__ import annotations

import argparse
from pathlib import Path

from lib.blend import BLENDS
from lib.identity import SAME_PERSON
from lib.swap import SwapOptions
from plugins.convert.color import REGISTRY as COLORS
from plugins.convert.mask import REGISTRY as MASKS
from plugins.convert.writer import PRESETS, WriterOptions
from plugins.extract.align import DEFAULT_ALIGNER
from plugins.extract.align import REGISTRY as ALIGNERS
from plugins.extract.detect import DEFAULT_DETECTOR
from plugins.extract.detect import REGISTRY as DETECTORS

__all__ = ["DEFAULT_ALIGNER", "DEFAULT_DETECTOR"]


def add_swap_arguments(parser: argparse.ArgumentParser) -> None:
    """--mask, --erosion, --blur, --color, --blend, --sharpen, --grain, --follow, --follow-shape, --skin,
    --batch-size: the fields of lib.swap.SwapOptions. Those left out are not set (argparse.SUPPRESS): the model's
    own convert settings (a recipe's) take their place, else SwapOptions' defaults."""
    default = SwapOptions()
    group = parser.add_argument_group("how swapped faces go back into the frame (left out: the model's recipe's "
                                      "settings, else these defaults)")
    group.add_argument("--mask", default=argparse.SUPPRESS, choices=["auto", *MASKS],
                       help="which pixels are swapped: the model's learned mask, the landmark hull or the whole "
                            "crop (default auto: learned when the model has one, else hull)")
    group.add_argument("--erosion", type=float, default=argparse.SUPPRESS,
                       help=f"shrink (>0) or grow (<0) the mask by this %% of the face crop (default: "
                            f"{default.erosion:g})")
    group.add_argument("--blur", type=float, default=argparse.SUPPRESS,
                       help=f"feather the mask's edge over this %% of the face crop (default: {default.blur:g})")
    group.add_argument("--color", default=argparse.SUPPRESS, choices=list(COLORS),
                       help=f"colour adjustment toward the original face (default: {default.color})")
    group.add_argument("--blend", default=argparse.SUPPRESS, choices=list(BLENDS),
                       help="gaussian: feathered alpha (default); poisson: OpenCV seamless cloning")
    group.add_argument("--sharpen", type=float, default=argparse.SUPPRESS,
                       help="unsharp-mask amount, 0-3 (default: 0, off)")
    group.add_argument("--grain", type=float, default=argparse.SUPPRESS, metavar="G",
                       help="keep this much (0-1) of the frame's own detail finer than the model draws (a 64 px "
                            "face enlarged into its frame has none: grain, pores, lashes come from the original "
                            f"frame; default: {default.grain:g})")
    group.add_argument("--follow", type=float, default=argparse.SUPPRESS, metavar="F",
                       help="move the swapped face's brows, eyes, nose and mouth this far (0-1) to where they "
                            "belong: the target person's face shape (kept by train) with the source's head turn "
                            "and expression (dlib's landmarks on the model's output, a smooth warp; default: "
                            f"{default.follow:g})")
    group.add_argument("--follow-shape", type=float, default=argparse.SUPPRESS, metavar="S",
                       help="how much of the target person's own face shape --follow keeps (0-1): 1 draws the "
                            "features where they sit on the target's face, 0 where they sit on the source's; "
                            "lower keeps more of the source's expression, higher looks more like the target "
                            f"(default: {default.follow_shape:g})")
    group.add_argument("--skin", action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                       help="keep the mask's edge to the swapped face's skin: what it draws there in colours far "
                            "from its own skin (the other person's background at a cheek) is left out (default: "
                            f"{'on' if default.skin else 'off'})")
    group.add_argument("--batch-size", type=int, default=argparse.SUPPRESS,
                       help=f"faces per model call (default: {default.batch_size})")


def add_detector_argument(parser: argparse.ArgumentParser, use: str) -> None:
    """-D/--detector, for `use` (what the faces are found for)."""
    parser.add_argument("-D", "--detector", default=DEFAULT_DETECTOR, choices=list(DETECTORS),
                        help=f"face detector {use} (default: {DEFAULT_DETECTOR})")


def add_aligner_argument(parser: argparse.ArgumentParser) -> None:
    """-A/--aligner: what places each face's landmarks."""
    parser.add_argument("-A", "--aligner", default=DEFAULT_ALIGNER, choices=list(ALIGNERS),
                        help="landmarks: mediapipe (478-point mesh and 52 expression scores, the 68 points "
                             "derived from it; steady on video) or dlib68 (dlib's 68-point predictor; its "
                             f"training data bars commercial use) (default: {DEFAULT_ALIGNER})")


def add_threshold_argument(parser: argparse.ArgumentParser, flag: str) -> None:
    """The descriptor distance under which two faces count as the same person."""
    parser.add_argument(flag, type=float, default=SAME_PERSON,
                        help=f"face descriptor distance that counts as the same person (default: {SAME_PERSON:g})")


def check_video_options(output: Path, fps: float | None, crf: int, preset: str) -> None:
    """The range checks of WriterOptions on the command line's video settings, before anything slow starts."""
    WriterOptions(output, fps=25.0 if fps is None else fps, crf=crf, preset=preset)


def add_video_arguments(parser: argparse.ArgumentParser) -> None:
    """--fps, --reference-video, --crf, --preset: how frames become a video (the writer's WriterOptions)."""
    default = WriterOptions(Path())
    parser.add_argument("--fps", type=float, default=None,
                        help="frame rate of a video made from frames (default: the input video's, or "
                             "--reference-video's)")
    parser.add_argument("--reference-video", type=Path, default=None,
                        help="frames in, video out: take the frame rate and the sound from this video (the one "
                             "that was split into the frames)")
    parser.add_argument("--crf", type=int, default=default.crf,
                        help=f"H.264 quality, 0 (lossless) to 51 (default: {default.crf})")
    parser.add_argument("--preset", default=default.preset, choices=list(PRESETS),
                        help=f"H.264 encoder speed (default: {default.preset}: at crf 18 within 0.3 dB of medium "
                             "for half the CPU, which the model needs)")


def add_cluster_argument(parser: argparse.ArgumentParser) -> None:
    """--cluster: the frames cut into parts for Ray workers (scripts/cluster.py)."""
    parser.add_argument("--cluster", default=None, metavar="local:N|auto|ADDRESS",
                        help="share the frames among Ray workers, each loading the models once: local:N starts N "
                             "on this machine, auto joins the cluster `ray start` made here, ADDRESS (head:6379) "
                             "another; every node must see input, output and faceswap at the same paths. Needs "
                             "pip install -r requirements-cluster.txt")
