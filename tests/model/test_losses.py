"""Losses on real faces: SSIM agrees with tf.image.ssim, weights and masks weigh where they should."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from lib import metrics
from lib.errors import FaceswapError
from lib.model import loss_spec, losses
from lib.training.faces import load_faces
from lib.training.feed import Feed, FeedOptions
from tests.model import extracted_faces


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """One plain batch of real faces with their hull masks and eye/mouth weights (64 px)."""
    sides = [load_faces(extracted_faces(tmp_path_factory, side)) for side in "AB"]
    feed = Feed(*sides, FeedOptions(size=64, batch_size=4, warp=False, color_jitter=False, seed=2))
    return feed.make_batch(0)


def test_parse_loss() -> None:
    assert loss_spec.parse_loss(loss_spec.DEFAULT_LOSS) == {"ssim": 0.5, "mae": 0.5, "edge": 0.25}
    assert loss_spec.parse_loss("mse") == {"mse": 1.0}
    assert loss_spec.format_loss(loss_spec.parse_loss("edge:0.2 + mae")) == "mae:1+edge:0.2"
    for bad in ("l1", "mae:x", "mae:0", "mae+mae", "ssim:-1", ""):
        with pytest.raises(FaceswapError, match="loss"):
            loss_spec.parse_loss(bad)


def test_ssim_map_matches_tf_image_ssim(batch: dict[str, np.ndarray]) -> None:
    a, b = batch["target_a"], batch["target_b"]
    ours = tf.reduce_mean(losses.ssim_map(a, b, padding="VALID"), axis=(1, 2, 3)).numpy()
    reference = tf.image.ssim(tf.constant(a), tf.constant(b), max_val=1.0).numpy()
    np.testing.assert_allclose(ours, reference, atol=2e-4)
    assert ours.max() < 0.9  # different people: far from identical
    same = losses.ssim_map(a, a).numpy()  # the default keeps the size
    assert same.shape == a.shape
    np.testing.assert_allclose(same, 1.0, atol=1e-4)


def test_reported_ssim_is_the_standard_gaussian_one(batch: dict[str, np.ndarray]) -> None:
    """evaluate's SSIM (lib.metrics) is the one the loss uses and papers report: tf.image.ssim's."""
    a, b = (np.round(batch[key] * 255).astype(np.uint8) for key in ("target_a", "target_b"))
    reference = tf.image.ssim(tf.constant(a, tf.float32), tf.constant(b, tf.float32), max_val=255.0).numpy()
    ours = [metrics.ssim(x, y) for x, y in zip(a, b)]
    np.testing.assert_allclose(ours, reference, atol=1e-3)


@pytest.mark.parametrize("term", loss_spec.TERMS)
def test_each_term_is_zero_on_identical_faces_and_grows_with_noise(term: str,
                                                                   batch: dict[str, np.ndarray]) -> None:
    face = batch["target_a"]
    rng = np.random.default_rng(0)
    small = np.clip(face + rng.normal(0, 0.02, face.shape), 0, 1).astype(np.float32)
    large = np.clip(face + rng.normal(0, 0.1, face.shape), 0, 1).astype(np.float32)
    values = [float(tf.reduce_mean(losses.loss_map(face, other, {term: 1.0}))) for other in (face, small, large)]
    assert values[0] == pytest.approx(0.0, abs=1e-5)
    assert 0 < values[1] < values[2]


def test_edge_term_ignores_a_uniform_brightness_shift(batch: dict[str, np.ndarray]) -> None:
    face = batch["target_a"] * 0.8
    brighter = face + 0.1
    assert float(tf.reduce_mean(losses.loss_map(face, brighter, {"edge": 1.0}))) == pytest.approx(0, abs=1e-6)
    assert float(tf.reduce_mean(losses.loss_map(face, brighter, {"mae": 1.0}))) == pytest.approx(0.1, abs=1e-5)


def test_background_weight_and_eye_multiplier(batch: dict[str, np.ndarray]) -> None:
    face, mask, weight = batch["target_a"], batch["mask_a"], batch["weight_a"]
    assert 0.3 < mask.mean() < 0.98 and weight.max() == 3.0  # real hulls and eye regions
    terms = {"mae": 1.0}
    outside = face + 0.2 * (1 - mask)  # wrong only outside the face hull
    ones = np.ones_like(mask)
    plain = float(losses.reconstruction_loss(face, outside, losses.pixel_weights(ones, ones, 1.0), terms))
    masked = float(losses.reconstruction_loss(face, outside, losses.pixel_weights(ones, mask, 0.1), terms))
    assert masked < 0.2 * plain
    eyes = (weight == 3.0).astype(np.float32)
    wrong_eyes = face + 0.2 * eyes
    unweighted = float(losses.reconstruction_loss(face, wrong_eyes, losses.pixel_weights(ones, ones, 1.0), terms))
    weighted = float(losses.reconstruction_loss(face, wrong_eyes, losses.pixel_weights(weight, ones, 1.0), terms))
    assert weighted > 2.0 * unweighted


def test_mask_loss(batch: dict[str, np.ndarray]) -> None:
    mask = batch["mask_a"]
    good = float(losses.mask_loss(mask, np.clip(mask, 0.01, 0.99)))
    bad = float(losses.mask_loss(mask, np.clip(1 - mask, 0.01, 0.99)))
    assert good < 0.02 and bad > 1.0
    # Weighted: all ones is the plain mean; weight on one region only is the loss of that region alone.
    wrong_top = np.concatenate([np.clip(1 - mask[:, :32], 0.01, 0.99), np.clip(mask[:, 32:], 0.01, 0.99)], 1)
    top = np.zeros_like(mask)
    top[:, :32] = 1.0
    assert float(losses.mask_loss(mask, wrong_top, np.ones_like(mask))) == pytest.approx(
        float(losses.mask_loss(mask, wrong_top)), rel=1e-5)
    assert float(losses.mask_loss(mask, wrong_top, top)) == pytest.approx(
        float(losses.mask_loss(mask[:, :32], wrong_top[:, :32])), rel=1e-5)


@pytest.mark.parametrize("kind", loss_spec.GAN_LOSSES)
def test_gan_losses_reward_the_right_side(kind: str) -> None:
    right = float(losses.discriminator_loss(tf.fill((2, 8, 8, 1), 2.0), tf.fill((2, 8, 8, 1), -2.0), kind))
    wrong = float(losses.discriminator_loss(tf.fill((2, 8, 8, 1), -2.0), tf.fill((2, 8, 8, 1), 2.0), kind))
    assert right < wrong
    fooled = float(losses.generator_loss(tf.fill((2, 8, 8, 1), 1.0), kind))
    caught = float(losses.generator_loss(tf.fill((2, 8, 8, 1), -1.0), kind))
    assert fooled < caught
    if kind == "lsgan":
        assert fooled == 0.0 and right == pytest.approx(0.5 * (1 + 4))
