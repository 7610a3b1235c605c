"""One training process: the model's options resolved (new folder, or resume), the faces loaded, the trainer
built or restored under a distribution strategy (one device, a machine's GPUs, or one worker of several with
TF_CONFIG), and scripts/train/loop.py run."""
from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import keras
import tensorflow as tf

from lib.errors import FaceswapError
from lib.evaluation.measure import FaceMeasurer
from lib.expression import expression_warnings
from lib.folderlock import FolderLock
from lib.model.loss_spec import parse_loss
from lib.model.parts import ModelOptions
from lib.model.state import ModelConfig, State, TrainingConfig
from lib.swap import SwapOptions
from lib.training.checkpoint import copy_parts, load_trainer_state
from lib.training.faces import FaceSet, coverage_warnings, load_faces, pose_coverage, shared_faces
from lib.training.feed import Feed, FeedOptions, WarpSchedule, default_workers
from lib.training.heldout import HeldOutCheck
from lib.training.multiworker import (
    Cluster,
    check_same_as_chief,
    lost_worker_errors,
    lost_worker_reason,
    make_multiworker_strategy,
    pipeline_seed,
    read_cluster,
)
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
from scripts.train.args import Config, Start, check, option_name, warp_share
from scripts.train.launch import follow_parent
from scripts.train.loop import Loop
from scripts.train.summary import Summary

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


def train(cfg: Config) -> Summary:
    """Train for --iterations more, --minutes, or until Ctrl-C / SIGTERM, saving on the way and at the end;
    returns what the run did. With TF_CONFIG set, this process is one worker of several. The model folder is
    locked while it trains (by the chief, the one worker that writes it): a second train on it is refused."""
    cluster = read_cluster()
    if cluster is not None and not cluster.is_chief:
        return _train(cfg, cluster)
    with FolderLock(cfg.model_dir, "training it"):
        return _train(cfg, cluster)


def _train(cfg: Config, cluster: Cluster | None) -> Summary:
    state, values, training, init = check(cfg)  # again, now that the folder is ours: it may have moved on
    if cluster is not None:
        follow_parent()  # started by --cluster local:N: end with it
        if not cluster.is_chief:
            _prefix_log_lines(cluster.name)
    # MultiWorkerMirroredStrategy first: TensorFlow must start the worker's server before any other work.
    strategy = _make_strategy(cfg, cluster)
    stored = asdict(state.training) if state is not None else {}
    for name, value in asdict(training).items():
        if name in stored and value != stored[name]:
            log.info("%s: %s (was %s)", option_name(name), value, stored[name])
    faces_a = load_faces(cfg.input_a)
    faces_b = load_faces(cfg.input_b)
    _check_two_people(faces_a, faces_b, cfg)
    coverage = pose_coverage(faces_a, faces_b)
    if coverage is not None and (cluster is None or cluster.is_chief):
        for line in coverage_warnings(coverage, training.pose_transfer):
            log.warning("%s", line)
    if cluster is None or cluster.is_chief:
        for line in expression_warnings(faces_a.landmarks, faces_b.landmarks, training.blink_aug):
            log.warning("%s", line)
    if cfg.seed is not None:
        keras.utils.set_random_seed(cfg.seed)
    policy = precision_policy(cfg.mixed_precision)
    if policy == "mixed_bfloat16" and not cpu_has_bf16():
        log.warning("this CPU has no native bfloat16 (AVX-512 BF16 or AMX): --mixed-precision emulates it "
                    "and trains many times slower here; leave it out")
    keras.mixed_precision.set_global_policy(policy)
    replicas = strategy.num_replicas_in_sync
    if training.batch_size % replicas:
        raise FaceswapError(f"--batch-size {training.batch_size} must be a multiple of the {replicas} devices "
                            f"of {'the workers' if cluster else '--distributed'}")
    trainer, config = _build(cfg, values, training, state, strategy, start=init)
    start = state.iteration if state else 0
    if cluster is not None:
        try:
            check_same_as_chief(strategy, cluster, start, values, asdict(training), cfg.iterations)
        except lost_worker_errors() as err:
            raise FaceswapError(f"worker lost before training began ({lost_worker_reason(err)}): start every "
                                "worker again") from err
    if cluster is None:
        feed = _feed(cfg, config, training, (faces_a, faces_b), batch_size=training.batch_size, pipeline=0)
        dataset = feed.dataset()
        batches = iter(strategy.experimental_distribute_dataset(dataset) if replicas > 1 else dataset)
    else:
        feed = _feed(cfg, config, training, (faces_a, faces_b), batch_size=training.batch_size // replicas,
                     pipeline=cluster.rank)
        batches = _worker_batches(strategy, feed)
    where = (f", {cluster.workers} workers ({replicas} devices)" if cluster
             else f", {replicas} devices" if replicas > 1 else "")
    log.info("training %s (%d px, coverage %g%s%s%s%s) on %d A and %d B faces, batch %d, %s%s: %s, %s",
             config.model, config.size, config.coverage, ", mask" if config.learn_mask else "",
             f", occluders on {training.occlusion_aug:.0%} of faces" if training.occlusion_aug else "",
             f", turned to the other's poses {training.pose_transfer:.0%}" if training.pose_transfer else "",
             ", GAN" if config.gan else "", len(faces_a), len(faces_b), training.batch_size, policy, where,
             cfg.model_dir, f"resuming at iteration {start}" if state else "new model" if init is None
             else f"new model from {init.source}")
    chief = cluster is None or cluster.is_chief
    heldout = _heldout_check(cfg, faces_a, faces_b) if chief else None  # the chief scores, the others wait
    xla = default_xla() if cfg.xla is None else cfg.xla
    if xla:
        log.info("compiling the training step with XLA (--no-xla to turn it off)")
    step = trainer.make_step_function(strategy, xla, votes=cluster is not None)
    loop = Loop(cfg, trainer, config, training, feed, step=step, state=state, check=heldout, cluster=cluster,
                poses=coverage, origin=None if init is None else init.origin(), strategy=strategy)
    return loop.run(batches)


def _worker_batches(strategy: tf.distribute.Strategy, feed: Feed) -> Iterator[Any]:
    """A worker's batches: each of its replicas takes the next batch of the worker's own feed (seeded apart from
    the other workers'), so every worker makes only its share of the global batch.

    Not tf.data's distribute_datasets_from_function: deleting the MultiDeviceIterator behind it waits for the
    autotuning thread of its per-device pipelines, which (TensorFlow 2.21) ignores the cancellation and may sleep
    for up to a minute, so every run's worker ended up to a minute after its last step."""
    made = feed.batches()

    def replica_batch(_context: tf.distribute.ValueContext) -> dict[str, tf.Tensor]:
        return {name: tf.convert_to_tensor(value) for name, value in next(made).items()}

    while True:
        yield strategy.experimental_distribute_values_from_function(replica_batch)


def _feed(cfg: Config, config: ModelConfig, training: TrainingConfig, faces: tuple[FaceSet, FaceSet], *,
          batch_size: int, pipeline: int) -> Feed:
    """The data feed of input pipeline number pipeline (one per worker), batch_size faces per side."""
    return Feed(*faces, schedule=_warp_schedule(cfg, training), options=FeedOptions(
        size=config.size, coverage=config.coverage, batch_size=batch_size, warp=training.warp,
        color_match=training.color_match, motion_blur=training.motion_blur, mask_input=config.mask_input,
        occlusion=training.occlusion_aug, pose_transfer=training.pose_transfer, blink=training.blink_aug,
        expression_balance=training.expression_balance,
        eye_multiplier=config.eye_multiplier, mouth_multiplier=config.mouth_multiplier,
        workers=cfg.workers or default_workers(), seed=pipeline_seed(cfg.seed, pipeline)))


def _warp_schedule(cfg: Config, training: TrainingConfig) -> WarpSchedule:
    """When this run's batches stop being warped: --no-warp-after's share (or the recipe's) of --iterations, or
    of --minutes on this worker's clock; never without one."""
    share = warp_share(cfg, training) if training.warp else None
    if share is None:
        return WarpSchedule()
    return WarpSchedule(batches=None if cfg.iterations is None else math.ceil(share * cfg.iterations),
                        seconds=None if cfg.minutes is None else 60 * share * cfg.minutes)


def _make_strategy(cfg: Config, cluster: Cluster | None) -> tf.distribute.Strategy:
    """The worker's MultiWorkerMirroredStrategy with TF_CONFIG, MirroredStrategy with --distributed, else the
    default (one device)."""
    if cluster is not None:
        log.info("%s of %d workers (%s): waiting for the others at %s",
                 f"{cluster.name}, the chief" if cluster.is_chief else "one", cluster.workers,
                 "it writes the model folder" if cluster.is_chief else "it writes nothing",
                 ", ".join(address for addresses in cluster.jobs.values() for address in addresses))
        return make_multiworker_strategy(cluster)
    try:
        return make_strategy(cfg.distributed)
    except FaceswapError as err:
        raise FaceswapError(f"--distributed: {err}") from None


def _prefix_log_lines(name: str) -> None:
    """Start each of this process's log lines with its worker's name (a worker other than the chief)."""

    def prefix(record: logging.LogRecord) -> bool:
        record.msg = f"{name}: {record.msg}"
        return True

    for handler in logging.getLogger("faceswap").handlers:
        handler.addFilter(prefix)


def _heldout_check(cfg: Config, faces_a: FaceSet, faces_b: FaceSet) -> HeldOutCheck | None:
    """--holdout-A/-B: the held-out faces, measured once, refused when training also sees them."""
    if cfg.holdout_a is None or cfg.holdout_b is None:
        return None
    check = HeldOutCheck(cfg.holdout_a, cfg.holdout_b, cfg.eval_faces, FaceMeasurer(Dlib68Aligner(AlignOptions())),
                         lambda model: load_face_swapper(model, SwapOptions(given=frozenset())))
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
           strategy: tf.distribute.Strategy, *, start: Start | None) -> tuple[Trainer, ModelConfig]:
    """The trainer of a new model (from random weights, or from start's model's parts), or of the saved one with
    its weights and optimiser state."""
    plugin = load_plugin(REGISTRY, "model", values["model"])(ModelOptions(values["size"], values["learn_mask"]))
    config = ModelConfig(**{**values, "size": plugin.size})
    loss_options = LossOptions(parse_loss(config.loss), config.background_weight, config.gan_loss,
                               config.gan_weight)
    with strategy.scope():
        trainer = Trainer(plugin.build(), loss_options, learning_rate=training.learning_rate,
                          clip_norm=training.clip_norm, gan=config.gan, mask_model=config.mask_model,
                          ema=training.ema)
        # Optimiser slots are made here, not lazily inside the first (maybe distributed) step.
        trainer.build_optimizers()
        if state is not None:
            load_trainer_state(cfg.model_dir, state, trainer)
            trainer.set_learning_rate(training.learning_rate)
        elif start is not None:
            copy_parts(start.source, start.state, trainer, start.parts)
            origin = start.origin()
            taken = [new if new == old else f"{new} from its {old}" for new, old in origin["parts"].items()]
            log.info("starting from %s (iteration %d): %s", start.source, start.state.iteration, ", ".join(taken))
    return trainer, config
