"""Augmentation and landmark masks: transforms, mirror map, warp, colour, blur, hull and region weights."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from lib.align import (
    LEFT_EYE,
    MIRROR_68,
    MOUTH,
    RIGHT_EYE,
    TEMPLATE,
    landmark_offsets,
    offset_maps,
    template_points,
    transform_points,
)
from lib.masks import blank_background, hull_mask, hull_points, region_weights
from lib.training import augment
from lib.training.faces import FaceSet, load_faces
from lib.training.feed import Feed, FeedOptions
from tests.training import extracted_faces


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> FaceSet:
    return load_faces(extracted_faces(tmp_path_factory, "A"))


def test_mirror_map_is_the_symmetry_of_the_face() -> None:
    mirror = MIRROR_68
    assert sorted(mirror) == list(range(68))
    np.testing.assert_array_equal(mirror[mirror], np.arange(68))
    mirrored = TEMPLATE * [-1, 1] + [1, 0]  # the template is exactly symmetric about x = 0.5
    np.testing.assert_allclose(mirrored[mirror], TEMPLATE, atol=1e-4)


def test_zero_ranges_give_the_identity_and_flip_mirrors_pixels() -> None:
    rng = np.random.default_rng(0)
    matrix, flipped = augment.random_similarity(rng, 64, rotation=0, zoom=0, shift=0, flip=0)
    assert not flipped
    np.testing.assert_array_equal(matrix, np.eye(2, 3))
    matrix, flipped = augment.random_similarity(rng, 64, rotation=0, zoom=0, shift=0, flip=1)
    assert flipped
    image = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    np.testing.assert_array_equal(cv2.warpAffine(image, matrix, (64, 64)), cv2.flip(image, 1))


def test_random_similarity_stays_in_its_ranges() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        matrix, flipped = augment.random_similarity(rng, 100, rotation=10, zoom=0.05, shift=0.05, flip=0.5)
        linear = matrix[:, :2] * [[-1, 1], [-1, 1]] if flipped else matrix[:, :2]
        scale = np.sqrt(abs(np.linalg.det(linear)))
        angle = np.degrees(np.arctan2(linear[1, 0], linear[0, 0]))
        assert 0.95 - 1e-9 <= scale <= 1.05 + 1e-9 and abs(angle) <= 10 + 1e-9
        centre = transform_points(matrix, np.array([[49.5, 49.5]]))[0]
        assert np.all(np.abs(centre - 49.5) <= 5 + 1e-9)


def test_grid_warp_moves_pixels_a_little_and_smoothly() -> None:
    rng = np.random.default_rng(2)
    matrix = np.array([[0.5, 0.0, -10.0], [0.0, 0.5, -12.0]])
    map_x, map_y = augment.warp_maps(rng, matrix, 64)
    assert map_x.shape == map_y.shape == (64, 64) and map_x.dtype == np.float32
    grid = np.arange(64, dtype=np.float64)
    plain_x, plain_y = (grid[None, :] + 10.0) / 0.5, (grid[:, None] + 12.0) / 0.5
    moved = np.hypot(map_x - plain_x, map_y - plain_y) * 0.5  # in output pixels
    assert 0.3 < moved.mean() < 0.1 * 64
    assert np.diff(map_x, axis=1).min() > 0 and np.diff(map_y, axis=0).min() > 0  # no folds


def test_colour_match_gives_the_reference_means_and_keeps_the_colour_spread(faces: FaceSet) -> None:
    images = faces.images[:2].astype(np.float32) / 255
    lab = augment.bgr_to_lab(images)
    own, reference = augment.lab_stats(lab[0]), augment.lab_stats(lab[1])
    matched = lab[0].copy()
    augment.apply_affine(matched, *augment.match_affine(own, reference))
    stats = augment.lab_stats(matched)
    np.testing.assert_allclose(stats[0], reference[0], rtol=1e-3, atol=1e-2)  # the reference's mean colour
    np.testing.assert_allclose(stats[1, 1:], own[1, 1:], rtol=1e-3)  # a and b as spread as they were
    ratio = float(reference[1, 0] / own[1, 0])
    assert stats[1, 0] / own[1, 0] == pytest.approx(np.clip(ratio, *augment.LIGHTNESS_SCALE), rel=1e-3)
    # A reference of four times the spread moves the lightness's by the most allowed, the chroma's not at all.
    wide = reference.copy()
    wide[1] = own[1] * 4
    scale, _ = augment.match_affine(own, wide)
    np.testing.assert_allclose(scale, [augment.LIGHTNESS_SCALE[1], 1, 1])
    back = augment.lab_to_bgr(augment.bgr_to_lab(images))
    assert np.abs(back - images).max() < 1 / 255  # OpenCV's float LAB is close, not exact


def test_lab_statistics_inside_a_mask_are_those_of_its_pixels(faces: FaceSet) -> None:
    lab = augment.bgr_to_lab(faces.images[:2].astype(np.float32) / 255)
    mask = np.zeros(lab.shape[:3], np.float32)
    mask[0, 10:40, 20:50] = 1  # the second image's mask is empty: all its pixels count
    stats = augment.lab_stats(lab, mask)
    inside = lab[0, 10:40, 20:50].reshape(-1, 3)
    np.testing.assert_allclose(stats[0], [inside.mean(0), inside.std(0)], rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(stats[1], augment.lab_stats(lab[1]), rtol=1e-4, atol=1e-3)


def test_lightness_jitter_never_leaves_the_lab_range() -> None:
    rng = np.random.default_rng(3)
    lightness = np.array([0.0, 50.0, 100.0])
    for _ in range(200):
        scale, offset = augment.jitter_affine(rng)
        shifted = lightness * scale[0] + offset[0]
        assert shifted.min() >= -1e-9 and shifted.max() <= 100 + 1e-9
        assert np.all(np.abs(offset[1:]) <= augment.COLOUR * 127 + 1e-9)


def test_motion_blur_smears_without_changing_brightness(faces: FaceSet) -> None:
    rng = np.random.default_rng(4)
    kernel = augment.motion_kernel(rng, 128)
    assert kernel.shape[0] % 2 == 1 and 3 <= kernel.shape[0] <= 17
    assert kernel.sum() == pytest.approx(1.0, abs=1e-5)
    image = faces.images[0].astype(np.float32) / 255
    blurred = augment.motion_blur(image, kernel)
    assert blurred.min() >= 0 and blurred.max() <= 1
    assert abs(blurred.mean() - image.mean()) < 0.01
    assert np.abs(blurred - image).mean() > 0.003


def test_hull_mask_covers_the_face_and_forehead(faces: FaceSet) -> None:
    assert faces.landmarks is not None
    points = faces.landmarks[0]
    mask = hull_mask(points, 256)
    assert mask.shape == (256, 256) and mask.dtype == np.float32
    assert set(np.unique(mask)) == {0.0, 1.0}
    inside = np.round(points[17:]).astype(int)  # brows, eyes, nose, mouth
    assert mask[inside[:, 1], inside[:, 0]].all()
    brows = points[17:27].mean(0)
    above = np.round(brows + 0.1 * (brows - points[8])).astype(int)
    assert mask[above[1], above[0]] == 1  # the lower forehead is in
    assert mask[5, 5] == 0 and mask[250, 128] == 0  # corner and neck are out
    # The skin of the face: the hull holds the face's colour, not the background's.
    image = faces.images[0].astype(np.float32)
    cheeks = np.array([points[29], (points[2] + points[31]) / 2, (points[14] + points[35]) / 2])
    xs, ys = np.round(cheeks).astype(int).T
    skin = image[ys, xs].mean(0)
    distance = np.linalg.norm(image - skin, axis=-1)
    assert distance[mask == 1].mean() < 0.6 * distance[mask == 0].mean()


def test_hull_points_are_the_jaw_and_raised_brows() -> None:
    points = template_points(100)
    hull = hull_points(points)
    assert hull.shape == (27, 2)
    np.testing.assert_allclose(hull[:17], points[:17])
    assert np.all(hull[17:, 1] < points[17:27, 1])  # upward is -y in an upright face


@pytest.mark.parametrize("eye, mouth", [(3.0, 2.0), (5.0, 1.5)])
def test_region_weights_mark_eyes_and_mouth(eye: float, mouth: float) -> None:
    points = template_points(128) * 0.6 + 25  # an upright face of about 64 pixels, as a model sees
    weights = region_weights(points, 128, eye, mouth)
    assert weights.shape == (128, 128) and weights.dtype == np.float32
    assert set(np.unique(weights)) == {1.0, eye, mouth}
    for region, value in ((LEFT_EYE, eye), (RIGHT_EYE, eye), (MOUTH, mouth)):
        x, y = np.round(points[region].mean(0)).astype(int)
        assert weights[y, x] == value
        corners = np.round(points[region]).astype(int)
        assert np.all(weights[corners[:, 1], corners[:, 0]] == value)  # the hull is grown, not shrunk
    x, y = np.round(points[30]).astype(int)
    assert weights[y, x] == 1.0  # nose tip
    # Grown by a margin, but an eye region stays far smaller than the face.
    assert 0.005 < (weights == eye).mean() < 0.05


def test_drawn_masks_follow_a_flip() -> None:
    points = template_points(64)
    flipped = points * [-1, 1] + [63, 0]
    mask = hull_mask(points, 64)
    assert (hull_mask(flipped[MIRROR_68], 64) != cv2.flip(mask, 1)).mean() < 0.005  # pixel edges
    weights = region_weights(flipped[MIRROR_68], 64, 3, 2)
    mirrored = cv2.flip(region_weights(points, 64, 3, 2), 1)
    assert (weights != mirrored).mean() < 0.01  # same regions up to the rounding of a pixel edge


def test_blank_background_keeps_the_face_and_greys_the_rest(faces: FaceSet) -> None:
    assert faces.landmarks is not None
    image, points = faces.images[0], faces.landmarks[0]
    blanked = blank_background(image, points)
    assert blanked.shape == image.shape and blanked.dtype == np.uint8
    assert (blanked[5, 5] == 128).all() and (blanked[250, 128] == 128).all()  # corner and neck
    inside = hull_mask(points, image.shape[0]) > 0
    np.testing.assert_array_equal(blanked[inside], image[inside])  # the face itself is untouched
    grown = (blanked != 128).any(axis=2) & ~inside
    assert grown.any()  # a margin round the hull is kept too (hair line, jaw edge)


def test_feed_blanks_the_background_of_input_and_target(faces: FaceSet) -> None:
    # At coverage 1 the crop shows the whole aligned face: hair, neck and background round the face.
    plain = Feed(faces, faces, FeedOptions(size=64, coverage=1.0, batch_size=4, seed=5, color_jitter=False))
    masked = Feed(faces, faces, FeedOptions(size=64, coverage=1.0, batch_size=4, seed=5, color_jitter=False,
                                            mask_input=True))

    def grey_share(images: np.ndarray) -> float:
        return float((np.abs(images - 128 / 255) < 0.01).all(axis=-1).mean())

    for key in ("warped_a", "target_a"):
        assert grey_share(plain.make_batch(0)[key]) < 0.01
        assert grey_share(masked.make_batch(0)[key]) > 0.2
    centre = (slice(None), slice(24, 40), slice(24, 40))  # the face itself is as it was
    np.testing.assert_allclose(masked.make_batch(0)["target_a"][centre], plain.make_batch(0)["target_a"][centre],
                               atol=1e-6)


def test_a_face_turned_by_pose_transfer_reads_to_dlib_as_turned_that_much(faces: FaceSet) -> None:
    """lib.pose.turn_landmarks and lib.align.landmark_offsets warp a real face (the extracted 256 px PNG) to
    another head pose; dlib's landmarks on the warped pixels, through lib.pose, read the asked turn back."""
    from lib.align import predictor_box
    from lib.pose import head_pose, turn_landmarks
    from lib.types import Detection
    from plugins.extract.align import AlignOptions
    from plugins.extract.align.dlib68 import Dlib68Aligner

    assert faces.landmarks is not None
    aligner = Dlib68Aligner(AlignOptions())
    size = faces.size

    def read(image: np.ndarray, near: np.ndarray) -> np.ndarray:
        found = aligner.align(image, [Detection(predictor_box(near), 1.0)])[0]
        return np.array(head_pose(found, (size, size))[:2])

    asked = np.array([(14.0, 0.0), (-14.0, 0.0), (0.0, -9.0), (10.0, 7.0)])
    errors, landmark_errors = [], []
    for index in range(0, len(faces), 6):
        image, own = faces.images[index], faces.landmarks[index]
        before = read(image, own)
        for turn in asked:
            moved = turn_landmarks(own, float(turn[0]), float(turn[1]), size)
            assert moved is not None
            map_x, map_y = offset_maps(np.eye(2, 3), landmark_offsets(own, moved, size))
            turned = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            found = aligner.align(turned, [Detection(predictor_box(moved), 1.0)])[0]
            landmark_errors.append(np.abs(found - moved).mean())
            errors.append(np.array(head_pose(found, (size, size))[:2]) - before - turn)
    errors_array = np.abs(np.asarray(errors))
    assert errors_array.mean() < 2.0 and errors_array.max() < 6.0, errors_array.round(1)
    assert np.mean(landmark_errors) < 2.5  # dlib finds the landmarks where the warp put them (256 px faces)
    unturned = turn_landmarks(faces.landmarks[0], 0.0, 0.0, size)
    assert unturned is not None and np.abs(unturned - faces.landmarks[0]).max() < 1e-3
