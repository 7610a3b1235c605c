"""Input frames for extract and convert: a folder of images, one image, or a video."""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lib.errors import FaceswapError
from lib.image import IMAGE_EXTENSIONS, UnreadableImage, header_size, is_image_path, read_image
from lib.types import Frame
from lib.video import VideoReader, is_video_path


def natural_key(path: Path) -> list[object]:
    """frame2 before frame10 (as ffmpeg's %d names them): numbers in a name compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def frame_name(stem: str, index: int) -> str:
    """The name of a video's frame: the alignments key, and the stem of its files (`tools video split`)."""
    return f"{stem}_{index:06d}"


def image_files(folder: Path) -> list[Path]:
    """The images of a folder in frame order: names sorted with their numbers as numbers."""
    return sorted((p for p in folder.iterdir() if p.is_file() and is_image_path(p)), key=natural_key)


@dataclass
class SourceFrame:
    """One frame: name (alignments key), index, the stem its face files start with, and the image,
    or None with the reason it could not be read."""

    name: str
    index: int
    stem: str
    image: Frame | None
    problem: str | None = None


class FrameSource:
    """Frames of one input, in order. `kind` is 'images' or 'video'; `total` how many to expect.

    span (first, stop): only that part of the frames, counted after every_n (frames first*every_n up to
    stop*every_n of a video, exclusive; the files first..stop of a folder's sorted list), as a cluster's
    worker takes them. Names and indices are those of the whole input."""

    def __init__(self, path: Path, every_n: int = 1, span: tuple[int, int] | None = None) -> None:
        self.path = Path(path)
        self.every_n = every_n
        self.span = span
        self.problem: str | None = None
        self._video: VideoReader | None = None
        self._images: list[Path] = []
        self._stems: Counter[str] = Counter()
        if not self.path.exists():
            raise FaceswapError(f"input not found: {self.path}")
        if self.path.is_dir():
            self.kind = "images"
            self._images = image_files(self.path)
            if not self._images:
                raise FaceswapError(f"no images in {self.path} (looked for {', '.join(IMAGE_EXTENSIONS)})")
            self._images = self._images[::every_n]
            self._stems = Counter(p.stem for p in self._images)  # of the whole folder, also for a span
            if span is not None:
                self._images = self._images[span[0]:span[1]]
        elif is_video_path(self.path):
            self.kind = "video"
            first, stop = span or (0, None)
            self._video = VideoReader(self.path, every_n, first * every_n, None if stop is None else stop - first)
        elif is_image_path(self.path):
            self.kind = "images"
            self._images = [self.path]
            self._stems = Counter([self.path.stem])
        else:
            raise FaceswapError(f"{self.path.name} is neither an image, a video nor a folder of images")

    @property
    def total(self) -> int:
        return self._video.expected if self._video else len(self._images)

    @property
    def source_name(self) -> str:
        return self.path.name

    @property
    def variable_rate(self) -> bool:
        """A video whose frames are not evenly spaced in time (its frame numbers cannot be found by seeking)."""
        return self._video is not None and self._video.info.variable_rate

    @property
    def frame_size(self) -> tuple[int, int] | None:
        """(width, height) of a video's frames; None for images, which may differ."""
        return (self._video.info.width, self._video.info.height) if self._video else None

    def frame_names(self) -> list[str]:
        """The name of every frame iteration should give, without decoding any (the video's from its
        container's frame count)."""
        if self._video is not None:
            count = max(self._video.info.frame_count, 1)
            return [frame_name(self.path.stem, index) for index in range(0, count, self.every_n)]
        return [path.name for path in self._images]

    def __iter__(self) -> Iterator[SourceFrame]:
        if self._video is not None:
            stem = self.path.stem
            for index, frame in self._video:
                yield SourceFrame(frame_name(stem, index), index, stem, frame)
            self.problem = self._video.problem
            return
        for path in self._images:
            # Two images that differ only by extension must not write over each other's faces.
            stem = path.stem if self._stems[path.stem] == 1 else f"{path.stem}_{path.suffix[1:]}"
            try:
                yield SourceFrame(path.name, 0, stem, read_image(path))
            except UnreadableImage as err:
                yield SourceFrame(path.name, 0, stem, None, str(err))
            except OSError as err:  # the reason without the path, so that the summary counts files by reason
                yield SourceFrame(path.name, 0, stem, None, err.strerror or str(err))


def check_same_size(files: list[Path]) -> None:
    """A video needs frames of one size: name the first one that differs (headers only, so it is quick)."""
    first_size: tuple[int, int] | None = None
    for path in files:
        size = header_size(path)
        if size is None:
            try:
                image = read_image(path)
            except (UnreadableImage, OSError):
                continue
            size = (image.shape[1], image.shape[0])
        if first_size is None:
            first_size = size
        elif size != first_size:
            raise FaceswapError(f"frames of different sizes: {path.name} is {size[0]}x{size[1]}, {files[0].name} "
                                f"is {first_size[0]}x{first_size[1]}; a video needs one size (or write images)")


def default_alignments_path(source: Path) -> Path:
    """Where extract puts the alignments file: inside a frames folder, or beside a single file."""
    source = Path(source)
    if source.is_dir():
        return source / "alignments.json"
    return source.with_name(f"{source.stem}_alignments.json")
