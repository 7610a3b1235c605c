"""evaluate's run: held-out faces (and -i's frames) swapped by convert's own lib.swap, measured by
lib/evaluation, written as report.json and sheet.png."""
from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from lib.errors import FaceswapError
from lib.evaluation import report as reporting
from lib.evaluation.held_out import HeldOutFaces, load_held_out
from lib.evaluation.measure import FaceMeasurer
from lib.evaluation.occlusion import score_occlusion
from lib.evaluation.scores import evaluate_faces, face_steps, score_video, swap_video
from lib.evaluation.sheet import make_sheet
from lib.expression import expression_counts
from lib.fileio import write_json_atomic
from lib.frames import default_smoothing, frames_with_faces
from lib.image import SYNTHETIC_PNG_TEXT, write_png
from lib.media import FrameSource
from lib.metrics import interocular
from lib.model.state import POSES
from lib.model.swapper import Swapper, load_swapper
from lib.occlusion import load_occluders
from lib.pose import outside_share
from lib.swap import FaceSwapper, SwapOptions
from lib.tables import markdown_table
from lib.types import Frame, Landmarks
from plugins.convert import load_face_swapper
from plugins.extract.align import AlignOptions
from plugins.extract.align.dlib68 import Dlib68Aligner
from scripts.common import face_source
from scripts.evaluate.args import Config, check
from scripts.progress import progress as show_progress

log = logging.getLogger("faceswap.evaluate")
REPORT = "report.json"
SHEET = "sheet.png"
OCCLUSION = "occlusion.png"


def _video_faces(cfg: Config, video: Path, alignments: Path | None) -> Iterator[tuple[Frame, Landmarks | None]]:
    """A video's frames with the landmarks of their largest face (None: no face), found as convert finds them."""
    source = FrameSource(video)
    lookup, finder = face_source(source, alignments, cfg.detector)
    sigma = cfg.smooth if cfg.smooth is not None else default_smoothing(source)
    frames = frames_with_faces(source, [], lookup, finder, sigma)
    try:
        for frame in itertools.islice(frames, cfg.max_frames):
            if frame.image is None:
                continue  # unreadable: the run of consecutive frames breaks as for a frame without a face
            yield frame.image, max(frame.faces, key=interocular) if frame.faces else None
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()  # stops the reader thread now when --max-frames ends the run early


def _header(cfg: Config, model: Swapper, options: SwapOptions, faces_a: HeldOutFaces,
            faces_b: HeldOutFaces) -> dict[str, Any]:
    """The report's first fields: what was measured, with what (the swap's options as used), on which faces."""
    return {
        "schema": reporting.SCHEMA, "version": reporting.VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {"dir": str(cfg.model_dir), "name": model.model_name, "iteration": model.iteration,
                  "input_size": model.input_size, "coverage": model.coverage, "has_mask": model.has_mask},
        "settings": {**{k: v for k, v in asdict(options).items() if k != "given"}, "max_faces": cfg.max_faces},
        "faces": {side: {"folder": str(f.folder), "files": f.files, "used": len(f), "skipped": f.skipped}
                  for side, f in (("A", faces_a), ("B", faces_b))},
    }


def _expression_coverage(model_dir: Path, faces_a: HeldOutFaces, faces_b: HeldOutFaces) -> dict[str, Any] | None:
    """Per direction, how many held-out sources shut their eyes or open their mouth, beside how many of the
    target's training faces do (MODEL/poses.json): a target that never did cannot show it. None for a model
    trained before train kept these counts."""
    try:
        trained = json.loads((model_dir / POSES).read_text(encoding="utf-8"))["expressions"]
        held = {"A": expression_counts(np.array(faces_a.landmarks)),
                "B": expression_counts(np.array(faces_b.landmarks))}
        return {"a2b": {"sources": held["A"], "target_trained": trained["B"]},
                "b2a": {"sources": held["B"], "target_trained": trained["A"]}}
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def _pose_coverage(model_dir: Path, faces_a: HeldOutFaces, faces_b: HeldOutFaces) -> dict[str, Any] | None:
    """Per direction, the share of held-out sources turned or tilted beyond the poses of the target's training
    faces (MODEL/poses.json, written by train); None for a model trained before it was kept, or damaged."""
    try:
        covered = json.loads((model_dir / POSES).read_text(encoding="utf-8"))["covered"]
        return {"a2b": outside_share(faces_a.poses(), covered["B"]),
                "b2a": outside_share(faces_b.poses(), covered["A"])}
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def _score_clip(cfg: Config, swapper: FaceSwapper, measurer: FaceMeasurer, video: Path, *,
                alignments: Path | None, direction: str) -> dict[str, Any]:
    """A video of the direction's source person swapped as convert swaps it, and measured over its frames."""
    with show_progress(None, f"evaluate video {video.name}", "frame") as bar:
        scores = score_video(swap_video(swapper, _video_faces(cfg, video, alignments), direction), measurer,
                             direction=direction, progress=bar.update)
    if scores["faces"] == 0:
        raise FaceswapError(f"no face found in {video}: give a video or frames of {direction[0].upper()}")
    return {"input": str(video), **scores}


def run(cfg: Config) -> dict[str, Any]:
    """Evaluate the model; returns the report it also writes to report.json."""
    check(cfg)
    faces_a = load_held_out(cfg.input_a, cfg.max_faces)
    faces_b = load_held_out(cfg.input_b, cfg.max_faces)
    occluders = None
    if cfg.occluders is not None:
        occluders, unreadable = load_occluders(cfg.occluders)
        if unreadable:
            log.warning("%s: %d image(s) skipped as unreadable: %s", cfg.occluders, len(unreadable),
                        ", ".join(unreadable))
    for faces in (faces_a, faces_b):
        for reason, count in faces.skipped.items():
            log.warning("%s: %d face file(s) skipped: %s", faces.folder, count, reason)
    model = load_swapper(cfg.model_dir)
    swapper = load_face_swapper(model, cfg.swap)
    log.info("model %s at iteration %d (%d px, coverage %.2f); %d A and %d B faces (of %d and %d)",
             model.model_name, model.iteration, model.input_size, model.coverage, len(faces_a), len(faces_b),
             faces_a.files, faces_b.files)
    measurer = FaceMeasurer(Dlib68Aligner(AlignOptions()))
    with show_progress(face_steps(faces_a, faces_b), "evaluate", "face") as bar:
        scores, samples = evaluate_faces(swapper, faces_a, faces_b, measurer, progress=bar.update)
    report = {**_header(cfg, model, swapper.options, faces_a, faces_b), **scores, "occlusion": None,
              "pose_coverage": _pose_coverage(cfg.model_dir, faces_a, faces_b),
              "expression_coverage": _expression_coverage(cfg.model_dir, faces_a, faces_b)}
    picture = None
    if occluders is not None:
        log.info("occlusion: %d occluders from %s over the held-out faces", len(occluders), cfg.occluders)
        occlusion, picture = score_occlusion(swapper, faces_a, faces_b, occluders)
        report["occlusion"] = {"occluders": str(cfg.occluders), "files": len(occluders), **occlusion}
    clips = [("video", cfg.input, cfg.alignments, "b2a" if cfg.swap_model else "a2b"),
             ("video_b", cfg.video_b, cfg.alignments_b, "b2a")]
    for key, video, alignments, direction in clips:
        if video is not None:
            report[key] = _score_clip(cfg, swapper, measurer, video, alignments=alignments, direction=direction)
    report = reporting.finite(report)
    cfg.report_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(cfg.report_dir / REPORT, report)
    write_png(cfg.report_dir / SHEET, make_sheet(report, samples), text=SYNTHETIC_PNG_TEXT)
    if picture is not None:
        write_png(cfg.report_dir / OCCLUSION, picture, text=SYNTHETIC_PNG_TEXT)
    else:
        (cfg.report_dir / OCCLUSION).unlink(missing_ok=True)  # an earlier run's, which this report does not match
    for line in markdown_table(("metric", "A->B", "B->A"), reporting.metric_rows(report)):
        log.info(line)
    log.info("report: %s, sheet: %s", cfg.report_dir / REPORT, cfg.report_dir / SHEET)
    return report
