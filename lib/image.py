"""Reading images of any common kind and writing PNGs that carry JSON metadata in a text chunk."""
from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lib.fileio import write_bytes_atomic
from lib.types import Frame

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
METADATA_KEY = b"faceswap"
# Every image or video made of swapped faces says so: a PNG tEXt chunk (keyword SYNTHETIC_KEY), a JPEG comment,
# a video's metadata comment or a GIF comment block, each with this text.
SYNTHETIC_KEY = b"synthetic"
SYNTHETIC_TEXT = "synthetic: made with faceswap"
SYNTHETIC_PNG_TEXT = {SYNTHETIC_KEY.decode(): SYNTHETIC_TEXT}
# The most pixels an image may declare (Pillow refuses as many): a 100 kB PNG can declare 30000x30000 and decode
# to 2.7 GB, under OpenCV's own limit of 2**30 pixels.
MAX_PIXELS = 2 * 89_478_485


class UnreadableImage(ValueError):
    """An image file that cannot be decoded; the message says why."""


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def _looks_truncated(data: bytes, suffix: str) -> bool:
    """True when a JPEG or PNG stops before its end marker (decoders fill the rest with grey).

    The markers are walked rather than looked for at the very end: bytes after the end marker are common
    (camera trailers, the video of a "motion photo") and do not make an image unreadable.
    """
    if data[:3] == b"\xff\xd8\xff":
        return not _jpeg_reaches_end(data)
    if data[:8] == PNG_SIGNATURE:
        return not _png_reaches_end(data)
    return False


def _jpeg_markers(data: bytes) -> Iterator[tuple[int, int]]:
    """(marker, position) of each marker of a JPEG in order, its scans' coded data skipped, up to the
    end-of-image marker (FFD9); stops early where the bytes are damaged or run out."""
    pos = 2
    while pos + 1 < len(data):
        if data[pos] != 0xFF:
            return
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        yield marker, pos
        if marker == 0xD9:
            return
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            pos += 2
            continue
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker != 0xDA:
            continue
        # A scan's coded data runs to the next FF that is neither a stuffed 00 nor a restart marker.
        while True:
            pos = data.find(b"\xff", pos)
            if pos < 0 or pos + 1 >= len(data):
                return
            follower = data[pos + 1]
            if follower == 0x00 or 0xD0 <= follower <= 0xD7:
                pos += 2
            elif follower == 0xFF:
                pos += 1
            else:
                break


def _jpeg_reaches_end(data: bytes) -> bool:
    """True when the JPEG's segments and scans run on to its end-of-image marker (FFD9)."""
    return any(marker == 0xD9 for marker, _ in _jpeg_markers(data))


def _png_reaches_end(data: bytes) -> bool:
    """True when the PNG's chunks run whole up to its IEND chunk."""
    pos = 8
    while pos + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if pos + 12 + length > len(data):
            return False
        if kind == b"IEND":
            return True
        pos += 12 + length
    return False


def decode_image(data: bytes, suffix: str = "") -> Frame:
    """Decode image bytes to BGR uint8. Grayscale, alpha, 16-bit and EXIF rotation are handled."""
    if not data:
        raise UnreadableImage("empty file")
    if _looks_truncated(data, suffix):
        raise UnreadableImage("truncated image")
    size = _header_size(data[:64 * 1024])
    if size is not None and size[0] * size[1] > MAX_PIXELS:
        raise UnreadableImage(f"{size[0]}x{size[1]} pixels, more than {MAX_PIXELS // 10**6} megapixels: "
                              "a decompression bomb, or a picture to shrink first")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise UnreadableImage("not an image OpenCV can decode")
    return np.asarray(image, np.uint8)


def header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a PNG's or JPEG's header without decoding it; None for other kinds."""
    with open(path, "rb") as handle:
        return _header_size(handle.read(64 * 1024))


def _header_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from the first bytes of a PNG or JPEG; None for other kinds."""
    if head[:8] == PNG_SIGNATURE and len(head) >= 24:
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if head[:2] == b"\xff\xd8":
        for marker, pos in _jpeg_markers(head):
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and pos + 9 <= len(head):
                return int.from_bytes(head[pos + 7:pos + 9], "big"), int.from_bytes(head[pos + 5:pos + 7], "big")
    return None


def read_image(path: Path) -> Frame:
    """Read an image file (any name, non-ASCII included) to BGR uint8."""
    return decode_image(Path(path).read_bytes(), Path(path).suffix.lower())


def read_image_alpha(path: Path) -> tuple[Frame, np.ndarray | None]:
    """Read an image file to BGR uint8 and its alpha channel as float32 in [0, 1] (None when it has none)."""
    data = Path(path).read_bytes()
    image = decode_image(data, Path(path).suffix.lower())
    full = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if full is None or full.ndim != 3 or full.shape[2] != 4:
        return image, None
    alpha = full[..., 3].astype(np.float32) / (255.0 if full.dtype == np.uint8 else 65535.0)
    return image, alpha


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def encode_png(image: np.ndarray, metadata: dict[str, Any] | None = None,
               text: dict[str, str] | None = None, compression: int = 3) -> bytes:
    """Encode an image as PNG; metadata goes in a tEXt chunk named 'faceswap' as ASCII JSON."""
    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, compression])
    if not ok:
        raise ValueError("OpenCV could not encode the image as PNG")
    data = buf.tobytes()
    chunks = b""
    if metadata is not None:
        chunks += _png_chunk(b"tEXt", METADATA_KEY + b"\0" + json.dumps(metadata, ensure_ascii=True).encode())
    for key, value in (text or {}).items():
        chunks += _png_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1"))
    # tEXt chunks may go anywhere after IHDR; put them right after it (signature 8 + IHDR 25 bytes).
    return data[:33] + chunks + data[33:]


def png_text(data: bytes) -> dict[str, str]:
    """All tEXt chunks of a PNG as {keyword: text}; empty for a non-PNG."""
    found: dict[str, str] = {}
    if data[:8] != PNG_SIGNATURE:
        return found
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"tEXt" and b"\0" in body:
            key, value = body.split(b"\0", 1)
            found[key.decode("latin-1")] = value.decode("latin-1")
        if kind in (b"IDAT", b"IEND"):
            break
        pos += 12 + length
    return found


def png_metadata(data: bytes) -> dict[str, Any] | None:
    """The faceswap JSON metadata of a PNG, or None if it has none."""
    raw = png_text(data).get(METADATA_KEY.decode())
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def write_png(path: Path, image: np.ndarray, metadata: dict[str, Any] | None = None,
              text: dict[str, str] | None = None, compression: int = 3) -> None:
    """Write a PNG with optional metadata, atomically."""
    write_bytes_atomic(Path(path), encode_png(image, metadata, text, compression))


def is_marked_synthetic(path: Path) -> bool:
    """True when an image file carries the synthetic marker (PNG tEXt chunk or JPEG comment)."""
    with open(path, "rb") as handle:
        head = handle.read(4096)
    return SYNTHETIC_KEY + b"\0" in head or SYNTHETIC_TEXT.encode() in head


def read_face_file(path: Path) -> tuple[Frame, dict[str, Any] | None]:
    """Read a face image and its faceswap metadata (None for a plain image)."""
    data = Path(path).read_bytes()
    return decode_image(data, Path(path).suffix.lower()), png_metadata(data)
