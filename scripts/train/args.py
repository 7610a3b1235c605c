"""train's command line and its Config."""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from lib.errors import FaceswapError, check_range
from lib.facefile import face_paths
from lib.model.loss_spec import DEFAULT_LOSS, GAN_LOSSES, TERMS, format_loss, parse_loss
from lib.model.state import DEFAULT_EMA, PARTS, ModelConfig, State, TrainingConfig, read_state
from lib.recipes import RECIPES, Recipe, recipe
from lib.training.multiworker import ENV, Cluster, read_cluster
from plugins.train.model import REGISTRY, SUMMARIES
from scripts.common import check_can_create

DEFAULT_MODEL = "original"
DEFAULTS = {  # what a new model folder gets for the options left out; a resumed one keeps its own
    "coverage": 0.6, "learn_mask": False, "gan": False, "gan_loss": "lsgan", "gan_weight": 0.1,
    "eye_multiplier": 3.0, "mouth_multiplier": 2.0, "background_weight": 0.1, "mask_input": False,
    "batch_size": 16, "learning_rate": 5e-5, "clip_norm": 1.0, "color_match": 0.0, "motion_blur": 0.0,
    "pose_transfer": 0.0, "ema": DEFAULT_EMA, "blink_aug": 0.0, "expression_balance": 0.0, "recipe": None,
    "convert": {}, "freeze_encoder": 0, "warmup": 0,
}
# --warmup of a model started from some of another's parts: its random parts' first, large gradients would
# otherwise shake the parts it was given.
DEFAULT_WARMUP = 100
# What a model started from another's must share with it: what the shapes of its weights follow.
ARCHITECTURE = ("model", "size", "learn_mask")
# --occlusion-aug of a new model with a mask head: half the faces with something in front of them.
DEFAULT_OCCLUSION = 0.5
BOUNDS = {  # option -> (lowest, highest) allowed
    "coverage": (0.25, 1.0), "gan_weight": (0.001, 10.0), "eye_multiplier": (1.0, 100.0),
    "mouth_multiplier": (1.0, 100.0), "background_weight": (0.0, 1.0), "batch_size": (1, 4096),
    "learning_rate": (1e-7, 0.1), "clip_norm": (0.0, 1e6), "color_match": (0.0, 1.0), "motion_blur": (0.0, 1.0),
    "occlusion_aug": (0.0, 1.0), "pose_transfer": (0.0, 1.0), "ema": (0.0, 0.99999), "iterations": (1, 10**9),
    "blink_aug": (0.0, 1.0), "expression_balance": (0.0, 1.0),
    "minutes": (0.01, 10**7), "save_every": (1, 10**9),
    "snapshot_every": (0, 10**9), "preview_every": (0, 10**9), "timelapse_every": (0, 10**9), "workers": (1, 64),
    "seed": (0, 2**32 - 1), "size": (16, 1024), "eval_every": (1, 10**9), "eval_faces": (2, 10**5),
    "stop_after_plateau": (1, 10**6), "no_warp_after": (0.0, 1.0), "freeze_encoder": (0, 10**9),
    "warmup": (0, 10**9),
}
LOCAL_WORKERS = (2, 16)  # --cluster local:N


def add_arguments(parser: argparse.ArgumentParser) -> None:
    models = "; ".join(f"{name}: {text}" for name, text in SUMMARIES.items())
    parser.add_argument("-A", "--input-a", type=Path, required=True, help="folder of faces of person A (extract)")
    parser.add_argument("-B", "--input-b", type=Path, required=True, help="folder of faces of person B (extract)")
    parser.add_argument("-m", "--model-dir", type=Path, required=True,
                        help="model folder: created when new, resumed when it holds a model")
    parser.add_argument("--recipe", choices=list(RECIPES), default=None,
                        help="a tested recipe: its options for those not given (" + "; ".join(
                            f"{r.name}: {r.summary}" for r in RECIPES.values()) + "); the model keeps the "
                        "recipe's convert settings, which convert and evaluate then use")
    new = parser.add_argument_group("the model (fixed when the folder is made; left out on resume: the stored "
                                    "value; a different value: an error)")
    new.add_argument("--model", choices=sorted(REGISTRY), default=None,
                     help=f"architecture (default: {DEFAULT_MODEL}). {models}")
    new.add_argument("--size", type=int, default=None, help="model input size in pixels (default: the model's)")
    new.add_argument("--coverage", type=float, default=None,
                     help="share of the aligned face the model sees, 0.25-1 "
                          f"(default: {DEFAULTS['coverage']:g}, brows to chin)")
    new.add_argument("--learn-mask", action="store_true", default=None,
                     help="also learn a face mask (convert can blend with it)")
    new.add_argument("--gan", action="store_true", default=None,
                     help="add a PatchGAN discriminator per side (sharper, slower)")
    new.add_argument("--gan-loss", choices=GAN_LOSSES, default=None,
                     help=f"GAN loss (default: {DEFAULTS['gan_loss']})")
    new.add_argument("--gan-weight", type=float, default=None,
                     help=f"weight of the adversarial loss (default: {DEFAULTS['gan_weight']:g})")
    new.add_argument("--loss", default=None,
                     help=f"reconstruction loss: terms of {', '.join(TERMS)} joined by +, each with an optional "
                          f":weight (default: {DEFAULT_LOSS})")
    new.add_argument("--mask-input", action="store_true", default=None,
                     help="show the model each face without its background (blanked outside the face hull): "
                          "it cannot tell the two people apart by their backgrounds, only by their faces")
    new.add_argument("--eye-multiplier", type=float, default=None,
                     help=f"loss weight of the eyes (default: {DEFAULTS['eye_multiplier']:g})")
    new.add_argument("--mouth-multiplier", type=float, default=None,
                     help=f"loss weight of the mouth (default: {DEFAULTS['mouth_multiplier']:g})")
    new.add_argument("--background-weight", type=float, default=None,
                     help=f"loss weight outside the face hull, 0-1 (default: {DEFAULTS['background_weight']:g})")
    run = parser.add_argument_group("training (left out on resume: the stored value; may be changed)")
    run.add_argument("--batch-size", type=int, default=None,
                     help=f"faces per side per step (default: {DEFAULTS['batch_size']})")
    run.add_argument("--learning-rate", type=float, default=None,
                     help=f"Adam learning rate (default: {DEFAULTS['learning_rate']:g})")
    run.add_argument("--clip-norm", type=float, default=None,
                     help="clip the gradients' global norm to this, 0 for no clipping "
                          f"(default: {DEFAULTS['clip_norm']:g})")
    run.add_argument("--color-match", type=float, default=None,
                     help="probability of matching a face's colours to a face of the other side "
                          f"(default: {DEFAULTS['color_match']:g})")
    run.add_argument("--motion-blur", type=float, default=None,
                     help=f"probability of motion blur (default: {DEFAULTS['motion_blur']:g})")
    run.add_argument("--occlusion-aug", type=float, default=None, metavar="P",
                     help="share of faces shown with an object pasted in front of them (real photos, "
                          "backgrounds, hand-shaped skin), so that the learned mask leaves hands, microphones "
                          "and glasses in front of the face (default: 0.5 with --learn-mask, else 0)")
    run.add_argument("--pose-transfer", type=float, default=None, metavar="P",
                     help="share of faces turned (a smooth warp from their landmarks) to the head pose of a "
                          "random face of the other person, so that each decoder also draws its person in the "
                          "other's turns and tilts, as a swap asks it to (default: 0)")
    run.add_argument("--blink-aug", type=float, default=None, metavar="P",
                     help="share of faces shown with both eyes shut (the eye's opening filled from the lids' "
                          "skin, a lash line where they meet), so that a decoder learns to draw a blink even "
                          "when its person never blinks on film (default: 0)")
    run.add_argument("--expression-balance", type=float, default=None, metavar="S",
                     help="show faces of rare expressions (closed eyes, an open mouth, from their landmarks) "
                          "more often: 0 all alike, 1 every expression about as often as any other (default: 0)")
    run.add_argument("--ema", type=float, default=None, metavar="DECAY",
                     help="save, preview and score a moving average of the weights, over about the last "
                          "iteration/9 steps and at most 1/(1-DECAY): steadier swaps than the weights of any one "
                          f"step; 0 for none (default: {DEFAULT_EMA:g})")
    run.add_argument("--warp", action=argparse.BooleanOptionalAction, default=None,
                     help="warp the inputs: the denoising trick that teaches the model faces (default: on)")
    start = parser.add_argument_group("starting from a trained model (a new model folder only)")
    start.add_argument("--init-from", type=Path, default=None, metavar="MODEL",
                       help="start from this model folder's weights instead of random ones: new footage of a pair "
                            "already trained, or a new partner for one of its people. The new model takes its "
                            "architecture, and its training options for those not given")
    start.add_argument("--parts", default=None, metavar="LIST",
                       help="the parts to take, comma-separated, of " + ", ".join(PARTS) + "; NEW=OLD takes "
                            "another part (decoder-A=decoder-B: its B decoder as the new A); the rest start "
                            "random (default: every part it has)")
    start.add_argument("--freeze-encoder", type=int, default=None, metavar="N",
                       help="keep the encoder as it came for the first N iterations while the rest catches up "
                            "(default: 0)")
    start.add_argument("--warmup", type=int, default=None, metavar="N",
                       help="raise the learning rate from a tenth to its value over the first N iterations "
                            f"(default: {DEFAULT_WARMUP} when some parts start random, else 0)")
    session = parser.add_argument_group("this run")
    session.add_argument("--iterations", type=int, default=None,
                         help="train this many more iterations in this run, counted from where a resumed model "
                              "left off (as deepfakes/faceswap's -it: a model saved at 3 given --iterations 5 "
                              "ends at 8); default: until Ctrl-C or --minutes")
    session.add_argument("--minutes", type=float, default=None,
                         help="stop after this many minutes of training in this run, then save (default: no "
                              "limit)")
    session.add_argument("--no-warp-after", type=float, default=None, metavar="F",
                         help="with --minutes or --iterations: warp the inputs for the first share F (0-1) of "
                              "this run only, then train on the faces as they are, which sharpens the faces the "
                              "decoders draw (DeepFaceLab's random warp turned off at the end; default: warp "
                              "the whole run)")
    session.add_argument("--save-every", type=int, default=250, help="save every N iterations (default: 250)")
    session.add_argument("--snapshot-every", type=int, default=0,
                         help="keep a copy in snapshots/<iteration>/ every N iterations (default: never)")
    session.add_argument("--preview-every", type=int, default=100,
                         help="write preview.png every N iterations, 0 for never (default: 100)")
    session.add_argument("--timelapse-every", type=int, default=0,
                         help="write timelapse/<iteration>.png on fixed faces every N iterations (default: never)")
    held = parser.add_argument_group("held-out evaluation while training (faces of A and B from extract that "
                                     "training never sees: other frames, another recording)")
    held.add_argument("--holdout-A", dest="holdout_a", type=Path, default=None, help="held-out faces of person A")
    held.add_argument("--holdout-B", dest="holdout_b", type=Path, default=None, help="held-out faces of person B")
    held.add_argument("--eval-every", type=int, default=500,
                      help="score the model on the held-out faces every N iterations, keep the best in best/ "
                           "(default: 500)")
    held.add_argument("--eval-faces", type=int, default=24,
                      help="held-out faces per side scored each time, evenly spaced (default: 24)")
    held.add_argument("--stop-after-plateau", type=int, default=None, metavar="K",
                      help="stop when the held-out score has not improved for K evaluations (default: never)")
    session.add_argument("--mixed-precision", action=argparse.BooleanOptionalAction, default=None,
                         help="mixed float16 on a GPU, bfloat16 on a CPU (default: on only on a CPU with "
                              "native bfloat16, where it is faster)")
    session.add_argument("--xla", action=argparse.BooleanOptionalAction, default=None,
                         help="compile the training step with XLA (default: on a GPU, off on a CPU, where it is "
                              "7-10x slower; python -m bench.gpu measures both)")
    session.add_argument("--distributed", action="store_true", help="train on every GPU (MirroredStrategy)")
    session.add_argument("--cluster", default=None, metavar="local:N",
                         help="train with N worker processes on this machine (N 2-16), each on its share of the "
                              "batch, their gradients summed every step (TensorFlow's "
                              "MultiWorkerMirroredStrategy); worker 0 writes the model folder. For several "
                              "machines set TF_CONFIG on each instead (see docs/cluster.md)")
    session.add_argument("--workers", type=int, default=None,
                         help="threads preparing faces (default: every CPU core, 2 to 16)")
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
    mask_input: bool | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    clip_norm: float | None = None
    color_match: float | None = None
    motion_blur: float | None = None
    occlusion_aug: float | None = None
    pose_transfer: float | None = None
    blink_aug: float | None = None
    expression_balance: float | None = None
    ema: float | None = None
    warp: bool | None = None
    iterations: int | None = None
    minutes: float | None = None
    no_warp_after: float | None = None
    save_every: int = 250
    snapshot_every: int = 0
    preview_every: int = 100
    timelapse_every: int = 0
    mixed_precision: bool | None = None
    xla: bool | None = None
    distributed: bool = False
    workers: int | None = None
    seed: int | None = None
    holdout_a: Path | None = None
    holdout_b: Path | None = None
    eval_every: int = 500
    eval_faces: int = 24
    stop_after_plateau: int | None = None
    cluster: str | None = None
    recipe: str | None = None
    init_from: Path | None = None
    parts: str | None = None
    freeze_encoder: int | None = None
    warmup: int | None = None

    def __post_init__(self) -> None:
        if self.cluster is not None:
            local_workers(self.cluster)
        for name, (low, high) in BOUNDS.items():
            check_range("--" + name.replace("_", "-"), getattr(self, name), low, high)
        if self.no_warp_after is not None and self.iterations is None and self.minutes is None:
            raise FaceswapError(f"--no-warp-after {self.no_warp_after:g} is a share of this run: give --minutes "
                                "or --iterations as well")
        if (self.holdout_a is None) != (self.holdout_b is None):
            raise FaceswapError("give held-out faces of both people: --holdout-A and --holdout-B")
        if self.stop_after_plateau is not None and self.holdout_a is None:
            raise FaceswapError("--stop-after-plateau needs held-out faces to score: give --holdout-A and "
                                "--holdout-B")
        if self.loss is not None:
            try:
                parse_loss(self.loss)
            except FaceswapError as err:
                raise FaceswapError(f"--loss: {err}") from None


def local_workers(cluster: str) -> int:
    """N of --cluster local:N; FaceswapError for anything else."""
    kind, _, count = cluster.partition(":")
    low, high = LOCAL_WORKERS
    if kind != "local":
        raise FaceswapError(f"--cluster {cluster}: train takes only local:N (N workers on this machine); for "
                            f"several machines set {ENV} on each (see docs/cluster.md)")
    if not count.isdigit() or not low <= int(count) <= high:
        raise FaceswapError(f"--cluster local:N needs N from {low} to {high} worker processes, not {count!r}")
    return int(count)


def check_workers(cfg: Config, cluster: Cluster | None, batch_size: int) -> None:
    """The ways of training on several devices that cannot go together, and a batch the workers cannot share."""
    if cluster is not None and cfg.cluster is not None:
        raise FaceswapError(f"{ENV} is set, and --cluster {cfg.cluster} sets each worker's {ENV} itself: unset "
                            f"{ENV} or leave --cluster out")
    if cfg.distributed and (cluster is not None or cfg.cluster is not None):
        raise FaceswapError(f"--distributed is for the GPUs of one process; with {ENV} or --cluster, train "
                            "already uses every GPU of every worker: leave --distributed out")
    workers = cluster.workers if cluster is not None else local_workers(cfg.cluster) if cfg.cluster else 1
    if batch_size % workers:
        raise FaceswapError(f"--batch-size {batch_size} must be a multiple of the {workers} workers: each trains "
                            "on an equal share of the batch")


@dataclass(frozen=True)
class Start:
    """A new model started from another's weights (--init-from): that folder, its state, and which of its parts
    each of the new model's takes (this model's .keras stem → the source's)."""

    source: Path
    state: State
    parts: dict[str, str]

    def origin(self) -> dict[str, Any]:
        """What the new model's state.json keeps of where it came from."""
        names = {stem: name for name, stem in PARTS.items()}
        return {"model": str(self.source.resolve()), "iteration": self.state.iteration,
                "parts": {names[new]: names[old] for new, old in self.parts.items()}}


def parse_parts(text: str | None, source: State) -> dict[str, str]:
    """--parts as this model's stems → the source's: every part the source has when text is None."""
    has_mask = source.config.mask_model
    if text is None:
        return {stem: stem for name, stem in PARTS.items() if name != "mask" or has_mask}
    parts: dict[str, str] = {}
    for word in (w.strip() for w in text.split(",") if w.strip()):
        new, _, old = word.partition("=")
        old = old or new
        for name in (new, old):
            if name not in PARTS:
                raise FaceswapError(f"--parts: no part {name!r}: give some of {', '.join(PARTS)} (NEW=OLD to take "
                                    "another, as decoder-A=decoder-B)")
        if PARTS[new] in parts:
            raise FaceswapError(f"--parts: {new} is given twice")
        if new != old and not (new.startswith("decoder") and old.startswith("decoder")):
            raise FaceswapError(f"--parts {word}: only a decoder can take the other decoder's weights")
        if old == "mask" and not has_mask:
            raise FaceswapError("--parts mask: the --init-from model has no mask network (it was trained without "
                                "--learn-mask): leave mask out")
        parts[PARTS[new]] = PARTS[old]
    if not parts:
        raise FaceswapError(f"--parts is empty: give some of {', '.join(PARTS)}")
    return parts


def start_from(cfg: Config, state: State | None) -> Start | None:
    """--init-from checked: the source model and the parts taken (None without it, or on resume of a model that
    was started from it)."""
    if cfg.init_from is None:
        if cfg.parts is not None:
            raise FaceswapError("--parts says which parts --init-from takes: give --init-from MODEL as well")
        return None
    if state is not None:
        if state.origin is not None and Path(state.origin["model"]) == cfg.init_from.resolve():
            return None  # the same command again: resume
        raise FaceswapError(f"--init-from starts a new model, and {cfg.model_dir} already holds one (iteration "
                            f"{state.iteration}): leave --init-from out to resume it, or give a new folder")
    if cfg.init_from.resolve() == cfg.model_dir.resolve():
        raise FaceswapError("--init-from is the model folder itself: give another model to start from")
    if not cfg.init_from.is_dir():
        raise FaceswapError(f"--init-from {cfg.init_from}: no such model folder")
    source = read_state(cfg.init_from)
    if source is None:
        raise FaceswapError(f"--init-from {cfg.init_from} holds no trained model (no state.json): give a folder "
                            "that train wrote")
    return Start(cfg.init_from, source, parse_parts(cfg.parts, source))


def check(cfg: Config) -> tuple[State | None, dict[str, Any], TrainingConfig, Start | None]:
    """What the command line and the folders it names show to be wrong, found before TensorFlow loads: a damaged
    or foreign model folder, options that contradict a resumed model, missing or empty face folders, a TF_CONFIG
    that does not describe a cluster, an --init-from model that does not fit. Returns the model folder's state
    (None: a new model), the resolved options (see resolve) and where a new model starts from (--init-from)."""
    cluster = read_cluster()
    state = read_state(cfg.model_dir)
    start = start_from(cfg, state)
    values, training = resolve(cfg, state, start)
    check_workers(cfg, cluster, training.batch_size)
    if state is None and (cluster is None or cluster.is_chief):  # the other workers write nothing
        check_can_create(cfg.model_dir, "the model folder")
    if cfg.input_a.resolve() == cfg.input_b.resolve():
        raise FaceswapError(f"-A and -B are the same folder ({cfg.input_a}): give the faces of person A and of "
                            "person B, each in its own folder")
    for folder in (cfg.input_a, cfg.input_b, cfg.holdout_a, cfg.holdout_b):
        if folder is not None:
            face_paths(folder)
    return state, values, training, start


def option_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def resolve(cfg: Config, state: State | None, start: Start | None = None) -> tuple[dict[str, Any], TrainingConfig]:
    """The model's config (a dict; 'size' None means the plugin's default) and the training options.

    On resume: the stored config, where an option that contradicts it is an error; stored training options,
    overridden by the ones given. A new model: the options given, defaults for the rest; started from another
    model (start), that model's config and training options where none is given, and its architecture.
    """
    given = {f.name: getattr(cfg, f.name, None) for f in fields(ModelConfig)}
    given["loss"] = None if cfg.loss is None else format_loss(parse_loss(cfg.loss))
    training_given = {f.name: getattr(cfg, f.name, None) for f in fields(TrainingConfig)}
    if cfg.recipe is not None:
        chosen = recipe(cfg.recipe)
        # The recipe's options where none is given; its model options for a new folder only (a resumed one keeps
        # its own).
        for name, value in chosen.train.items():
            for options in ((given, training_given) if state is None else (training_given,)):
                if name in options and options[name] is None:
                    options[name] = value
        training_given["convert"] = dict(chosen.convert)
    if state is None and start is not None:
        stored = asdict(start.state.config)
        for name in ARCHITECTURE:
            if given[name] is not None and given[name] != stored[name]:
                shown = "" if isinstance(given[name], bool) else f" {given[name]}"
                raise FaceswapError(f"{option_name(name)}{shown} does not fit the --init-from model's "
                                    f"{name.replace('_', ' ')} {stored[name]}: leave it out, or start from a "
                                    "model that has it")
        values = {name: stored[name] if value is None else value for name, value in given.items()}
        values["mask_model"] = stored["mask_model"]
        training: dict[str, Any] = asdict(start.state.training)
        training.update({name: value for name, value in training_given.items() if value is not None})
        if training_given["warmup"] is None:
            every = parse_parts(None, start.state)
            training["warmup"] = 0 if start.parts == every else DEFAULT_WARMUP
    elif state is None:
        values = {name: DEFAULTS.get(name) if value is None else value for name, value in given.items()}
        values["model"] = values["model"] or DEFAULT_MODEL
        values["loss"] = values["loss"] or format_loss(parse_loss(DEFAULT_LOSS))
        values["mask_model"] = values["learn_mask"]  # a new model with a mask head has a mask network
        defaults = {**DEFAULTS, "occlusion_aug": DEFAULT_OCCLUSION if values["learn_mask"] else 0.0}
        training = {name: defaults.get(name, True) if value is None else value
                    for name, value in training_given.items()}
    else:
        stored = asdict(state.config)
        for name, value in given.items():
            if value is not None and value != stored[name]:
                shown = "" if isinstance(value, bool) else f" {value}"
                raise FaceswapError(
                    f"{option_name(name)}{shown} contradicts this model's {name.replace('_', ' ')} {stored[name]} "
                    f"(stored in {cfg.model_dir / 'state.json'}): leave it out to resume, or train a new model "
                    "in another folder")
        values = stored
        training = asdict(state.training)
        training.update({name: value for name, value in training_given.items() if value is not None})
    if training["occlusion_aug"] > 0 and not values["mask_model"]:
        raise FaceswapError("--occlusion-aug teaches the learned mask network what is not face: "
                            + ("train a new model with --learn-mask" if state is not None else "add --learn-mask")
                            + ", or leave it out")
    if training["clip_norm"] == 0:
        training["clip_norm"] = None  # 0 means no clipping
    return values, TrainingConfig(**training)


def warp_share(cfg: Config, training: TrainingConfig) -> float | None:
    """This run's --no-warp-after: the option given, else the recipe's share for a run of --minutes or
    --iterations (each run of a recipe ends on unwarped faces, a resumed one too)."""
    if cfg.no_warp_after is not None or training.recipe is None or training.recipe not in RECIPES:
        return cfg.no_warp_after
    if cfg.minutes is None and cfg.iterations is None:
        return None
    chosen: Recipe = RECIPES[training.recipe]
    return chosen.warp_share


def to_arguments(cfg: Config) -> list[str]:
    """train's command-line arguments that give cfg (those at their defaults left out): a worker's command."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    words: list[str] = []
    for action in parser._actions:  # argparse lists the options it was given only here
        if not action.option_strings or not hasattr(cfg, action.dest):
            continue
        value = getattr(cfg, action.dest)
        if value == action.default:
            continue
        flag = next(option for option in action.option_strings if option.startswith("--"))
        if isinstance(action, argparse.BooleanOptionalAction):
            words.append(flag if value else "--no-" + flag[2:])
        elif action.nargs == 0:  # store_true
            words.append(flag)
        else:
            words += [flag, str(value)]
    return words
