"""convert's run: the input checked, its frames converted here (converter.py) or on a cluster (shard.py)."""
from __future__ import annotations

import logging

from lib.errors import FaceswapError
from lib.media import FrameSource, check_same_size, image_files
from lib.video import VideoInfo, is_video_path, probe_video
from plugins.convert.writer import REGISTRY as WRITERS
from plugins.registry import load_plugin
from scripts.common import sigterm_as_interrupt
from scripts.convert.args import Config, check
from scripts.convert.converter import Converter, Summary, dropping_frames, settings_line, writer_options
from scripts.progress import progress as show_progress

log = logging.getLogger("faceswap.convert")


def _probe(cfg: Config) -> VideoInfo | None:
    """The input video's facts (None for images), refusing a variable frame rate where it matters."""
    if not is_video_path(cfg.input) or not cfg.input.is_file():
        return None
    info = probe_video(cfg.input)
    if info.variable_rate and cfg.writer_kind in ("video", "gif"):
        if cfg.fps is None:
            raise FaceswapError(f"{cfg.input.name} has a variable frame rate: make it constant first (ffmpeg "
                                f"-i {cfg.input.name} -fps_mode cfr -r {info.fps:g} fixed.mp4), or pass "
                                "--fps to write its frames at that rate")
        log.warning("%s has a variable frame rate: its frames are written at --fps %g", cfg.input.name, cfg.fps)
    return info


def run(cfg: Config) -> Summary:
    """Convert every frame of the input; returns the summary it also logs."""
    check(cfg)
    video_info = _probe(cfg)
    if cfg.input.is_dir() and cfg.writer_kind in ("video", "gif"):
        check_same_size(image_files(cfg.input))
    source = FrameSource(cfg.input)
    summary = Summary()
    progress = show_progress(source.total, "convert", "frame")
    try:
        with sigterm_as_interrupt():
            if cfg.cluster is not None:
                from scripts.convert.shard import convert_on_cluster  # loads Ray only with --cluster

                options = writer_options(cfg, video_info, dropping_frames(cfg))
                notes = convert_on_cluster(cfg, source, options, summary, progress)
            else:
                converter = Converter(cfg, source)
                log.info("%s", settings_line(cfg, converter.model, converter.sigma(source)))
                writer = load_plugin(WRITERS, "writer", cfg.writer_kind)(
                    writer_options(cfg, video_info, converter.dropping))
                converter.convert(source, writer, summary, progress)
                notes = writer.notes
    finally:
        progress.close()
    for note in notes:
        log.warning(note)
    if source.problem or summary.problem:
        log.warning("the video ended badly (%s): the frames before that point were converted",
                    source.problem or summary.problem)
    if summary.frames_read == 0:
        raise FaceswapError(f"no frame of {cfg.input} could be read")
    for line in summary.lines():
        log.info(line)
    log.info("output: %s (marked as synthetic)", cfg.output)
    return summary
