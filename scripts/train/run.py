"""train's run: the model's options resolved (new folder, or resume), the faces loaded, the trainer built or
restored under a distribution strategy, and scripts/train/loop.py run."""
from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

import keras
import tensorflow as tf

from lib.errors import FaceswapError
from lib.evaluation.measure import FaceMeasurer
from lib.model.loss_spec import parse_loss
from lib.model.parts import ModelOptions
from lib.swap import SwapOptions
from lib.training.checkpoint import load_trainer_state
from lib.training.faces import FaceSet, load_faces, shared_faces
from lib.training.feed import Feed, FeedOptions, default_workers
from lib.training.heldout import HeldOutCheck
from lib.training.state import ModelConfig, State, TrainingConfig
from lib.training.trainer import (
    LossOptions,
    Trainer,
    cpu_has_bf16,
    default_xla,
    make_strategy,
    precision_policy,
)
from plugins.convert import load_face_swapper
from plugins.extract.align import AlignOptions
from plugins.extract.align.dlib68 import Dlib68Aligner
from plugins.registry import load_plugin
from plugins.train.model import REGISTRY
from scripts.train.args import Config, check, option_name
from scripts.train.loop import Loop, Summary

log = logging.getLogger("faceswap.train")


def _check_two_people(faces_a: FaceSet, faces_b: FaceSet, cfg: Config) -> None:
    """Refuse the same faces given as both people; warn when some faces are in both folders."""
    shared = shared_faces(faces_a, faces_b.images)
    if shared * 2 >= len(faces_b):
        raise FaceswapError(f"-A and -B hold the same faces ({shared} of the {len(faces_b)} faces in "
                            f"{cfg.input_b} are also in {cfg.input_a}): give each person's own faces")
    if shared:
        log.warning("%d faces are in both %s and %s: each face should be of one person only", shared, cfg.input_a,
                    cfg.input_b)


def run(cfg: Config) -> Summary:
    """Train for --iterations more, --minutes, or until Ctrl-C / SIGTERM, saving on the way and at the end;
    returns what the run did."""
    state, values, training = check(cfg)
    stored = asdict(state.training) if state is not None else {}
    for name, value in asdict(training).items():
        if name in stored and value != stored[name]:
            log.info("%s: %s (was %s)", option_name(name), value, stored[name])
    faces_a = load_faces(cfg.input_a)
    faces_b = load_faces(cfg.input_b)
    _check_two_people(faces_a, faces_b, cfg)
    if cfg.seed is not None:
        keras.utils.set_random_seed(cfg.seed)
    policy = precision_policy(cfg.mixed_precision)
    if policy == "mixed_bfloat16" and not cpu_has_bf16():
        log.warning("this CPU has no native bfloat16 (AVX-512 BF16 or AMX): --mixed-precision emulates it "
                    "and trains many times slower here; leave it out")
    keras.mixed_precision.set_global_policy(policy)
    try:
        strategy = make_strategy(cfg.distributed)
    except FaceswapError as err:
        raise FaceswapError(f"--distributed: {err}") from None
    replicas = strategy.num_replicas_in_sync
    if training.batch_size % replicas:
        raise FaceswapError(f"--batch-size {training.batch_size} must be a multiple of the {replicas} devices "
                            "of --distributed")
    trainer, config = _build(cfg, values, training, state, strategy)
    feed = Feed(faces_a, faces_b, FeedOptions(
        size=config.size, coverage=config.coverage, batch_size=training.batch_size, warp=training.warp,
        color_match=training.color_match, motion_blur=training.motion_blur, mask_input=config.mask_input,
        occlusion=training.occlusion_aug,
        eye_multiplier=config.eye_multiplier, mouth_multiplier=config.mouth_multiplier,
        workers=cfg.workers or default_workers(), seed=cfg.seed))
    dataset = feed.dataset()
    if replicas > 1:
        dataset = strategy.experimental_distribute_dataset(dataset)
    start = state.iteration if state else 0
    log.info("training %s (%d px, coverage %g%s%s%s) on %d A and %d B faces, batch %d, %s%s: %s, %s",
             config.model, config.size, config.coverage, ", mask" if config.learn_mask else "",
             f", occluders on {training.occlusion_aug:.0%} of faces" if training.occlusion_aug else "",
             ", GAN" if config.gan else "", len(faces_a), len(faces_b), training.batch_size, policy,
             f", {replicas} devices" if replicas > 1 else "", cfg.model_dir,
             f"resuming at iteration {start}" if state else "new model")
    heldout = _heldout_check(cfg, faces_a, faces_b)
    xla = default_xla() if cfg.xla is None else cfg.xla
    if xla:
        log.info("compiling the training step with XLA (--no-xla to turn it off)")
    loop = Loop(cfg, trainer, config, training, feed, step=trainer.make_step_function(strategy, xla), state=state,
                check=heldout)
    return loop.run(iter(dataset))


def _heldout_check(cfg: Config, faces_a: FaceSet, faces_b: FaceSet) -> HeldOutCheck | None:
    """--holdout-A/-B: the held-out faces, measured once, refused when training also sees them."""
    if cfg.holdout_a is None or cfg.holdout_b is None:
        return None
    check = HeldOutCheck(cfg.holdout_a, cfg.holdout_b, cfg.eval_faces, FaceMeasurer(Dlib68Aligner(AlignOptions())),
                         lambda model: load_face_swapper(model, SwapOptions()))
    for side, flag, trained, folder in (("A", "--holdout-A", faces_a, cfg.input_a),
                                        ("B", "--holdout-B", faces_b, cfg.input_b)):
        shared = shared_faces(trained, check.faces[side].images)
        if shared:
            raise FaceswapError(f"{flag}: {shared} of its faces are also in {folder}: held-out faces must be "
                                "faces the model never trains on")
    log.info("held-out faces: %d of A, %d of B, scored every %d iterations", len(check.faces["A"]),
             len(check.faces["B"]), cfg.eval_every)
    return check


def _build(cfg: Config, values: dict[str, Any], training: TrainingConfig, state: State | None,
           strategy: tf.distribute.Strategy) -> tuple[Trainer, ModelConfig]:
    """The trainer of a new model, or of the saved one with its weights and optimiser state."""
    plugin = load_plugin(REGISTRY, "model", values["model"])(ModelOptions(values["size"], values["learn_mask"]))
    config = ModelConfig(**{**values, "size": plugin.size})
    loss_options = LossOptions(parse_loss(config.loss), config.background_weight, config.gan_loss,
                               config.gan_weight)
    with strategy.scope():
        trainer = Trainer(plugin.build(), loss_options, learning_rate=training.learning_rate,
                          clip_norm=training.clip_norm, gan=config.gan, mask_model=config.mask_model)
        # Optimiser slots are made here, not lazily inside the first (maybe distributed) step.
        trainer.build_optimizers()
        if state is not None:
            load_trainer_state(cfg.model_dir, state, trainer)
            trainer.set_learning_rate(training.learning_rate)
    return trainer, config
