"""`evaluate`: swap held-out faces (and, with -i, a video) with a trained model and report how good the swap
is: identity transferred, pose and expression kept, reconstruction, jitter and seams (see lib/evaluation.py)."""
from __future__ import annotations

import argparse
import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lib.errors import FaceswapError

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger("faceswap.evaluate")
REPORT = "report.json"
SHEET = "sheet.png"
SHEET_TEXT = {"synthetic": "faceswap evaluation sheet: machine-made faces"}
SHEET_FACE = 128  # pixels per face on the sheet


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
    parser.add_argument("-D", "--detector", default="mtcnn", choices=["mtcnn", "dlib-hog", "dlib-cnn"],
                        help="detector for the faces of -i when there is no alignments file (default: mtcnn)")
    parser.add_argument("--swap-model", action="store_true", help="-i shows B: swap it B to A")
    parser.add_argument("--max-faces", type=int, default=200,
                        help="faces per side, evenly spaced over each folder (default: 200)")
    parser.add_argument("--max-frames", type=int, default=None, help="the first N frames of -i (default: all)")
    parser.add_argument("--smooth", type=float, default=None,
                        help="temporal smoothing of -i's landmarks in frames, as convert (default: 1 for a "
                             "video, off for frames)")
    parser.add_argument("--mask", default="auto", choices=["auto", "learned", "hull", "none"],
                        help="mask used to paste swapped faces back, as convert (default auto)")
    parser.add_argument("--color", default="avg-color",
                        choices=["none", "avg-color", "match-hist", "color-transfer"],
                        help="colour adjustment, as convert (default: avg-color)")
    parser.add_argument("--blend", default="gaussian", choices=["gaussian", "poisson"],
                        help="blending, as convert (default: gaussian)")
    parser.add_argument("--blur", type=float, default=5.0,
                        help="mask feathering in %% of the face crop, as convert (default: 5)")
    parser.add_argument("--batch-size", type=int, default=16, help="faces per model call (default: 16)")


@dataclass(frozen=True)
class Config:
    model_dir: Path
    input_a: Path
    input_b: Path
    input: Path | None = None
    alignments: Path | None = None
    output_dir: Path | None = None
    detector: str = "mtcnn"
    swap_model: bool = False
    max_faces: int = 200
    max_frames: int | None = None
    smooth: float | None = None
    mask: str = "auto"
    color: str = "avg-color"
    blend: str = "gaussian"
    blur: float = 5.0
    batch_size: int = 16

    def __post_init__(self) -> None:
        checks = [(1 <= self.max_faces <= 100_000,
                   f"--max-faces must be between 1 and 100000, not {self.max_faces}"),
                  (self.max_frames is None or self.max_frames >= 2,
                   f"--max-frames must be 2 or more (jitter needs two frames), not {self.max_frames}"),
                  (self.smooth is None or 0 <= self.smooth <= 10,
                   f"--smooth must be 0-10 frames, not {self.smooth}")]
        for ok, message in checks:
            if not ok:
                raise FaceswapError(message)

    @property
    def report_dir(self) -> Path:
        return self.output_dir if self.output_dir is not None else self.model_dir / "evaluation"


def _check_paths(cfg: Config) -> None:
    """Problems found before anything slow starts."""
    if not cfg.model_dir.is_dir():
        raise FaceswapError(f"model folder not found: {cfg.model_dir} (train one first: faceswap.py train)")
    for flag, folder in (("-A", cfg.input_a), ("-B", cfg.input_b)):
        if not folder.is_dir():
            raise FaceswapError(f"{flag} face folder not found: {folder} (make one with faceswap.py extract)")
    if cfg.input is not None and not cfg.input.exists():
        raise FaceswapError(f"input not found: {cfg.input}")
    if cfg.alignments is not None and not cfg.alignments.is_file():
        raise FaceswapError(f"alignments file not found: {cfg.alignments}")
    if cfg.report_dir.is_file():
        raise FaceswapError(f"report folder {cfg.report_dir} is a file: choose another -o")


def _video_faces(cfg: Config) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """-i's frames with the landmarks of their largest face (None: no face), found as convert finds them."""
    from lib.alignments import load_alignments  # noqa: PLC0415
    from lib.media import FrameSource, default_alignments_path, image_files  # noqa: PLC0415
    from lib.metrics import interocular  # noqa: PLC0415
    from lib.readahead import read_ahead  # noqa: PLC0415
    from scripts import convert_steps as steps  # noqa: PLC0415
    from scripts.convert import DEFAULT_VIDEO_SMOOTHING  # noqa: PLC0415

    assert cfg.input is not None
    source = FrameSource(cfg.input)
    path = cfg.alignments or default_alignments_path(cfg.input)
    lookup, finder = None, None
    if cfg.alignments is None and not path.is_file():
        log.info("no alignments file at %s: finding the faces of %s with %s", path, cfg.input.name, cfg.detector)
        from plugins.extract.pipeline import FaceFinder  # noqa: PLC0415

        finder = FaceFinder(cfg.detector)
    else:
        lookup = steps.FaceLookup(load_alignments(path), path)
        names = ([f"{cfg.input.stem}_{i:06d}" for i in range(max(source.total, 1))] if source.kind == "video"
                 else [p.name for p in image_files(cfg.input)] if cfg.input.is_dir() else [cfg.input.name])
        lookup.check_matches(names, cfg.input.name)
    sigma = cfg.smooth if cfg.smooth is not None else DEFAULT_VIDEO_SMOOTHING if source.kind == "video" else 0.0
    frames = steps.with_faces(read_ahead(steps.work_frames(source, [])), lookup, finder,
                              finder.batch_size if finder is not None else 1)
    if sigma > 0:
        frames = steps.smoothed(frames, sigma)
    try:
        for frame in itertools.islice(frames, cfg.max_frames):
            if frame.image is None:
                continue  # unreadable: the run of consecutive frames breaks as for a frame without a face
            largest = max(frame.faces, key=interocular) if frame.faces else None
            yield frame.image, largest
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()  # stops the reader thread now when --max-frames ends the run early


def _sheet(report: dict[str, Any], samples: dict[str, list[dict[str, Any]]]) -> np.ndarray:
    """Sample faces (source, swap, mask per direction) above the metric table; BGR uint8."""
    import cv2  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    from lib.evaluation import metric_rows  # noqa: PLC0415
    from lib.training.preview import make_preview  # noqa: PLC0415

    def faces(images: list[np.ndarray]) -> np.ndarray:
        resized = [cv2.resize(image, (SHEET_FACE, SHEET_FACE), interpolation=cv2.INTER_AREA) for image in images]
        return np.asarray(resized, np.float32) / 255

    rows = []
    for direction, label in (("a2b", "A->B"), ("b2a", "B->A")):
        shown = samples[direction]
        rows += [(label[0], faces([s["source"] for s in shown])), (label, faces([s["swap"] for s in shown])),
                 ("mask", faces([np.repeat(np.round(s["mask"][..., None] * 255), 3, 2).astype(np.uint8)
                                 for s in shown]))]
    grid = make_preview(rows)
    model = report["model"]
    lines = [(f"{model['name']} at iteration {model['iteration']}: {report['faces']['A']['used']} A and "
              f"{report['faces']['B']['used']} B faces", "A->B", "B->A"), *metric_rows(report)]
    font, scale, line = cv2.FONT_HERSHEY_SIMPLEX, 0.5, 22
    width = max(grid.shape[1], 760)
    table = np.zeros((line * (len(lines) + 1), width, 3), np.uint8)
    for index, (name, first, second) in enumerate(lines):
        y = line * (index + 1)
        for x, text in ((10, name), (width - 260, first), (width - 130, second)):
            cv2.putText(table, text, (x, y), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    sheet = np.zeros((grid.shape[0] + table.shape[0], width, 3), np.uint8)
    sheet[:grid.shape[0], :grid.shape[1]] = grid
    sheet[grid.shape[0]:] = table
    return sheet


def _table(rows: list[tuple[str, str, str]]) -> list[str]:
    """A Markdown table of (metric, A->B, B->A)."""
    header = ("metric", "A->B", "B->A")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    lines = ["| " + " | ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                               for i, (cell, w) in enumerate(zip(row, widths))) + " |" for row in [header, *rows]]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return lines


def run(cfg: Config) -> dict[str, Any]:
    """Evaluate the model; returns the report it also writes to report.json."""
    _check_paths(cfg)
    from tqdm import tqdm  # noqa: PLC0415 (heavy imports happen only when the command runs)

    from lib import evaluation  # noqa: PLC0415
    from lib.fileio import write_json_atomic  # noqa: PLC0415
    from lib.image import write_png  # noqa: PLC0415
    from lib.model.swapper import load_swapper  # noqa: PLC0415

    options = evaluation.EvalOptions(cfg.mask, cfg.color, cfg.blend, cfg.blur, cfg.batch_size)
    faces_a = evaluation.load_held_out(cfg.input_a, cfg.max_faces)
    faces_b = evaluation.load_held_out(cfg.input_b, cfg.max_faces)
    for faces in (faces_a, faces_b):
        for reason, count in faces.skipped.items():
            log.warning("%s: %d face file(s) skipped: %s", faces.folder, count, reason)
    swapper = load_swapper(cfg.model_dir)
    log.info("model %s at iteration %d (%d px, coverage %.2f); %d A and %d B faces (of %d and %d)",
             swapper.model_name, swapper.iteration, swapper.input_size, swapper.coverage, len(faces_a),
             len(faces_b), faces_a.files, faces_b.files)
    measurer = evaluation.FaceMeasurer()
    with tqdm(total=evaluation.face_steps(faces_a, faces_b), unit="face", desc="evaluate",
              dynamic_ncols=True) as bar:
        scores, samples = evaluation.evaluate_faces(swapper, faces_a, faces_b, options, measurer=measurer,
                                                          progress=bar.update)
    report: dict[str, Any] = {
        "schema": evaluation.SCHEMA, "version": evaluation.VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {"dir": str(cfg.model_dir), "name": swapper.model_name, "iteration": swapper.iteration,
                  "input_size": swapper.input_size, "coverage": swapper.coverage, "has_mask": swapper.has_mask},
        "settings": {"mask": cfg.mask, "color": cfg.color, "blend": cfg.blend, "blur": cfg.blur,
                     "max_faces": cfg.max_faces},
        "faces": {side: {"folder": str(f.folder), "files": f.files, "used": len(f), "skipped": f.skipped}
                  for side, f in (("A", faces_a), ("B", faces_b))},
        **scores,
    }
    if cfg.input is not None:
        direction = "b2a" if cfg.swap_model else "a2b"
        with tqdm(unit="frame", desc="evaluate video", dynamic_ncols=True) as bar:
            video = evaluation.evaluate_video(swapper, _video_faces(cfg), options, direction=direction,
                                              measurer=measurer, progress=bar.update)
        if video["faces"] == 0:
            raise FaceswapError(f"no face found in {cfg.input}: give a video or frames of "
                                f"{'B' if cfg.swap_model else 'A'}")
        report["video"] = {"input": str(cfg.input), **video}
    report = evaluation.finite(report)
    cfg.report_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(cfg.report_dir / REPORT, report)
    write_png(cfg.report_dir / SHEET, _sheet(report, samples), text=SHEET_TEXT)
    for line in _table(evaluation.metric_rows(report)):
        log.info(line)
    log.info("report: %s, sheet: %s", cfg.report_dir / REPORT, cfg.report_dir / SHEET)
    return report
