"""One H.264 video through ffmpeg, with the source's sound and a synthetic comment in its metadata."""
from __future__ import annotations

from lib.video import VideoWriter
from plugins.convert.writer import OutputFrame, WriterOptions


class VideoFileWriter:
    """Opens ffmpeg on the first frame, when the frame size is known; the file appears on close()."""

    gif = False

    def __init__(self, options: WriterOptions) -> None:
        self.options = options
        self.notes: list[str] = []
        self._video: VideoWriter | None = None

    def write(self, frame: OutputFrame) -> None:
        if self._video is None:
            height, width = frame.image.shape[:2]
            self.options.output.parent.mkdir(parents=True, exist_ok=True)
            self._video = VideoWriter(self.options.output, width, height, self.options.fps, crf=self.options.crf,
                                      preset=self.options.preset, audio=None if self.gif else self.options.audio)
            if self._video.padded:
                self.notes.append(f"frames are {width}x{height}; H.264 (yuv420p) needs even sizes, so the video "
                                  "has one black pixel added on the right and/or bottom")
        self._video.write(frame.image)

    def close(self) -> None:
        if self._video is not None:
            self._video.close()

    def abort(self) -> None:
        if self._video is not None:
            self._video.abort()
