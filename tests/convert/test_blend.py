"""Mask shaping, alpha and Poisson blending, sharpening, pasting a face back into a real frame
(lib/blend.py, lib.align.paste_face), and the temporal smoothing of landmarks (lib/smoothing.py)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from lib.align import paste_face, warp_face
from lib.blend import alpha_blend, erode_mask, feather_mask, poisson_blend, sharpen
from lib.evaluation.realism import high_frequency_share
from lib.image import read_image
from lib.smoothing import LandmarkSmoother
from tests.conftest import DATA

SIZE = 64


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return read_image(DATA / "stills" / "obama" / "obama.jpg")


def _matrix(frame: np.ndarray, scale: float = 0.4, angle: float = 12.0) -> np.ndarray:
    """Frame -> a SIZE x SIZE crop around the middle of the frame, turned and scaled."""
    centre = (frame.shape[1] / 2, frame.shape[0] / 2)
    matrix = cv2.getRotationMatrix2D(centre, angle, scale)
    matrix[:, 2] += np.array([SIZE / 2, SIZE / 2]) - centre
    return matrix.astype(np.float64)


def _disc(size: int = SIZE, radius: int = 20) -> np.ndarray:
    mask = np.zeros((size, size), np.float32)
    cv2.circle(mask, (size // 2, size // 2), radius, 1.0, -1)
    return mask


# --- masks ---------------------------------------------------------------------------------------------------

def test_erosion_shrinks_and_negative_erosion_grows() -> None:
    mask = _disc()
    assert erode_mask(mask, 3).sum() < mask.sum() < erode_mask(mask, -3).sum()
    assert np.array_equal(erode_mask(mask, 0), mask)


def test_erosion_does_not_eat_a_full_mask_from_the_crop_border() -> None:
    full = np.ones((SIZE, SIZE), np.float32)
    assert erode_mask(full, 4).min() == 1.0


def test_feather_softens_the_edge_and_fades_at_the_crop_border() -> None:
    soft = feather_mask(_disc(), 4)
    assert soft.dtype == np.float32 and 0.0 <= soft.min() and soft.max() <= 1.0
    assert soft[SIZE // 2, SIZE // 2] > 0.99
    edge = soft[SIZE // 2, SIZE // 2 + 20]  # on the disc's rim
    assert 0.2 < edge < 0.8
    full = feather_mask(np.ones((SIZE, SIZE), np.float32), 4)
    assert full[0, 0] < 0.5 and full[SIZE // 2, SIZE // 2] > 0.99


# --- blending ------------------------------------------------------------------------------------------------

def test_alpha_blend_takes_each_side_where_the_mask_says(frame: np.ndarray) -> None:
    background = frame[:SIZE, :SIZE]
    face = frame[100:100 + SIZE, 200:200 + SIZE]
    mask = _disc()
    out = alpha_blend(background, face, mask)
    assert np.array_equal(out[mask == 0], background[mask == 0])
    assert np.array_equal(out[mask == 1], face[mask == 1])


def test_poisson_blend_hides_a_brightness_step_that_alpha_blending_shows(frame: np.ndarray) -> None:
    """A face 40 levels too bright: cloning keeps its detail but takes the level from the surroundings."""
    top, left, size = 150, 250, 120
    background = frame[top:top + size, left:left + size]
    brighter = np.clip(background.astype(int) + 40, 0, 255).astype(np.uint8)
    mask = _disc(size, 40)
    inside = mask == 1
    alpha_error = np.abs(alpha_blend(background, brighter, mask)[inside].astype(int) - background[inside]).mean()
    poisson = poisson_blend(background, brighter, mask)
    poisson_error = np.abs(poisson[inside].astype(int) - background[inside]).mean()
    assert alpha_error > 30
    assert poisson_error < 5, poisson_error
    assert np.array_equal(poisson[mask == 0], background[mask == 0])


def test_poisson_blend_of_the_same_image_changes_nothing(frame: np.ndarray) -> None:
    """Placement check: an off-by-one in where OpenCV puts the clone would show as a shifted copy."""
    background = np.ascontiguousarray(frame[150:271, 250:371])  # odd size on purpose
    out = poisson_blend(background, background.copy(), _disc(121, 45))
    assert np.abs(out.astype(int) - background).max() <= 2


def test_sharpen_adds_detail_and_zero_is_identity(frame: np.ndarray) -> None:
    face = frame[100:164, 200:264]
    assert np.array_equal(sharpen(face, 0.0), face)

    def detail(image: np.ndarray) -> float:
        return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())

    assert detail(sharpen(face, 1.0)) > 1.5 * detail(face)


# --- pasting back --------------------------------------------------------------------------------------------

def test_paste_back_of_the_crop_gives_the_frame_back(frame: np.ndarray) -> None:
    matrix = _matrix(frame)
    crop = warp_face(frame, matrix, SIZE)
    mask = np.ones((SIZE, SIZE), np.float32)
    out = paste_face(frame, crop, mask, matrix)
    warped = cv2.warpAffine(mask, matrix, frame.shape[1::-1], flags=cv2.WARP_INVERSE_MAP)
    footprint = warped > 0.99
    # The crop has 0.4x the frame's resolution: a round trip keeps the picture but softens it.
    assert np.abs(out[footprint].astype(int) - frame[footprint]).mean() < 12
    far = cv2.dilate((warped > 0).astype(np.uint8), np.ones((5, 5), np.uint8)) == 0
    assert far.sum() > 0.5 * far.size
    assert np.array_equal(out[far], frame[far])


def test_paste_changes_only_the_turned_square_the_face_came_from(frame: np.ndarray) -> None:
    matrix = _matrix(frame)
    black = np.zeros((SIZE, SIZE, 3), np.uint8)
    out = paste_face(frame, black, np.ones((SIZE, SIZE), np.float32), matrix)
    changed = (out != frame).any(2)
    side = SIZE / 0.4
    assert abs(changed.sum() - side * side) < 0.05 * side * side
    ys, xs = np.nonzero(changed)
    centre = np.array([frame.shape[1] / 2, frame.shape[0] / 2])
    assert np.abs(np.array([xs.mean(), ys.mean()]) - centre).max() < 2
    assert frame is not out and not np.array_equal(frame, out)


def test_paste_with_a_custom_blend_and_a_face_hanging_off_the_frame(frame: np.ndarray) -> None:
    matrix = _matrix(frame)
    matrix[:, 2] += np.array([20.0, 20.0])  # the square now hangs off the top-left corner
    out = paste_face(frame, np.zeros((SIZE, SIZE, 3), np.uint8), _disc(), matrix, poisson_blend)
    assert out.shape == frame.shape
    assert np.array_equal(out[-100:, -100:], frame[-100:, -100:])


def test_grain_brings_back_the_frames_detail_finer_than_the_crop(frame: np.ndarray) -> None:
    # A 64 px crop enlarged 2.5x back into its frame has lost what lies above the crop's Nyquist: --grain takes
    # that band from the frame. Measured on the face's middle, by evaluate's own detail measure.
    matrix = _matrix(frame)
    crop = warp_face(frame, matrix, SIZE)
    mask = np.ones((SIZE, SIZE), np.float32)
    x, y, half = frame.shape[1] // 2, frame.shape[0] // 2, 50

    def middle(image: np.ndarray) -> np.ndarray:
        return image[y - half:y + half, x - half:x + half]

    def kept(image: np.ndarray) -> float:
        return high_frequency_share(middle(image)) / high_frequency_share(middle(frame))

    plain, half_grain, grain = (paste_face(frame, crop, mask, matrix, grain=amount) for amount in (0.0, 0.5, 1.0))
    assert np.array_equal(plain, paste_face(frame, crop, mask, matrix))
    assert kept(plain) < 0.5 < kept(half_grain) < kept(grain)
    assert kept(grain) > 0.75
    error = [np.abs(middle(image).astype(int) - middle(frame)).mean() for image in (plain, grain)]
    assert error[1] < 0.5 * error[0]
    # A face drawn at the frame's resolution or finer has no band to fill: left as it is.
    sharp = _matrix(frame, scale=1.0)
    crop = warp_face(frame, sharp, SIZE)
    assert np.array_equal(paste_face(frame, crop, mask, sharp, grain=1.0), paste_face(frame, crop, mask, sharp))


# --- temporal smoothing --------------------------------------------------------------------------------------

def _track(frames: int, rng: np.random.Generator, start: tuple[float, float] = (100.0, 100.0),
           noise: float = 2.0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A real face's landmarks (from the alignment template, 80 px wide) drifting right, with detector noise."""
    from lib.align import TEMPLATE

    base = TEMPLATE * 80 + np.array(start)
    truth = [base + np.array([2.0 * t, 0.5 * t]) for t in range(frames)]
    return truth, [points + rng.normal(0, noise, points.shape) for points in truth]


def test_smoothing_reduces_jitter_and_keeps_order() -> None:
    rng = np.random.default_rng(1)
    truth, noisy = _track(40, rng)
    smoother: LandmarkSmoother[int] = LandmarkSmoother(1.5)
    out = [r for t in range(40) for r in smoother.push(t, [noisy[t]])] + smoother.flush()
    assert [t for t, _ in out] == list(range(40))
    raw_error = np.mean([np.abs(noisy[t] - truth[t]).mean() for t in range(40)])
    smooth_error = np.mean([np.abs(faces[0] - truth[t]).mean() for t, faces in out])
    assert smooth_error < 0.6 * raw_error


def test_smoothing_never_mixes_two_people_or_crosses_a_cut() -> None:
    rng = np.random.default_rng(2)
    _, left = _track(20, rng, (50.0, 100.0), noise=0.0)
    _, right = _track(20, rng, (400.0, 100.0), noise=0.0)
    smoother: LandmarkSmoother[int] = LandmarkSmoother(2.0)
    frames = [[left[t], right[t]] if t < 10 else [right[t] + 300.0] for t in range(20)]  # a cut at frame 10
    out = [r for t in range(20) for r in smoother.push(t, frames[t])] + smoother.flush()
    for t, faces in out:
        for smoothed_face, given in zip(faces, frames[t]):
            # Linear motion of one face survives a symmetric window; any mixing would move points by 100s.
            assert np.abs(smoothed_face - given).max() < 3.0, t


def test_no_smoothing_means_no_delay() -> None:
    smoother: LandmarkSmoother[str] = LandmarkSmoother(0.0)
    points = np.zeros((68, 2))
    assert smoother.push("a", [points]) == [("a", [points])]
    assert smoother.flush() == []


def test_keep_to_skin_leaves_out_a_background_strip_at_the_edge_only() -> None:
    """A real face (Biden, aligned to 64 px as a model draws it) with a strip of blue wall painted inside its hull
    along one cheek: the mask drops there and stays whole over the eyes, the lips and the rest of the edge."""
    from lib.align import align_matrix, coverage_matrix, transform_points
    from lib.blend import keep_to_skin
    from lib.masks import hull_mask
    from plugins.extract.align import AlignOptions
    from plugins.extract.align.dlib68 import Dlib68Aligner
    from plugins.extract.detect import DetectOptions
    from plugins.extract.detect.dlib_hog import DlibHogDetector

    frame = read_image(DATA / "stills" / "biden" / "biden.jpg")
    landmarks = Dlib68Aligner(AlignOptions()).align(frame, DlibHogDetector(DetectOptions()).detect([frame])[0])[0]
    matrix = coverage_matrix(align_matrix(landmarks, 256), 256, 0.6, 64)
    face, points = warp_face(frame, matrix, 64), transform_points(matrix, landmarks)
    mask = hull_mask(points, 64)
    strip = (mask > 0) & (cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3) <= 3)
    strip[:, :32] = False  # the image-right cheek only
    painted = face.copy()
    painted[strip] = (200, 90, 30)  # BGR: franck's blue wall
    kept = keep_to_skin(painted, mask)
    assert kept[strip].max() < 0.05
    features = np.zeros((64, 64), np.uint8)  # eyes and lips, with their lids and edges
    for part in (slice(36, 42), slice(42, 48), slice(48, 60)):
        cv2.fillConvexPoly(features, cv2.convexHull(np.round(points[part]).astype(np.int32)), 1)
    features = cv2.dilate(features, np.ones((3, 3), np.uint8)).astype(bool)
    np.testing.assert_array_equal(kept[features], mask[features])
    np.testing.assert_array_equal(kept[mask == 0], 0)
    # The rest of the edge is skin but where the hull takes in a little of the photo's background and hair: kept.
    assert kept[(mask > 0) & ~strip].mean() > 0.9
    assert keep_to_skin(face, mask)[mask > 0].mean() > 0.9
