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


# --- expressions (the mesh's blendshapes) -----------------------------------------------------------------------

def _expressions() -> dict[str, np.ndarray]:
    """Blendshapes of real faces: Obama smiling (obama), mouth open (obama2), neutral (obama3); Biden; and a woman
    in a group photo with her eyes shut (peer/test_img4.jpg, fifth face from the left)."""
    from plugins.extract.pipeline import FaceFinder

    finder = FaceFinder()
    found = {}
    for name in ("obama/obama", "obama/obama2", "obama/obama3", "biden/biden"):
        faces = finder.find([read_image(DATA / "stills" / f"{name}.jpg")])[0]
        assert len(faces) == 1 and faces[0].mesh is not None
        found[name.split("/")[1]] = faces[0].mesh.blendshapes
    group = finder.find([read_image(DATA / "peer" / "test_img4.jpg")])[0]
    assert group[4].mesh is not None
    found["eyes_shut"] = group[4].mesh.blendshapes
    return found


def test_eyes_closed_mouth_open_and_their_counts() -> None:
    from lib.expression import blendshape_counts, eyes_closed, mouth_open

    found = _expressions()
    assert [name for name, scores in found.items() if mouth_open(scores)] == ["obama2"]
    assert [name for name, scores in found.items() if eyes_closed(scores)] == ["eyes_shut"]
    assert blendshape_counts([*found.values(), None]) == {"with_expression": 5, "eyes_closed": 1, "mouth_open": 1}


def test_expression_order_starts_from_the_usual_and_keeps_alike_together() -> None:
    from lib.curation import expression_order

    found = _expressions()
    names = list(found)
    # Three faces of one expression and two others: the order starts among the alike ones and ends with the rest.
    scores = [found["obama3"], found["obama2"], found["obama3"] + 0.01, found["obama"], found["obama3"] - 0.01]
    order, values = expression_order(scores)
    assert sorted(order) == list(range(5)) and set(order[:3]) == {0, 2, 4}
    assert values[order[0]] == 0.0 and all(values[i] > 0 for i in order[1:])
    assert max(values[i] for i in order[1:3]) < min(values[i] for i in order[3:])
    assert expression_order([found[name] for name in names]) == expression_order([found[name] for name in names])
    assert expression_order([]) == ([], [])
