"""Where converted frames go: `images` (a folder of PNG or JPEG files), `video` (H.264 through ffmpeg, with
the source's sound) or `gif`. Every writer takes WriterOptions, gets frames in order through
`write(OutputFrame)`, and finishes with `close()` (or `abort()`, which removes what is half written)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lib.errors import FaceswapError

if TYPE_CHECKING:
    from lib.types import Frame

REGISTRY = {
    "images": "plugins.convert.writer.images:ImagesWriter",
    "video": "plugins.convert.writer.video:VideoFileWriter",
    "gif": "plugins.convert.writer.gif:GifWriter",
}
SYNTHETIC_TEXT = "synthetic: face swapped with faceswap"


@dataclass(frozen=True)
class WriterOptions:
    """output: a folder (images) or a file (video, gif). fps and audio (a file whose sound is carried over,
    or None) are for video; image_format and jpg_quality for images."""

    output: Path
    fps: float = 25.0
    crf: int = 18
    preset: str = "veryfast"
    audio: Path | None = None
    image_format: str = "png"
    jpg_quality: int = 95

    def __post_init__(self) -> None:
        if not 0 <= self.crf <= 51:
            raise FaceswapError(f"--crf must be between 0 (lossless) and 51, not {self.crf}")
        if not 0 < self.fps <= 1000:
            raise FaceswapError(f"--fps must be above 0 and at most 1000, not {self.fps}")
        if self.image_format not in ("png", "jpg"):
            raise FaceswapError(f"image format must be png or jpg, not {self.image_format}")
        if not 1 <= self.jpg_quality <= 100:
            raise FaceswapError(f"JPEG quality must be between 1 and 100, not {self.jpg_quality}")


@dataclass(frozen=True)
class OutputFrame:
    """One frame to write: name is the output file's stem (images), changed says whether a face was swapped,
    source_file is the input image it came from (images in), so an unchanged frame can be copied as is."""

    name: str
    image: Frame
    changed: bool
    source_file: Path | None = None
