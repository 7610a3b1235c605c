"""tools' run: `alignments ...`, `video split|join`, `sort`, `clean`."""
from __future__ import annotations

import importlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lib.errors import FaceswapError
from lib.image import SYNTHETIC_TEXT, UnreadableImage, is_marked_synthetic, read_image
from lib.media import check_same_size, image_files
from lib.readahead import read_ahead
from lib.types import Frame
from lib.video import VideoWriter, probe_video, split_video
from scripts.progress import progress as show_progress
from scripts.tools import alignments, faceset
from scripts.tools.args import Config, check

log = logging.getLogger("faceswap.tools")


def run(cfg: Config) -> None:
    check(cfg)
    if cfg.tool == "alignments":
        _alignments(cfg)
    elif cfg.tool == "video":
        assert cfg.input is not None and cfg.output is not None
        if cfg.action == "split":
            split_frames(cfg.input, cfg.output, cfg.image_format, cfg.overwrite)
        else:
            join_frames(cfg)
    elif cfg.tool == "sort":
        _sort(cfg)
    elif cfg.tool == "clean":
        _clean(cfg)
    elif cfg.tool == "preview":
        assert cfg.input is not None and cfg.model_dir is not None
        preview = importlib.import_module("scripts.tools.preview")  # TensorFlow loads only for the preview
        preview.preview_sheet(cfg, cfg.output or cfg.model_dir / "convert_preview.png")


def _alignments(cfg: Config) -> None:
    files, action = cfg.alignments, cfg.action
    if action == "rebuild":
        assert cfg.faces is not None
        alignments.rebuild(cfg.faces, files[0], cfg.overwrite)
    elif action == "remove-deleted":
        assert cfg.faces is not None
        alignments.remove_deleted(cfg.faces, files[0])
    elif action == "missing":
        names = alignments.missing(files[0], cfg.input)
        for name in names:
            print(name)
        log.info("%d frames without a face", len(names))
    elif action == "merge":
        assert cfg.output is not None
        alignments.merge(files, cfg.output, cfg.overwrite)
    elif action == "draw":
        assert cfg.input is not None and cfg.output is not None
        alignments.draw(cfg.input, files[0], cfg.output)
    else:
        assert cfg.input is not None and cfg.output is not None
        alignments.extract(cfg.input, files[0], cfg.output, cfg.size)


def _sort(cfg: Config) -> None:
    assert cfg.input is not None
    if cfg.undo:
        log.info("gave %d faces in %s their names back", faceset.undo_sort(cfg.input), cfg.input)
        return
    done = faceset.sort_faces(cfg.input, cfg.by, cfg.output, cfg.identity_threshold)
    where = f"copied into {cfg.output}" if cfg.output else "renamed in place (--undo gives the names back)"
    log.info("sorted %d faces by %s: %s; ranks and values in %s", done.count, cfg.by, where, done.table)
    log.info(expressions_line(done.expressions, done.count))


def expressions_line(counts: dict[str, int], total: int) -> str:
    """The expression counts of a face set, for a summary."""
    if not counts["with_expression"]:
        return "expressions: none of the faces carries expression scores (extract them with -A mediapipe)"
    return (f"expressions ({counts['with_expression']} of {total} faces scored): eyes closed "
            f"{counts['eyes_closed']}, mouth open {counts['mouth_open']}")


def _clean(cfg: Config) -> None:
    assert cfg.input is not None
    if cfg.undo:
        log.info("put %d faces back into %s", faceset.undo_clean(cfg.input), cfg.input)
        return
    report = faceset.clean_faces(cfg.input, cfg.reference, cfg.clean_options, dry_run=cfg.dry_run)
    rejected = {reason: count for reason, count in report["rejected"].items() if count}
    moved = sum(rejected.values())
    reasons = ", ".join(f"{reason}: {count}" for reason, count in rejected.items()) or "none"
    log.info("%d of %d faces %s (%s)", moved, report["faces"],
             "would be moved" if cfg.dry_run else f"moved to {cfg.input / faceset.REJECTED}", reasons)
    log.info("kept faces' %s", expressions_line(report["expressions"], report["faces"] - moved))
    log.info("every face and its verdict: %s%s", cfg.input / faceset.CLEAN_REPORT,
             "" if cfg.dry_run else "; tools clean --undo puts them back")


def split_frames(video: Path, folder: Path, image_format: str = "png", overwrite: bool = False) -> int:
    """Every frame of a video as a file `<stem>_<index:06d>.png` (the frame names extract uses, so its
    alignments file fits the frames too); returns the frame count."""
    info = probe_video(video)
    if folder.exists() and not folder.is_dir():
        raise FaceswapError(f"output {folder} is a file: give a folder for the frames")
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise FaceswapError(f"output folder {folder} is not empty: pass --overwrite to write into it")
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Frames go to a hidden folder beside the output first: an interrupted split leaves no partial set.
    partial = Path(tempfile.mkdtemp(prefix=f".{folder.name}.partial-", dir=folder.parent))
    try:
        count = split_video(video, partial, image_format)
        folder.mkdir(exist_ok=True)
        for path in sorted(partial.iterdir()):
            os.replace(path, folder / path.name)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    if info.variable_rate:
        log.warning("%s has a variable frame rate: a video joined from these frames at one rate will not keep "
                    "its timing", video.name)
    log.info("split %s into %d frames in %s (%dx%d at %g fps%s); join them with --reference-video %s to keep "
             "the frame rate and the sound", video.name, count, folder, info.width, info.height, info.fps,
             ", with sound" if info.has_audio else "", video)
    return count


def _frames(files: list[Path]) -> Iterator[Frame]:
    for path in files:
        try:
            yield read_image(path)
        except (UnreadableImage, OSError) as err:
            raise FaceswapError(f"frame {path.name} cannot be read ({err}): a video needs every frame") from None


def join_frames(cfg: Config) -> int:
    """Encode a folder of frames, in name order, into a video; returns the frame count. fps and sound come
    from --reference-video, --fps overrides its rate. Frames that carry the synthetic marker make a video
    that says so too."""
    folder, target = cfg.input, cfg.output
    assert folder is not None and target is not None
    if not folder.is_dir():
        raise FaceswapError(f"frames folder not found: {folder}")
    files = image_files(folder)
    if not files:
        raise FaceswapError(f"no images in {folder}")
    if target.exists() and not cfg.overwrite:
        raise FaceswapError(f"output {target} exists: pass --overwrite to replace it")
    if cfg.reference_video is not None and not cfg.reference_video.is_file():
        raise FaceswapError(f"--reference-video not found: {cfg.reference_video}")
    if cfg.fps is None and cfg.reference_video is None:
        raise FaceswapError("give the frame rate with --fps, or take it (and the sound) from the original video "
                            "with --reference-video")
    fps, audio = cfg.fps, None
    if cfg.reference_video is not None:
        reference = probe_video(cfg.reference_video)
        fps = fps if fps is not None else reference.fps
        audio = cfg.reference_video if reference.has_audio else None
    assert fps is not None
    check_same_size(files)
    synthetic = any(is_marked_synthetic(path) for path in files)
    writer: VideoWriter | None = None
    target.parent.mkdir(parents=True, exist_ok=True)
    bar = show_progress(len(files), "join", "frame")
    try:
        for image in read_ahead(_frames(files)):
            bar.update(1)
            if writer is None:
                writer = VideoWriter(target, image.shape[1], image.shape[0], fps, crf=cfg.crf, preset=cfg.preset,
                                     audio=audio, comment=SYNTHETIC_TEXT if synthetic else None)
                if writer.padded:
                    log.warning("frames are %dx%d; H.264 needs even sizes: one black pixel is added on the right "
                                "and/or bottom", image.shape[1], image.shape[0])
            writer.write(image)
        assert writer is not None
        writer.close()
        bar.close()
    except BaseException:
        bar.close()
        if writer is not None:
            writer.abort()
        raise
    log.info("joined %d frames into %s at %g fps%s%s", len(files), target, fps, ", with sound" if audio else "",
             " (marked as synthetic)" if synthetic else "")
    return len(files)
