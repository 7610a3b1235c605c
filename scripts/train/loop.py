"""The training loop proper: steps, the status line, TensorBoard, saves, previews, NaN and signal handling."""
from __future__ import annotations

import logging
import math
import signal
import time
from collections import deque
from typing import Any

import numpy as np
from tqdm import tqdm

from lib.errors import FaceswapError
from lib.image import SYNTHETIC_PNG_TEXT, write_png
from lib.training.checkpoint import ModelConfig, State, TrainingConfig, save_checkpoint
from lib.training.feed import Feed
from lib.training.preview import preview_grid
from lib.training.tensorboard import ScalarLog
from lib.training.trainer import Trainer
from scripts.train.args import Config

log = logging.getLogger("faceswap.train")


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
        self.signal = signal.Signals(number).name
        log.info("%s: stopping after this step and saving (again to stop at once)", self.signal)
        for other, handler in self._previous.items():
            signal.signal(other, handler)


class Loop:
    """Runs the compiled step on the feed's batches until --iterations more are done or a signal asks to stop;
    saves every --save-every and at the end."""

    PREVIEW_FACES = 8
    LOG_EVERY = 10  # iterations between TensorBoard points

    def __init__(self, cfg: Config, trainer: Trainer, config: ModelConfig, training: TrainingConfig, feed: Feed, *,
                 step: Any, state: State | None) -> None:
        self.cfg, self.trainer, self.config, self.training, self.feed, self.step = (
            cfg, trainer, config, training, feed, step)
        self.model_dir = cfg.model_dir
        self.state = state
        self.iteration = state.iteration if state else 0
        self.preview_faces: dict[str, np.ndarray] | None = None

    def run(self, batches: Any) -> int:
        """Train; returns the iteration of the last save."""
        cfg = self.cfg
        first = self.iteration + 1
        end = None if cfg.iterations is None else self.iteration + cfg.iterations
        faces_per_step = 2 * self.training.batch_size
        times: deque[float] = deque(maxlen=20)
        smooth: dict[str, float] = {}
        self.model_dir.mkdir(parents=True, exist_ok=True)
        scalars = ScalarLog(self.model_dir / "logs")
        progress = tqdm(total=cfg.iterations, unit="it", desc="train", dynamic_ncols=True, leave=False)
        try:
            with StopFlag() as stop:
                while (end is None or self.iteration < end) and stop.signal is None:
                    began = time.perf_counter()
                    losses = {name: float(value) for name, value in self.step(next(batches)).items()}
                    times.append(time.perf_counter() - began)
                    if not all(math.isfinite(v) for v in losses.values()):
                        raise FaceswapError(self._nan_message(losses))
                    self.iteration += 1
                    if self.iteration == first:
                        log.info("first step took %.1f s (building the graph); training", times[0])
                    for name, value in losses.items():
                        smooth[name] = value if name not in smooth else 0.9 * smooth[name] + 0.1 * value
                    rate = faces_per_step * len(times) / sum(times)
                    progress.set_postfix_str(self._status(smooth, rate), refresh=False)
                    progress.update(1)
                    self._periodic(scalars, rate)
        finally:
            progress.close()
            scalars.close()
        self._save()
        log.info("saved at iteration %d", self.iteration)
        return self.iteration

    def _status(self, smooth: dict[str, float], rate: float) -> str:
        parts = [f"iter {self.iteration}", f"loss A {smooth['loss_a']:.4f} B {smooth['loss_b']:.4f}"]
        if "mask_a" in smooth:
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

    def _periodic(self, scalars: ScalarLog, rate: float) -> None:
        cfg, it = self.cfg, self.iteration
        if it % self.LOG_EVERY == 0:
            scalars.write(it, {**self.trainer.read_metrics(), "egs_per_second": rate})
        if it % cfg.save_every == 0:
            self._save(snapshot=bool(cfg.snapshot_every) and it % cfg.snapshot_every == 0)
        elif cfg.snapshot_every and it % cfg.snapshot_every == 0:
            self._save(snapshot=True)
        preview = bool(cfg.preview_every) and it % cfg.preview_every == 0
        timelapse = bool(cfg.timelapse_every) and it % cfg.timelapse_every == 0
        if preview or timelapse:
            if self.preview_faces is None:
                self.preview_faces = self.feed.preview_faces(self.PREVIEW_FACES)
            grid = preview_grid(self.trainer, self.preview_faces)
            if preview:
                write_png(self.model_dir / "preview.png", grid, text=SYNTHETIC_PNG_TEXT)
            if timelapse:
                (self.model_dir / "timelapse").mkdir(exist_ok=True)
                write_png(self.model_dir / "timelapse" / f"{it:08d}.png", grid, text=SYNTHETIC_PNG_TEXT)

    def _save(self, snapshot: bool = False) -> None:
        self.state = save_checkpoint(self.model_dir, self.trainer, config=self.config, training=self.training,
                                     iteration=self.iteration, previous=self.state, snapshot=snapshot)
        log.debug("saved at iteration %d", self.iteration)
