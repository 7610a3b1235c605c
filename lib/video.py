"""Video through ffmpeg: finding the binary, reading stream facts, decoding frames to BGR arrays."""
from __future__ import annotations

import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lib.errors import FaceswapError
from lib.types import Frame

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".gif")


def is_video_path(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


def find_ffmpeg() -> str:
    """The system's ffmpeg if there is one, else the static build shipped by imageio-ffmpeg."""
    system = shutil.which("ffmpeg")
    if system:
        return system
    try:
        import imageio_ffmpeg  # noqa: PLC0415 (optional fallback, imported only when needed)

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        raise FaceswapError("no ffmpeg found: install it (apt-get install ffmpeg) or pip install imageio-ffmpeg") \
            from None


@dataclass(frozen=True)
class VideoInfo:
    """Stream facts read from ffmpeg's own report (ffprobe is not required)."""

    width: int
    height: int
    fps: float
    frame_count: int  # from the container; an estimate when it does not say
    duration: float
    has_audio: bool
    variable_rate: bool


_VIDEO_STREAM = re.compile(r"Stream #\d+:\d+.*?: Video: (?P<rest>.*)")
_SIZE = re.compile(r"\b(\d{2,5})x(\d{2,5})\b")
_FPS = re.compile(r"([\d.]+)(k?) fps")
_TBR = re.compile(r"([\d.]+)(k?) tbr")
_DURATION = re.compile(r"Duration: (\d+):(\d+):([\d.]+)")


def probe_video(path: Path) -> VideoInfo:
    """Read width, height, fps, frame count and audio presence of a video file."""
    path = Path(path)
    if not path.is_file():
        raise FaceswapError(f"video not found: {path}")
    result = subprocess.run([find_ffmpeg(), "-hide_banner", "-i", str(path)],
                            capture_output=True, text=True, errors="replace", check=False)
    report = result.stderr
    stream = _VIDEO_STREAM.search(report)
    if stream is None:
        reason = report.strip().splitlines()[-1] if report.strip() else "ffmpeg could not read it"
        raise FaceswapError(f"{path.name} has no readable video stream ({reason})")
    rest = stream.group("rest")
    size = _SIZE.search(rest)
    if size is None:
        raise FaceswapError(f"{path.name}: ffmpeg reports no frame size for the video stream")
    rate = _FPS.search(rest) or _TBR.search(rest)
    fps = float(rate.group(1)) * (1000 if rate.group(2) else 1) if rate else 25.0
    tbr = _TBR.search(rest)
    tbr_fps = float(tbr.group(1)) * (1000 if tbr.group(2) else 1) if tbr else fps
    duration_match = _DURATION.search(report)
    duration = 0.0
    if duration_match:
        hours, minutes, seconds = duration_match.groups()
        duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    frame_count = _container_frame_count(path) or int(round(duration * fps))
    return VideoInfo(int(size.group(1)), int(size.group(2)), fps, frame_count, duration,
                     re.search(r"Stream #\d+:\d+.*?: Audio:", report) is not None,
                     abs(tbr_fps - fps) > 0.01 * fps)


def _container_frame_count(path: Path) -> int:
    import cv2  # noqa: PLC0415

    capture = cv2.VideoCapture(str(path))
    try:
        return max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT))) if capture.isOpened() else 0
    finally:
        capture.release()


class VideoReader:
    """Decode a video's frames as BGR uint8 arrays, every Nth frame, through an ffmpeg pipe.

    After iteration, `decoded` is the number of frames read and `problem` is ffmpeg's last error line
    when the stream ended badly (a truncated file), else None.
    """

    def __init__(self, path: Path, every_n: int = 1) -> None:
        self.path = Path(path)
        self.info = probe_video(self.path)
        self.every_n = every_n
        self.decoded = 0
        self.problem: str | None = None

    @property
    def expected(self) -> int:
        """How many frames iteration should give, from the container's frame count."""
        return -(-self.info.frame_count // self.every_n)

    def __iter__(self) -> Iterator[tuple[int, Frame]]:
        import ffmpeg  # noqa: PLC0415 (ffmpeg-python only builds the command line)

        stream = ffmpeg.input(str(self.path))
        if self.every_n > 1:
            stream = stream.filter("select", f"not(mod(n,{self.every_n}))")
        command = (stream.output("pipe:", format="rawvideo", pix_fmt="bgr24", fps_mode="passthrough")
                   .global_args("-hide_banner", "-nostdin", "-loglevel", "error")
                   .compile(cmd=find_ffmpeg()))
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        errors: list[bytes] = []
        drain = threading.Thread(target=lambda: errors.extend(process.stderr or []), daemon=True)
        drain.start()
        frame_bytes = self.info.width * self.info.height * 3
        assert process.stdout is not None
        try:
            while True:
                data = process.stdout.read(frame_bytes)
                if len(data) < frame_bytes:
                    break
                frame = np.frombuffer(data, np.uint8).reshape(self.info.height, self.info.width, 3)
                yield self.decoded * self.every_n, frame
                self.decoded += 1
        finally:
            process.stdout.close()
            process.kill() if process.poll() is None else None
            process.wait()
            drain.join(timeout=5)
        lines = [line.decode("utf-8", "replace").strip() for line in errors if line.strip()]
        if lines and (process.returncode != 0 or self.decoded < self.expected):
            self.problem = lines[-1]
        elif self.decoded < self.expected * 0.95:
            self.problem = f"stream ended after {self.decoded} of {self.expected} frames"
