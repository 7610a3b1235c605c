"""A folder of PNG (lossless, default) or JPEG files, one per frame, named after the input frames."""
from __future__ import annotations

import cv2

from lib.fileio import write_bytes_atomic
from lib.image import SYNTHETIC_KEY, encode_png
from plugins.convert.writer import SYNTHETIC_TEXT, OutputFrame, WriterOptions

_SUFFIXES = {"png": (".png",), "jpg": (".jpg", ".jpeg")}


def add_jpeg_comment(data: bytes, comment: str) -> bytes:
    """Insert a JPEG COM segment right after the start-of-image marker."""
    body = comment.encode("ascii", "replace")[:65000]
    return data[:2] + b"\xff\xfe" + (len(body) + 2).to_bytes(2, "big") + body + data[2:]


class ImagesWriter:
    """Swapped frames are encoded with a synthetic marker (a PNG tEXt chunk, a JPEG comment); an unchanged
    frame whose source file is already of the output format is copied byte for byte."""

    def __init__(self, options: WriterOptions) -> None:
        self.options = options
        self.suffix = "." + options.image_format
        self.notes: list[str] = []
        options.output.mkdir(parents=True, exist_ok=True)

    def write(self, frame: OutputFrame) -> None:
        target = self.options.output / (frame.name + self.suffix)
        source = frame.source_file
        same_format = source is not None and source.suffix.lower() in _SUFFIXES[self.options.image_format]
        if not frame.changed and source is not None and same_format:
            write_bytes_atomic(target, source.read_bytes())
            return
        text = {SYNTHETIC_KEY.decode(): SYNTHETIC_TEXT} if frame.changed else None
        if self.options.image_format == "png":
            data = encode_png(frame.image, text=text)
        else:
            ok, buffer = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, self.options.jpg_quality])
            if not ok:
                raise ValueError("OpenCV could not encode a JPEG")
            data = buffer.tobytes()
            data = add_jpeg_comment(data, SYNTHETIC_TEXT) if frame.changed else data
        write_bytes_atomic(target, data)

    def close(self) -> None:
        """Every file is already in place (each written atomically)."""

    def abort(self) -> None:
        """Files written so far are whole frames and stay."""
