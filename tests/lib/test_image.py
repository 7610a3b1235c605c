"""Reading images of every common kind, and PNGs that carry JSON metadata, on real photos."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from lib.image import (
    UnreadableImage,
    decode_image,
    encode_png,
    png_metadata,
    png_text,
    read_face_file,
    read_image,
    write_png,
)
from tests.conftest import DATA

PHOTO = DATA / "stills" / "obama" / "obama2.jpg"


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    image = cv2.imread(str(PHOTO))
    assert image is not None
    return np.asarray(image, np.uint8)


def _png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


def test_metadata_survives_and_pixels_do_not_change(photo: np.ndarray) -> None:
    face = photo[100:356, 100:356]
    metadata = {"frame": "Обама 照片.jpg", "landmarks": [[1.25, 2.5]] * 68, "score": 0.9987, "nested": {"a": [1]}}
    data = encode_png(face, metadata, text={"synthetic": "made by faceswap"})
    assert png_metadata(data) == metadata
    assert png_text(data)["synthetic"] == "made by faceswap"
    np.testing.assert_array_equal(decode_image(data), face)
    np.testing.assert_array_equal(decode_image(data), decode_image(_png(face)))


def test_written_face_file_reads_back(tmp_path: Path, photo: np.ndarray) -> None:
    path = tmp_path / "Обама 照片_000000_0.png"
    write_png(path, photo, {"frame": 3})
    image, metadata = read_face_file(path)
    np.testing.assert_array_equal(image, photo)
    assert metadata == {"frame": 3}
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_plain_images_have_no_metadata(photo: np.ndarray) -> None:
    assert png_metadata(_png(photo)) is None
    assert png_metadata(PHOTO.read_bytes()) is None
    assert png_text(PHOTO.read_bytes()) == {}


def test_damaged_metadata_reads_as_none(photo: np.ndarray) -> None:
    data = encode_png(photo[:64, :64], text={"faceswap": "{not json"})
    assert png_metadata(data) is None
    data = encode_png(photo[:64, :64], text={"faceswap": "[1, 2]"})
    assert png_metadata(data) is None


def test_grayscale_reads_as_three_equal_channels(photo: np.ndarray) -> None:
    gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    image = decode_image(_png(gray))
    assert image.shape == (*gray.shape, 3) and image.dtype == np.uint8
    for channel in range(3):
        np.testing.assert_array_equal(image[..., channel], gray)


def test_rgba_reads_as_its_colour(photo: np.ndarray) -> None:
    alpha = np.full(photo.shape[:2], 255, np.uint8)
    alpha[:50] = 0
    image = decode_image(_png(np.dstack([photo, alpha])))
    assert image.shape == photo.shape
    np.testing.assert_array_equal(image, photo)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_reads_as_8_bit(photo: np.ndarray, suffix: str) -> None:
    deep = photo.astype(np.uint16) * 257
    ok, buf = cv2.imencode(suffix, deep)
    assert ok
    image = decode_image(buf.tobytes(), suffix)
    assert image.dtype == np.uint8
    np.testing.assert_array_equal(image, photo)


def test_non_ascii_path_reads(tmp_path: Path, photo: np.ndarray) -> None:
    path = tmp_path / "Обама 照片.jpg"
    path.write_bytes(PHOTO.read_bytes())
    np.testing.assert_array_equal(read_image(path), photo)


@pytest.mark.parametrize(("name", "make", "reason"), [
    ("empty.png", lambda data: b"", "empty"),
    ("half.jpg", lambda data: data[:len(data) // 2], "truncated"),
    ("notes.jpg", lambda data: b"a text file, not a photo\n" * 20, "decode"),
])
def test_unreadable_images_say_why(tmp_path: Path, name: str, make: Callable[[bytes], bytes], reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(make(PHOTO.read_bytes()))
    with pytest.raises(UnreadableImage, match=reason):
        read_image(path)


def test_truncated_png_is_unreadable(photo: np.ndarray) -> None:
    data = _png(photo)
    with pytest.raises(UnreadableImage, match="truncated"):
        decode_image(data[:int(len(data) * 0.7)])


@pytest.mark.parametrize("share", [0.02, 0.3, 0.9, 0.999])
def test_jpeg_cut_anywhere_is_unreadable(share: float) -> None:
    data = PHOTO.read_bytes()
    with pytest.raises(UnreadableImage, match="truncated"):
        decode_image(data[:int(len(data) * share)])


def test_bytes_after_the_end_do_not_matter(photo: np.ndarray) -> None:
    """A "motion photo" is a JPEG with a video after its end marker; cameras append trailers too."""
    video = (DATA / "video" / "A_obama_kenburns.mp4").read_bytes()
    np.testing.assert_array_equal(decode_image(PHOTO.read_bytes() + video), photo)
    np.testing.assert_array_equal(decode_image(_png(photo) + b"trailer" * 40), photo)


def test_progressive_jpeg_with_restart_markers_reads(photo: np.ndarray) -> None:
    ok, buf = cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1, cv2.IMWRITE_JPEG_RST_INTERVAL, 4])
    assert ok
    data = buf.tobytes()
    assert decode_image(data).shape == photo.shape
    with pytest.raises(UnreadableImage, match="truncated"):
        decode_image(data[:int(len(data) * 0.8)])


def test_every_photo_of_the_test_data_reads() -> None:
    for path in sorted(DATA.rglob("*.jpg")):
        assert read_image(path).ndim == 3, path
