"""lib/curation.py on real face photos: which faces count as the same picture, and which copy is kept."""
from __future__ import annotations

import cv2
import numpy as np

from lib.curation import near_duplicates, robust_spread, thumbnail
from lib.image import read_image
from tests.conftest import DATA

CHIPS = sorted((DATA / "chips" / "John_Simm").glob("*.jpg"))  # different photos of one man


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return np.asarray(cv2.imdecode(data, cv2.IMREAD_COLOR), np.uint8)


def test_a_re_encoded_copy_is_a_duplicate_and_other_photos_are_not() -> None:
    images = [read_image(path) for path in CHIPS[:5]]
    thumbs = [thumbnail(image) for image in images] + [thumbnail(_jpeg(images[2], 85))]
    assert near_duplicates(thumbs, 0.5) == [None, None, None, None, None, 2]
    # brighter is still the same picture: brightness is taken out before comparing
    assert near_duplicates([thumbs[0], thumbs[0] + 20], 0.5) == [None, 0]


def test_the_copy_extract_named_is_kept_whatever_the_file_order() -> None:
    images = [read_image(path) for path in CHIPS[:3]]
    thumbs = [thumbnail(images[1])] + [thumbnail(image) for image in images]  # a renamed copy sorts first
    assert near_duplicates(thumbs, 0.5) == [None, None, 0, None]
    assert near_duplicates(thumbs, 0.5, first=[False, True, True, True]) == [2, None, None, None]


def test_robust_spread_ignores_outliers() -> None:
    median, spread = robust_spread([1.0, 2.0, 3.0, 4.0, 5.0, 1000.0])
    assert median == 3.5 and 1.4 < spread < 3.0
