"""convert --cluster: the frames cut into parts, each converted by a Ray actor that loads the model once.

Frames out: each actor writes its frames into the output folder, as one process would. Video out: each part
becomes an H.264 segment with the same settings in `.<output name>.parts/`, and the segments are joined without
re-encoding, with the source's sound and the synthetic marker, into a video of exactly the frames written.
Landmark smoothing looks at neighbouring frames: a part reads that many frames of context past its ends, so
every frame is smoothed as in one process.
"""
from __future__ import annotations

import logging
import shutil
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from lib.errors import FaceswapError
from lib.media import FrameSource
from lib.smoothing import LandmarkSmoother
from lib.video import join_segments
from plugins.convert.writer import REGISTRY as WRITERS
from plugins.convert.writer import WriterOptions
from plugins.registry import load_plugin
from scripts.cluster import (
    LogCollector,
    NoProgress,
    check_source,
    connect,
    one_slot_of_tensorflow,
    parse_cluster,
    part_size,
    show_logs,
    spans,
)
from scripts.convert.args import Config
from scripts.convert.converter import Converter, Summary, settings_line

log = logging.getLogger("faceswap.convert")


class ConvertWorker:
    """A Ray actor: one Converter (model loaded once), many parts."""

    def __init__(self, cfg: Config, options: WriterOptions, segments: str | None) -> None:
        self.logs = LogCollector()
        one_slot_of_tensorflow()
        self.cfg, self.options = cfg, options
        self.segments = None if segments is None else Path(segments)
        whole = FrameSource(cfg.input)
        self.total = whole.total
        self.problem: FaceswapError | None = None
        try:
            self.converter = Converter(cfg, whole)
        except FaceswapError as err:  # told by the first part (an actor that fails to start would be retried)
            self.problem = err
            return
        sigma = self.converter.sigma(whole)
        self.context = LandmarkSmoother(sigma).radius + 1
        self.settings = settings_line(cfg, self.converter.model, sigma)

    def convert(self, span: tuple[int, int]) -> dict[str, Any]:
        """Convert the frames of span (reading context frames around it); returns its summary as plain data."""
        if self.problem is not None:
            raise self.problem
        first, stop = span
        read = (max(0, first - self.context), min(self.total, stop + self.context))
        source = FrameSource(self.cfg.input, span=read)
        options = self.options
        if self.segments is not None:
            segment = self.segments / f"part-{first:09d}{self.cfg.output.suffix}"
            options = replace(options, output=segment, audio=None)
        writer = load_plugin(WRITERS, "writer", self.cfg.writer_kind)(options)
        summary = Summary()
        self.converter.convert(source, writer, summary, NoProgress(), keep=span)
        return {"span": list(span), "summary": {**asdict(summary), "passed": dict(summary.passed),
                                                 "skipped": dict(summary.skipped)},
                "notes": writer.notes, "logs": self.logs.take(), "settings": self.settings}


def _add(summary: Summary, part: dict[str, Any]) -> None:
    for name in ("frames_read", "frames_written", "frames_swapped", "faces_swapped", "dropped", "unfollowed"):
        setattr(summary, name, getattr(summary, name) + part[name])
    summary.passed.update(Counter(part["passed"]))
    summary.skipped.update(Counter(part["skipped"]))
    summary.problem = summary.problem or part["problem"]


def convert_on_cluster(cfg: Config, source: FrameSource, options: WriterOptions, summary: Summary,
                       progress: Any) -> list[str]:
    """Convert as run() does in one process, the parts done by the cluster's actors; returns the writer's notes."""
    spec = parse_cluster(cfg.cluster)
    assert spec is not None
    check_source(source)
    video = cfg.writer_kind == "video"
    segments = cfg.output.with_name(f".{cfg.output.name}.parts") if video else None
    if segments is not None:
        shutil.rmtree(segments, ignore_errors=True)
        segments.mkdir(parents=True)
    try:
        with connect(spec, gpu_work=True) as cluster:
            cluster.check_shared([segments or cfg.output, source.path, cfg.model_dir])
            parts = spans(source.total, part_size(source.total, cluster.slots))
            actors = cluster.actors(ConvertWorker, len(parts), cfg, options,
                                    None if segments is None else str(segments))
            results: list[dict[str, Any]] = []
            for result in cluster.run(actors, "convert", parts):
                if not results:  # the line one process logs before it starts
                    log.info("%s", result["settings"])
                show_logs(result["logs"])
                progress.update(result["span"][1] - result["span"][0])
                results.append(result)
        results.sort(key=lambda result: result["span"][0])
        for result in results:
            _add(summary, result["summary"])
        if summary.frames_written == 0:
            raise FaceswapError(f"no frame to write: --frame-ranges {' '.join(cfg.frame_ranges)} selects none of "
                                f"the {summary.frames_read} frames of {cfg.input}")
        if segments is not None:
            files = [segments / f"part-{r['span'][0]:09d}{cfg.output.suffix}" for r in results]
            join_segments([file for file in files if file.is_file()], cfg.output, audio=options.audio)
    finally:
        if segments is not None:
            shutil.rmtree(segments, ignore_errors=True)
    return sorted({note for result in results for note in result["notes"]})
