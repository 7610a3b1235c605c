"""A model folder's state.json: what the model is (ModelConfig), how it was last trained (TrainingConfig), how far
it trained and which checkpoint folder holds it; read without TensorFlow, so that train and convert check a
model folder before anything slow loads. lib/training/checkpoint.py writes it."""
from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

import numpy as np

from lib.align import ALIGNED_SIZE
from lib.errors import FaceswapError

SCHEMA = "faceswap-model"
VERSION = 1
STATE = "state.json"
SNAPSHOTS = "snapshots"
BEST = "best"
# What a model folder may hold besides ckpt-*: the held-out history and its curves, the best checkpoint's copy.
POSES = "poses.json"  # the poses each side's training faces cover (lib.training.faces.pose_coverage)
# The parts a model can start from another's (train --init-from): the name --parts takes → the .keras file's stem.
PARTS = {"encoder": "encoder", "decoder-A": "decoder_a", "decoder-B": "decoder_b", "mask": "masker"}
OURS = {STATE, SNAPSHOTS, BEST, POSES, "preview.png", "timelapse", "logs", "curves.json", "curves.png",
        "evaluation"}


@dataclass(frozen=True)
class ModelConfig:
    """What the model is: fixed for the life of a model folder (a contradicting option is an error)."""

    model: str
    size: int
    coverage: float
    learn_mask: bool
    gan: bool
    gan_loss: str
    gan_weight: float
    loss: str
    eye_multiplier: float
    mouth_multiplier: float
    background_weight: float
    mask_input: bool = False  # the model sees faces with their background blanked (lib.masks.blank_background)
    # A mask network of its own (lib.model.blocks.mask_network, masker.keras): convert's learned mask comes
    # from it. New models with a mask head have one; models from before it have not.
    mask_model: bool = False


DEFAULT_EMA = 0.999  # the weight average's decay a new model gets (train --ema; lib/training/average.py)


@dataclass(frozen=True)
class TrainingConfig:
    """How it was last trained: reused on resume when not given, and changeable on the command line."""

    batch_size: int
    learning_rate: float
    clip_norm: float | None
    color_match: float
    motion_blur: float
    warp: bool
    occlusion_aug: float = 0.0  # share of input faces with an occluder pasted over them (lib/occlusion.py)
    pose_transfer: float = 0.0  # share of faces turned to a head pose of the other side's (lib/training/feed.py)
    ema: float = 0.0  # decay of the weight average saves hold (lib/training/average.py); 0: none (older models)
    blink_aug: float = 0.0  # share of faces shown with their eyes shut (lib/expression.py)
    # A model started from another's weights (train --init-from): the encoder stays as it came for the model's
    # first freeze_encoder iterations, and the learning rate climbs to its value over the first warmup ones.
    freeze_encoder: int = 0
    warmup: int = 0
    expression_balance: float = 0.0  # rare expressions shown more often (lib/expression.py)
    recipe: str | None = None  # the recipe it was trained with (lib/recipes.py), None: options of its own
    # How its swaps are to be made: lib.swap.SwapOptions fields, the recipe's convert settings. convert and
    # evaluate take them for every option they are not given.
    convert: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class State:
    """The contents of state.json. files: name → size in bytes of each file in the checkpoint folder. origin: where
    a model started from another's weights came from (train --init-from): that folder, its iteration, and which of
    its parts became which of this model's (None: trained from random weights)."""

    config: ModelConfig
    training: TrainingConfig
    iteration: int
    checkpoint: str
    files: dict[str, int]
    created: str
    updated: str
    origin: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        found = {"schema": SCHEMA, "version": VERSION, "model": self.config.model, "iteration": self.iteration,
                 "checkpoint": self.checkpoint, "files": self.files, "config": asdict(self.config),
                 "training": asdict(self.training), "created": self.created, "updated": self.updated}
        return found | ({"origin": self.origin} if self.origin is not None else {})


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _from_dict(kind: type, raw: Any) -> Any:
    """The dataclass from its JSON; a field added since the file was written takes its default. ValueError when
    a field is missing, unknown or of another type (a size "64" would reach the model's arithmetic)."""
    required = {f.name for f in fields(kind) if f.default is MISSING and f.default_factory is MISSING}
    names = {f.name for f in fields(kind)}
    if not isinstance(raw, dict) or not required <= set(raw) <= names:
        raise ValueError(f"{kind.__name__} fields")
    hints = get_type_hints(kind)
    wrong = [name for name, value in raw.items() if not _fits(value, hints[name])]
    if wrong:
        raise ValueError(f"{kind.__name__} field {wrong[0]}")
    return kind(**raw)


def _fits(value: Any, hint: Any) -> bool:
    """True when a JSON value is of the annotated type: an int is a float too, a bool is no number, a float is
    finite."""
    if get_origin(hint) in (Union, UnionType):
        return any(_fits(value, arg) for arg in get_args(hint))
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return isinstance(value, int) or (hint is float and math.isfinite(value))
    return hint is Any or isinstance(value, get_origin(hint) or hint)


def read_state(model_dir: Path) -> State | None:
    """The model folder's state, or None for a new model (no folder, or one holding nothing of a model).

    Raises FaceswapError for a damaged state.json, one of another program, a newer schema, or a folder of
    other files.
    """
    model_dir = Path(model_dir)
    path = model_dir / STATE
    if model_dir.exists() and not model_dir.is_dir():
        raise FaceswapError(f"model folder {model_dir} is a file: give a folder for the model")
    if not path.is_file():
        listing = list(model_dir.iterdir()) if model_dir.is_dir() else []
        others = [p.name for p in listing if p.name not in OURS and not p.name.startswith(("ckpt-", "."))]
        if others:
            raise FaceswapError(f"{model_dir} has files ({others[0]}, ...) but no {STATE}: not a faceswap model "
                                "folder; give a new or empty folder")
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FaceswapError(f"{path} is damaged ({type(err).__name__}): restore the model folder from a "
                            f"backup or a copy in {SNAPSHOTS}/") from None
    if not isinstance(raw, dict) or raw.get("schema") != SCHEMA:
        raise FaceswapError(f"{path} was not written by faceswap train (schema {_schema(raw)!r}): "
                            "give a new or empty folder for the model")
    version = raw.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise FaceswapError(f"{path} has schema version {version}, newer than this faceswap reads ({VERSION}): "
                            "update faceswap")
    try:
        files = {str(k): int(v) for k, v in raw["files"].items()}
        state = State(_from_dict(ModelConfig, raw["config"]), _from_dict(TrainingConfig, raw["training"]),
                      int(raw["iteration"]), str(raw["checkpoint"]), files, str(raw["created"]),
                      str(raw["updated"]), _origin(raw.get("origin")))
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
        raise FaceswapError(f"{path} is damaged (missing or malformed fields): restore the model folder from "
                            f"a backup or a copy in {SNAPSHOTS}/") from None
    check_files(model_dir, state)
    return state


def _origin(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("parts"), dict):
        raise ValueError("origin")
    return raw


def _schema(raw: Any) -> Any:
    return raw.get("schema") if isinstance(raw, dict) else type(raw).__name__


def check_files(model_dir: Path, state: State) -> Path:
    """The checkpoint folder state.json names, after checking that every file is there at its full size."""
    folder = Path(model_dir) / state.checkpoint
    if "/" in state.checkpoint or not state.checkpoint.startswith("ckpt-") or not folder.is_dir():
        raise FaceswapError(f"{model_dir}: checkpoint folder {state.checkpoint} is missing: the model folder is "
                            f"damaged; restore it from a backup or a copy in {SNAPSHOTS}/")
    for name, size in state.files.items():
        file = folder / name
        if not file.is_file() or file.stat().st_size != size:
            problem = "missing" if not file.is_file() else "truncated"
            raise FaceswapError(f"{model_dir}: {state.checkpoint}/{name} is {problem}: the model folder is "
                                f"damaged; restore it from a backup or a copy in {SNAPSHOTS}/")
    return folder


def face_shapes(poses: Any) -> dict[str, np.ndarray] | None:
    """Each side's mean face shape (68, 2) in ALIGNED_SIZE pixels from what pose_coverage made (MODEL/poses.json);
    None when it has none (a model trained before it was kept) or they are damaged."""
    try:
        scale = ALIGNED_SIZE / float(poses["shape_size"])
        shapes = {side: np.asarray(poses["shape"][side], np.float64) * scale for side in ("A", "B")}
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    if any(shape.shape != (68, 2) or not np.isfinite(shape).all() for shape in shapes.values()):
        return None
    return shapes
