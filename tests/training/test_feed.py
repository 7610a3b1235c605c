"""The training feed on real extracted faces: shapes, ranges, alignment of target and masks, seeds, tf.data."""
from __future__ import annotations

import logging
from dataclasses import replace

import cv2
import numpy as np
import pytest

from lib.align import LEFT_EYE, MOUTH, RIGHT_EYE, coverage_matrix, transform_points, warp_face
from lib.errors import FaceswapError
from lib.masks import hull_mask, region_weights
from lib.training import augment
from lib.training.faces import FaceSet, load_faces
from lib.training.feed import Feed, FeedOptions, WarpSchedule
from tests.conftest import DATA
from tests.training import extracted_faces

N = 64
# Every augmentation off: the feed must then give the plain coverage crop.
PLAIN = FeedOptions(size=N, batch_size=8, rotation=0, zoom=0, shift=0, flip=0, warp=False, color_jitter=False,
                    seed=5)


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> tuple[FaceSet, FaceSet]:
    return (load_faces(extracted_faces(tmp_path_factory, "A")),
            load_faces(extracted_faces(tmp_path_factory, "B")))


def _feed(sets: tuple[FaceSet, FaceSet], options: FeedOptions) -> Feed:
    return Feed(sets[0], sets[1], options)


def _match(faces: np.ndarray, candidates: np.ndarray) -> tuple[int, float]:
    """The candidate closest to one face and the largest pixel difference to it."""
    errors = np.abs(candidates - faces[None]).max(axis=(1, 2, 3))
    return int(errors.argmin()), float(errors.min())


def _crop_points(faces: FaceSet, index: int) -> np.ndarray:
    assert faces.landmarks is not None
    return transform_points(coverage_matrix(np.eye(2, 3), faces.size, 0.6, N), faces.landmarks[index])


def test_options_are_range_checked() -> None:
    for bad in ({"size": 8}, {"flip": 2.0}, {"rotation": -1}, {"zoom": 0.6}, {"shift": -0.1}):
        with pytest.raises(FaceswapError):
            FeedOptions(**{"size": N, **bad})


def test_every_key_has_its_shape_dtype_and_range(sets: tuple[FaceSet, FaceSet]) -> None:
    options = FeedOptions(size=N, batch_size=6, color_match=0.5, motion_blur=0.5, seed=1)
    batch = _feed(sets, options).make_batch(0)
    assert sorted(batch) == sorted(f"{name}_{side}" for side in "ab"
                                   for name in ("warped", "target", "mask", "weight", "occluder"))
    for side in "ab":
        for name, channels in (("warped", 3), ("target", 3), ("mask", 1), ("weight", 1), ("occluder", 1)):
            value = batch[f"{name}_{side}"]
            assert value.shape == (6, N, N, channels) and value.dtype == np.float32
            assert np.isfinite(value).all()
        for name in ("warped", "target"):
            assert 0 <= batch[f"{name}_{side}"].min() and batch[f"{name}_{side}"].max() <= 1
            assert batch[f"{name}_{side}"].std() > 0.05  # faces, not blanks
        assert set(np.unique(batch[f"mask_{side}"])) == {0.0, 1.0}
        assert 0.5 < batch[f"mask_{side}"].mean() < 0.97  # at coverage 0.6 the face fills most of the crop
        assert set(np.unique(batch[f"weight_{side}"])) == {1.0, 2.0, 3.0}


def test_without_augmentation_the_feed_gives_the_plain_crop(sets: tuple[FaceSet, FaceSet]) -> None:
    feed = _feed(sets, PLAIN)
    batch = feed.make_batch(0)
    plain = feed.preview_faces(25)
    for side, faces in zip("ab", sets):
        np.testing.assert_array_equal(batch[f"warped_{side}"], batch[f"target_{side}"])
        for target in batch[f"target_{side}"]:
            assert _match(target, plain[side])[1] == 0.0
        # And that crop is the contract's: coverage_matrix(eye, S, coverage, n) of the aligned face.
        reference = np.stack([warp_face(face, coverage_matrix(np.eye(2, 3), faces.size, 0.6, N), N)
                              for face in faces.images]).astype(np.float32) / 255
        assert np.abs(plain[side] - reference).mean() < 0.02  # anti-aliased, not moved
        shifted = np.roll(reference, 1, axis=2)
        assert np.abs(plain[side] - reference).mean() < 0.5 * np.abs(plain[side] - shifted).mean()


def test_the_input_is_warped_but_the_target_is_not(sets: tuple[FaceSet, FaceSet]) -> None:
    feed = _feed(sets, replace(PLAIN, warp=True))
    batch = feed.make_batch(0)
    plain = feed.preview_faces(25)["a"]
    for warped, target in zip(batch["warped_a"], batch["target_a"]):
        assert _match(target, plain)[1] == 0.0
        difference = np.abs(warped - target).mean()
        assert 0.005 < difference < 0.08  # moved a little, still the same face


def test_the_warp_schedule_unwarps_from_its_batch_whenever_the_workers_get_there(
        sets: tuple[FaceSet, FaceSet]) -> None:
    """--no-warp-after N iterations: batches from number N on are unwarped, however far ahead the workers are;
    by time: every batch asked for once the time has come."""
    feed = Feed(sets[0], sets[1], replace(PLAIN, warp=True, workers=2), WarpSchedule(batches=3))
    made = feed.batches()
    try:
        batches = [next(made) for _ in range(6)]
    finally:
        made.close()
    unwarped = [bool(np.array_equal(batch["warped_a"], batch["target_a"])) for batch in batches]
    assert unwarped == [False] * 3 + [True] * 3 and feed.unwarped_from == 3
    # Still the seed's batches: batch 4 is make_batch(4).
    np.testing.assert_array_equal(batches[4]["target_b"], feed.make_batch(4)["target_b"])
    timed = Feed(sets[0], sets[1], replace(PLAIN, warp=True, workers=2), WarpSchedule(seconds=0.0))
    made = timed.batches()
    try:
        assert np.array_equal(next(made)["warped_a"], timed.make_batch(0)["target_a"])
    finally:
        made.close()
    assert timed.unwarped_from == 0


def test_target_and_masks_get_the_same_transform(sets: tuple[FaceSet, FaceSet]) -> None:
    faces_a = sets[0]
    assert faces_a.landmarks is not None
    one = FaceSet(np.repeat(faces_a.images[:1], 8, 0), np.repeat(faces_a.landmarks[:1], 8, 0), ["0"] * 8)
    options = FeedOptions(size=N, batch_size=8, rotation=20, zoom=0.08, shift=0.08, flip=0, color_jitter=False,
                          seed=11)
    feed = Feed(one, sets[1], options)
    batch = feed.make_batch(0)
    plain = cv2.cvtColor(feed.preview_faces(1)["a"][0], cv2.COLOR_BGR2GRAY)
    points = _crop_points(one, 0)
    plain_maps = np.stack([hull_mask(points, N), region_weights(points, N, 3.0, 2.0)], -1)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 200, 1e-6)
    aligned, unmoved = [], []
    for target, mask, weight in zip(batch["target_a"], batch["mask_a"], batch["weight_a"]):
        # Find the target's transform from its pixels alone, then move the plain crop's maps with it.
        warp = np.eye(2, 3, dtype=np.float32)
        _, warp = cv2.findTransformECC(cv2.cvtColor(target, cv2.COLOR_BGR2GRAY), plain, warp, cv2.MOTION_AFFINE,
                                       criteria, None, 5)
        flags = cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP
        expected = cv2.warpAffine(plain_maps, warp, (N, N), flags=flags)
        inside = cv2.warpAffine(np.ones((N, N), np.float32), warp, (N, N), flags=flags) > 0  # seen in both
        maps = np.concatenate([mask, weight], -1)
        aligned.append(np.abs(maps - expected)[inside].mean(0))
        unmoved.append(np.abs(maps - plain_maps)[inside].mean(0))
    aligned_error, unmoved_error = np.mean(aligned, 0), np.mean(unmoved, 0)
    assert np.all(aligned_error < [0.01, 0.05])  # mask in {0, 1}, weights in {1, 2, 3}: a pixel edge
    assert np.all(unmoved_error > 4 * aligned_error)  # the transforms were large enough to tell


def test_a_flip_keeps_the_eye_and_mouth_weights_on_the_eyes_and_mouth(sets: tuple[FaceSet, FaceSet]) -> None:
    options = replace(PLAIN, flip=1.0, eye_multiplier=4.0, mouth_multiplier=1.5)
    feed = _feed(sets, options)
    batch = feed.make_batch(0)
    plain = feed.preview_faces(25)["a"]
    for target, mask, weight in zip(batch["target_a"], batch["mask_a"][..., 0], batch["weight_a"][..., 0]):
        index, error = _match(cv2.flip(target, 1), plain)
        assert error <= 2 / 255
        points = _crop_points(sets[0], index)
        points[:, 0] = N - 1 - points[:, 0]
        for region, value in ((LEFT_EYE, 4.0), (RIGHT_EYE, 4.0), (MOUTH, 1.5)):
            x, y = np.round(points[region].mean(0)).astype(int)
            assert weight[y, x] == value
        x, y = np.round(points[30]).astype(int)
        assert weight[y, x] == 1.0 and mask[y, x] == 1.0
        assert set(np.unique(weight)) == {1.0, 1.5, 4.0}


def test_the_same_seed_gives_the_same_batches(sets: tuple[FaceSet, FaceSet]) -> None:
    options = FeedOptions(size=N, batch_size=4, color_match=0.5, motion_blur=0.5, seed=3, workers=1)
    one = _feed(sets, options).batches()
    two = _feed(sets, replace(options, workers=2)).batches()
    for _ in range(3):
        first, second = next(one), next(two)
        for key in first:
            np.testing.assert_array_equal(first[key], second[key])
    other = _feed(sets, replace(options, seed=4)).make_batch(0)
    assert not np.array_equal(other["target_a"], _feed(sets, options).make_batch(0)["target_a"])


def test_colour_match_gives_the_face_the_colours_of_the_other_sides_faces(sets: tuple[FaceSet, FaceSet]) -> None:
    plain = _feed(sets, PLAIN)
    matched = _feed(sets, replace(PLAIN, color_match=1.0))

    def face_means(batch: dict[str, np.ndarray], side: str) -> np.ndarray:
        """LAB means inside each face's hull (the batch's mask, as no occluder is pasted)."""
        lab = augment.bgr_to_lab(batch[f"target_{side}"])
        return augment.lab_stats(lab, batch[f"mask_{side}"][..., 0])[:, 0]

    references = [plain.make_batch(k) for k in range(4)]  # B's faces as they are
    b_means = np.concatenate([face_means(batch, "b") for batch in references])

    def distance(batch: dict[str, np.ndarray]) -> float:
        return float(np.mean([np.linalg.norm(b_means - mean, axis=1).min() for mean in face_means(batch, "a")]))

    matched_batch = matched.make_batch(0)
    assert distance(matched_batch) < 0.25 * distance(plain.make_batch(0))
    # The statistics are the face's, not the crop's: over the whole crop (background included) the match is
    # further off than inside the hull.
    whole = augment.lab_stats(augment.bgr_to_lab(matched_batch["target_a"]))[:, 0]
    b_whole = np.concatenate([augment.lab_stats(augment.bgr_to_lab(batch["target_b"]))[:, 0]
                              for batch in references])
    assert distance(matched_batch) < np.mean([np.linalg.norm(b_whole - mean, axis=1).min() for mean in whole])


def test_motion_blur_blurs_input_and_target_alike(sets: tuple[FaceSet, FaceSet]) -> None:
    sharp = _feed(sets, PLAIN).make_batch(0)
    blurred = _feed(sets, replace(PLAIN, motion_blur=1.0)).make_batch(0)
    np.testing.assert_array_equal(blurred["warped_a"], blurred["target_a"])

    def edges(images: np.ndarray) -> float:
        return float(np.abs(np.diff(images, axis=1)).mean() + np.abs(np.diff(images, axis=2)).mean())

    assert edges(blurred["target_a"]) < 0.9 * edges(sharp["target_a"])


def test_plain_images_train_with_all_ones_masks(caplog: pytest.LogCaptureFixture) -> None:
    chips = [load_faces(DATA / "chips" / name) for name in ("John_Schneider", "John_Simm")]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "metadata" in r.getMessage()]
    assert len(warnings) == 2  # one per folder
    caplog.clear()
    batch = Feed(chips[0], chips[1], FeedOptions(size=N, batch_size=4, seed=2)).make_batch(0)
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
    for side in "ab":
        assert np.all(batch[f"mask_{side}"] == 1.0) and np.all(batch[f"weight_{side}"] == 1.0)
        assert batch[f"target_{side}"].shape == (4, N, N, 3) and batch[f"target_{side}"].std() > 0.05


def test_preview_faces_are_fixed(sets: tuple[FaceSet, FaceSet]) -> None:
    feed = _feed(sets, FeedOptions(size=N, seed=None))
    first, second = feed.preview_faces(4), feed.preview_faces(4)
    assert sorted(first) == ["a", "b"]
    for side in "ab":
        assert first[side].shape == (4, N, N, 3) and first[side].dtype == np.float32
        np.testing.assert_array_equal(first[side], second[side])
        assert len({face.tobytes() for face in first[side]}) == 4  # spread over the set
    assert feed.preview_faces(30)["a"].shape == (30, N, N, 3)  # more than the set holds: repeated


def test_the_dataset_has_static_shapes_and_yields_the_batches(sets: tuple[FaceSet, FaceSet]) -> None:
    options = FeedOptions(size=N, batch_size=4, seed=9)
    dataset = _feed(sets, options).dataset()
    for key, spec in dataset.element_spec.items():
        assert spec.shape.is_fully_defined(), key
        assert spec.shape[:3] == (4, N, N) and spec.dtype.name == "float32"
    expected = _feed(sets, options)
    for index, batch in enumerate(dataset.take(2)):
        reference = expected.make_batch(index)
        for key, value in batch.items():
            np.testing.assert_array_equal(value.numpy(), reference[key])


def test_occluders_change_only_the_input_where_they_are_and_leave_the_mask_and_loss(
        sets: tuple[FaceSet, FaceSet]) -> None:
    """Same seed with and without occluders: targets equal; inputs equal except under an occluder, where the
    mask target and the loss weight drop by the occluder's opacity; and about the asked share is occluded."""
    options = FeedOptions(size=N, batch_size=16, seed=11)
    plain = _feed(sets, options).make_batch(3)
    covered = _feed(sets, replace(options, occlusion=0.5)).make_batch(3)
    occluded = 0
    for side in "ab":
        np.testing.assert_array_equal(covered[f"target_{side}"], plain[f"target_{side}"])
        for j in range(options.batch_size):
            lost = 1 - covered[f"mask_{side}"][j, ..., 0] / np.maximum(plain[f"mask_{side}"][j, ..., 0], 1e-6)
            changed = np.abs(covered[f"warped_{side}"][j] - plain[f"warped_{side}"][j]).max(-1) > 2 / 255
            if not changed.any():
                np.testing.assert_array_equal(covered[f"mask_{side}"][j], plain[f"mask_{side}"][j])
                continue
            occluded += 1
            hull = plain[f"mask_{side}"][j, ..., 0] > 0.5
            # The occluder's pixels on the face left the mask target and carry no reconstruction loss.
            gone = (lost > 0.99) & hull
            assert gone.sum() >= 10
            weight = covered[f"weight_{side}"][j, ..., 0] / plain[f"weight_{side}"][j, ..., 0]
            assert weight[gone].max() < 0.011
            np.testing.assert_allclose(covered[f"occluder_{side}"][j, ..., 0][hull], lost[hull], atol=1e-4)
            # What changed in the input is (up to its soft edge) what the mask lost.
            assert (changed & hull & (lost < 0.01)).mean() < 0.01
    assert 8 <= occluded <= 24  # half of 32 faces, give or take


def test_pose_transfer_turns_target_input_and_masks_alike(sets: tuple[FaceSet, FaceSet]) -> None:
    """With pose_transfer every face is warped to a pose of the other side's (the warp itself:
    test_augment.test_a_face_turned_by_pose_transfer_reads_to_dlib_as_turned_that_much): the target is no longer
    the plain crop, input and target stay one picture without the denoising warp, and the face's hull moves; at
    0 (the default) the batches are exactly those of before."""
    assert all(faces.poses is not None for faces in sets)
    plain = _feed(sets, PLAIN)
    before = plain.make_batch(0)
    for key, value in _feed(sets, replace(PLAIN, pose_transfer=0.0)).make_batch(0).items():
        np.testing.assert_array_equal(value, before[key])
    turned = _feed(sets, replace(PLAIN, pose_transfer=1.0)).make_batch(0)
    crops = plain.preview_faces(25)
    moved_masks = 0
    for side, faces in zip("ab", sets):
        np.testing.assert_array_equal(turned[f"warped_{side}"], turned[f"target_{side}"])
        for target, mask in zip(turned[f"target_{side}"], turned[f"mask_{side}"][..., 0]):
            index, error = _match(target, crops[side])
            assert 4 / 255 < error and np.abs(target - crops[side][index]).mean() < 0.1  # turned, same face
            moved_masks += int(np.abs(mask - hull_mask(_crop_points(faces, index), N)).mean() > 0.005)
    assert moved_masks >= 12  # of 16 faces: the hull moved with most of them


def test_blink_shuts_the_eyes_of_input_and_target_alike(sets: tuple[FaceSet, FaceSet]) -> None:
    """With blink 1 every face has its eyes shut (lib.expression.close_eyes, on real faces in
    tests/lib/test_expression.py), in input and target alike, and nothing else of the crop changes; at 0 (the
    default) the batches are exactly those of before."""
    plain = _feed(sets, PLAIN)
    before = plain.make_batch(0)
    for key, value in _feed(sets, replace(PLAIN, blink=0.0)).make_batch(0).items():
        np.testing.assert_array_equal(value, before[key])
    shut = _feed(sets, replace(PLAIN, blink=1.0)).make_batch(0)
    for side in "ab":
        np.testing.assert_array_equal(shut[f"warped_{side}"], shut[f"target_{side}"])
        np.testing.assert_array_equal(shut[f"mask_{side}"], before[f"mask_{side}"])
        change = np.abs(shut[f"target_{side}"] - before[f"target_{side}"]).mean(axis=-1)
        eyes = before[f"weight_{side}"][..., 0] == 3.0  # the eye regions, grown by their margin
        assert change[eyes].mean() > 0.02
        near = cv2.dilate(eyes.astype(np.uint8).transpose(1, 2, 0), np.ones((5, 5), np.uint8)).transpose(2, 0, 1)
        assert change[near == 0].max() < 0.01


def test_expression_balance_draws_rare_faces_more_often(sets: tuple[FaceSet, FaceSet]) -> None:
    """The faces a side draws follow lib.expression.rarity_weights (tested on real landmarks in
    tests/lib/test_expression.py): at 1, a face given a shut eye's landmarks is drawn far more often than at 0."""
    faces_a, faces_b = sets
    assert faces_a.landmarks is not None
    landmarks = faces_a.landmarks.copy()
    for upper, lower in ((37, 41), (38, 40), (43, 47), (44, 46)):
        landmarks[0, upper] = landmarks[0, lower]
    odd = replace(faces_a, landmarks=landmarks)
    counts = {}
    for balance in (0.0, 1.0):
        feed = Feed(odd, faces_b, replace(PLAIN, batch_size=32, expression_balance=balance))
        plain = feed.preview_faces(len(faces_a))["a"]
        drawn = [_match(face, plain)[0] for index in range(4) for face in feed.make_batch(index)["target_a"]]
        counts[balance] = drawn.count(0)
    assert counts[1.0] >= 3 * max(counts[0.0], 2)
