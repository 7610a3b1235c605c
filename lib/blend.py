"""Putting a swapped face over the original: mask shaping (erode, feather), alpha and Poisson blending, sharpening,
the frame's own grain kept.

The blend functions take a background patch of the frame, the swapped face already warped onto it and the
mask warped with it, and return the blended patch; lib.align.paste_face does the geometry.
"""
from __future__ import annotations

import cv2
import numpy as np

from lib.types import Face, Frame, Mask


def _ellipse(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def erode_mask(mask: Mask, pixels: float) -> Mask:
    """Shrink (pixels > 0) or grow (pixels < 0) a mask's edge by about |pixels|. float32 in [0, 1]."""
    radius = int(round(abs(pixels)))
    if radius == 0:
        return mask
    if pixels > 0:
        # Outside the image counts as masked, so a mask that fills the crop is not eaten from its border.
        return np.asarray(cv2.erode(mask, _ellipse(radius), borderType=cv2.BORDER_CONSTANT, borderValue=1.0),
                          np.float32)
    return np.asarray(cv2.dilate(mask, _ellipse(radius), borderType=cv2.BORDER_CONSTANT, borderValue=0.0),
                      np.float32)


def feather_mask(mask: Mask, pixels: float) -> Mask:
    """Soften a mask's edge over about `pixels` on either side with a Gaussian; outside the crop counts as 0,
    so even an all-ones mask fades out at the crop's border. float32 in [0, 1]."""
    if pixels <= 0:
        return mask
    sigma = pixels / 2
    return np.asarray(cv2.GaussianBlur(mask, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT), np.float32)


def sharpen(face: Face, amount: float, radius: float = 1.0) -> Face:
    """Unsharp mask: face + amount * (face - blurred). amount 0 leaves the face as it is."""
    if amount <= 0:
        return face
    blurred = cv2.GaussianBlur(face, (0, 0), radius)
    return np.asarray(cv2.addWeighted(face, 1.0 + amount, blurred, -amount, 0), np.uint8)


# A Gaussian of this sigma, in crop pixels, halves frequencies at the crop's Nyquist (0.5 cycles per pixel):
# what it takes away is what a model of that resolution cannot draw.
GRAIN_SIGMA = 0.375


def keep_grain(warped: Frame, background: Frame, amount: float, scale: float) -> Frame:
    """The frame's finest detail kept in a face drawn at a lower resolution: the band above the model crop's
    Nyquist (scale: crop pixels per frame pixel; a face enlarged into its frame has scale < 1) is taken from
    the background (the original frame: its grain, pores, lashes) instead of the enlarged face, which has
    nothing there. amount 0 leaves the face as it is, 1 swaps the whole band. BGR uint8 patches of one size."""
    if amount <= 0 or scale >= 1.0:
        return warped
    face = warped.astype(np.float32)
    # The band is linear (an image less its blur), so the frame's band less the face's is the band of their
    # difference: one blur, not two.
    difference = background.astype(np.float32) - face
    band = difference - cv2.GaussianBlur(difference, (0, 0), GRAIN_SIGMA / scale, borderType=cv2.BORDER_REFLECT)
    return np.asarray(np.clip(np.rint(face + amount * band), 0, 255), np.uint8)


def alpha_blend(background: Frame, face: Frame, mask: Mask) -> Frame:
    """background * (1 - mask) + face * mask. Images BGR uint8 (H, W, 3), mask float32 (H, W) in [0, 1]."""
    weight = np.ascontiguousarray(mask, np.float32)
    # One C++ pass (rounded, saturated), several times faster than the same sum in NumPy.
    return np.asarray(cv2.blendLinear(face, background, weight, 1.0 - weight), np.uint8)


def poisson_blend(background: Frame, face: Frame, mask: Mask) -> Frame:
    """Seamless cloning (Pérez et al. 2003, OpenCV's seamlessClone) inside the mask, then the soft mask's
    feathered edge on top of it. Images BGR uint8 (H, W, 3), mask float32 (H, W) in [0, 1]."""
    binary = (mask > 0.05).astype(np.uint8) * 255
    # seamlessClone needs a mask that keeps off the patch's border, or it shifts or fails.
    binary[0, :] = binary[-1, :] = 0
    binary[:, 0] = binary[:, -1] = 0
    points = cv2.findNonZero(binary)
    if points is None:
        return background
    x, y, w, h = cv2.boundingRect(points)
    if w < 3 or h < 3:
        return alpha_blend(background, face, mask)
    # OpenCV places the mask's bounding box with its top-left at centre - size // 2.
    centre = (x + w // 2, y + h // 2)
    cloned = cv2.seamlessClone(face, background, binary, centre, cv2.NORMAL_CLONE)
    return alpha_blend(background, np.asarray(cloned, np.uint8), mask)


BLENDS = {"gaussian": alpha_blend, "poisson": poisson_blend}


# keep_to_skin: the face's own skin colour is read inside this share of the mask's depth (its deepest part:
# cheeks, nose, forehead), and in the mask's outer SKIN_EDGE a pixel whose chroma is further than SKIN_NEAR from it
# starts to be left out, all of it beyond SKIN_FAR (CIELAB a*b*: a blue wall is 40-60 away, skin's shades 5-10).
SKIN_CORE = 0.5
SKIN_EDGE = 0.25
SKIN_NEAR, SKIN_FAR = 12.0, 24.0


def keep_to_skin(face: Face, mask: Mask) -> Mask:
    """The mask with what the swapped face draws at its edge in colours far from its own skin left out: the
    other person's background (a blue wall at the cheek where the target's face is narrower than the source's),
    not skin. Only the mask's outer part (SKIN_EDGE of its depth) is touched: eyes, brows and lips inside stay.
    face BGR uint8 (n, n, 3), mask float32 (n, n) in [0, 1]."""
    inside = (mask > 0.5).astype(np.uint8)
    if not inside.any():
        return mask
    depth = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
    deepest = float(depth.max())
    core = depth >= SKIN_CORE * deepest
    lab = cv2.cvtColor(face, cv2.COLOR_BGR2Lab).astype(np.float32)
    skin = np.median(lab[core][:, 1:], axis=0)
    distance = np.linalg.norm(lab[..., 1:] - skin, axis=-1)
    keep = np.clip((SKIN_FAR - distance) / (SKIN_FAR - SKIN_NEAR), 0.0, 1.0)
    edge = depth < SKIN_EDGE * deepest
    return np.asarray(np.where(edge, mask * keep, mask), np.float32)
