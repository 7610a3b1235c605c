"""Video through ffmpeg: finding the binary, reading stream facts, decoding frames to BGR arrays, and
encoding them (H.264 or GIF, with the source's sound and a synthetic-content comment)."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import ffmpeg
import numpy as np

from lib.errors import FaceswapError
from lib.fileio import hold_partial
from lib.image import SYNTHETIC_TEXT
from lib.types import Frame

# H.264 as every video is written unless told otherwise: crf 18 (visually lossless), preset veryfast (at crf 18
# within 0.3 dB of medium for half the CPU, which the model needs).
DEFAULT_CRF = 18
DEFAULT_PRESET = "veryfast"
VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".gif")


def is_video_path(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


def find_ffmpeg() -> str:
    """The system's ffmpeg if there is one, else the static build shipped by imageio-ffmpeg."""
    system = shutil.which("ffmpeg")
    if system:
        return system
    try:
        import imageio_ffmpeg  # an optional fallback: imported only when the system has no ffmpeg

        candidate = str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        candidate = ""
    # get_ffmpeg_exe returns $IMAGEIO_FFMPEG_EXE without checking it, so check that it runs.
    found = shutil.which(candidate) if candidate else None
    if found is None:
        override = os.environ.get("IMAGEIO_FFMPEG_EXE")
        if override:
            raise FaceswapError(f"no ffmpeg found: IMAGEIO_FFMPEG_EXE={override} is not an executable file; "
                                "fix or unset it, or install ffmpeg (apt-get install ffmpeg)")
        raise FaceswapError("no ffmpeg found: install it (apt-get install ffmpeg) or pip install imageio-ffmpeg")
    return found


@dataclass(frozen=True)
class VideoInfo:
    """Stream facts read from ffmpeg's own report (ffprobe is not required)."""

    width: int
    height: int
    fps: float
    frame_count: int  # from the container's index; duration x fps when it has none
    duration: float
    has_audio: bool
    variable_rate: bool
    counted: bool = True  # frame_count is the container's own count, not an estimate


_VIDEO_STREAM = re.compile(r"Stream #\d+:\d+.*?: Video: (?P<rest>.*)")
_SIZE = re.compile(r"\b(\d{2,5})x(\d{2,5})\b")
_FPS = re.compile(r"([\d.]+)(k?) fps")
_TBR = re.compile(r"([\d.]+)(k?) tbr")
_DURATION = re.compile(r"Duration: (\d+):(\d+):([\d.]+)")
_STREAM_TAGS = re.compile(r"^(\[[^\]]* @ 0x[0-9a-f]+\]\s*)+")


def probe_video(path: Path) -> VideoInfo:
    """Read width, height, fps, frame count and audio presence of a video file."""
    path = Path(path)
    if not path.is_file():
        raise FaceswapError(f"video not found: {path}")
    try:
        result = subprocess.run([find_ffmpeg(), "-hide_banner", "-i", str(path)],
                                capture_output=True, text=True, errors="replace", check=False)
    except OSError as err:
        raise FaceswapError(f"ffmpeg cannot run ({err.strerror or err}): reinstall it") from None
    report = result.stderr
    stream = _VIDEO_STREAM.search(report)
    if stream is None:
        reason = report.strip().splitlines()[-1] if report.strip() else "ffmpeg could not read it"
        if "moov atom not found" in report:  # the index of an mp4 is written last: the file was cut short
            reason = "moov atom not found: the file is truncated or was never finished"
        elif re.search(r"Stream #\d+:\d+.*?: Audio:", report):  # ffmpeg's last line would be about outputs
            reason = "it holds only sound"
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
    counted = _container_frame_count(path)
    return VideoInfo(int(size.group(1)), int(size.group(2)), fps, counted or int(round(duration * fps)), duration,
                     re.search(r"Stream #\d+:\d+.*?: Audio:", report) is not None,
                     abs(tbr_fps - fps) > 0.01 * fps, counted > 0)


def _container_frame_count(path: Path) -> int:
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

    def __init__(self, path: Path, every_n: int = 1, start: int = 0, count: int | None = None,
                 info: VideoInfo | None = None) -> None:
        self.path = Path(path)
        self.info = info or probe_video(self.path)
        self.every_n = every_n
        self.start = start  # the first frame's index (a multiple of every_n), for a part of the video
        self.count = count  # at most this many frames (None: to the end)
        self.decoded = 0
        self.problem: str | None = None

    @property
    def expected(self) -> int:
        """How many frames iteration should give, from the container's frame count."""
        left = max(0, -(-(self.info.frame_count - self.start) // self.every_n))
        return left if self.count is None else min(left, self.count)

    def __iter__(self) -> Iterator[tuple[int, Frame]]:
        # A part starts with an accurate seek: ffmpeg decodes from the keyframe before and drops the frames
        # before the position, which is half a frame early so that rounding never loses the first one.
        seek = {"ss": f"{(self.start - 0.5) / self.info.fps:.6f}"} if self.start > 0 else {}
        stream = ffmpeg.input(str(self.path), **seek)
        if self.every_n > 1:
            stream = stream.filter("select", f"not(mod(n,{self.every_n}))")
        limit = {"frames:v": self.count} if self.count is not None else {}
        command = (stream.output("pipe:", format="rawvideo", pix_fmt="bgr24", fps_mode="passthrough", **limit)
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
                yield self.start + self.decoded * self.every_n, frame
                self.decoded += 1
        finally:
            process.stdout.close()
            process.kill() if process.poll() is None else None
            process.wait()
            drain.join(timeout=5)
        # ffmpeg prefixes its messages with stream tags such as "[dec:h264 @ 0x55...]": drop them.
        lines = [_STREAM_TAGS.sub("", line.decode("utf-8", "replace")).strip() for line in errors if line.strip()]
        # A container that counts its frames must give them all; an estimated count is trusted to 5 %.
        short = self.decoded < (self.expected if self.info.counted else self.expected * 0.95)
        if short:
            self.problem = f"{self.decoded} of {self.expected} frames decoded, the file may be cut short" + (
                f" ({lines[-1]})" if lines else "")
        elif lines and process.returncode != 0:
            self.problem = lines[-1]


# --- writing ------------------------------------------------------------------------------------------------

H264_SUFFIXES = (".mp4", ".mov", ".mkv", ".m4v")
_NTSC_RATES = (Fraction(24000, 1001), Fraction(30000, 1001), Fraction(60000, 1001))


def fps_fraction(fps: float) -> Fraction:
    """A frame rate as the exact fraction ffmpeg should use: 29.97 is 30000/1001, not 2997/100."""
    for rate in _NTSC_RATES:
        if abs(fps - float(rate)) < 0.005:
            return rate
    return Fraction(fps).limit_denominator(1000)


def video_comment(path: Path) -> str | None:
    """The container's `comment` metadata of a video file, or None."""
    result = subprocess.run([find_ffmpeg(), "-hide_banner", "-i", str(path)],
                            capture_output=True, text=True, errors="replace", check=False)
    match = re.search(r"^\s*comment\s*:\s*(.*)$", result.stderr.split("Stream #")[0], re.MULTILINE)
    return match.group(1).strip() if match else None


def add_gif_comment(data: bytes, comment: str) -> bytes:
    """Insert a GIF Comment Extension right after the header and global colour table."""
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 13:
        raise ValueError("not a GIF")
    flags = data[10]
    start = 13 + (3 * 2 ** ((flags & 0x07) + 1) if flags & 0x80 else 0)
    text = comment.encode("ascii", "replace")
    blocks = b"".join(bytes([len(part)]) + part for part in (text[i:i + 255] for i in range(0, len(text), 255)))
    return b"GIF89a" + data[6:start] + b"\x21\xfe" + blocks + b"\x00" + data[start:]


def _ended(code: int) -> str:
    """How a process ended that said nothing: its exit code, or the signal that killed it."""
    if code >= 0:
        return f"exit code {code}"
    if -code == signal.SIGXFSZ:  # a write past the file size limit (ulimit -f) kills one that does not ignore it
        return "a file size limit was hit (SIGXFSZ)"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


class VideoWriter:
    """Encode BGR frames into a video (H.264) or GIF through an ffmpeg pipe.

    ffmpeg writes a hidden temporary file beside the output, renamed into place by close(); abort() (or a
    failed close) removes it, so a failed or interrupted run never leaves half a video. Odd frame sizes are
    padded by one black pixel to even ones (yuv420p needs them): `padded` says so. audio: a file whose
    first audio track is copied (same container) or re-encoded to AAC; a file without audio is fine.
    """

    def __init__(self, path: Path, width: int, height: int, fps: float, *, crf: int = DEFAULT_CRF,
                 preset: str = DEFAULT_PRESET, audio: Path | None = None,
                 comment: str | None = SYNTHETIC_TEXT) -> None:
        self.path = Path(path)
        self.width, self.height = width, height
        self.comment = comment
        self.written = 0
        self.gif = self.path.suffix.lower() == ".gif"
        if not self.gif and self.path.suffix.lower() not in H264_SUFFIXES:
            raise FaceswapError(f"cannot write {self.path.name}: a video output ends in "
                                f"{', '.join(H264_SUFFIXES)} (H.264) or .gif")
        self.padded = not self.gif and (width % 2 or height % 2)
        # The folder is held open too, so that abort() finds the partial file in it even once it is renamed.
        self._folder = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            self.temp, self._hold = hold_partial(self.path)  # held until close or abort; a killed run's is removed
        except BaseException:
            os.close(self._folder)
            raise
        rate = fps_fraction(fps)
        command = [find_ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                   "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}",
                   "-r", f"{rate.numerator}/{rate.denominator}", "-i", "pipe:0"]
        if audio is not None and not self.gif:
            copy = Path(audio).suffix.lower() == self.path.suffix.lower()
            command += ["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0?",
                        "-c:a", *(["copy"] if copy else ["aac", "-b:a", "160k"])]
        if self.gif:
            command += ["-vf", "split[a][b];[a]palettegen=stats_mode=diff[p];[b][p]paletteuse=dither=bayer",
                        "-loop", "0"]
        else:
            if self.padded:
                command += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
            command += ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p"]
            if self.path.suffix.lower() in (".mp4", ".mov", ".m4v"):
                command += ["-movflags", "+faststart"]
            if comment:
                command += ["-metadata", f"comment={comment}"]
        command.append(str(self.temp))
        self._errors: list[bytes] = []
        try:
            self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        except BaseException:
            self._let_go()
            raise
        self._drain = threading.Thread(target=lambda: self._errors.extend(self._process.stderr or []),
                                       daemon=True)
        self._drain.start()

    def _ffmpeg_said(self) -> str:
        self._drain.join(timeout=5)
        lines = [_STREAM_TAGS.sub("", line.decode("utf-8", "replace")).strip() for line in self._errors
                 if line.strip()]
        return lines[-1] if lines else _ended(self._process.returncode)

    def write(self, frame: Frame) -> None:
        """Append one frame: BGR uint8 (height, width, 3)."""
        if frame.shape != (self.height, self.width, 3):
            raise FaceswapError(f"frame {self.written} of {self.path.name} is {frame.shape[1]}x{frame.shape[0]}, "
                                f"not {self.width}x{self.height}: every frame of a video must be the same size")
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(np.ascontiguousarray(frame).data)
        except (BrokenPipeError, OSError):
            self._process.wait()
            problem = self._ffmpeg_said()
            self.abort()
            raise FaceswapError(f"ffmpeg stopped writing {self.path.name}: {problem}") from None
        self.written += 1

    def close(self) -> None:
        """Finish encoding and move the file into place; a failure removes the partial file."""
        assert self._process.stdin is not None
        try:
            self._process.stdin.close()
        except OSError:
            pass
        code = self._process.wait()
        if code != 0 or not self.temp.is_file() or self.temp.stat().st_size == 0:
            problem = self._ffmpeg_said()
            self.abort()
            raise FaceswapError(f"ffmpeg could not write {self.path.name}: {problem}")
        self._drain.join(timeout=5)
        if self.gif and self.comment:
            self.temp.write_bytes(add_gif_comment(self.temp.read_bytes(), self.comment))  # still the temp
        os.replace(self.temp, self.path)
        self._let_go()

    def _let_go(self) -> None:
        if self._hold >= 0:
            os.close(self._hold)
            os.close(self._folder)
            self._hold = self._folder = -1

    def abort(self) -> None:
        """Stop ffmpeg and remove the partial file."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        if self._process.stdin is not None and not self._process.stdin.closed:
            try:
                self._process.stdin.close()
            except OSError:
                pass
        if self._folder >= 0:  # through the folder held open: wherever it has been moved meanwhile
            try:
                os.unlink(self.temp.name, dir_fd=self._folder)
            except FileNotFoundError:
                pass
        self._let_go()


def split_video(path: Path, folder: Path, image_format: str = "png") -> int:
    """Write every frame of a video into folder as `<stem>_<index:06d>.<format>` (index from 0, the names
    extract gives a video's frames); returns how many. Frames are written as decoded (no rate change)."""
    if image_format not in ("png", "jpg"):
        raise FaceswapError(f"frames are written as png or jpg, not {image_format}")
    # ffmpeg numbers the files as lib.media.frame_name names a video's frames: <stem>_<index:06d>.
    pattern = folder / f"{Path(path).stem.replace('%', '%%')}_%06d.{image_format}"
    quality = ["-q:v", "2"] if image_format == "jpg" else []
    result = subprocess.run([find_ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path),
                             "-map", "0:v:0", "-fps_mode", "passthrough", "-start_number", "0", *quality,
                             str(pattern)], capture_output=True, text=True, errors="replace", check=False)
    written = len(list(folder.glob(f"*.{image_format}")))
    if result.returncode != 0 and written == 0:
        lines = [_STREAM_TAGS.sub("", line).strip() for line in result.stderr.splitlines() if line.strip()]
        raise FaceswapError(f"ffmpeg could not split {Path(path).name}: {lines[-1] if lines else 'no frames'}")
    return written


def join_segments(segments: list[Path], output: Path, *, audio: Path | None = None,
                  comment: str | None = SYNTHETIC_TEXT) -> None:
    """Join H.264 segments encoded with the same settings into output without re-encoding them, adding audio's
    first sound track and the comment; written to a hidden file and renamed into place."""
    output = Path(output)
    listing = output.with_name(f".{output.stem}.segments-{os.getpid()}.txt")
    temp, hold = hold_partial(output)
    # The concat demuxer's list: one quoted path per line ('\'' escapes a quote inside a path).
    listing.write_text("".join("file '" + str(Path(s).resolve()).replace("'", "'\\''") + "'\n" for s in segments))
    command = [find_ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
               "-f", "concat", "-safe", "0", "-i", str(listing)]
    if audio is not None:
        copy = Path(audio).suffix.lower() == output.suffix.lower()
        command += ["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0?",
                    "-c:a", *(["copy"] if copy else ["aac", "-b:a", "160k"])]
    command += ["-c:v", "copy"]
    if output.suffix.lower() in (".mp4", ".mov", ".m4v"):
        command += ["-movflags", "+faststart"]
    if comment:
        command += ["-metadata", f"comment={comment}"]
    try:
        result = subprocess.run([*command, str(temp)], capture_output=True, text=True, errors="replace",
                                check=False)
        if result.returncode != 0 or not temp.is_file() or temp.stat().st_size == 0:
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            raise FaceswapError(f"ffmpeg could not join the parts of {output.name}: "
                                f"{lines[-1] if lines else 'no output'}")
        os.replace(temp, output)
    finally:
        listing.unlink(missing_ok=True)
        temp.unlink(missing_ok=True)
        os.close(hold)
