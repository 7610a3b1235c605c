"""`convert`: frames or a video in, the same frames with the chosen face swapped out (images, video or GIF)."""
from __future__ import annotations

import argparse
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lib.errors import FaceswapError

if TYPE_CHECKING:
    from plugins.convert.writer import WriterOptions
    from scripts.convert_steps import FaceLookup

log = logging.getLogger("faceswap.convert")
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".m4v")
DEFAULT_VIDEO_SMOOTHING = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-i", "--input", type=Path, required=True,
                        help="a folder of frames, one image, or a video")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="a folder for frames, or a video file (.mp4 .mov .mkv .m4v: H.264) or a .gif")
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
    parser.add_argument("--reference-threshold", type=float, default=0.6,
                        help="face descriptor distance that counts as the same person (default: 0.6)")
    parser.add_argument("-D", "--detector", default="mtcnn", choices=["mtcnn", "dlib-hog", "dlib-cnn"],
                        help="detector for faces found on the fly and in reference photos (default: mtcnn)")
    parser.add_argument("--mask", default="auto", choices=["auto", "learned", "hull", "none"],
                        help="which pixels are swapped: the model's learned mask, the landmark hull or the whole "
                             "crop (default auto: learned when the model has one, else hull)")
    parser.add_argument("--erosion", type=float, default=0.0,
                        help="shrink (>0) or grow (<0) the mask by this %% of the face crop (default: 0)")
    parser.add_argument("--blur", type=float, default=5.0,
                        help="feather the mask's edge over this %% of the face crop (default: 5)")
    parser.add_argument("--color", default="avg-color",
                        choices=["none", "avg-color", "match-hist", "color-transfer"],
                        help="colour adjustment toward the original face (default: avg-color)")
    parser.add_argument("--blend", default="gaussian", choices=["gaussian", "poisson"],
                        help="gaussian: feathered alpha (default); poisson: OpenCV seamless cloning")
    parser.add_argument("--sharpen", type=float, default=0.0, help="unsharp-mask amount, 0-3 (default: 0, off)")
    parser.add_argument("--smooth", type=float, default=None,
                        help="temporal smoothing of the landmarks, in frames (Gaussian sigma; 0 = off; default: "
                             f"{DEFAULT_VIDEO_SMOOTHING:g} for a video input, off for frames)")
    parser.add_argument("--writer", default=None, choices=["images", "video", "gif"],
                        help="output kind (default: from -o: .gif, a video suffix, else a folder of images)")
    parser.add_argument("--image-format", default="png", choices=["png", "jpg"],
                        help="images writer: png (lossless, default) or jpg")
    parser.add_argument("--fps", type=float, default=None,
                        help="frame rate of a video made from frames (default: the input video's)")
    parser.add_argument("--reference-video", type=Path, default=None,
                        help="frames in, video out: take the frame rate and the sound from this video")
    parser.add_argument("--crf", type=int, default=18, help="H.264 quality, 0 (lossless) to 51 (default: 18)")
    parser.add_argument("--preset", default="veryfast",
                        choices=["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow"],
                        help="H.264 encoder speed (default: veryfast: at crf 18 within 0.3 dB of medium for "
                             "half the CPU, which the model needs)")
    parser.add_argument("--batch-size", type=int, default=16, help="faces per model call (default: 16)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")


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
    reference_threshold: float = 0.6
    detector: str = "mtcnn"
    mask: str = "auto"
    erosion: float = 0.0
    blur: float = 5.0
    color: str = "avg-color"
    blend: str = "gaussian"
    sharpen: float = 0.0
    smooth: float | None = None
    writer: str | None = None
    image_format: str = "png"
    fps: float | None = None
    reference_video: Path | None = None
    crf: int = 18
    preset: str = "veryfast"
    batch_size: int = 16
    overwrite: bool = False

    def __post_init__(self) -> None:
        from scripts.convert_steps import parse_frame_ranges  # noqa: PLC0415 (checks the ranges' syntax)

        parse_frame_ranges(self.frame_ranges)
        checks = [(-50 <= self.erosion <= 50, f"--erosion must be between -50 and 50 (%), not {self.erosion}"),
                  (0 <= self.blur <= 50, f"--blur must be between 0 and 50 (%), not {self.blur}"),
                  (0 <= self.sharpen <= 3, f"--sharpen must be between 0 and 3, not {self.sharpen}"),
                  (self.smooth is None or 0 <= self.smooth <= 10,
                   f"--smooth must be 0-10 frames, not {self.smooth}"),
                  (0 < self.reference_threshold < 2,
                   f"--reference-threshold must be between 0 and 2, not {self.reference_threshold}"),
                  (self.fps is None or 0 < self.fps <= 1000,
                   f"--fps must be above 0 and at most 1000, not {self.fps}"),
                  (0 <= self.crf <= 51, f"--crf must be between 0 and 51, not {self.crf}"),
                  (1 <= self.batch_size <= 256, f"--batch-size must be between 1 and 256, not {self.batch_size}")]
        for ok, message in checks:
            if not ok:
                raise FaceswapError(message)

    @property
    def writer_kind(self) -> str:
        if self.writer:
            return self.writer
        suffix = self.output.suffix.lower()
        return "gif" if suffix == ".gif" else "video" if suffix in VIDEO_SUFFIXES else "images"


@dataclass
class Summary:
    """What a run did, for the closing report and for tests."""

    frames_read: int = 0
    frames_written: int = 0
    frames_swapped: int = 0
    faces_swapped: int = 0
    dropped: int = 0
    passed: Counter = field(default_factory=Counter)  # reason -> frames written unchanged
    skipped: Counter = field(default_factory=Counter)  # reason -> frames that could not be read
    problem: str | None = None

    def lines(self) -> list[str]:
        out = [f"frames read: {self.frames_read}, written: {self.frames_written}, with a face swapped: "
               f"{self.frames_swapped} ({self.faces_swapped} faces)"]
        passed = sum(self.passed.values())
        if passed:
            reasons = ", ".join(f"{reason}: {count}" for reason, count in sorted(self.passed.items()))
            out.append(f"frames passed through unchanged: {passed} ({reasons})")
        if self.dropped:
            out.append(f"frames left out (outside --frame-ranges): {self.dropped}")
        for reason, count in sorted(self.skipped.items()):
            out.append(f"frames skipped ({reason}): {count}")
        if self.problem:
            out.append(f"video: {self.problem}")
        return out


def _check_paths(cfg: Config) -> None:
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
    if kind == "images":
        if output.is_file():
            raise FaceswapError(f"output {output} is a file: give a folder for frames, or a video suffix")
        if output.is_dir() and any(output.iterdir()) and not cfg.overwrite:
            raise FaceswapError(f"output folder {output} is not empty: pass --overwrite to write into it")
    else:
        wanted = (".gif",) if kind == "gif" else VIDEO_SUFFIXES
        if output.suffix.lower() not in wanted:
            raise FaceswapError(f"--writer {kind} writes {' '.join(wanted)} files, not {output.name}")
        if output.is_dir():
            raise FaceswapError(f"output {output} is a folder: give a video file name")
        if output.exists() and not cfg.overwrite:
            raise FaceswapError(f"output {output} exists: pass --overwrite to replace it")
        from lib.video import is_video_path  # noqa: PLC0415

        if not is_video_path(cfg.input) and cfg.fps is None and cfg.reference_video is None:
            raise FaceswapError("frames in, video out: give the frame rate with --fps or take it (and the sound) "
                                "from the original with --reference-video")


def _writer_options(cfg: Config, video_info: Any, dropping: bool) -> WriterOptions:
    """fps and sound for the output: the input video's, else --reference-video's, --fps over both."""
    from lib.video import probe_video  # noqa: PLC0415
    from plugins.convert.writer import WriterOptions as Options  # noqa: PLC0415

    fps, audio = 25.0, None
    if video_info is not None:
        fps, audio = video_info.fps, cfg.input if video_info.has_audio else None
    elif cfg.reference_video is not None:
        reference = probe_video(cfg.reference_video)
        fps, audio = reference.fps, cfg.reference_video if reference.has_audio else None
    if cfg.fps is not None:
        fps = cfg.fps
    if audio is not None and cfg.writer_kind == "video" and dropping:
        log.warning("frames outside --frame-ranges are left out, so the sound would not match: the video has "
                    "none (pass --keep-unchanged to keep every frame and the sound)")
        audio = None
    return Options(cfg.output, fps=fps, crf=cfg.crf, preset=cfg.preset, audio=audio, image_format=cfg.image_format)


def _faces_source(cfg: Config, video_info: Any) -> tuple[FaceLookup | None, Any]:
    """The alignments file (checked against the input), or a face finder when there is none."""
    from lib.alignments import load_alignments  # noqa: PLC0415
    from lib.media import default_alignments_path, image_files  # noqa: PLC0415
    from scripts.convert_steps import FaceLookup  # noqa: PLC0415

    path = cfg.alignments or default_alignments_path(cfg.input)
    if cfg.alignments is None and not path.is_file():
        log.info("no alignments file at %s: finding faces on the fly with %s (slower; run extract first to "
                 "find them once)", path, cfg.detector)
        from plugins.extract.pipeline import FaceFinder  # noqa: PLC0415

        return None, FaceFinder(cfg.detector)
    lookup = FaceLookup(load_alignments(path), path)
    if video_info is not None:
        stem = cfg.input.stem
        lookup.check_matches([f"{stem}_{i:06d}" for i in range(max(video_info.frame_count, 1))], cfg.input.name)
        first = next((entry for entry in lookup.alignments.frames.values()), None)
        if first is not None and first.shape != (video_info.height, video_info.width):
            name = next(iter(lookup.alignments.frames))
            raise FaceswapError(f"{path.name} says frame {name} is {first.shape[1]}x{first.shape[0]} but "
                                f"{cfg.input.name} is {video_info.width}x{video_info.height}: the alignments "
                                "were made from another video; pass the right -p")
    else:
        files = image_files(cfg.input) if cfg.input.is_dir() else [cfg.input]
        lookup.check_matches([p.name for p in files], str(cfg.input))
    return lookup, None


def run(cfg: Config) -> Summary:
    """Convert every frame of the input; returns the summary it also logs."""
    _check_paths(cfg)
    from tqdm import tqdm  # noqa: PLC0415 (heavy imports happen only when the command runs)

    from lib.media import FrameSource, image_files
    from lib.readahead import read_ahead
    from lib.video import probe_video
    from plugins.convert.writer import REGISTRY as WRITERS
    from plugins.convert.writer import OutputFrame
    from plugins.registry import load_plugin
    from scripts import convert_steps as steps

    ranges = steps.parse_frame_ranges(cfg.frame_ranges)
    video_info = probe_video(cfg.input) if cfg.input.is_file() and not _is_image(cfg.input) else None
    kind = cfg.writer_kind
    if video_info is not None and video_info.variable_rate and kind != "images":
        if cfg.fps is None:
            raise FaceswapError(f"{cfg.input.name} has a variable frame rate: make it constant first (ffmpeg "
                                f"-i {cfg.input.name} -fps_mode cfr -r {video_info.fps:g} fixed.mp4), or pass "
                                "--fps to write its frames at that rate")
        log.warning("%s has a variable frame rate: its frames are written at --fps %g", cfg.input.name, cfg.fps)
    if cfg.input.is_dir() and kind != "images":
        steps.check_same_size(image_files(cfg.input))
    source = FrameSource(cfg.input)
    lookup, finder = _faces_source(cfg, video_info)
    selector = (steps.IdentitySelector(cfg.reference, cfg.reference_threshold, cfg.detector)
                if cfg.reference else None)

    from lib.model.swapper import load_swapper  # noqa: PLC0415

    swapper = load_swapper(cfg.model_dir)
    mask = cfg.mask if cfg.mask != "auto" else "learned" if swapper.has_mask else "hull"
    face_swapper = steps.FaceSwapper(swapper, steps.SwapOptions(
        "b2a" if cfg.swap_model else "a2b", mask, cfg.color, cfg.blend, cfg.erosion, cfg.blur, cfg.sharpen,
        cfg.batch_size))
    sigma = cfg.smooth if cfg.smooth is not None else DEFAULT_VIDEO_SMOOTHING if video_info is not None else 0.0
    log.info("model %s (%d px, coverage %.2f), %s, mask %s, colour %s, blend %s%s", swapper.model_name,
             swapper.input_size, swapper.coverage, "B to A" if cfg.swap_model else "A to B", mask, cfg.color,
             cfg.blend, f", smoothing {sigma:g} frames" if sigma else "")

    dropping = bool(ranges) and not cfg.keep_unchanged
    writer = load_plugin(WRITERS, "writer", kind)(_writer_options(cfg, video_info, dropping))
    output = steps.WriterThread(writer)
    summary = Summary()
    frames = steps.with_faces(read_ahead(steps.work_frames(source, ranges)), lookup, finder,
                              finder.batch_size if finder is not None else 1)
    if sigma > 0:
        frames = steps.smoothed(frames, sigma)
    progress = tqdm(total=source.total, unit="frame", desc="convert", dynamic_ncols=True)
    previous_handler = _stop_on_sigterm()
    try:
        for group in steps.chunks(frames, cfg.batch_size):
            if selector is not None:
                for frame in group:
                    if frame.faces and frame.image is not None:
                        selector.keep(frame)
            summary.faces_swapped += face_swapper.convert(group)
            for frame in group:
                progress.update(1)
                if frame.image is None:
                    log.warning("skipped %s: %s", frame.name, frame.problem)
                    summary.skipped[frame.problem or "unreadable"] += 1
                    continue
                summary.frames_read += 1
                if not frame.in_range and dropping:
                    summary.dropped += 1
                    continue
                changed = frame.in_range and bool(frame.faces)
                if changed:
                    summary.frames_swapped += 1
                else:
                    reason = "outside --frame-ranges" if not frame.in_range else frame.status or "no face"
                    summary.passed[reason] += 1
                output.put(OutputFrame(frame.out_name, frame.image, changed, frame.source_file))
                summary.frames_written += 1
        progress.close()
        if summary.frames_written == 0:
            raise FaceswapError(f"no frame to write: --frame-ranges {' '.join(cfg.frame_ranges)} selects none "
                                f"of the {summary.frames_read} frames of {cfg.input}")
        output.close()
    except BaseException:
        progress.close()
        output.abort()  # no half-written video is left behind
        raise
    finally:
        _restore_sigterm(previous_handler)
    for note in getattr(writer, "notes", []):
        log.warning(note)
    summary.problem = source.problem
    if source.problem:
        log.warning("the video ended badly (%s): the frames before that point were converted", source.problem)
    if summary.frames_read == 0:
        raise FaceswapError(f"no frame of {cfg.input} could be read")
    for line in summary.lines():
        log.info(line)
    log.info("output: %s (marked as synthetic)", cfg.output)
    return summary


def _stop_on_sigterm() -> Any:
    """Treat SIGTERM like Ctrl-C, so that a killed run also removes its partial output."""
    import signal  # noqa: PLC0415
    import threading  # noqa: PLC0415

    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


def _restore_sigterm(previous: Any) -> None:
    import signal  # noqa: PLC0415

    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


def _is_image(path: Path) -> bool:
    from lib.image import is_image_path  # noqa: PLC0415

    return is_image_path(path)
