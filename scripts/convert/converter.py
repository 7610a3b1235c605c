"""convert's work on frames: faces found or looked up, filtered by --reference, each swapped by lib.swap, frames
out through a writer; used whole by run.py and in parts by shard.py's cluster workers."""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from lib.errors import FaceswapError
from lib.frames import WorkFrame, chunks, default_smoothing, frames_with_faces
from lib.identity import FaceDescriber, IdentityFilter, reference_descriptor
from lib.media import FrameSource
from lib.model.swapper import Swapper, load_swapper
from lib.swap import FaceSwapper
from lib.video import VideoInfo, probe_video
from lib.writebehind import WriteBehind
from plugins.convert import load_face_swapper
from plugins.convert.writer import OutputFrame, WriterOptions
from plugins.extract.pipeline import FaceFinder
from scripts.common import face_source, input_lines
from scripts.convert.args import Config, parse_frame_ranges

log = logging.getLogger("faceswap.convert")


@dataclass
class Summary:
    """What a run did, for the closing report and for tests."""

    frames_read: int = 0
    frames_written: int = 0
    frames_swapped: int = 0
    faces_swapped: int = 0
    dropped: int = 0
    unfollowed: int = 0  # swapped faces --follow left as drawn: their landmarks not found on the model's output
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
        if self.unfollowed:
            out.append(f"swapped faces left as the model drew them (--follow found no landmarks on them): "
                       f"{self.unfollowed}")
        return out + input_lines(self.skipped, "frames", self.problem)


def writer_options(cfg: Config, video_info: VideoInfo | None, dropping: bool) -> WriterOptions:
    """fps and sound for the output: the input video's, else --reference-video's, --fps over both."""
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
    return WriterOptions(cfg.output, fps=fps, crf=cfg.crf, preset=cfg.preset, audio=audio,
                         image_format=cfg.image_format)


def _identity_filter(cfg: Config, finder: FaceFinder | None) -> IdentityFilter | None:
    """Keeps only the --reference person's faces (None: every face is swapped)."""
    if not cfg.reference:
        return None
    describer = FaceDescriber()
    finder = finder or FaceFinder(cfg.detector)
    people = [reference_descriptor(path, describer, finder) for path in cfg.reference]
    return IdentityFilter(describer, people, [], cfg.reference_threshold)


class Converter:
    """convert's work on frames, for the whole input or a part of it (a cluster worker's): faces' source
    (alignments or a detector), identity filter and model loaded once."""

    def __init__(self, cfg: Config, source: FrameSource) -> None:
        self.cfg = cfg
        self.lookup, self.finder = face_source(source, cfg.alignments, cfg.detector)
        self.people = _identity_filter(cfg, self.finder)
        self.model = load_swapper(cfg.model_dir)
        self.swapper = load_face_swapper(self.model, cfg.swap)
        self.ranges = parse_frame_ranges(cfg.frame_ranges)
        self.dropping = dropping_frames(cfg)

    def sigma(self, source: FrameSource) -> float:
        return self.cfg.smooth if self.cfg.smooth is not None else default_smoothing(source)

    def convert(self, source: FrameSource, writer: Any, summary: Summary, progress: Any,
                keep: tuple[int, int] | None = None) -> None:
        """Swap every frame of source and write it (only frames keep[0] <= index < keep[1] with keep: the
        others are context for smoothing); the writer is closed, or aborted on an error."""
        output: WriteBehind[OutputFrame] = WriteBehind(writer.write, f"the output {self.cfg.output}")
        frames = frames_with_faces(source, self.ranges, self.lookup, self.finder, self.sigma(source),
                                   people=self.people)
        try:
            for group in chunks(frames, self.swapper.options.batch_size):
                _swap_group(group, self.swapper, self.cfg.direction)
                for frame in group:
                    if keep is None or keep[0] <= frame.index < keep[1]:
                        _write(frame, output, summary, self.dropping)
                        progress.update(1)
            if summary.frames_written == 0 and keep is None:
                raise FaceswapError(f"no frame to write: --frame-ranges {' '.join(self.cfg.frame_ranges)} "
                                    f"selects none of the {summary.frames_read} frames of {self.cfg.input}")
            output.close()
            writer.close()
        except BaseException:
            output.abort()
            writer.abort()  # no half-written video is left behind
            raise
        summary.problem = source.problem


def dropping_frames(cfg: Config) -> bool:
    return bool(cfg.frame_ranges) and not cfg.keep_unchanged


def settings_line(cfg: Config, model: Swapper, sigma: float) -> str:
    """The model and swap settings a run uses, as one line for the log."""
    direction = "B to A" if cfg.swap_model else "A to B"
    smoothing = f", smoothing {sigma:g} frames" if sigma else ""
    options = cfg.swap.over(model.convert_settings)  # what load_face_swapper makes of them
    follow = ""
    if options.follow:
        shape = "" if model.shapes is not None else " (no face shapes kept with this model: to the source's own)"
        follow = f", follow {options.follow:g} (face shape {options.follow_shape:g}){shape}"
    sharpen = f", sharpen {options.sharpen:g}" if options.sharpen else ""
    return (f"model {model.model_name} ({model.input_size} px, coverage {model.coverage:.2f}), {direction}, "
            f"mask {options.mask_for(model)}{', kept to skin' if options.skin else ''}, colour {options.color}, "
            f"blend {options.blend}{sharpen}{smoothing}{follow}")


def _swap_group(group: list[WorkFrame], swapper: FaceSwapper, direction: str) -> None:
    """Swap the faces of a group of frames in place (frame.image replaced); frames outside the ranges stay."""
    ready = [frame for frame in group if frame.image is not None and frame.in_range and frame.faces]
    if not ready:
        return
    results = swapper.swap_frames([frame.image for frame in ready if frame.image is not None],
                                  [frame.faces for frame in ready], direction,
                                  meshes=[frame.meshes for frame in ready])
    for frame, result in zip(ready, results):
        frame.image = result.image
        frame.unfollowed = sum(face.unfollowed for face in result.faces)


def _write(frame: WorkFrame, output: WriteBehind[OutputFrame], summary: Summary, dropping: bool) -> None:
    """Queue one frame for the writer (or count why not) and count it in the summary."""
    if frame.image is None:
        log.warning("skipped %s: %s", frame.name, frame.problem)
        summary.skipped[frame.problem or "unreadable"] += 1
        return
    summary.frames_read += 1
    if not frame.in_range and dropping:
        summary.dropped += 1
        return
    changed = frame.in_range and bool(frame.faces)
    if changed:
        summary.frames_swapped += 1
        summary.faces_swapped += len(frame.faces)
        summary.unfollowed += frame.unfollowed
    else:
        reason = "outside --frame-ranges" if not frame.in_range else frame.status or "no face"
        summary.passed[reason] += 1
    output.put(OutputFrame(frame.out_name, frame.image, changed, frame.source_file))
    summary.frames_written += 1
