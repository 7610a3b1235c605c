"""`tools preview`: a few frames swapped with every combination of the convert settings asked for, on one
labelled sheet, so that the settings can be chosen before converting an hour of video."""
from __future__ import annotations

import dataclasses
import itertools
import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lib.errors import FaceswapError
from lib.frames import WorkFrame, frames_with_faces
from lib.image import SYNTHETIC_PNG_TEXT, write_png
from lib.media import FrameSource
from lib.model.swapper import load_swapper
from lib.swap import SwapOptions
from lib.types import Frame, Landmarks
from plugins.convert import load_face_swapper
from scripts.common import face_source
from scripts.tools.args import Config, parse_vary

log = logging.getLogger("faceswap.tools")
CELL = 192  # pixels per frame on the sheet
LABEL = 280  # width of the label column
DEFAULT_FRAMES = 4


def _chosen(source: FrameSource, frames: list[WorkFrame], wanted: list[int]) -> list[WorkFrame]:
    with_faces = [frame for frame in frames if frame.image is not None and frame.faces]
    if not with_faces:
        raise FaceswapError(f"no face found in the frames of {source.path} looked at: give --frames with faces")
    if wanted:
        chosen = [frame for frame in with_faces if frame.index in wanted]
        absent = sorted(set(wanted) - {frame.index for frame in chosen})
        if absent:
            raise FaceswapError(f"--frames {' '.join(map(str, absent))}: no such frame with a face in "
                                f"{source.path.name} (frames are counted from 0)")
        return chosen
    picks = np.linspace(0, len(with_faces) - 1, min(DEFAULT_FRAMES, len(with_faces))).astype(int)
    return [with_faces[i] for i in sorted(set(picks))]


def _cell(image: Frame, faces: list[Landmarks]) -> Frame:
    """The part of a frame around its faces (half as much again on each side), CELL x CELL."""
    points = np.concatenate(faces)
    (left, top), (right, bottom) = points.min(0), points.max(0)
    centre, half = ((left + right) / 2, (top + bottom) / 2), max(right - left, bottom - top) * 0.9
    matrix = np.array([[CELL / (2 * half), 0, CELL / 2 - centre[0] * CELL / (2 * half)],
                       [0, CELL / (2 * half), CELL / 2 - centre[1] * CELL / (2 * half)]])
    return np.asarray(cv2.warpAffine(image, matrix, (CELL, CELL), flags=cv2.INTER_AREA), np.uint8)


def _row(label: str, cells: list[Frame]) -> Frame:
    text = np.zeros((CELL, LABEL, 3), np.uint8)
    for line, part in enumerate(label.split("  ")):
        cv2.putText(text, part, (8, 24 + 20 * line), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                    cv2.LINE_AA)
    return np.hstack([text, *cells])


def preview_sheet(cfg: Config, output: Path) -> int:
    """Write the sheet: the chosen frames as they are, then swapped with each combination of --vary; returns how
    many combinations."""
    assert cfg.input is not None and cfg.model_dir is not None
    vary = parse_vary(cfg.vary)
    source = FrameSource(cfg.input)
    lookup, finder = face_source(source, cfg.alignments[0] if cfg.alignments else None, cfg.detector)
    wanted = sorted(set(cfg.frames))
    # Without --frames, a few frames spread over the input are looked at, not every frame of an hour of video.
    spread = sorted({int(i) for i in np.linspace(0, max(source.total - 1, 0), 3 * DEFAULT_FRAMES)})
    ranges = [(index, index) for index in wanted or spread]
    chosen = _chosen(source, list(frames_with_faces(source, ranges, lookup, finder, 0.0)), wanted)
    model = load_swapper(cfg.model_dir)
    direction = "b2a" if cfg.swap_model else "a2b"
    rows = [_row("original", [_cell(frame.image, frame.faces) for frame in chosen if frame.image is not None])]
    for combination in itertools.product(*vary.values()) if vary else [()]:
        settings: dict[str, Any] = dict(zip(vary, combination))
        options = dataclasses.replace(SwapOptions(), **settings)
        swapper = load_face_swapper(model, options)
        swapped = swapper.swap_frames([frame.image for frame in chosen if frame.image is not None],
                                      [frame.faces for frame in chosen], direction,
                                      meshes=[frame.meshes for frame in chosen])
        label = "  ".join(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
                          for key, value in {"mask": options.mask_for(model), **settings}.items())
        rows.append(_row(label, [_cell(result.image, frame.faces) for result, frame in zip(swapped, chosen)]))
    output.parent.mkdir(parents=True, exist_ok=True)
    write_png(output, np.vstack(rows), text=SYNTHETIC_PNG_TEXT)
    log.info("preview of %d frames with %d settings: %s (marked synthetic)", len(chosen), len(rows) - 1, output)
    return len(rows) - 1
