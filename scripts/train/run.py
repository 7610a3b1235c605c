"""`train`: two folders of faces → an A↔B model in a model folder that saves safely and resumes."""
from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import time
from collections import deque
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lib.errors import FaceswapError
from plugins.train.model import REGISTRY, SUMMARIES

if TYPE_CHECKING:
    import numpy as np

    from lib.training.checkpoint import ModelConfig, State, TrainingConfig
    from lib.training.faces import FaceSet
    from lib.training.feed import Feed
    from lib.training.trainer import Trainer

log = logging.getLogger("faceswap.train")
PREVIEW_TEXT = {"synthetic": "faceswap training preview: machine-made faces"}

DEFAULT_MODEL = "original"
DEFAULTS = {  # what a new model folder gets for the options left out; a resumed one keeps its own
    "coverage": 0.6, "learn_mask": False, "gan": False, "gan_loss": "lsgan", "gan_weight": 0.1,
    "eye_multiplier": 3.0, "mouth_multiplier": 2.0, "background_weight": 0.1,
    "batch_size": 16, "learning_rate": 5e-5, "clip_norm": 1.0, "color_match": 0.0, "motion_blur": 0.0,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from lib.model.losses import DEFAULT_LOSS, GAN_LOSSES, TERMS

    models = "; ".join(f"{name}: {text}" for name, text in SUMMARIES.items())
    parser.add_argument("-A", "--input-a", type=Path, required=True, help="folder of faces of person A (extract)")
    parser.add_argument("-B", "--input-b", type=Path, required=True, help="folder of faces of person B (extract)")
    parser.add_argument("-m", "--model-dir", type=Path, required=True,
                        help="model folder: created when new, resumed when it holds a model")
    new = parser.add_argument_group("the model (fixed when the folder is made; left out on resume: the stored "
                                    "value; a different value: an error)")
    new.add_argument("--model", choices=sorted(REGISTRY), default=None,
                     help=f"architecture (default: {DEFAULT_MODEL}). {models}")
    new.add_argument("--size", type=int, default=None, help="model input size in pixels (default: the model's)")
    new.add_argument("--coverage", type=float, default=None,
                     help="share of the aligned face the model sees, 0.25-1 (default: 0.6, brows to chin)")
    new.add_argument("--learn-mask", action="store_true", default=None,
                     help="also learn a face mask (convert can blend with it)")
    new.add_argument("--gan", action="store_true", default=None,
                     help="add a PatchGAN discriminator per side (sharper, slower)")
    new.add_argument("--gan-loss", choices=GAN_LOSSES, default=None, help="GAN loss (default: lsgan)")
    new.add_argument("--gan-weight", type=float, default=None,
                     help="weight of the adversarial loss (default: 0.1)")
    new.add_argument("--loss", default=None,
                     help=f"reconstruction loss: terms of {', '.join(TERMS)} joined by +, each with an optional "
                          f":weight (default: {DEFAULT_LOSS})")
    new.add_argument("--eye-multiplier", type=float, default=None, help="loss weight of the eyes (default: 3)")
    new.add_argument("--mouth-multiplier", type=float, default=None, help="loss weight of the mouth (default: 2)")
    new.add_argument("--background-weight", type=float, default=None,
                     help="loss weight outside the face hull, 0-1 (default: 0.1)")
    run = parser.add_argument_group("training (left out on resume: the stored value; may be changed)")
    run.add_argument("--batch-size", type=int, default=None, help="faces per side per step (default: 16)")
    run.add_argument("--learning-rate", type=float, default=None, help="Adam learning rate (default: 5e-05)")
    run.add_argument("--clip-norm", type=float, default=None,
                     help="clip the gradients' global norm to this, 0 for no clipping (default: 1.0)")
    run.add_argument("--color-match", type=float, default=None,
                     help="probability of matching a face's colours to a face of the other side (default: 0)")
    run.add_argument("--motion-blur", type=float, default=None, help="probability of motion blur (default: 0)")
    run.add_argument("--warp", action=argparse.BooleanOptionalAction, default=None,
                     help="warp the inputs: the denoising trick that teaches the model faces (default: on)")
    session = parser.add_argument_group("this run")
    session.add_argument("--iterations", type=int, default=None,
                         help="stop after this many more iterations (default: run until Ctrl-C)")
    session.add_argument("--save-every", type=int, default=250, help="save every N iterations (default: 250)")
    session.add_argument("--snapshot-every", type=int, default=0,
                         help="keep a copy in snapshots/<iteration>/ every N iterations (default: never)")
    session.add_argument("--preview-every", type=int, default=100,
                         help="write preview.png every N iterations, 0 for never (default: 100)")
    session.add_argument("--timelapse-every", type=int, default=0,
                         help="write timelapse/<iteration>.png on fixed faces every N iterations (default: never)")
    session.add_argument("--mixed-precision", action=argparse.BooleanOptionalAction, default=None,
                         help="mixed float16 on a GPU, bfloat16 on a CPU (default: on only on a CPU with "
                              "native bfloat16, where it is faster)")
    session.add_argument("--distributed", action="store_true", help="train on every GPU (MirroredStrategy)")
    session.add_argument("--workers", type=int, default=None,
                         help="threads preparing faces (default: half the CPU cores, 2 to 8)")
    session.add_argument("--seed", type=int, default=None, help="random seed, for repeatable runs")


@dataclass(frozen=True)
class Config:
    input_a: Path
    input_b: Path
    model_dir: Path
    model: str | None = None
    size: int | None = None
    coverage: float | None = None
    learn_mask: bool | None = None
    gan: bool | None = None
    gan_loss: str | None = None
    gan_weight: float | None = None
    loss: str | None = None
    eye_multiplier: float | None = None
    mouth_multiplier: float | None = None
    background_weight: float | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    clip_norm: float | None = None
    color_match: float | None = None
    motion_blur: float | None = None
    warp: bool | None = None
    iterations: int | None = None
    save_every: int = 250
    snapshot_every: int = 0
    preview_every: int = 100
    timelapse_every: int = 0
    mixed_precision: bool | None = None
    distributed: bool = False
    workers: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        def within(name: str, low: float, high: float) -> None:
            value = getattr(self, name)
            if value is not None and not low <= value <= high:
                option = "--" + name.replace("_", "-")
                raise FaceswapError(f"{option} must be between {low:g} and {high:g}, not {value:g}")

        for name, low, high in (("coverage", 0.25, 1.0), ("gan_weight", 0.001, 10.0),
                                ("eye_multiplier", 1.0, 100.0), ("mouth_multiplier", 1.0, 100.0),
                                ("background_weight", 0.0, 1.0), ("batch_size", 1, 4096),
                                ("learning_rate", 1e-7, 0.1), ("clip_norm", 0.0, 1e6), ("color_match", 0.0, 1.0),
                                ("motion_blur", 0.0, 1.0), ("iterations", 1, 10**9), ("save_every", 1, 10**9),
                                ("snapshot_every", 0, 10**9), ("preview_every", 0, 10**9),
                                ("timelapse_every", 0, 10**9), ("workers", 1, 64), ("seed", 0, 2**32 - 1),
                                ("size", 16, 1024)):
            within(name, low, high)


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def resolve(cfg: Config, state: State | None) -> tuple[dict[str, Any], TrainingConfig]:
    """The model's config (a dict; 'size' None means the plugin's default) and the training options.

    On resume: the stored config, where an option that contradicts it is an error; stored training options,
    overridden by the ones given. A new model: the options given, defaults for the rest.
    """
    from lib.model.losses import DEFAULT_LOSS, format_loss, parse_loss
    from lib.training.checkpoint import ModelConfig, TrainingConfig

    given = {f.name: getattr(cfg, f.name) for f in fields(ModelConfig)}
    given["loss"] = None if cfg.loss is None else format_loss(parse_loss(cfg.loss))
    training_given = {f.name: getattr(cfg, f.name) for f in fields(TrainingConfig)}
    if state is None:
        values = {name: DEFAULTS.get(name) if value is None else value for name, value in given.items()}
        values["model"] = values["model"] or DEFAULT_MODEL
        values["loss"] = values["loss"] or format_loss(parse_loss(DEFAULT_LOSS))
        training: dict[str, Any] = {name: DEFAULTS.get(name, True) if value is None else value
                                    for name, value in training_given.items()}
    else:
        stored = asdict(state.config)
        for name, value in given.items():
            if value is not None and value != stored[name]:
                shown = "" if isinstance(value, bool) else f" {value}"
                raise FaceswapError(
                    f"{_option(name)}{shown} contradicts this model's {name.replace('_', ' ')} {stored[name]} "
                    f"(stored in {cfg.model_dir / 'state.json'}): leave it out to resume, or train a new model "
                    "in another folder")
        values = stored
        training = asdict(state.training)
        for name, value in training_given.items():
            if value is not None and value != training[name]:
                log.info("%s: %s (was %s)", _option(name), value, training[name])
                training[name] = value
    if training["clip_norm"] == 0:
        training["clip_norm"] = None  # 0 means no clipping
    return values, TrainingConfig(**training)


def _default_workers() -> int:
    return min(8, max(2, (os.cpu_count() or 2) // 2))


def _check_writable(model_dir: Path) -> None:
    folder = next((p for p in (model_dir, *model_dir.parents) if p.exists()), Path("."))
    if not os.access(folder, os.W_OK):
        raise FaceswapError(f"cannot create the model folder {model_dir}: {folder} is read-only")


def run(cfg: Config) -> int:
    """Train for --iterations more (or until Ctrl-C / SIGTERM), saving on the way and at the end.

    Returns the iteration count of the last save.
    """
    # TensorFlow turns its oneDNN kernels on by default only on AVX-512 CPUs; on this AVX2 machine they train
    # the original model 2x faster (8.5 vs 4.2 EGs/s at batch 16, bench/train.py). Read at TF's import.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    from lib.training.checkpoint import read_state
    from lib.training.faces import load_faces

    state = read_state(cfg.model_dir)  # a damaged or foreign folder fails here, before anything is loaded
    values, training = resolve(cfg, state)
    if state is None:
        _check_writable(cfg.model_dir)
    faces_a = load_faces(cfg.input_a)
    faces_b = load_faces(cfg.input_b)
    session = _Session(cfg, values, training, state)
    return session.train(faces_a, faces_b)


class _StopFlag:
    """Turns the first SIGINT or SIGTERM into a request to stop after the current step (then save);
    a second one interrupts at once (the saves are crash-safe)."""

    def __init__(self) -> None:
        self.signal: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
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


class _Session:
    """One run of train: builds or loads the trainer, feeds it, saves, previews and reports."""

    def __init__(self, cfg: Config, values: dict[str, Any], training: TrainingConfig,
                 state: State | None) -> None:
        self.cfg, self.values, self.training, self.state = cfg, values, training, state
        self.model_dir = cfg.model_dir

    def _build(self, strategy: Any) -> tuple[Trainer, ModelConfig]:
        from lib.model.losses import parse_loss
        from lib.training.checkpoint import ModelConfig, load_trainer_state
        from lib.training.trainer import LossOptions, Trainer
        from plugins.registry import load_plugin
        from plugins.train.model import ModelOptions

        values = self.values
        options = ModelOptions(values["size"], values["learn_mask"])
        plugin = load_plugin(REGISTRY, "model", values["model"])(options)
        config = ModelConfig(**{**values, "size": plugin.size})
        loss_options = LossOptions(parse_loss(config.loss), config.background_weight, config.gan_loss,
                                   config.gan_weight)
        with strategy.scope():
            trainer = Trainer(plugin.build(), loss_options, learning_rate=self.training.learning_rate,
                              clip_norm=self.training.clip_norm, gan=config.gan)
            # Optimiser slots are made here, not lazily inside the first (maybe distributed) step.
            trainer.build_optimizers()
            if self.state is not None:
                load_trainer_state(self.model_dir, self.state, trainer)
                trainer.set_learning_rate(self.training.learning_rate)
        return trainer, config

    def train(self, faces_a: FaceSet, faces_b: FaceSet) -> int:
        import keras

        from lib.training.feed import Feed, FeedOptions
        from lib.training.trainer import cpu_has_bf16, make_strategy, precision_policy

        cfg, training = self.cfg, self.training
        if cfg.seed is not None:
            keras.utils.set_random_seed(cfg.seed)
        policy = precision_policy(cfg.mixed_precision)
        if policy == "mixed_bfloat16" and not cpu_has_bf16():
            log.warning("this CPU has no native bfloat16 (AVX-512 BF16 or AMX): --mixed-precision emulates it "
                        "and trains many times slower here; leave it out")
        keras.mixed_precision.set_global_policy(policy)
        strategy = make_strategy(cfg.distributed)
        replicas = strategy.num_replicas_in_sync
        if training.batch_size % replicas:
            raise FaceswapError(f"--batch-size {training.batch_size} must be a multiple of the {replicas} devices "
                                "of --distributed")
        trainer, config = self._build(strategy)
        feed = Feed(faces_a, faces_b, FeedOptions(
            size=config.size, coverage=config.coverage, batch_size=training.batch_size, warp=training.warp,
            color_match=training.color_match, motion_blur=training.motion_blur,
            eye_multiplier=config.eye_multiplier, mouth_multiplier=config.mouth_multiplier,
            workers=cfg.workers or _default_workers(), seed=cfg.seed))
        dataset = feed.dataset()
        if replicas > 1:
            dataset = strategy.experimental_distribute_dataset(dataset)
        start = self.state.iteration if self.state else 0
        where = f"resuming at iteration {start}" if self.state else "new model"
        log.info("training %s (%d px, coverage %g%s%s) on %d A and %d B faces, batch %d, %s%s: %s, %s",
                 config.model, config.size, config.coverage, ", mask" if config.learn_mask else "",
                 ", GAN" if config.gan else "", len(faces_a), len(faces_b), training.batch_size, policy,
                 f", {replicas} devices" if replicas > 1 else "", self.model_dir, where)
        loop = _Loop(self, trainer, config, feed, step=trainer.make_step_function(strategy), start=start)
        return loop.run(iter(dataset))


class _Loop:
    """The training loop proper: steps, status line, TensorBoard, saves, previews, NaN and signal handling."""

    PREVIEW_FACES = 8
    LOG_EVERY = 10  # iterations between TensorBoard points

    def __init__(self, session: _Session, trainer: Trainer, config: ModelConfig, feed: Feed, *, step: Any,
                 start: int) -> None:
        self.session, self.trainer, self.config, self.feed, self.step = session, trainer, config, feed, step
        self.cfg = session.cfg
        self.model_dir = session.model_dir
        self.state = session.state
        self.iteration = start
        self.preview_faces: dict[str, np.ndarray] | None = None

    def run(self, batches: Any) -> int:
        import tensorflow as tf
        from tqdm import tqdm

        cfg = self.cfg
        end = None if cfg.iterations is None else self.iteration + cfg.iterations
        faces_per_step = 2 * self.session.training.batch_size
        times: deque[float] = deque(maxlen=20)
        smooth: dict[str, float] = {}
        self.model_dir.mkdir(parents=True, exist_ok=True)
        writer = tf.summary.create_file_writer(str(self.model_dir / "logs"))
        progress = tqdm(total=cfg.iterations, unit="it", desc="train", dynamic_ncols=True, leave=False)
        try:
            with _StopFlag() as stop:
                while (end is None or self.iteration < end) and stop.signal is None:
                    began = time.perf_counter()
                    losses = {name: float(value) for name, value in self.step(next(batches)).items()}
                    times.append(time.perf_counter() - began)
                    if not all(math.isfinite(v) for v in losses.values()):
                        raise FaceswapError(self._nan_message(losses))
                    self.iteration += 1
                    if len(times) == 1 and self.iteration == (self.state.iteration if self.state else 0) + 1:
                        log.info("first step took %.1f s (building the graph); training", times[0])
                    for name, value in losses.items():
                        smooth[name] = value if name not in smooth else 0.9 * smooth[name] + 0.1 * value
                    rate = faces_per_step * len(times) / sum(times)
                    progress.set_postfix_str(self._status(smooth, rate), refresh=False)
                    progress.update(1)
                    self._periodic(writer, rate)
        finally:
            progress.close()
            writer.close()
        self._save()
        log.info("saved at iteration %d", self.iteration)
        return self.iteration

    @property
    def _scalar_metadata(self) -> Any:
        from tensorflow.core.framework import summary_pb2

        plugin = summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
        return summary_pb2.SummaryMetadata(plugin_data=plugin)

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

    def _periodic(self, writer: Any, rate: float) -> None:
        import tensorflow as tf

        from lib.image import write_png

        cfg, it = self.cfg, self.iteration
        if it % self.LOG_EVERY == 0:
            scalars = {**self.trainer.read_metrics(), "egs_per_second": rate}
            with writer.as_default(step=it):
                for name, value in scalars.items():
                    # tf.summary.write with the scalars plugin's tag: what tf.summary.scalar writes, without
                    # needing the tensorboard package installed (only to view the logs).
                    tf.summary.write(name, tf.constant(value, tf.float32), metadata=self._scalar_metadata)
            writer.flush()
        if it % cfg.save_every == 0:
            self._save(snapshot=bool(cfg.snapshot_every) and it % cfg.snapshot_every == 0)
        elif cfg.snapshot_every and it % cfg.snapshot_every == 0:
            self._save(snapshot=True)
        preview = bool(cfg.preview_every) and it % cfg.preview_every == 0
        timelapse = bool(cfg.timelapse_every) and it % cfg.timelapse_every == 0
        if preview or timelapse:
            grid = self._preview_grid()
            if preview:
                write_png(self.model_dir / "preview.png", grid, text=PREVIEW_TEXT)
            if timelapse:
                (self.model_dir / "timelapse").mkdir(exist_ok=True)
                write_png(self.model_dir / "timelapse" / f"{it:08d}.png", grid, text=PREVIEW_TEXT)

    def _save(self, snapshot: bool = False) -> None:
        from lib.training.checkpoint import save_checkpoint

        self.state = save_checkpoint(self.model_dir, self.trainer, config=self.config,
                                     training=self.session.training, iteration=self.iteration,
                                     previous=self.state, snapshot=snapshot)
        log.debug("saved at iteration %d", self.iteration)

    def _preview_grid(self) -> np.ndarray:
        """Rows A, A→A, A→B, B, B→B, B→A on fixed faces; learned masks tint their rows."""
        import numpy as np

        from lib.training.preview import make_preview

        if self.preview_faces is None:
            self.preview_faces = self.feed.preview_faces(self.PREVIEW_FACES)
        rows: list[tuple[str, np.ndarray]] = []
        masks: dict[str, np.ndarray] = {}
        for side, other in (("a", "b"), ("b", "a")):
            faces = self.preview_faces[side]
            rows.append((side.upper(), faces))
            for target in (side, other):
                label = f"{side.upper()}→{target.upper()}"
                face, mask = self.trainer.reconstruct(faces, target)
                rows.append((label, np.asarray(face, np.float32)))
                if mask is not None:
                    masks[label] = np.asarray(mask, np.float32)
        return make_preview(rows, masks or None)
