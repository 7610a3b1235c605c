"""The training loop proper: steps, the status line, TensorBoard, saves, previews, NaN and signal handling."""
from __future__ import annotations

import logging
import math
import os
import signal
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from lib.errors import FaceswapError
from lib.fileio import write_json_atomic
from lib.image import SYNTHETIC_PNG_TEXT, write_png
from lib.model.state import BEST, POSES, ModelConfig, State, TrainingConfig, face_shapes
from lib.model.swapper import Swapper
from lib.preview import preview_grid
from lib.training.checkpoint import keep_copy, save_checkpoint
from lib.training.curves import Curves, heldout_numbers
from lib.training.feed import Feed
from lib.training.heldout import HeldOutCheck
from lib.training.multiworker import (
    Cluster,
    lost_worker_errors,
    lost_worker_reason,
    weights_digest,
    workers_unlike_chief,
)
from lib.training.tensorboard import TrainingLog
from lib.training.trainer import Trainer
from scripts.progress import progress as show_progress
from scripts.train.args import Config, warp_share
from scripts.train.summary import Summary

log = logging.getLogger("faceswap.train")
# Why a worker of several wants training to end after this step, in the order of the votes each step sums.
VOTES = ("signal", "minutes", "plateau")


class StopFlag:
    """Turns the first SIGINT or SIGTERM into a request to stop after the current step (then save);
    a second one interrupts at once (the saves are crash-safe)."""

    def __init__(self) -> None:
        self.signal: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopFlag:
        for number in (signal.SIGINT, signal.SIGTERM):
            self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _handle(self, number: int, frame: Any) -> None:
        # No logging here: the signal may land in the middle of a write to stderr. The loop says it.
        self.signal = signal.Signals(number).name
        for other, handler in self._previous.items():
            signal.signal(other, handler)


class Loop:
    """Runs the compiled step on the feed's batches until --iterations more are done, --minutes have passed or
    a signal asks to stop; saves every --save-every and at the end.

    With several workers (cluster), each step also sums every worker's votes to stop (VOTES): all of them stop
    after the same step. Only the chief writes the model folder (saves, previews, logs, held-out checks); the
    others wait for it in the next step's all-reduce."""

    PREVIEW_FACES = 8
    LOG_EVERY = 10  # iterations between TensorBoard points
    WARM_UP, WAIT_STEPS, WAIT_WARNING = 20, 100, 0.1  # how the wait for the data feed is measured, and told

    def __init__(self, cfg: Config, trainer: Trainer, config: ModelConfig, training: TrainingConfig, feed: Feed, *,
                 step: Any, state: State | None, check: HeldOutCheck | None = None,
                 cluster: Cluster | None = None, poses: dict[str, Any] | None = None,
                 origin: dict[str, Any] | None = None, strategy: Any = None) -> None:
        """step: trainer.make_step_function's, with votes when there is a cluster (strategy: the cluster's).
        poses: the training faces' pose coverage (lib.training.faces.pose_coverage), kept in the model folder for
        evaluate. origin: where a new model's weights came from (--init-from), kept in its state.json."""
        self.cfg, self.trainer, self.config, self.training, self.feed, self.step = (
            cfg, trainer, config, training, feed, step)
        self.cluster, self.strategy = cluster, strategy
        self.poses = poses
        self.origin = origin
        self.chief = cluster is None or cluster.is_chief
        self.model_dir = cfg.model_dir
        self.state = state
        self.iteration = state.iteration if state else 0
        self.preview_faces: dict[str, np.ndarray] | None = None
        self.check = check
        self.curves = Curves(self.model_dir, up_to=self.iteration)
        scores = [point["score"] for point in self.curves.heldout if point["score"] is not None]
        self.best = min(scores) if scores else math.inf  # the held-out score of best/ (lower is better)
        self.since_best = 0  # evaluations since the score last improved
        self.eval_seconds = 0.0
        self.first_iteration = self.iteration
        self._frozen: bool | None = None  # whether the encoder is held now (None: not set yet)
        self._warming = False  # whether the learning rate is below its value (--warmup)
        self.waited = self.stepped = 0.0
        self.unwritten = 0  # previews, timelapse images and curves files that could not be written
        self.log: TrainingLog | None = None
        self.sums: dict[str, float] = {}  # of each loss since the last TensorBoard point, over self.counted steps
        self.counted = 0
        # The live models, as convert would load them from a save: the held-out check swaps through these.
        self.swapper = Swapper(trainer.encoder, trainer.decoder_a, trainer.decoder_b, config,
                               iteration=self.iteration, masker=trainer.masker, shapes=face_shapes(poses),
                               convert_settings=training.convert)

    def run(self, batches: Any) -> Summary:
        """Train; returns what the run did (its last save is at summary.iteration)."""
        cfg = self.cfg
        summary = Summary(self.model_dir, self.iteration, saved=self.chief)
        first = self.iteration + 1
        end = None if cfg.iterations is None else self.iteration + cfg.iterations
        began_run = time.monotonic()
        # The chief's clock and held-out scores decide for every worker.
        deadline = None if cfg.minutes is None or not self.chief else began_run + 60 * cfg.minutes
        faces_per_step = 2 * self.training.batch_size
        # --no-warp-after: the feed's schedule unwarps the batches; said here when the first of them is trained on.
        share = warp_share(cfg, self.training) if self.training.warp else None
        unwarped_said = False
        times: deque[float] = deque(maxlen=20)
        smooth: dict[str, float] = {}
        if self.chief:
            self.model_dir.mkdir(parents=True, exist_ok=True)
            if self.poses is not None:
                write_json_atomic(self.model_dir / POSES, self.poses)
            self.log = TrainingLog(self.model_dir / "logs")
        progress = show_progress(cfg.iterations, "train", "it", leave=False)
        plateau = False
        try:
            with StopFlag() as stop:
                while end is None or self.iteration < end:
                    late = deadline is not None and time.monotonic() >= deadline
                    wish = np.array([stop.signal is not None, late, plateau], np.float32)
                    if self.cluster is None and wish.any():  # alone: stop now, before another step
                        summary.stopped_by = self._stopped_by(wish, stop.signal)
                        break
                    if not unwarped_said and self.iteration - first + 1 >= self.feed.unwarped_from:
                        unwarped_said = True
                        log.info("iteration %d: the inputs are no longer warped (--no-warp-after %g)",
                                 self.iteration, share)
                    self._schedule()
                    began = time.perf_counter()
                    batch = next(batches)
                    fed = time.perf_counter()
                    losses, votes = self._step(batch, wish)
                    times.append(time.perf_counter() - began)
                    self._count_waiting(fed - began, times[-1])
                    if not all(math.isfinite(v) for v in losses.values()):
                        raise FaceswapError(self._nan_message(losses))
                    self.iteration += 1
                    if self.iteration == first:
                        log.info("first step took %.1f s (building the graph); training", times[0])
                    for name, value in losses.items():
                        smooth[name] = value if name not in smooth else 0.9 * smooth[name] + 0.1 * value
                    for name in self.trainer.trackers:
                        self.sums[name] = self.sums.get(name, 0.0) + losses[name]
                    self.counted += 1
                    rate = faces_per_step * len(times) / sum(times)
                    progress.set_postfix_str(self._status(smooth, rate), refresh=False)
                    progress.update(1)
                    plateau = self._periodic(rate) or plateau
                    if plateau and self.cluster is None:
                        summary.stopped_by = self._stopped_by(np.array([0, 0, 1]), None)
                        break
                    if votes.any():  # every worker sees the same sums: all stop after this step
                        summary.stopped_by = self._stopped_by(votes, stop.signal)
                        break
                if stop.signal is not None:
                    log.info("%s: stopped after this step; %s (again to stop at once)", stop.signal,
                             "saving" if self.chief else "the chief saves")
            if self.chief:
                self._save()
                if cfg.preview_every:
                    self._write_preview()
            if self.cluster is not None:
                self._compare_weights()
        except lost_worker_errors() as err:
            if self.cluster is None:
                raise
            raise FaceswapError(self._lost_message(err)) from err
        finally:
            progress.close()
            if self.log is not None:
                self.log.close()
        if self.unwritten:
            summary.notes.append(f"previews, timelapse images or curves not written: {self.unwritten} times (the "
                                 "warning above says why)")
        if self.check is not None and self.eval_seconds:
            summary.notes.append(f"held-out evaluations took {self.eval_seconds / 60:.1f} min; the best score "
                                 f"{self.best:.3f} is in {self.model_dir / BEST}")
        steps = self.iteration - summary.start
        summary.iteration, summary.seconds, summary.losses = self.iteration, time.monotonic() - began_run, smooth
        summary.rate = faces_per_step * steps / summary.seconds if steps and summary.seconds > 0 else 0.0
        for line in summary.lines():
            log.info(line)
        return summary

    def _schedule(self) -> None:
        """The encoder held for the model's first --freeze-encoder iterations, and the learning rate raised from a
        tenth of its value over the first --warmup ones (both counted from the model's start, so a resumed run
        goes on where it was); set only when they change."""
        it, training = self.iteration, self.training
        frozen = it < training.freeze_encoder
        if frozen != self._frozen:
            self.trainer.freeze_encoder(frozen)
            if self._frozen is not None or frozen:
                log.info("iteration %d: the encoder %s", it, f"is held as it came (--freeze-encoder "
                         f"{training.freeze_encoder})" if frozen else "trains again")
            self._frozen = frozen
        if it < training.warmup:
            self.trainer.set_learning_rate(training.learning_rate * (0.1 + 0.9 * it / training.warmup))
            self._warming = True
        elif self._warming:
            self.trainer.set_learning_rate(training.learning_rate)
            self._warming = False

    def _step(self, batch: Any, wish: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
        """One training step: its losses and, with several workers, the sum of everyone's wishes to stop (VOTES)
        after it (alone: none, the loop stops before the step)."""
        if self.cluster is None:
            return {name: float(value) for name, value in self.step(batch).items()}, np.zeros(len(VOTES))
        found, votes = self.step(batch, wish)
        return {name: float(value) for name, value in found.items()}, votes.numpy()

    def _stopped_by(self, votes: np.ndarray, signal_name: str | None) -> str:
        """Why training stopped, for the summary: the reasons of every worker's votes."""
        reasons = {"signal": signal_name or "a signal to another worker", "minutes": "--minutes",
                   "plateau": f"--stop-after-plateau: no better held-out score in {self.cfg.stop_after_plateau} "
                              "evaluations"}
        return ", ".join(reasons[name] for name, vote in zip(VOTES, votes) if vote > 0)

    def _compare_weights(self) -> None:
        """With several workers, at the end: every worker's weights (models, optimisers, average) compared with
        the chief's, to the bit; FaceswapError on a worker whose differ (the chief has saved its own)."""
        assert self.cluster is not None and self.strategy is not None
        digest = weights_digest(self.trainer.saved_variables)
        differs, count = workers_unlike_chief(self.strategy, self.cluster, digest)
        if differs or count:
            who = "its weights differ" if differs else f"{count} of {self.cluster.workers} workers' weights differ"
            raise FaceswapError(f"{who} from the chief's after iteration {self.iteration}, a fault in training on "
                                "several workers (please report it): the chief's are saved; train again with "
                                "the same -m to go on from them")
        log.info("weights after iteration %d: sha256 %s, the same on all %d workers", self.iteration, digest[:16],
                 self.cluster.workers)

    def _lost_message(self, err: Exception) -> str:
        """A one-line error for a worker that is gone, and where the run can resume from."""
        reason = lost_worker_reason(err)
        if not self.chief:
            last = "the chief keeps its last save"
        else:
            last = f"the last save is {self.state.checkpoint}" if self.state else "nothing was saved yet"
        return f"worker lost ({reason}): {last}; train again with the same -m to resume"

    def _count_waiting(self, waited: float, step: float) -> None:
        """Say once when the model waits for the data feed more than WAIT_WARNING of its time (after warming up:
        the first steps build the graph while the feed fills its queue)."""
        done = self.iteration - self.first_iteration
        if self.WARM_UP <= done < self.WARM_UP + self.WAIT_STEPS:
            self.waited += waited
            self.stepped += step
        elif done == self.WARM_UP + self.WAIT_STEPS and self.waited > self.WAIT_WARNING * self.stepped:
            log.warning("the model waited for training data %.0f%% of the time: more --workers would keep it busy "
                        "(now %d; this machine has %d cores)", 100 * self.waited / self.stepped,
                        self.feed.options.workers, os.cpu_count() or 0)

    def _status(self, smooth: dict[str, float], rate: float) -> str:
        parts = [f"iter {self.iteration}", f"loss A {smooth['loss_a']:.4f} B {smooth['loss_b']:.4f}"]
        if "mask_net" in smooth:  # the mask convert uses
            parts.append(f"mask {smooth['mask_net']:.4f}")
        elif "mask_a" in smooth:
            parts.append(f"mask {(smooth['mask_a'] + smooth['mask_b']) / 2:.4f}")
        if "gan_g" in smooth:
            parts.append(f"G {smooth['gan_g']:.3f} D {smooth['gan_d']:.3f}")
        parts.append(f"{rate:.1f} EGs/s")
        return " | ".join(parts)

    def _nan_message(self, losses: dict[str, float]) -> str:
        bad = ", ".join(f"{name} {value}" for name, value in losses.items() if not math.isfinite(value))
        kept = (f"the last good save (iteration {self.state.iteration}) is kept" if self.state
                else "nothing was saved")
        return (f"the loss is not finite at iteration {self.iteration + 1} ({bad}): training stopped without "
                f"saving these weights; {kept}. Resume with a lower --learning-rate or --clip-norm")

    def _periodic(self, rate: float) -> bool:
        """Logs, saves, previews and held-out evaluations due at this iteration (the chief's, which writes); True
        to stop (a plateau)."""
        if not self.chief:
            return False
        cfg, it = self.cfg, self.iteration
        assert self.log is not None
        if it % self.LOG_EVERY == 0:
            # The means since the last point, of the losses each step brought back. Not the trainer's Keras
            # trackers: with several workers, reading those is an all-reduce that the other workers do not join.
            losses = {name: total / self.counted for name, total in self.sums.items()}
            self.sums, self.counted = {}, 0
            self.log.scalars(it, {**losses, "egs_per_second": rate})
            self.curves.add_losses(it, losses)
        if it % cfg.save_every == 0:
            self._save(snapshot=bool(cfg.snapshot_every) and it % cfg.snapshot_every == 0)
        elif cfg.snapshot_every and it % cfg.snapshot_every == 0:
            self._save(snapshot=True)
        preview = bool(cfg.preview_every) and it % cfg.preview_every == 0
        timelapse = bool(cfg.timelapse_every) and it % cfg.timelapse_every == 0
        if preview or timelapse:
            grid = self._write_preview() if preview else self._preview()
            if timelapse:
                with self._or_warn(f"timelapse/{it:08d}.png"):
                    (self.model_dir / "timelapse").mkdir(exist_ok=True)
                    write_png(self.model_dir / "timelapse" / f"{it:08d}.png", grid, text=SYNTHETIC_PNG_TEXT)
        if self.check is not None and it % cfg.eval_every == 0:
            return self._evaluate()
        return False

    def _evaluate(self) -> bool:
        """Score the model on the held-out faces now; keep it in best/ when the score improved. True when
        --stop-after-plateau evaluations have passed without improvement."""
        assert self.check is not None and self.log is not None
        began = time.perf_counter()
        self.swapper.iteration = self.iteration
        with self.trainer.averaged():
            report = self.check.evaluate(self.swapper)
        numbers = heldout_numbers(report)
        self.curves.add_heldout(self.iteration, report)
        with self._or_warn("curves.json"):
            self.curves.save()
        self.log.scalars(self.iteration, {f"heldout/{direction}/{name}": value for direction in ("a2b", "b2a")
                                          for name, value in numbers[direction].items()}
                         | {f"heldout/ssim_{key}": value for key, value in numbers["ssim"].items()}
                         | {"heldout/score": numbers["score"]})
        score = report["score"]
        improved = score is not None and score < self.best
        if improved:
            self.best, self.since_best = score, 0
            self._save()
            assert self.state is not None
            keep_copy(self.model_dir, self.state, self.model_dir / BEST)
        else:
            self.since_best += 1
        self.eval_seconds += time.perf_counter() - began
        a2b, b2a = numbers["a2b"], numbers["b2a"]
        log.info("held-out at %d: distance to target %s / %s, yaw error %s / %s, pitch error %s / %s, face NME "
                 "%s / %s (A->B / B->A), SSIM %s / %s; score %s%s (%.0f s)", self.iteration,
                 a2b["distance_to_target"], b2a["distance_to_target"], a2b["yaw_error"], b2a["yaw_error"],
                 a2b["pitch_error"], b2a["pitch_error"], a2b["face_nme"], b2a["face_nme"], numbers["ssim"]["a2a"],
                 numbers["ssim"]["b2b"], score, ", the best so far: kept in best/" if improved else "",
                 time.perf_counter() - began)
        plateau = self.cfg.stop_after_plateau
        return plateau is not None and self.since_best >= plateau

    @contextmanager
    def _or_warn(self, what: str) -> Iterator[None]:
        """Writes of a preview, timelapse image or curves file: one that fails (a full disk, a folder made
        read-only) is said once a run and counted, and training goes on; the saves say for themselves whether
        they fit."""
        try:
            yield
        except OSError as err:
            if not self.unwritten:
                log.warning("%s in %s not written (%s): training goes on, and so do its saves", what,
                            self.model_dir, err.strerror or err)
            self.unwritten += 1

    def _preview(self) -> np.ndarray:
        if self.preview_faces is None:
            self.preview_faces = self.feed.preview_faces(self.PREVIEW_FACES)
        with self.trainer.averaged():
            return preview_grid(self.trainer, self.preview_faces)

    def _write_preview(self) -> np.ndarray:
        """preview.png and curves.png in the model folder, as the model is now, and the preview in TensorBoard;
        returns the grid."""
        grid = self._preview()
        with self._or_warn("preview.png and curves.png"):
            write_png(self.model_dir / "preview.png", grid, text=SYNTHETIC_PNG_TEXT)
            self.curves.save()
            write_png(self.model_dir / "curves.png", self.curves.plot())
        if self.log is not None:
            self.log.image(self.iteration, "preview", grid)
        return grid

    def _save(self, snapshot: bool = False) -> None:
        self.state = save_checkpoint(self.model_dir, self.trainer, config=self.config, training=self.training,
                                     iteration=self.iteration, previous=self.state, snapshot=snapshot,
                                     origin=self.origin)
        log.debug("saved at iteration %d", self.iteration)
