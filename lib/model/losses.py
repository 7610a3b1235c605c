"""Training losses on BGR faces in [0, 1], NHWC float32: per-pixel maps so every term takes the same
per-pixel weights (eye and mouth multipliers, face-hull mask with a small background weight)."""
from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

SSIM_SIZE, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03  # the values tf.image.ssim uses


def _gaussian(size: int = SSIM_SIZE, sigma: float = SSIM_SIGMA) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    kernel = np.exp(-x * x / (2 * sigma * sigma))
    return (kernel / kernel.sum()).astype(np.float32)


def ssim_map(y_true: Any, y_pred: Any, padding: str = "REFLECT") -> Any:
    """Per-pixel, per-channel SSIM (B, H, W, C) with tf.image.ssim's Gaussian window (11, sigma 1.5).

    padding 'REFLECT' keeps H x W; 'VALID' gives tf.image.ssim's (H-10) x (W-10) map.
    """
    channels = int(y_true.shape[-1])
    stack = tf.concat([y_true, y_pred, y_true * y_true, y_pred * y_pred, y_true * y_pred], axis=-1)
    if padding == "REFLECT":
        half = SSIM_SIZE // 2
        stack = tf.pad(stack, [[0, 0], [half, half], [half, half], [0, 0]], mode="REFLECT")
    g = tf.constant(_gaussian())
    depth = 5 * channels
    column = tf.tile(tf.reshape(g, (SSIM_SIZE, 1, 1, 1)), (1, 1, depth, 1))
    row = tf.tile(tf.reshape(g, (1, SSIM_SIZE, 1, 1)), (1, 1, depth, 1))
    blurred = tf.nn.depthwise_conv2d(stack, column, (1, 1, 1, 1), "VALID")
    blurred = tf.nn.depthwise_conv2d(blurred, row, (1, 1, 1, 1), "VALID")
    mu_t, mu_p, tt, pp, tp = tf.split(blurred, 5, axis=-1)
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    var_t, var_p, cov = tt - mu_t * mu_t, pp - mu_p * mu_p, tp - mu_t * mu_p
    return ((2 * mu_t * mu_p + c1) * (2 * cov + c2)) / ((mu_t**2 + mu_p**2 + c1) * (var_t + var_p + c2))


def _gradients(image: Any) -> tuple[Any, Any]:
    """Horizontal and vertical differences, zero-padded at the far edge to keep H x W."""
    dx = tf.pad(image[:, :, 1:] - image[:, :, :-1], [[0, 0], [0, 0], [0, 1], [0, 0]])
    dy = tf.pad(image[:, 1:] - image[:, :-1], [[0, 0], [0, 1], [0, 0], [0, 0]])
    return dx, dy


def loss_map(y_true: Any, y_pred: Any, terms: dict[str, float]) -> Any:
    """The weighted sum of the chosen terms per pixel, averaged over channels: (B, H, W, 1)."""
    total = 0.0
    diff = y_pred - y_true
    for name, weight in terms.items():
        if name == "mae":
            part = tf.abs(diff)
        elif name == "mse":
            part = tf.square(diff)
        elif name == "ssim":
            part = (1.0 - ssim_map(y_true, y_pred)) / 2.0  # DSSIM in [0, 1]
        else:
            (tx, ty), (px, py) = _gradients(y_true), _gradients(y_pred)
            part = tf.abs(px - tx) + tf.abs(py - ty)
        total = total + weight * tf.reduce_mean(part, axis=-1, keepdims=True)
    return total


def pixel_weights(weight: Any, mask: Any, background: float) -> Any:
    """Loss weight per pixel (B, H, W, 1): the feed's eye/mouth multipliers, times 1 inside the face hull
    and `background` outside it."""
    return weight * (mask + background * (1.0 - mask))


def reconstruction_loss(y_true: Any, y_pred: Any, weights: Any, terms: dict[str, float]) -> Any:
    """Weighted mean of the loss map, normalised by the weights: the scale stays that of the plain terms."""
    values = loss_map(y_true, y_pred, terms)
    return tf.reduce_sum(values * weights) / tf.maximum(tf.reduce_sum(weights), 1e-6)


def mask_loss(mask_true: Any, mask_pred: Any, weights: Any = None) -> Any:
    """Binary cross-entropy of a mask (B, H, W, 1) in (0, 1) against its target (the face hull, less any
    occluder); with weights (B, H, W, 1), their weighted mean."""
    pred = tf.clip_by_value(mask_pred, 1e-6, 1.0 - 1e-6)
    entropy = -(mask_true * tf.math.log(pred) + (1.0 - mask_true) * tf.math.log(1.0 - pred))
    if weights is None:
        return tf.reduce_mean(entropy)
    return tf.reduce_sum(entropy * weights) / tf.reduce_sum(weights)


def discriminator_loss(real_logits: Any, fake_logits: Any, kind: str) -> Any:
    """PatchGAN discriminator loss: least squares (targets 1 and 0) or hinge."""
    if kind == "lsgan":
        return 0.5 * (tf.reduce_mean(tf.square(real_logits - 1.0)) + tf.reduce_mean(tf.square(fake_logits)))
    if kind == "hinge":
        return tf.reduce_mean(tf.nn.relu(1.0 - real_logits)) + tf.reduce_mean(tf.nn.relu(1.0 + fake_logits))
    raise ValueError(f"unknown GAN loss {kind!r}")


def generator_loss(fake_logits: Any, kind: str) -> Any:
    """Adversarial loss of the generator: make the discriminator call its faces real."""
    if kind == "lsgan":
        return tf.reduce_mean(tf.square(fake_logits - 1.0))
    if kind == "hinge":
        return -tf.reduce_mean(fake_logits)
    raise ValueError(f"unknown GAN loss {kind!r}")
