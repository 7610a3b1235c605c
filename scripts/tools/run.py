"""`tools`: utilities around the pipeline. `tools alignments rebuild` remakes an alignments file from
face PNGs alone; `tools video split|join` turns a video into frame files and frame files back into a video."""
from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

from lib.errors import FaceswapError

log = logging.getLogger("faceswap.tools")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="tool", required=True, metavar="TOOL")
    alignments = sub.add_parser("alignments", help="alignments file utilities")
    alignments.add_argument("action", choices=["rebuild"], help="rebuild: from a folder of face PNGs")
    alignments.add_argument("-f", "--faces", type=Path, required=True, help="folder of face PNGs from extract")
    alignments.add_argument("-p", "--alignments", type=Path, required=True, help="alignments file to write")
    alignments.add_argument("--overwrite", action="store_true", help="replace an existing alignments file")
    video = sub.add_parser("video", help="split a video into frames, or join frames into a video (ffmpeg)")
    video.add_argument("action", choices=["split", "join"],
                       help="split: video -> frame files <name>_<index>.png; join: frame files -> video")
    video.add_argument("-i", "--input", type=Path, required=True, help="split: a video; join: a folder of frames")
    video.add_argument("-o", "--output", type=Path, required=True,
                       help="split: a folder for the frames; join: a video file (.mp4 .mov .mkv .m4v, or .gif)")
    video.add_argument("--image-format", default="png", choices=["png", "jpg"],
                       help="split: frame file format (default: png, lossless)")
    video.add_argument("--fps", type=float, default=None, help="join: frame rate (default: --reference-video's)")
    video.add_argument("--reference-video", type=Path, default=None,
                       help="join: take the frame rate and the sound from this video (the one that was split)")
    video.add_argument("--crf", type=int, default=18, help="join: H.264 quality, 0 (lossless) to 51 (default: 18)")
    video.add_argument("--overwrite", action="store_true",
                       help="write into a non-empty folder, or replace a video")


@dataclass(frozen=True)
class Config:
    tool: str
    action: str | None = None
    faces: Path | None = None
    alignments: Path | None = None
    overwrite: bool = False
    input: Path | None = None
    output: Path | None = None
    image_format: str = "png"
    fps: float | None = None
    reference_video: Path | None = None
    crf: int = 18


def run(cfg: Config) -> None:
    if cfg.tool == "alignments":
        assert cfg.faces is not None and cfg.alignments is not None
        rebuild_alignments(cfg.faces, cfg.alignments, cfg.overwrite)
    elif cfg.tool == "video":
        assert cfg.input is not None and cfg.output is not None
        if cfg.action == "split":
            split_frames(cfg.input, cfg.output, cfg.image_format, cfg.overwrite)
        else:
            join_frames(cfg.input, cfg.output, cfg.fps, cfg.reference_video, crf=cfg.crf, overwrite=cfg.overwrite)


def rebuild_alignments(faces: Path, target: Path, overwrite: bool = False) -> int:
    """Write an alignments file from the metadata of the face PNGs in a folder; returns the face count."""
    from lib.alignments import Alignments, FrameEntry  # noqa: PLC0415
    from lib.facefile import read_face_meta  # noqa: PLC0415
    from lib.video import is_video_path  # noqa: PLC0415

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
    alignments = Alignments(sources[0], kind)
    for meta in sorted(metas, key=lambda m: (m.frame_index, m.frame, m.face_index)):
        entry = alignments.frames.setdefault(meta.frame, FrameEntry(meta.frame_index, meta.frame_shape, []))
        entry.faces.append(meta.face)
    alignments.save(target)
    log.info("rebuilt %s: %d frames with %d faces (frames without faces are not known from face files)",
             target, len(alignments.frames), alignments.face_count)
    return alignments.face_count


def split_frames(video: Path, folder: Path, image_format: str = "png", overwrite: bool = False) -> int:
    """Every frame of a video as a file `<stem>_<index:06d>.png` (the frame names extract uses, so its
    alignments file fits the frames too); returns the frame count."""
    import os  # noqa: PLC0415
    import shutil  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    from lib.video import probe_video, split_video  # noqa: PLC0415

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


def join_frames(folder: Path, target: Path, fps: float | None, reference_video: Path | None, *, crf: int = 18,
                overwrite: bool = False) -> int:
    """Encode a folder of frames, in name order, into a video; returns the frame count. fps and sound come
    from reference_video, fps overrides its rate. Frames that carry a synthetic marker make a video that
    says so too."""
    from tqdm import tqdm  # noqa: PLC0415

    from lib.image import SYNTHETIC_KEY, UnreadableImage, read_image  # noqa: PLC0415
    from lib.media import image_files  # noqa: PLC0415
    from lib.readahead import read_ahead  # noqa: PLC0415
    from lib.video import SYNTHETIC_COMMENT, VideoWriter, probe_video  # noqa: PLC0415
    from scripts.convert_steps import check_same_size  # noqa: PLC0415

    if not folder.is_dir():
        raise FaceswapError(f"frames folder not found: {folder}")
    files = image_files(folder)
    if not files:
        raise FaceswapError(f"no images in {folder}")
    if target.exists() and not overwrite:
        raise FaceswapError(f"output {target} exists: pass --overwrite to replace it")
    if reference_video is not None and not reference_video.is_file():
        raise FaceswapError(f"--reference-video not found: {reference_video}")
    if fps is None and reference_video is None:
        raise FaceswapError("give the frame rate with --fps, or take it (and the sound) from the original video "
                            "with --reference-video")
    if fps is not None and not 0 < fps <= 1000:
        raise FaceswapError(f"--fps must be above 0 and at most 1000, not {fps}")
    if not 0 <= crf <= 51:
        raise FaceswapError(f"--crf must be between 0 and 51, not {crf}")
    audio = None
    if reference_video is not None:
        reference = probe_video(reference_video)
        fps = fps if fps is not None else reference.fps
        audio = reference_video if reference.has_audio else None
    assert fps is not None
    check_same_size(files)
    synthetic = any(_marked_synthetic(path, SYNTHETIC_KEY) for path in files)

    def frames():  # noqa: ANN202
        for path in files:
            try:
                yield path, read_image(path)
            except (UnreadableImage, OSError) as err:
                raise FaceswapError(f"frame {path.name} cannot be read ({err}): a video needs every "
                                    "frame") from None

    writer: VideoWriter | None = None
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        progress = tqdm(read_ahead(frames()), total=len(files), unit="frame", desc="join", dynamic_ncols=True)
        for _, image in progress:
            if writer is None:
                writer = VideoWriter(target, image.shape[1], image.shape[0], fps, crf=crf, audio=audio,
                                     comment=SYNTHETIC_COMMENT if synthetic else None)
                if writer.padded:
                    log.warning("frames are %dx%d; H.264 needs even sizes: one black pixel is added on the right "
                                "and/or bottom", image.shape[1], image.shape[0])
            writer.write(image)
        assert writer is not None
        writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    log.info("joined %d frames into %s at %g fps%s%s", len(files), target, fps, ", with sound" if audio else "",
             " (marked as synthetic)" if synthetic else "")
    return len(files)


def _marked_synthetic(path: Path, key: bytes) -> bool:
    """True when a frame file carries faceswap's synthetic marker (PNG tEXt chunk or JPEG comment)."""
    from plugins.convert.writer import SYNTHETIC_TEXT  # noqa: PLC0415

    with open(path, "rb") as handle:
        head = handle.read(4096)
    return key + b"\0" in head or SYNTHETIC_TEXT.encode() in head
