"""The model folder: state.json (what the model is, how far it trained) pointing to one complete checkpoint
folder of .keras files and optimiser state (.npz). With a weight average (train --ema) the .keras files hold the
average, what convert and evaluate load, and TRAINING_WEIGHTS the weights training goes on from.

Saving is crash-safe: a new `ckpt-<iteration>` is written in full under a temporary name and fsynced, renamed,
and only then does state.json (replaced atomically) point to it; older checkpoints are deleted after that,
except the previous one. A kill -9 at any moment leaves state.json naming a complete checkpoint.
"""
from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lib.errors import FaceswapError
from lib.fileio import write_json_atomic
from lib.model import layers  # noqa: F401 (registers the custom layers the .keras files name)
from lib.model.saved import load_models
from lib.model.state import (
    PARTS,
    POSES,
    SNAPSHOTS,
    STATE,
    ModelConfig,
    State,
    TrainingConfig,
    check_files,
    now,
)

if TYPE_CHECKING:
    from lib.training.trainer import Trainer

# A checkpoint of a model trained with a weight average: the weights themselves (generator variables by position);
# the .keras files hold the average.
TRAINING_WEIGHTS = "training_weights.npz"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _by_position(variables: list[Any]) -> dict[str, np.ndarray]:
    # By position: variable names repeat across sub-models; the order is fixed by the model build order.
    return {f"v{i:05d}": np.asarray(v.numpy()) for i, v in enumerate(variables)}


def _optimizer_arrays(trainer: Trainer, key: str) -> dict[str, np.ndarray]:
    optimizer = trainer.optimizers[key]
    inner = getattr(optimizer, "inner_optimizer", optimizer)  # a loss-scale wrapper's own state is not kept
    return _by_position(inner.variables)


def _load_by_position(model_dir: Path, state: State, name: str, variables: list[Any], what: str) -> None:
    """Assign the arrays of the checkpoint's name (.npz, by position) to variables; FaceswapError when they do
    not fit."""
    try:
        with np.load(model_dir / state.checkpoint / name, allow_pickle=False) as stored:
            arrays = [stored[f"v{i:05d}"] for i in range(len(stored.files))]
    except Exception as err:
        raise FaceswapError(f"{model_dir}: cannot load {state.checkpoint}/{name} "
                            f"({type(err).__name__}): the model folder is damaged") from err
    if len(arrays) != len(variables) or any(a.shape != tuple(v.shape) for a, v in zip(arrays, variables)):
        raise FaceswapError(f"{model_dir}: the {what} in {state.checkpoint}/{name} does not fit the model: the "
                            "model folder is damaged")
    for variable, array in zip(variables, arrays):
        variable.assign(array)


def _write_checkpoint(folder: Path, trainer: Trainer) -> dict[str, int]:
    """Write every file of a checkpoint into folder and fsync them; returns name → size. With a weight average
    the .keras files hold it (what convert, evaluate and best/ load) and TRAINING_WEIGHTS the weights training
    goes on from."""
    with trainer.averaged():
        for stem, model in trainer.sub_models.items():
            model.save(folder / f"{stem}.keras")
    stored: dict[str, dict[str, Any]] = {f"{key}.npz": _optimizer_arrays(trainer, key)
                                         for key in trainer.optimizers}
    if trainer.average is not None:
        stored[TRAINING_WEIGHTS] = _by_position(trainer.generator_variables)  # as load_trainer_state reads them
    for name, arrays in stored.items():
        np.savez(folder / name, **arrays)
    files = {}
    for file in sorted(folder.iterdir()):
        _fsync(file)
        files[file.name] = file.stat().st_size
    _fsync(folder)
    return files


def _out_of_space(err: BaseException | None) -> str | None:
    """'the disk is full' or 'a file size limit was hit' when that is what err (or its cause) means."""
    while err is not None:
        text = str(err)
        if (isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)) or "No space left" in text:
            return "the disk is full"
        if (isinstance(err, OSError) and err.errno == errno.EFBIG) or "File too large" in text:
            return "a file size limit was hit"
        err = err.__cause__ or err.__context__
    return None


def save_checkpoint(model_dir: Path, trainer: Trainer, *, config: ModelConfig, training: TrainingConfig,
                    iteration: int, previous: State | None, snapshot: bool = False,
                    origin: dict[str, Any] | None = None) -> State:
    """Save the trainer as ckpt-<iteration>, point state.json to it, prune; returns the new state. origin: where
    a new model's weights came from (State.origin; a later save keeps the previous state's).

    A failed write (disk full, ...) leaves the previous save as it was and raises FaceswapError.
    """
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    name = f"ckpt-{iteration}"
    final = model_dir / name
    if previous is not None and previous.checkpoint == name and previous.iteration == iteration:
        state = previous  # already saved at this iteration (e.g. a save, then Ctrl-C before the next step)
    else:
        temp = model_dir / f".{name}.partial"
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir()
        try:
            files = _write_checkpoint(temp, trainer)
            shutil.rmtree(final, ignore_errors=True)  # a leftover of a crash, never the one state.json names
            os.replace(temp, final)
            _fsync(model_dir)
            stamp = now()
            state = State(config, training, iteration, name, files, previous.created if previous else stamp, stamp,
                          previous.origin if previous else origin)
            write_json_atomic(model_dir / STATE, state.to_json())
            _fsync(model_dir)
        except Exception as err:
            shutil.rmtree(temp, ignore_errors=True)
            last = (f"the last good save (iteration {previous.iteration}) is kept" if previous
                    else "nothing was saved")
            space = _out_of_space(err)
            if space:
                raise FaceswapError(f"{space}: saving {model_dir} at iteration {iteration} failed; {last}. "
                                    "Free some space and resume") from err
            raise FaceswapError(f"saving {model_dir} at iteration {iteration} failed ({err}); {last}") from err
    _prune(model_dir, keep={state.checkpoint, previous.checkpoint if previous else ""})
    if snapshot:
        keep_copy(model_dir, state, model_dir / SNAPSHOTS / str(state.iteration))
    return state


def _prune(model_dir: Path, keep: set[str]) -> None:
    """Delete checkpoint folders other than keep, and leftovers of interrupted saves."""
    for path in model_dir.iterdir():
        if path.is_dir() and (path.name.startswith("ckpt-") or path.name.endswith(".partial")) \
                and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


def keep_copy(model_dir: Path, state: State, dest: Path) -> None:
    """A model folder of its own at dest (snapshots/<iteration>, best): its state.json and the checkpoint's files,
    hard-linked (checkpoint files are never changed once written); replaces what dest held, atomically."""
    source = model_dir / state.checkpoint
    temp = dest.with_name(f".{dest.name}.partial")
    shutil.rmtree(temp, ignore_errors=True)
    (temp / state.checkpoint).mkdir(parents=True)
    for name in state.files:
        try:
            os.link(source / name, temp / state.checkpoint / name)
        except OSError:
            shutil.copy2(source / name, temp / state.checkpoint / name)
    write_json_atomic(temp / STATE, state.to_json())
    if (model_dir / POSES).is_file():  # what evaluate reads beside the model: the poses it was trained on
        shutil.copy2(model_dir / POSES, temp / POSES)
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(temp, dest)


def load_trainer_state(model_dir: Path, state: State, trainer: Trainer) -> None:
    """Load the checkpoint's weights and optimiser state into a trainer built from state.config."""
    folder = check_files(model_dir, state)
    for stem, model in trainer.sub_models.items():
        path = folder / f"{stem}.keras"
        if path.name not in state.files:
            raise FaceswapError(f"{model_dir}: {state.checkpoint} has no {path.name}: the model folder is damaged")
        try:
            model.load_weights(path)
        except Exception as err:
            raise FaceswapError(f"{model_dir}: cannot load {state.checkpoint}/{path.name} "
                                f"({type(err).__name__}): the model folder is damaged") from err
    trainer.build_optimizers()
    for key, optimizer in trainer.optimizers.items():
        inner = getattr(optimizer, "inner_optimizer", optimizer)
        _load_by_position(model_dir, state, f"{key}.npz", inner.variables, "optimiser state")
    if trainer.average is not None:
        trainer.average.reset()  # the .keras files held the average (or, saved without one, the weights)
    if TRAINING_WEIGHTS in state.files:
        _load_by_position(model_dir, state, TRAINING_WEIGHTS, trainer.generator_variables, "training weights")


def copy_parts(source_dir: Path, source: State, trainer: Trainer, parts: dict[str, str]) -> None:
    """Start the trainer's sub-models from another model folder's: parts maps this trainer's stem (decoder_a) to
    the source's (decoder_b: its B decoder as this model's A). Weights are copied by position after checking
    that every shape fits; the weight average starts from them. FaceswapError when a part does not fit."""
    loaded = load_models(source_dir, source, tuple(sorted(set(parts.values()))))
    names = {stem: name for name, stem in PARTS.items()}
    for stem, source_stem in parts.items():
        target = trainer.sub_models[stem]
        arrays = loaded[source_stem].get_weights()
        shapes = [tuple(v.shape) for v in target.weights]
        if [a.shape for a in arrays] != shapes:
            theirs = sum(int(np.prod(a.shape)) for a in arrays)
            ours = sum(int(np.prod(shape)) for shape in shapes)
            raise FaceswapError(f"--init-from {source_dir}: its {names[source_stem]} ({len(arrays)} arrays, "
                                f"{theirs:,} weights) does not fit this model's {names[stem]} ({len(shapes)} "
                                f"arrays, {ours:,} weights): start from a model of the same --model and --size")
        target.set_weights(arrays)
    if trainer.average is not None:
        trainer.average.reset()
