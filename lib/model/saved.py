"""A model folder's saved sub-models (.keras files of its current checkpoint), loaded for convert, evaluate and
train --init-from; lib/training/checkpoint.py writes them."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from lib.errors import FaceswapError
from lib.model.state import State, check_files


def load_models(model_dir: Path, state: State, names: tuple[str, ...]) -> dict[str, Any]:
    """Load sub-models (e.g. 'encoder', 'decoder_b') from the current checkpoint with safe_mode=True."""
    folder = check_files(model_dir, state)
    # Keras (and TensorFlow) load here, once the folder is known to hold a model: a refused input is told at once.
    import keras

    from lib.model import layers  # noqa: F401 (registers the custom layers the .keras files name)

    models = {}
    for stem in names:
        path = folder / f"{stem}.keras"
        if path.name not in state.files:
            raise FaceswapError(f"{model_dir}: {state.checkpoint} has no {path.name}: the model folder is damaged")
        try:
            models[stem] = keras.saving.load_model(path, compile=False, safe_mode=True)
        except Exception as err:
            raise FaceswapError(f"{model_dir}: cannot load {state.checkpoint}/{path.name} "
                                f"({type(err).__name__}): the model folder is damaged") from err
    return models
