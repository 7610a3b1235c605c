"""Frames as image files: a folder of PNG (lossless, default) or JPEG files named after the input frames, or
one image file when one image is converted."""
from __future__ import annotations

from pathlib import Path

import cv2

from lib.errors import FaceswapError
from lib.fileio import write_bytes_atomic
from lib.image import SYNTHETIC_PNG_TEXT, SYNTHETIC_TEXT, encode_png
from plugins.convert.writer import IMAGE_SUFFIXES, OutputFrame, WriterOptions


def add_jpeg_comment(data: bytes, comment: str) -> bytes:
    """Insert a JPEG COM segment right after the start-of-image marker."""
    body = comment.encode("ascii", "replace")[:65000]
    return data[:2] + b"\xff\xfe" + (len(body) + 2).to_bytes(2, "big") + body + data[2:]


def _write(target: Path, frame: OutputFrame, image_format: str, jpg_quality: int) -> None:
    """Swapped frames are encoded with the synthetic marker (a PNG tEXt chunk, a JPEG comment); an unchanged
    frame whose source file is already of the output format is copied byte for byte."""
    source = frame.source_file
    if not frame.changed and source is not None and IMAGE_SUFFIXES.get(source.suffix.lower()) == image_format:
        write_bytes_atomic(target, source.read_bytes())
        return
    if image_format == "png":
        data = encode_png(frame.image, text=SYNTHETIC_PNG_TEXT if frame.changed else None)
    else:
        ok, buffer = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, jpg_quality])
        if not ok:
            raise ValueError("OpenCV could not encode a JPEG")
        data = add_jpeg_comment(buffer.tobytes(), SYNTHETIC_TEXT) if frame.changed else buffer.tobytes()
    write_bytes_atomic(target, data)


class ImagesWriter:
    """One file per frame in the output folder, each written atomically (an interrupted run keeps whole frames)."""

    def __init__(self, options: WriterOptions) -> None:
        self.options = options
        self.notes: list[str] = []
        options.output.mkdir(parents=True, exist_ok=True)

    def write(self, frame: OutputFrame) -> None:
        target = self.options.output / f"{frame.name}.{self.options.image_format}"
        _write(target, frame, self.options.image_format, self.options.jpg_quality)

    def close(self) -> None:
        """Every file is already in place."""

    def abort(self) -> None:
        """Files written so far are whole frames and stay."""


class ImageFileWriter:
    """The one frame of a one-image input, as the image file named by the output (its suffix gives the format)."""

    def __init__(self, options: WriterOptions) -> None:
        self.options = options
        self.notes: list[str] = []
        self.format = IMAGE_SUFFIXES[options.output.suffix.lower()]
        self.written = 0

    def write(self, frame: OutputFrame) -> None:
        if self.written:
            raise FaceswapError(f"{self.options.output.name} is one image, but the input has more than one frame: "
                                "give a folder for the frames")
        self.options.output.parent.mkdir(parents=True, exist_ok=True)
        _write(self.options.output, frame, self.format, self.options.jpg_quality)
        self.written += 1

    def close(self) -> None:
        """The file is already in place."""

    def abort(self) -> None:
        """A written file is a whole frame and stays."""
