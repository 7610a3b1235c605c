"""One trainer for every model plugin: a keras.Model whose train_step runs both sides through the shared
encoder under tf.GradientTape, applies Adam, and (with a GAN) updates the discriminators in the same step."""
from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from lib.errors import FaceswapError
from lib.model import losses
from lib.model.blocks import mask_network, patch_discriminator
from lib.model.loss_spec import DEFAULT_LOSS, parse_loss
from lib.model.parts import ModelParts
from lib.training.average import WeightAverage
from lib.training.batch import Batch, side_of

MASK_LOSS_WEIGHT = 1.0
ADAM_BETA_1 = 0.5  # the deepfakes/faceswap default: steadier for autoencoders and GANs than 0.9
# The mask network learns alone (its own loss and optimiser): a segmentation U-Net trains well at Adam's usual
# settings, far faster than the autoencoder's conservative rate.
MASKER_LEARNING_RATE = 5e-4
# Occluders cover a small share of a batch's pixels: their pixels weigh this much more in the mask network's
# loss, so that it learns to leave them out rather than to draw the hull.
OCCLUDER_WEIGHT = 4.0


@dataclass(frozen=True)
class LossOptions:
    """terms: reconstruction terms and weights (see loss_spec.parse_loss). background: loss weight outside the
    face hull. gan_loss 'lsgan' or 'hinge'; gan_weight: share of the adversarial term in the generator loss."""

    terms: dict[str, float] = field(default_factory=lambda: parse_loss(DEFAULT_LOSS))
    background: float = 0.1
    gan_loss: str = "lsgan"
    gan_weight: float = 0.1


def cpu_has_bf16() -> bool:
    """True when the CPU computes bfloat16 natively (AVX-512 BF16 or AMX); emulated bf16 is far slower."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return False
    flags = cpuinfo.read_text(errors="replace")
    return " avx512_bf16" in flags or " amx_bf16" in flags


def precision_policy(mixed: bool | None) -> str:
    """The Keras dtype policy: mixed_float16 on a GPU, mixed_bfloat16 on a CPU, float32 unless asked.

    mixed None chooses by measurement (bench/train.py): on by default only on a CPU with native bf16,
    where it trains ~1.5x faster with the same loss curve; an AVX2 CPU emulates bf16 and is many times slower.
    """
    gpu = bool(tf.config.list_physical_devices("GPU"))
    if mixed is None:
        mixed = not gpu and cpu_has_bf16()
    if not mixed:
        return "float32"
    return "mixed_float16" if gpu else "mixed_bfloat16"


def gpu_available() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


def default_xla() -> bool:
    """XLA by default on a GPU (bench/gpu.py measures it there), never on a CPU, where it is 7-10x slower."""
    return gpu_available()


def make_strategy(distributed: bool) -> tf.distribute.Strategy:
    """MirroredStrategy over every GPU (or every logical CPU device when there is no GPU) with
    distributed; otherwise the default single-device strategy."""
    if not distributed:
        return tf.distribute.get_strategy()
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
    if len(devices) < 2:
        raise FaceswapError("training on several devices needs two or more GPUs; this machine has "
                            f"{len(gpus) or 'no'} GPU{'s' if len(gpus) != 1 else ''}: leave it out")
    return tf.distribute.MirroredStrategy(devices)


class Trainer(keras.Model):
    """Both autoencoders (and discriminators with a GAN) with their optimisers, trained as one model.

    A batch is the feed's dict: warped_*, target_* (B, n, n, 3) BGR [0, 1]; mask_*, weight_* (B, n, n, 1).
    """

    def __init__(self, parts: ModelParts, loss_options: LossOptions, *, learning_rate: float = 5e-5,
                 clip_norm: float | None = 1.0, gan: bool = False, concat: bool = True,
                 mask_model: bool = False, ema: float = 0.0) -> None:
        super().__init__(name="trainer")
        self.encoder, self.decoder_a, self.decoder_b = parts.encoder, parts.decoder_a, parts.decoder_b
        self.input_size = parts.input_size
        self.loss_options = loss_options
        self.learn_mask = len(parts.decoder_a.outputs) == 2
        # One encoder call on A and B together: one bigger batch keeps the CPU's matrix kernels busier.
        # The models have no batch statistics, so this equals two separate calls.
        self.concat = concat
        self.gan = gan
        self.disc_a = patch_discriminator(self.input_size, name="disc_a") if gan else None
        self.disc_b = patch_discriminator(self.input_size, name="disc_b") if gan else None
        # The occlusion-aware mask network (lib.model.blocks.mask_network): its target is the face hull minus
        # whatever the feed pasted in front of the face.
        self.masker = mask_network(self.input_size) if mask_model else None
        # 1.0, or 0.0 while the encoder is held as it is (train --freeze-encoder): its gradients are multiplied by
        # it, so Adam's moments for it stay zero and its weights do not move.
        self.encoder_gate = tf.Variable(1.0, trainable=False, dtype=tf.float32, name="encoder_gate")
        self.gen_optimizer = self._optimizer(learning_rate, clip_norm, "gen_adam")
        self.disc_optimizer = self._optimizer(learning_rate, clip_norm, "disc_adam") if gan else None
        self.mask_optimizer = (self._optimizer(MASKER_LEARNING_RATE, clip_norm, "mask_adam", beta_1=0.9)
                               if mask_model else None)
        # The generator's weight average (lib/training/average.py; ema: its decay, 0 for none), made with the
        # optimiser slots in build_optimizers.
        self.ema = ema
        self.average: WeightAverage | None = None
        names = ["loss_a", "loss_b"] + (["mask_a", "mask_b"] if self.learn_mask else [])
        names += ["mask_net"] if mask_model else []
        names += ["gan_g", "gan_d"] if gan else []
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}

    @staticmethod
    def _optimizer(learning_rate: float, clip_norm: float | None, name: str, beta_1: float = ADAM_BETA_1
                   ) -> keras.optimizers.Optimizer:
        adam = keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=0.999,
                                     global_clipnorm=clip_norm, name=name)
        if keras.mixed_precision.global_policy().name == "mixed_float16":
            return keras.optimizers.LossScaleOptimizer(adam, name=f"{name}_scaled")
        return adam

    @property
    def generator_variables(self) -> list[Any]:
        # Once each: a model may share layers between its decoders (liae).
        found = {id(v): v for model in (self.encoder, self.decoder_a, self.decoder_b)
                 for v in model.trainable_variables}
        return list(found.values())

    @property
    def discriminator_variables(self) -> list[Any]:
        if self.disc_a is None or self.disc_b is None:
            return []
        return [*self.disc_a.trainable_variables, *self.disc_b.trainable_variables]

    @property
    def sub_models(self) -> dict[str, keras.Model]:
        """The models saved as .keras files, by file stem."""
        found = {"encoder": self.encoder, "decoder_a": self.decoder_a, "decoder_b": self.decoder_b}
        if self.disc_a is not None and self.disc_b is not None:
            found.update(disc_a=self.disc_a, disc_b=self.disc_b)
        if self.masker is not None:
            found["masker"] = self.masker
        return found

    @property
    def optimizers(self) -> dict[str, keras.optimizers.Optimizer]:
        found = {"gen_optimizer": self.gen_optimizer}
        if self.disc_optimizer is not None:
            found["disc_optimizer"] = self.disc_optimizer
        if self.mask_optimizer is not None:
            found["mask_optimizer"] = self.mask_optimizer
        return found

    @property
    def saved_variables(self) -> list[Any]:
        """Every variable a save keeps, once each: the models' weights, the optimisers' state, the weight
        average."""
        found: dict[int, Any] = {}
        for model in self.sub_models.values():
            found.update((id(v), v) for v in model.weights)
        for optimizer in self.optimizers.values():
            found.update((id(v), v) for v in getattr(optimizer, "inner_optimizer", optimizer).variables)
        if self.average is not None:
            found.update((id(v), v) for v in self.average.averages)
        return list(found.values())

    def build_optimizers(self) -> None:
        """Create the optimisers' slots now (once), so their state can be loaded before the first step."""
        if not self.gen_optimizer.built:
            self.gen_optimizer.build(self.generator_variables)
        if self.disc_optimizer is not None and not self.disc_optimizer.built:
            self.disc_optimizer.build(self.discriminator_variables)
        if self.masker is not None and self.mask_optimizer is not None and not self.mask_optimizer.built:
            self.mask_optimizer.build(self.masker.trainable_variables)
        if self.ema and self.average is None:
            self.average = WeightAverage(self.generator_variables, self.ema)

    def averaged(self) -> AbstractContextManager[None]:
        """The generator's averaged weights in its variables for the duration, when it keeps an average: what
        convert would load from a save."""
        return self.average.applied() if self.average is not None else nullcontext()

    def set_learning_rate(self, learning_rate: float) -> None:
        """Use this learning rate for the face models from now on (a resumed optimiser state carries the old
        one); the mask network keeps its own."""
        for key, optimizer in self.optimizers.items():
            if key != "mask_optimizer":
                getattr(optimizer, "inner_optimizer", optimizer).learning_rate.assign(learning_rate)

    def freeze_encoder(self, frozen: bool) -> None:
        """Hold the encoder's weights as they are (True) or train it again (False)."""
        self.encoder_gate.assign(0.0 if frozen else 1.0)

    def reconstruct(self, faces: Any, side: str, training: bool = False) -> tuple[Any, Any]:
        """faces (B, n, n, 3) BGR [0, 1] through the encoder and decoder `side` ('a' or 'b').

        Returns the face (B, n, n, 3) float32 [0, 1] and the mask (B, n, n, 1) or None: the mask network's
        when there is one, else the decoder's mask head's.
        """
        decoder = self.decoder_a if side == "a" else self.decoder_b
        face, mask = self._split(decoder(self.encoder(faces, training=training), training=training))
        if self.masker is not None:  # the mask convert uses
            mask = self.masker(faces, training=training)
        return face, mask

    def _split(self, outputs: Any) -> tuple[Any, Any]:
        if isinstance(outputs, (list, tuple)):
            return outputs[0], outputs[1] if len(outputs) > 1 else None
        return outputs, None

    def _side_losses(self, batch: Batch, side: str, face: Any, mask: Any) -> dict[str, Any]:
        opts, mine = self.loss_options, side_of(batch, side)
        weights = losses.pixel_weights(mine.weight, mine.mask, opts.background)
        found = {f"loss_{side}": losses.reconstruction_loss(mine.target, face, weights, opts.terms)}
        if mask is not None:
            found[f"mask_{side}"] = losses.mask_loss(mine.mask, mask)
        return found

    def compute_step(self, batch: Batch) -> dict[str, Any]:
        """One optimisation step on one device; returns this step's losses (unscaled scalars)."""
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape(persistent=self.gan) as tape:
            if self.concat:
                latent = self.encoder(tf.concat([batch["warped_a"], batch["warped_b"]], 0), training=True)
                latent_a, latent_b = tf.split(latent, 2)
            else:
                latent_a = self.encoder(batch["warped_a"], training=True)
                latent_b = self.encoder(batch["warped_b"], training=True)
            face_a, mask_a = self._split(self.decoder_a(latent_a, training=True))
            face_b, mask_b = self._split(self.decoder_b(latent_b, training=True))
            found = {**self._side_losses(batch, "a", face_a, mask_a),
                     **self._side_losses(batch, "b", face_b, mask_b)}
            total = found["loss_a"] + found["loss_b"]
            if self.learn_mask:
                total += MASK_LOSS_WEIGHT * (found["mask_a"] + found["mask_b"])
            if self.disc_a is not None and self.disc_b is not None:
                kind = self.loss_options.gan_loss
                gen_adv, disc_total = 0.0, 0.0
                for disc, real, fake in ((self.disc_a, batch["target_a"], face_a),
                                         (self.disc_b, batch["target_b"], face_b)):
                    real_logits, fake_logits = disc(real, training=True), disc(fake, training=True)
                    gen_adv += losses.generator_loss(fake_logits, kind)
                    disc_total += losses.discriminator_loss(real_logits, fake_logits, kind)
                total += self.loss_options.gan_weight * gen_adv
                found.update(gan_g=gen_adv / 2, gan_d=disc_total / 2)
            # Gradients are summed over replicas: each replica contributes its share of the mean.
            scaled = self.gen_optimizer.scale_loss(total / replicas)
            if self.gan:
                disc_scaled = self.disc_optimizer.scale_loss(disc_total / replicas)  # type: ignore[union-attr]
        variables = self.generator_variables
        gradients = tape.gradient(scaled, variables)
        encoder = {id(v) for v in self.encoder.trainable_variables}
        gradients = [g * tf.cast(self.encoder_gate, g.dtype) if g is not None and id(v) in encoder else g
                     for g, v in zip(gradients, variables)]
        self.gen_optimizer.apply(gradients, variables)
        if self.gan and self.disc_optimizer is not None:
            disc_variables = self.discriminator_variables
            self.disc_optimizer.apply(tape.gradient(disc_scaled, disc_variables), disc_variables)
        if self.masker is not None and self.mask_optimizer is not None:
            found["mask_net"] = self._mask_step(batch, replicas)
        found["total"] = total
        return found

    def _mask_step(self, batch: Batch, replicas: int) -> Any:
        """One update of the mask network on both sides' inputs (occluders and all); returns its loss."""
        assert self.masker is not None and self.mask_optimizer is not None
        with tf.GradientTape() as tape:
            predicted = self.masker(tf.concat([batch["warped_a"], batch["warped_b"]], 0), training=True)
            weights = 1.0 + OCCLUDER_WEIGHT * tf.concat([batch["occluder_a"], batch["occluder_b"]], 0)
            loss = losses.mask_loss(tf.concat([batch["mask_a"], batch["mask_b"]], 0), predicted, weights)
            scaled = self.mask_optimizer.scale_loss(loss / replicas)
        variables = self.masker.trainable_variables
        self.mask_optimizer.apply(tape.gradient(scaled, variables), variables)
        return loss

    def train_step(self, data: Any) -> dict[str, Any]:
        """The Keras train step (single device): one update, then the running means of the losses."""
        found = self.compute_step(data)
        if self.average is not None:
            self.average.update(self.gen_optimizer.iterations)
        for name, tracker in self.trackers.items():
            tracker.update_state(found[name])
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    @property
    def metrics(self) -> list[Any]:
        return list(self.trackers.values())

    def make_step_function(self, strategy: tf.distribute.Strategy, xla: bool = False, votes: bool = False) -> Any:
        """A compiled step: batch (per-replica under a strategy) → this step's losses, averaged over replicas; the
        running-mean trackers are updated too. xla: compile with XLA (jit_compile); 7-10x slower on a CPU, so only
        for GPUs where bench/gpu.py shows it faster.

        votes: the step takes (batch, votes) and returns (losses, votes summed over replicas). votes is float32
        (k,), what each worker wants the others to know, such as its wish to stop after this step: it rides in the
        one all-reduce that carries the losses, so every worker learns the same sums at no extra cost.
        """
        names = [*self.trackers, "total"]

        def replica_step(batch: Batch, *extra: Any) -> Any:
            found = self.compute_step(batch)
            return tf.concat([tf.stack([tf.cast(found[name], tf.float32) for name in names]), *extra], 0)

        def step(batch: Batch, *extra: Any) -> Any:
            # One all-reduce of every loss (and the votes), not one per loss: each is a round trip between workers.
            summed = strategy.reduce("SUM", strategy.run(replica_step, args=(batch, *extra)), axis=None)
            found = dict(zip(names, tf.unstack(summed[:len(names)] / strategy.num_replicas_in_sync)))
            if self.average is not None:  # after the replicas' updates, once (every replica has the same weights)
                self.average.update(self.gen_optimizer.iterations)
            for name, tracker in self.trackers.items():
                tracker.update_state(found[name])
            return (found, summed[len(names):]) if votes else found

        # autograph=False: the step branches on Python values only, so autograph's rewriting of every function it
        # calls (about a second of each run's start) buys nothing.
        return tf.function(step, jit_compile=xla, reduce_retracing=True, autograph=False)

    def read_metrics(self, reset: bool = True) -> dict[str, float]:
        """The running means since the last reset, as floats."""
        values = {name: float(tracker.result()) for name, tracker in self.trackers.items()}
        if reset:
            for tracker in self.trackers.values():
                tracker.reset_state()
        return values
