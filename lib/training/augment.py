"""Per-sample augmentation in NumPy and OpenCV: random transform, grid warp, LAB colour, motion blur.

Every function draws from the numpy Generator it is given, so a batch is reproducible from its seed.
"""
from __future__ import annotations

import cv2
import numpy as np

from lib.align import offset_maps
from lib.types import Matrix

# The classic denoising warp: a 5x5 grid of control points over the crop, each moved by a normal offset
# with this standard deviation (share of the crop's side), interpolated smoothly in between.
WARP_GRID = 5
WARP_SCALE = 0.025
# LAB jitter: lightness pushed toward black or white by up to 30 %, a and b shifted by up to 8 % of their
# range (faceswap's defaults).
LIGHTNESS = 0.3
COLOUR = 0.08


def random_similarity(rng: np.random.Generator, size: int, *, rotation: float, zoom: float, shift: float,
                      flip: float) -> tuple[Matrix, bool]:
    """A random rotation (degrees), zoom, shift (share of size) and flip about the centre of a size x size crop.

    Returns the 2x3 float64 matrix (exactly the identity when every range is 0) and whether it flips.
    """
    angle = rng.uniform(-rotation, rotation)
    scale = 1.0 + rng.uniform(-zoom, zoom)
    offset = rng.uniform(-shift, shift, 2) * size
    flipped = bool(rng.random() < flip)
    centre = (size - 1) / 2  # cv2 pixel centres: a flip maps x to size - 1 - x
    matrix = cv2.getRotationMatrix2D((centre, centre), angle, scale).astype(np.float64)
    matrix[:, 2] += offset
    if flipped:
        matrix[0] = -matrix[0]
        matrix[0, 2] += size - 1
    return matrix, flipped


def interpolation(matrix: Matrix) -> int:
    """Bilinear when the warp shrinks or keeps the scale, bicubic when it enlarges (as lib.align.warp_face)."""
    return cv2.INTER_CUBIC if abs(np.linalg.det(matrix[:, :2])) > 1.0 + 1e-6 else cv2.INTER_LINEAR


def warp_maps(rng: np.random.Generator, matrix: Matrix, size: int,
              moved: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """cv2.remap maps for a size x size output: the affine matrix (source -> output) after a random grid warp
    (and after the backward offsets `moved` of lib.align.landmark_offsets, when given).

    Composing them into one map resamples the source once. Returns two float32 (size, size) arrays.
    """
    control = rng.normal(0.0, WARP_SCALE * size, (WARP_GRID, WARP_GRID, 2)).astype(np.float32)
    offsets = cv2.resize(control, (size, size), interpolation=cv2.INTER_CUBIC)
    return offset_maps(matrix, offsets if moved is None else offsets + moved)


def bgr_to_lab(images: np.ndarray) -> np.ndarray:
    """float32 BGR [0, 1] (..., H, W, 3) to LAB (L in [0, 100], a and b about [-127, 127])."""
    flat = images.reshape(-1, images.shape[-2], 3)
    return np.asarray(cv2.cvtColor(flat, cv2.COLOR_BGR2Lab)).reshape(images.shape)


def lab_to_bgr(lab: np.ndarray) -> np.ndarray:
    """The inverse of bgr_to_lab, clipped to [0, 1]."""
    flat = np.asarray(cv2.cvtColor(lab.reshape(-1, lab.shape[-2], 3), cv2.COLOR_Lab2BGR))
    return np.clip(flat, 0.0, 1.0, out=flat).reshape(lab.shape)


def lab_stats(lab: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Per-channel mean and standard deviation of LAB images (..., H, W, 3): float32 (..., 2, 3). mask
    (..., H, W), where given: the statistics of the pixels it weighs (an image whose mask is empty counts all)."""
    if mask is None:
        mean, std = lab.mean(axis=(-3, -2)), lab.std(axis=(-3, -2))
    else:
        weights = np.asarray(mask, np.float64)
        empty = weights.sum(axis=(-2, -1), keepdims=True) <= 0
        weights = np.where(empty, 1.0, weights)
        weights = (weights / weights.sum(axis=(-2, -1), keepdims=True))[..., None]
        mean = (lab * weights).sum(axis=(-3, -2))
        std = np.sqrt((np.square(lab - mean[..., None, None, :]) * weights).sum(axis=(-3, -2)))
    return np.stack([mean, np.maximum(std, 1e-3)], axis=-2).astype(np.float32)


# The colour match moves a face's mean colour all the way to the other's, but its contrast only this far: the
# faces' colour spreads inside the hull are small and their ratio wild, and scaling a and b by it (Reinhard's
# full transfer) turned the whites and shadows of the eyes blue and the lips purple, which the decoders then
# learned to paint (seen in bench.quality's frames). Chroma keeps its spread; lightness follows within 0.8-1.25.
LIGHTNESS_SCALE = (0.8, 1.25)


def match_affine(own: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Colour transfer in LAB as a per-channel scale and offset (3,): own's (2, 3) mean/std statistics get the
    reference's means, and its lightness spread moves toward the reference's (LIGHTNESS_SCALE)."""
    scale = np.ones(3)
    scale[0] = np.clip(reference[1][0] / own[1][0], *LIGHTNESS_SCALE)
    return scale, reference[0] - own[0] * scale


def jitter_affine(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random lightness and colour shift in LAB as a per-channel scale and offset (3,)."""
    amount = rng.uniform(-1.0, 1.0, 3) * np.array([LIGHTNESS, COLOUR, COLOUR])
    scale, offset = np.ones(3), amount * 127
    # Lightness is pushed toward black or toward white, so it never leaves [0, 100].
    scale[0] = 1 + amount[0] if amount[0] < 0 else 1 - amount[0]
    offset[0] = 0.0 if amount[0] < 0 else 100 * amount[0]
    return scale, offset


def apply_affine(images: np.ndarray, scale: np.ndarray, offset: np.ndarray) -> None:
    """Scale and shift each channel of float32 images (..., H, W, 3) in place (cv2: no Python per pixel)."""
    flat = images.reshape(-1, images.shape[-2], 3)
    cv2.transform(flat, np.hstack([np.diag(scale), offset[:, None]]), dst=flat)


def motion_kernel(rng: np.random.Generator, size: int) -> np.ndarray:
    """A normalised line kernel in a random direction, 3 to about size/8 pixels long. float32 (k, k)."""
    length = 2 * int(rng.integers(1, max(2, size // 16) + 1)) + 1
    line = np.zeros((length, length), np.float32)
    line[length // 2] = 1.0
    centre = (length - 1) / 2
    rotate = cv2.getRotationMatrix2D((centre, centre), float(rng.uniform(0, 180)), 1.0)
    kernel = np.asarray(cv2.warpAffine(line, rotate, (length, length), flags=cv2.INTER_LINEAR), np.float32)
    return kernel / max(float(kernel.sum()), 1e-6)


def motion_blur(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Blur one float image (H, W, C) in [0, 1] with a kernel, edges replicated; stays in [0, 1]."""
    blurred = np.asarray(cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REPLICATE))
    return np.clip(blurred, 0.0, 1.0, out=blurred)
