"""Occluders: the held-out set's files, training's makers, where they go on a real face, and pasting."""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from lib.align import MOUTH
from lib.errors import FaceswapError
from lib.evaluation.held_out import load_held_out
from lib.masks import hull_mask
from lib.occlusion import OccluderMaker, load_occluders, paste, place, skin_box, training_photos
from tests.conftest import DATA
from tests.model import still_faces

OCCLUDERS = DATA / "occluders"


def test_held_out_occluders_load_with_their_alpha_or_a_blob_and_skip_what_is_broken(tmp_path: Path) -> None:
    occluders, skipped = load_occluders(OCCLUDERS)
    names = sorted(p.name for p in OCCLUDERS.iterdir())
    assert len(occluders) == len(names) == 5 and skipped == []
    logo = occluders[names.index("logo.png")]
    assert logo.alpha.min() == 0.0 and logo.alpha.max() == 1.0  # its own alpha channel, transparent corners
    frisbee = occluders[names.index("frisbee.jpg")]
    inside = frisbee.alpha.mean()
    assert 0.4 < inside < 0.95 and frisbee.alpha[frisbee.alpha.shape[0] // 2, frisbee.alpha.shape[1] // 2] == 1
    again, _ = load_occluders(OCCLUDERS)
    np.testing.assert_array_equal(again[names.index("frisbee.jpg")].alpha, frisbee.alpha)  # the same every run
    shutil.copytree(OCCLUDERS, tmp_path / "occ")
    (tmp_path / "occ" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    occluders, skipped = load_occluders(tmp_path / "occ")
    assert len(occluders) == 5 and skipped == ["broken.png"]
    with pytest.raises(FaceswapError, match="no readable image"):
        load_occluders(DATA / "chips")  # a folder of folders


def test_training_photos_are_the_face_free_ones() -> None:
    photos = training_photos()
    assert len(photos) >= 10 and all(p.dtype == np.uint8 and p.ndim == 3 and max(p.shape[:2]) <= 256
                                     for p in photos)
    # None of them is one of the held-out occluders.
    held = [cv2.resize(o.image, (32, 32)) for o in load_occluders(OCCLUDERS)[0]]
    for photo in photos:
        small = cv2.resize(photo, (32, 32)).astype(np.float32)
        assert min(np.abs(small - h).mean() for h in held) > 10


@pytest.fixture(scope="module")
def face(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray]:
    faces = load_held_out(still_faces(tmp_path_factory), 1)
    return faces.images[0], faces.landmarks[0]


def test_occluders_go_on_the_face_mostly_near_the_mouth_nose_and_eyes(face: tuple[np.ndarray, np.ndarray]) -> None:
    image, landmarks = face
    rng = np.random.default_rng(0)
    hull = hull_mask(landmarks, image.shape[0]) > 0
    width = np.linalg.norm(landmarks[16] - landmarks[0])
    near_mouth = 0
    for _ in range(200):
        centre, size = place(rng, landmarks)
        x, y = np.clip(np.round(centre).astype(int), 0, image.shape[0] - 1)
        assert hull[y, x] or np.linalg.norm(centre - landmarks[30]) < 0.6 * width
        assert 0.25 * width < size < 0.8 * width
        near_mouth += np.linalg.norm(centre - landmarks[MOUTH].mean(0)) < 0.2 * width
    assert 60 <= near_mouth <= 120  # 40 % aimed at the mouth


def test_every_kind_of_training_occluder_pastes_where_its_alpha_says(face: tuple[np.ndarray, np.ndarray]) -> None:
    image, landmarks = face
    maker = OccluderMaker([image], [skin_box(landmarks)])
    rng = np.random.default_rng(1)
    for kind in (maker._photo, maker._silhouette, maker._background, maker._hand):
        occluder = kind(rng, 60)
        assert occluder.image.shape[:2] == occluder.alpha.shape and max(occluder.alpha.shape) == 60
        assert 0.15 < occluder.alpha.mean() < 0.9
        copy = image.copy()
        alpha = paste(copy, occluder, landmarks[MOUTH].mean(0), 80)
        changed = np.abs(copy.astype(int) - image).max(-1) > 0
        assert alpha.shape == image.shape[:2] and 1000 < (alpha > 0.5).sum() < 80 * 80
        assert not changed[alpha == 0].any()  # nothing outside the occluder moves
        assert changed[alpha > 0.99].mean() > 0.5
