"""Where converted frames go: `images` (a folder of PNG or JPEG files), `image` (one image file), `video`
(H.264 through ffmpeg, with the source's sound) or `gif`. Every writer takes WriterOptions, gets frames in order
through `write(OutputFrame)`, and finishes with `close()` (or `abort()`, which removes what is half written)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lib.errors import FaceswapError, check_range
from lib.video import DEFAULT_CRF, DEFAULT_PRESET, H264_SUFFIXES

if TYPE_CHECKING:
    from lib.types import Frame

REGISTRY = {
    "images": "plugins.convert.writer.images:ImagesWriter",
    "image": "plugins.convert.writer.images:ImageFileWriter",
    "video": "plugins.convert.writer.video:VideoFileWriter",
    "gif": "plugins.convert.writer.gif:GifWriter",
}
IMAGE_SUFFIXES = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg"}
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow")


def writer_kind(output: Path) -> str:
    """The writer an output name asks for: no suffix (or an existing folder) images, .gif, a video suffix, an
    image suffix (one image file); any other suffix is a FaceswapError that lists the known ones."""
    suffix = output.suffix.lower()
    if not suffix or output.is_dir():
        return "images"
    if suffix == ".gif":
        return "gif"
    if suffix in H264_SUFFIXES:
        return "video"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    known = " ".join([*H264_SUFFIXES, ".gif", *IMAGE_SUFFIXES])
    raise FaceswapError(f"no writer makes {output.name}: give a folder for frames, or a file ending in {known}")


@dataclass(frozen=True)
class WriterOptions:
    """output: a folder (images) or a file (image, video, gif). fps and audio (a file whose sound is carried
    over, or None) are for video; image_format and jpg_quality for images."""

    output: Path
    fps: float = 25.0
    crf: int = DEFAULT_CRF
    preset: str = DEFAULT_PRESET
    audio: Path | None = None
    image_format: str = "png"
    jpg_quality: int = 95

    def __post_init__(self) -> None:
        check_range("H.264 quality (crf)", self.crf, 0, 51)
        check_range("frame rate", self.fps, 0, 1000, above=True, unit="fps")
        check_range("JPEG quality", self.jpg_quality, 1, 100)
        if self.image_format not in ("png", "jpg"):
            raise FaceswapError(f"image format must be png or jpg, not {self.image_format}")
        if self.preset not in PRESETS:
            raise FaceswapError(f"H.264 preset must be one of {', '.join(PRESETS)}, not {self.preset}")


@dataclass(frozen=True)
class OutputFrame:
    """One frame to write: name is the output file's stem (images), changed says whether a face was swapped,
    source_file is the input image it came from (images in), so an unchanged frame can be copied as is."""

    name: str
    image: Frame
    changed: bool
    source_file: Path | None = None
