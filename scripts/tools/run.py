"""tools' run: `alignments rebuild`, `video split`, `video join`."""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lib.alignments import Alignments
from lib.errors import FaceswapError
from lib.facefile import frames_from_faces, read_face_meta
from lib.image import SYNTHETIC_TEXT, UnreadableImage, is_marked_synthetic, read_image
from lib.media import check_same_size, image_files
from lib.readahead import read_ahead
from lib.types import Frame
from lib.video import VideoWriter, is_video_path, probe_video, split_video
from scripts.progress import progress as show_progress
from scripts.tools.args import Config

log = logging.getLogger("faceswap.tools")


def run(cfg: Config) -> None:
    if cfg.tool == "alignments":
        assert cfg.faces is not None and cfg.alignments is not None
        rebuild_alignments(cfg.faces, cfg.alignments, cfg.overwrite)
    elif cfg.tool == "video":
        assert cfg.input is not None and cfg.output is not None
        if cfg.action == "split":
            split_frames(cfg.input, cfg.output, cfg.image_format, cfg.overwrite)
        else:
            join_frames(cfg)


def rebuild_alignments(faces: Path, target: Path, overwrite: bool = False) -> int:
    """Write an alignments file from the metadata of the face PNGs in a folder; returns the face count."""
    if not faces.is_dir():
        raise FaceswapError(f"faces folder not found: {faces}")
    if target.exists() and not overwrite:
        raise FaceswapError(f"{target} exists: pass --overwrite to replace it")
    metas = [meta for path in sorted(faces.glob("*.png")) if (meta := read_face_meta(path)) is not None]
    if not metas:
        raise FaceswapError(f"no face PNGs with faceswap metadata in {faces}: were they made by extract?")
    sources = sorted({meta.source for meta in metas})
    if len(sources) > 1:
        raise FaceswapError(f"{faces} holds faces of {len(sources)} sources ({', '.join(sources[:3])}...): "
                            "an alignments file describes one; move them apart first")
    kind = "video" if is_video_path(Path(sources[0])) else "images"
    alignments = Alignments(sources[0], kind, frames_from_faces(metas))
    alignments.save(target)
    log.info("rebuilt %s: %d frames with %d faces (frames without faces are not known from face files)",
             target, len(alignments.frames), alignments.face_count)
    return alignments.face_count


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
