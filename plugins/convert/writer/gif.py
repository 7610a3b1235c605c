"""An animated GIF through ffmpeg (palette made from the frames), with a synthetic comment block."""
from __future__ import annotations

from plugins.convert.writer.video import VideoFileWriter


class GifWriter(VideoFileWriter):
    """The video writer with a .gif output: no sound; lib.video.VideoWriter picks GIF from the suffix."""

    gif = True
