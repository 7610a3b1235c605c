"""Every model plugin builds and learns: a few steps on one fixed batch of real faces cut its loss clearly.
GAN and mask heads train a step. The HQ model runs at 64 px here to stay fast."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

from lib.errors import FaceswapError
from lib.model.layers import PatchConv2D, PixelShuffle
from lib.model.parts import ModelOptions, ModelParts
from lib.model.state import ModelConfig, TrainingConfig
from lib.model.swapper import load_swapper
from lib.training.checkpoint import load_trainer_state, save_checkpoint
from lib.training.faces import FaceSet, load_faces
from lib.training.feed import Feed, FeedOptions
from lib.training.trainer import LossOptions, Trainer
from plugins.registry import load_plugin
from plugins.train.model import REGISTRY
from tests.model import extracted_faces

# The best of the last 5 steps < 0.6 x the first step's loss (A + B). Steps are few and noisy (Adam with
# beta_1 0.5 at a raised learning rate); a model that does not learn stays within a few % of the start.
OVERFIT_BOUND = 0.6
# (batch per side, steps, learning rate): small, since the original model is 82 M parameters on 2 CPU cores.
OVERFIT = {"original": (1, 18, 3e-4), "lightweight": (2, 25, 3e-4), "residual": (2, 8, 3e-4),
           "liae": (2, 25, 3e-4), "liae-oneway": (2, 25, 3e-4)}


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> tuple[FaceSet, FaceSet]:
    return (load_faces(extracted_faces(tmp_path_factory, "A")),
            load_faces(extracted_faces(tmp_path_factory, "B")))


def _parts(name: str, learn_mask: bool = False) -> ModelParts:
    size = 64 if name == "residual" else None
    return load_plugin(REGISTRY, "model", name)(ModelOptions(size, learn_mask)).build()


def _batch(sets: tuple[FaceSet, FaceSet], batch_size: int, warp: bool = False) -> dict[str, Any]:
    feed = Feed(*sets, FeedOptions(size=64, batch_size=batch_size, warp=warp, seed=7))
    return {key: tf.constant(value) for key, value in feed.make_batch(0).items()}


def test_pixel_shuffle_round_trips_through_its_config() -> None:
    layer = PixelShuffle(2, name="shuffle")
    clone = PixelShuffle.from_config(layer.get_config())
    x = np.arange(2 * 3 * 3 * 8, dtype=np.float32).reshape(2, 3, 3, 8)
    np.testing.assert_array_equal(clone(x), tf.nn.depth_to_space(x, 2))
    assert keras.saving.get_registered_name(PixelShuffle) == "faceswap>PixelShuffle"


def test_patch_conv_is_conv2d_forward_and_back_and_reloads_in_safe_mode(sets: tuple[FaceSet, FaceSet],
                                                                        tmp_path: Path) -> None:
    # Real faces folded into 4x4 maps of 16·16·3 channels, the size of the maps behind the models' bottleneck.
    maps = tf.nn.space_to_depth(_batch(sets, 2)["target_a"], 16)
    for kernel in (3, 4, 5):  # odd and even kernels pad 'same' differently
        conv, patch = keras.layers.Conv2D(32, kernel, padding="same"), PatchConv2D(32, kernel, padding="same")
        conv.build(maps.shape)
        patch.build(maps.shape)
        patch.set_weights([conv.kernel.numpy(), np.linspace(-1, 1, 32, dtype=np.float32)])
        conv.bias.assign(patch.bias)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(maps)
            want, got = conv(maps), patch(maps)
            want_loss, got_loss = tf.reduce_sum(want ** 2), tf.reduce_sum(got ** 2)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
        for grad_got, grad_want in zip(tape.gradient(got_loss, [maps, patch.kernel, patch.bias]),
                                       tape.gradient(want_loss, [maps, conv.kernel, conv.bias]), strict=True):
            np.testing.assert_allclose(grad_got, grad_want, rtol=1e-3, atol=1e-3)
    inputs = keras.Input((4, 4, maps.shape[-1]))
    model = keras.Model(inputs, PatchConv2D(8, 3, padding="same", name="patch")(inputs))
    model.save(tmp_path / "patch.keras")
    loaded = keras.saving.load_model(tmp_path / "patch.keras", safe_mode=True)
    assert isinstance(loaded.get_layer("patch"), PatchConv2D)
    np.testing.assert_array_equal(loaded(maps), model(maps))
    with pytest.raises(ValueError, match="stride 1"):
        PatchConv2D(8, 3, strides=2, padding="same")
    # The models convolve their 4x4 maps with it, and nothing larger.
    encoder = _parts("original").encoder
    assert [layer.input.shape[1] for layer in encoder.layers if isinstance(layer, PatchConv2D)] == [4]


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_plugin_builds_with_and_without_mask(name: str, sets: tuple[FaceSet, FaceSet]) -> None:
    faces = _batch(sets, 2)["target_a"]
    for learn_mask in (False, True):
        parts = _parts(name, learn_mask)
        assert parts.input_size == 64 and parts.encoder.input_shape == (None, 64, 64, 3)
        outputs = parts.decoder_b(parts.encoder(faces))
        outputs = outputs if isinstance(outputs, list) else [outputs]
        assert [tuple(o.shape) for o in outputs] == [(2, 64, 64, 3)] + ([(2, 64, 64, 1)] if learn_mask else [])
        for output in outputs:
            assert output.dtype == "float32"
            assert 0.0 <= float(tf.reduce_min(output)) and float(tf.reduce_max(output)) <= 1.0
    if name == "original":  # the classic architecture: 82 M parameters
        total = sum(m.count_params() for m in (parts.encoder, parts.decoder_a, parts.decoder_b))
        assert 80e6 < total < 84e6


def test_sizes_are_checked() -> None:
    with pytest.raises(FaceswapError, match="64 px"):
        load_plugin(REGISTRY, "model", "original")(ModelOptions(size=128))
    with pytest.raises(FaceswapError, match="multiple of 32"):
        load_plugin(REGISTRY, "model", "residual")(ModelOptions(size=100))
    assert load_plugin(REGISTRY, "model", "residual")(ModelOptions()).size == 128
    with pytest.raises(FaceswapError, match="multiple of 64 from 64 to 128"):
        load_plugin(REGISTRY, "model", "lightweight")(ModelOptions(size=96))


def test_lightweight_at_128_px_draws_128_px_faces_and_learns(sets: tuple[FaceSet, FaceSet]) -> None:
    """--size 128: 128 px faces in and out (mask too), the same latent, a loss cut on one batch."""
    keras.utils.set_random_seed(1)  # before the build: its starting weights must not depend on earlier tests
    parts = load_plugin(REGISTRY, "model", "lightweight")(ModelOptions(128, learn_mask=True)).build()
    assert parts.input_size == 128 and parts.encoder.output_shape == (None, 8, 8, 256)
    assert [tuple(o) for o in parts.decoder_a.output_shape] == [(None, 128, 128, 3), (None, 128, 128, 1)]
    trainer = Trainer(parts, LossOptions(), learning_rate=3e-4)
    step = trainer.make_step_function(tf.distribute.get_strategy())
    feed = Feed(*sets, FeedOptions(size=128, batch_size=2, warp=False, seed=7))
    batch = {key: tf.constant(value) for key, value in feed.make_batch(0).items()}
    history = [float(found["loss_a"]) + float(found["loss_b"]) for found in (step(batch) for _ in range(40))]
    # Its first steps push the flat grey start away before the loss falls (as at 64 px, higher): from there on,
    # the loss falls as clearly as the 64 px model's.
    assert min(history[-5:]) < OVERFIT_BOUND * max(history[:10]), history


@pytest.mark.parametrize("name", [pytest.param(name, marks=[pytest.mark.slow] if name != "lightweight" else [])
                                  for name in sorted(OVERFIT)])  # the fast tier trains the small model only
def test_a_few_steps_on_one_batch_cut_the_loss(name: str, sets: tuple[FaceSet, FaceSet]) -> None:
    batch_size, steps, learning_rate = OVERFIT[name]
    keras.utils.set_random_seed(1)
    trainer = Trainer(_parts(name), LossOptions(), learning_rate=learning_rate)
    step = trainer.make_step_function(tf.distribute.get_strategy())
    batch = _batch(sets, batch_size)
    history = []
    for _ in range(steps):
        found = step(batch)
        history.append(float(found["loss_a"]) + float(found["loss_b"]))
    assert all(np.isfinite(history))
    assert min(history[-5:]) < OVERFIT_BOUND * history[0], history


def _weights(model: keras.Model) -> list[np.ndarray]:
    return [np.array(w) for w in model.get_weights()]


def test_liae_draws_both_people_with_one_decoder_through_a_save_and_a_resume(
        sets: tuple[FaceSet, FaceSet], tmp_path: Path) -> None:
    """liae's two decoders are one model fed different codes: Adam sees each weight once, a step on B's faces
    alone moves what draws A but not A's own code, and a save, resumed or loaded for convert, draws the same."""
    keras.utils.set_random_seed(2)
    trainer = Trainer(_parts("liae"), LossOptions(), learning_rate=3e-4)
    variables = trainer.generator_variables
    assert len({id(v) for v in variables}) == len(variables)
    assert len(variables) < sum(len(m.trainable_variables) for m in (trainer.encoder, trainer.decoder_a,
                                                                     trainer.decoder_b))
    batch = _batch(sets, 2, warp=True)
    inter_a = [layer for layer in trainer.encoder.layers if layer.name.startswith("inter_a_")]
    before = [_weights(trainer.decoder_a), [w for layer in inter_a for w in _weights(layer)]]
    b_only = {**batch, "weight_a": tf.zeros_like(batch["weight_a"])}  # A's loss is 0: no gradient of A's own
    trainer.make_step_function(tf.distribute.get_strategy())(b_only)
    assert any(not np.array_equal(x, y) for x, y in zip(before[0], _weights(trainer.decoder_a)))
    assert all(np.array_equal(x, y) for x, y in zip(before[1], [w for layer in inter_a for w in _weights(layer)]))

    config = ModelConfig(model="liae", size=64, coverage=0.6, learn_mask=False, gan=False, gan_loss="lsgan",
                         gan_weight=0.1, loss="mae", eye_multiplier=3.0, mouth_multiplier=2.0,
                         background_weight=0.1)
    training = TrainingConfig(batch_size=2, learning_rate=3e-4, clip_norm=1.0, color_match=0.0, motion_blur=0.0,
                              warp=True)
    state = save_checkpoint(tmp_path / "model", trainer, config=config, training=training, iteration=1,
                            previous=None)
    fresh = Trainer(_parts("liae"), LossOptions(), learning_rate=3e-4)
    load_trainer_state(tmp_path / "model", state, fresh)
    assert fresh.decoder_a.get_layer("decoder") is fresh.decoder_b.get_layer("decoder")
    faces = np.round(np.asarray(batch["target_b"]) * 255).astype(np.uint8)
    inputs = np.multiply(faces, np.float32(1 / 255), dtype=np.float32)
    expected = np.asarray(trainer.reconstruct(inputs, "a")[0])
    np.testing.assert_allclose(np.asarray(fresh.reconstruct(inputs, "a")[0]), expected, atol=1e-6)
    swapped = load_swapper(tmp_path / "model").swap(faces, "b2a")[0].astype(np.float32) / 255
    np.testing.assert_allclose(swapped, expected, atol=1.5 / 255)


def test_gan_and_mask_train_a_step(sets: tuple[FaceSet, FaceSet]) -> None:
    trainer = Trainer(_parts("lightweight", learn_mask=True), LossOptions(gan_loss="hinge", gan_weight=0.1),
                      gan=True)
    assert trainer.disc_a is not None and trainer.disc_a.output_shape == (None, 8, 8, 1)
    before = {name: _weights(model) for name, model in trainer.sub_models.items()}
    found = trainer.make_step_function(tf.distribute.get_strategy())(_batch(sets, 2, warp=True))
    assert set(found) == {"loss_a", "loss_b", "mask_a", "mask_b", "gan_g", "gan_d", "total"}
    assert all(np.isfinite(float(v)) for v in found.values())
    for name, model in trainer.sub_models.items():  # the generator and both discriminators moved
        assert any(not np.array_equal(a, b) for a, b in zip(before[name], _weights(model))), name
    metrics = trainer.read_metrics()
    assert set(metrics) == {"loss_a", "loss_b", "mask_a", "mask_b", "gan_g", "gan_d"}
    assert metrics["gan_d"] == pytest.approx(float(found["gan_d"]), rel=1e-5)


def test_keras_train_step_reports_running_means(sets: tuple[FaceSet, FaceSet]) -> None:
    trainer = Trainer(_parts("lightweight"), LossOptions(terms={"mae": 1.0}))
    batch = _batch(sets, 2)
    first = {k: float(v) for k, v in trainer.train_step(batch).items()}
    second = {k: float(v) for k, v in trainer.train_step(batch).items()}
    assert set(first) == {"loss_a", "loss_b"}
    assert second["loss_a"] != first["loss_a"]
    assert int(trainer.gen_optimizer.iterations) == 2


@pytest.fixture
def mixed_float16() -> Any:
    """The GPU's precision policy for one test (on a CPU: slow, but it runs the same code)."""
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.slow  # the GPU's paths, emulated on a CPU: full tier only
def test_mixed_float16_scales_the_loss_and_trains(mixed_float16: Any, sets: tuple[FaceSet, FaceSet]) -> None:
    """The path a GPU takes by default with --mixed-precision: float16 layers, a loss-scale optimiser; here on
    the CPU with the small model so that it cannot rot unseen."""
    trainer = Trainer(_parts("lightweight"), LossOptions(), learning_rate=1e-3)
    assert isinstance(trainer.gen_optimizer, keras.optimizers.LossScaleOptimizer)
    trainer.build_optimizers()
    step = trainer.make_step_function(tf.distribute.get_strategy())
    batch = _batch(sets, 1)  # float16 is emulated on a CPU: some 10 s a step for one face a side
    losses = [float(step(batch)["total"]) for _ in range(2)]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert trainer.encoder.layers[1].compute_dtype == "float16"


@pytest.mark.slow  # the GPU's paths, emulated on a CPU: full tier only
def test_xla_step_gives_the_same_losses(sets: tuple[FaceSet, FaceSet]) -> None:
    """train --xla compiles the step with XLA (what a GPU uses by default): the same step, the same numbers."""
    batch = _batch(sets, 2)
    results = []
    for xla in (False, True):
        keras.utils.set_random_seed(3)
        trainer = Trainer(_parts("lightweight"), LossOptions(), learning_rate=1e-4)
        trainer.build_optimizers()
        step = trainer.make_step_function(tf.distribute.get_strategy(), xla)
        results.append([float(step(batch)["total"]) for _ in range(2)])
    np.testing.assert_allclose(results[1], results[0], rtol=2e-3)
