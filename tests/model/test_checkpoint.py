"""The model folder: save → load gives identical predictions, resume restores the optimiser, saves prune
and snapshot, damaged or foreign folders fail in one line, and a full disk during a save does not lose the last
good save (train itself killed inside its saves: tests/e2e/test_faults.py)."""
from __future__ import annotations

import os
import resource
import shutil
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from lib.errors import FaceswapError
from lib.fileio import write_json_atomic
from lib.model.parts import ModelOptions
from lib.model.saved import load_models
from lib.model.state import STATE, ModelConfig, State, TrainingConfig, read_state
from lib.model.swapper import load_swapper
from lib.training.checkpoint import load_trainer_state, save_checkpoint
from lib.training.faces import load_faces
from lib.training.feed import Feed, FeedOptions
from lib.training.trainer import LossOptions, Trainer
from plugins.train.model.lightweight import Lightweight
from tests.model import extracted_faces

CONFIG = ModelConfig(model="lightweight", size=64, coverage=0.6, learn_mask=True, gan=False, gan_loss="lsgan",
                     gan_weight=0.1, loss="mae:0.5+ssim:0.5+edge:0.25", eye_multiplier=3.0, mouth_multiplier=2.0,
                     background_weight=0.1, mask_model=True)
TRAINING = TrainingConfig(batch_size=2, learning_rate=5e-5, clip_norm=1.0, color_match=0.0, motion_blur=0.0,
                          warp=True, occlusion_aug=0.5)


def _trainer(mask_model: bool = True) -> Trainer:
    return Trainer(Lightweight(ModelOptions(learn_mask=True)).build(), LossOptions(), mask_model=mask_model)


@dataclass
class Saved:
    trainer: Trainer
    model_dir: Path
    state: State
    faces: dict[str, np.ndarray]  # uint8 BGR (4, 64, 64, 3) of each side


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Saved:
    """A lightweight model with a mask head and mask network (as train makes one with --learn-mask), trained 2
    steps on real faces with occluders and saved at iteration 2."""
    sides = [load_faces(extracted_faces(tmp_path_factory, side)) for side in "AB"]
    feed = Feed(*sides, FeedOptions(size=64, batch_size=2, occlusion=0.5, seed=3))
    trainer = _trainer()
    step = trainer.make_step_function(tf.distribute.get_strategy())
    for index in range(2):
        step({k: tf.constant(v) for k, v in feed.make_batch(index).items()})
    model_dir = tmp_path_factory.mktemp("checkpoint") / "model"
    state = save_checkpoint(model_dir, trainer, config=CONFIG, training=TRAINING, iteration=2, previous=None)
    faces = {k: np.round(v * 255).astype(np.uint8) for k, v in feed.preview_faces(4).items()}
    return Saved(trainer, model_dir, state, faces)


def test_state_json_describes_the_model(saved: Saved) -> None:
    state = read_state(saved.model_dir)
    assert state == saved.state
    assert state is not None and state.iteration == 2 and state.checkpoint == "ckpt-2"
    assert sorted(state.files) == ["decoder_a.keras", "decoder_b.keras", "encoder.keras", "gen_optimizer.npz",
                                   "mask_optimizer.npz", "masker.keras"]
    assert sorted(p.name for p in saved.model_dir.iterdir()) == ["ckpt-2", STATE]


@pytest.mark.parametrize("direction", ["a2b", "b2a"])
def test_save_then_load_gives_identical_predictions(direction: str, saved: Saved) -> None:
    source, target = ("a", "b") if direction == "a2b" else ("b", "a")
    faces = saved.faces[source]
    inputs = np.multiply(faces, np.float32(1 / 255), dtype=np.float32)
    face, mask = saved.trainer.reconstruct(inputs, target)
    expected = np.clip(np.rint(np.asarray(face) * 255), 0, 255).astype(np.uint8)
    swapper = load_swapper(saved.model_dir)
    assert (swapper.model_name, swapper.input_size, swapper.coverage, swapper.has_mask) == ("lightweight", 64, 0.6,
                                                                                            True)
    swapped, swapped_mask = swapper.swap(faces, direction)
    assert swapped.dtype == np.uint8 and swapped.shape == faces.shape
    # The loaded model runs compiled (tf.function), the trainer eagerly: oneDNN may sum in another order on
    # some CPUs (AVX-512), which moves a value that sits on a rounding edge by one grey level, never more.
    difference = np.abs(swapped.astype(int) - expected)
    assert difference.max() <= 1 and (difference > 0).mean() < 0.01
    assert swapped_mask is not None and swapped_mask.shape == faces.shape[:3]
    np.testing.assert_allclose(swapped_mask, np.asarray(mask)[..., 0], atol=1e-4)
    with pytest.raises(FaceswapError, match="64x64"):
        swapper.swap(np.zeros((1, 128, 128, 3), np.uint8))


def test_resume_restores_weights_and_optimiser_state(saved: Saved) -> None:
    fresh = _trainer()
    load_trainer_state(saved.model_dir, saved.state, fresh)
    for name, model in saved.trainer.sub_models.items():
        for ours, theirs in zip(model.get_weights(), fresh.sub_models[name].get_weights()):
            np.testing.assert_array_equal(ours, theirs)
    assert int(fresh.gen_optimizer.iterations) == int(saved.trainer.gen_optimizer.iterations) == 2
    for ours, theirs in zip(saved.trainer.gen_optimizer.variables, fresh.gen_optimizer.variables):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    assert int(fresh.mask_optimizer.iterations) == 2  # type: ignore[union-attr]
    for ours, theirs in zip(saved.trainer.mask_optimizer.variables,  # type: ignore[union-attr]
                            fresh.mask_optimizer.variables):  # type: ignore[union-attr]
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    fresh.set_learning_rate(1e-4)
    assert float(fresh.gen_optimizer.learning_rate) == pytest.approx(1e-4)
    assert float(fresh.mask_optimizer.learning_rate) == pytest.approx(5e-4)  # type: ignore[union-attr]


def test_a_model_from_before_the_mask_network_uses_its_decoders_mask(saved: Saved, tmp_path: Path) -> None:
    """Folders saved without masker.keras (mask_model false) still load; their mask is the decoder head's."""
    trainer = _trainer(mask_model=False)
    save_checkpoint(tmp_path / "old", trainer, config=replace(CONFIG, mask_model=False), training=TRAINING,
                    iteration=1, previous=None)
    swapper = load_swapper(tmp_path / "old")
    _, mask = trainer.reconstruct(np.multiply(saved.faces["a"], np.float32(1 / 255), dtype=np.float32), "b")
    _, swapped_mask = swapper.swap(saved.faces["a"], "a2b")
    assert swapped_mask is not None
    np.testing.assert_allclose(swapped_mask, np.asarray(mask)[..., 0], atol=1e-4)


def test_a_state_json_from_before_newer_training_options_loads(saved: Saved, tmp_path: Path) -> None:
    """A model folder saved before the expression options and recipes existed (its training section without
    them) loads with their defaults: no blink, no balance, no recipe, no convert settings of its own."""
    import json

    model_dir = _copy(saved.model_dir, tmp_path / "model")
    raw = json.loads((model_dir / STATE).read_text())
    for name in ("blink_aug", "expression_balance", "recipe", "convert"):
        del raw["training"][name]
    _edit_state(model_dir, training=raw["training"])
    state = read_state(model_dir)
    assert state is not None
    training = state.training
    assert (training.blink_aug, training.expression_balance, training.recipe, training.convert) == (0.0, 0.0, None,
                                                                                                   {})
    assert load_swapper(model_dir).convert_settings == {}


def test_saves_hold_the_weight_average_and_resume_goes_on_from_the_weights(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    """With --ema the .keras files (what convert and evaluate load) hold the moving average of the generator's
    weights, m = min(decay, (1 + t) / (10 + t)) after step t; training_weights.npz holds the weights, and a resumed
    trainer goes on from those with its average restored."""
    sides = [load_faces(extracted_faces(tmp_path_factory, side)) for side in "AB"]
    feed = Feed(*sides, FeedOptions(size=64, batch_size=2, seed=5))
    trainer = Trainer(Lightweight(ModelOptions()).build(), LossOptions(), learning_rate=1e-3, ema=0.999)
    trainer.build_optimizers()
    assert trainer.average is not None
    variables = trainer.generator_variables
    expected = [np.asarray(v.numpy()) for v in variables]
    step = trainer.make_step_function(tf.distribute.get_strategy())
    for t in (1, 2, 3):
        step({k: tf.constant(v) for k, v in feed.make_batch(t).items()})
        m = min(0.999, (1 + t) / (10 + t))
        expected = [m * e + (1 - m) * np.asarray(v.numpy()) for e, v in zip(expected, variables)]
    weights = [np.asarray(v.numpy()) for v in variables]
    for ours, theirs in zip((a.numpy() for a in trainer.average.averages), expected):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert max(float(np.abs(a - w).max()) for a, w in zip(expected, weights)) > 1e-4  # not the weights
    training = replace(TRAINING, ema=0.999)
    config = replace(CONFIG, learn_mask=False, mask_model=False)
    state = save_checkpoint(tmp_path / "model", trainer, config=config, training=training, iteration=3,
                            previous=None)
    assert "training_weights.npz" in state.files
    for ours, theirs in zip(variables, weights):  # saving put the weights back
        np.testing.assert_array_equal(np.asarray(ours.numpy()), theirs)
    loaded = load_models(tmp_path / "model", state, ("encoder", "decoder_a", "decoder_b"))
    served = {id(v): np.asarray(v.numpy()) for model in loaded.values() for v in model.trainable_variables}
    assert len(served) == len(expected)
    for ours, theirs in zip(served.values(), expected):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    for ema in (0.999, 0.0):  # resumed with an average or without one: training goes on from the weights
        fresh = Trainer(Lightweight(ModelOptions()).build(), LossOptions(), ema=ema)
        fresh.build_optimizers()
        load_trainer_state(tmp_path / "model", state, fresh)
        for ours, theirs in zip(fresh.generator_variables, weights):
            np.testing.assert_array_equal(np.asarray(ours.numpy()), theirs)
        if ema:
            assert fresh.average is not None
            for ours, theirs in zip((a.numpy() for a in fresh.average.averages), expected):
                np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def _copy(model_dir: Path, dest: Path) -> Path:
    """A copy of a model folder; the big checkpoint files are hard links, so damage them by replacing them,
    never in place."""
    def link_or_copy(source: str, target: str) -> None:
        (os.link if "/ckpt-" in source else shutil.copy2)(source, target)

    shutil.copytree(model_dir, dest, copy_function=link_or_copy)
    return dest


def test_saves_keep_the_previous_checkpoint_and_snapshots(saved: Saved, tmp_path: Path) -> None:
    model_dir = _copy(saved.model_dir, tmp_path / "model")
    (model_dir / ".ckpt-9.partial").mkdir()  # the leftover of a killed save
    state = saved.state
    for iteration in (3, 4):
        state = save_checkpoint(model_dir, saved.trainer, config=CONFIG, training=TRAINING, iteration=iteration,
                                previous=state, snapshot=iteration == 4)
    assert sorted(p.name for p in model_dir.iterdir()) == ["ckpt-3", "ckpt-4", "snapshots", STATE]
    assert read_state(model_dir) == state and state.created == saved.state.created
    snapshot = model_dir / "snapshots" / "4"
    snap_state = read_state(snapshot)
    assert snap_state is not None and snap_state.iteration == 4
    assert load_swapper(snapshot).swap(saved.faces["a"])[0].shape == (4, 64, 64, 3)


def _one_line(err: pytest.ExceptionInfo[FaceswapError]) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated state.json": (lambda d: (d / STATE).write_text((d / STATE).read_text()[:40]), "damaged"),
    "state.json not an object": (lambda d: (d / STATE).write_text("[1, 2]"), "not written by faceswap train"),
    "missing weights": (lambda d: (d / "ckpt-2" / "decoder_b.keras").unlink(), "decoder_b.keras is missing"),
    "truncated weights": (lambda d: _replace(d / "ckpt-2" / "encoder.keras", 1000), "encoder.keras is truncated"),
    "missing checkpoint": (lambda d: shutil.rmtree(d / "ckpt-2"), "checkpoint folder ckpt-2 is missing"),
    "another program": (lambda d: _edit_state(d, schema="some-other-tool"), "not written by faceswap train"),
    "newer schema": (lambda d: _edit_state(d, version=99), "newer than this faceswap reads"),
    "missing fields": (lambda d: _edit_state(d, config={"model": "lightweight"}), "damaged"),
    "not a model folder": (lambda d: (shutil.rmtree(d), d.mkdir(), (d / "notes.txt").write_text("x")),
                           "not a faceswap model folder"),
}


def _replace(path: Path, keep: int) -> None:
    data = path.read_bytes()[:keep]
    path.unlink()
    path.write_bytes(data)


def _edit_state(model_dir: Path, **changes: object) -> None:
    import json

    raw = json.loads((model_dir / STATE).read_text())
    raw.update(changes)
    write_json_atomic(model_dir / STATE, raw)


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_or_foreign_folder_is_a_one_line_error(damage: str, saved: Saved, tmp_path: Path) -> None:
    model_dir = _copy(saved.model_dir, tmp_path / "model")
    harm, words = DAMAGE[damage]
    harm(model_dir)
    with pytest.raises(FaceswapError) as err:
        load_swapper(model_dir)
    assert words in _one_line(err)


def test_damaged_keras_file_of_the_right_size_is_a_one_line_error(saved: Saved, tmp_path: Path) -> None:
    model_dir = _copy(saved.model_dir, tmp_path / "model")
    path = model_dir / "ckpt-2" / "decoder_a.keras"
    size = path.stat().st_size
    path.unlink()
    path.write_bytes(b"\0" * size)
    with pytest.raises(FaceswapError) as err:
        load_swapper(model_dir)
    assert "cannot load ckpt-2/decoder_a.keras" in _one_line(err)
    with pytest.raises(FaceswapError) as err:
        load_trainer_state(model_dir, saved.state, _trainer())
    assert "damaged" in _one_line(err)


@pytest.fixture
def file_size_limit() -> Iterator[None]:
    """Writes past 8 MB fail with EFBIG (as on a full disk, they fail mid-save), in this process only."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (8 * 1024 * 1024, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def test_failed_write_during_a_save_keeps_the_last_good_save(saved: Saved, tmp_path: Path,
                                                             file_size_limit: None) -> None:
    model_dir = _copy(saved.model_dir, tmp_path / "model")
    with pytest.raises(FaceswapError) as err:
        save_checkpoint(model_dir, saved.trainer, config=CONFIG, training=TRAINING, iteration=3,
                        previous=saved.state)
    message = _one_line(err)
    assert "file size limit" in message and "the last good save (iteration 2) is kept" in message
    assert sorted(p.name for p in model_dir.iterdir()) == ["ckpt-2", STATE]  # no partial folder left
    assert read_state(model_dir) == saved.state
