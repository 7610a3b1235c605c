"""A trained model for convert and evaluate: aligned faces of one person in, the other person's face out."""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lib.errors import FaceswapError
from lib.model.saved import load_models
from lib.model.state import POSES, ModelConfig, face_shapes, read_state

# a2a and b2b reconstruct a face as its own person (evaluate's reconstruction scores, previews).
DIRECTIONS = {"a2b": "decoder_b", "b2a": "decoder_a", "a2a": "decoder_a", "b2b": "decoder_b"}
BATCH = 64


class Swapper:
    """A model's encoder and both decoders, with what its config says of them: loaded from a model folder
    (load_swapper), or the live models of a training run (the held-out check during training)."""

    def __init__(self, encoder: Any, decoder_a: Any, decoder_b: Any, config: ModelConfig, *, iteration: int,
                 batch_size: int = BATCH, masker: Any = None, shapes: dict[str, np.ndarray] | None = None,
                 convert_settings: Mapping[str, Any] | None = None) -> None:
        self.model_name: str = config.model
        self.input_size: int = config.size
        self.coverage: float = config.coverage
        self.has_mask: bool = config.learn_mask
        self.mask_input: bool = config.mask_input
        # Each person's mean face shape (lib.model.state.face_shapes), for the swap's --follow; None: unknown.
        self.shapes = shapes
        # How its swaps are to be made (its recipe's convert settings, state.json): lib.swap.SwapOptions.over.
        self.convert_settings: Mapping[str, Any] = dict(convert_settings or {})
        self.iteration = iteration
        self.batch_size = batch_size
        self._encoder = encoder
        self._decoders = {"decoder_a": decoder_a, "decoder_b": decoder_b}
        self._functions: dict[str, Any] = {}
        # The mask network sees the input crop (and what is in front of its face); without one, the mask comes
        # from the decoder's mask head.
        import tensorflow as tf  # here, not at the top: convert and evaluate check their input before it loads

        self._masker = tf.function(lambda faces: masker(faces, training=False), reduce_retracing=True,
                                    autograph=False) \
            if masker is not None else None

    def _function(self, decoder_name: str) -> Any:
        """A compiled encoder → decoder pass (traced once per batch shape)."""
        if decoder_name not in self._functions:
            encoder, decoder = self._encoder, self._decoders[decoder_name]

            import tensorflow as tf

            def run(faces: Any) -> Any:
                outputs = decoder(encoder(faces, training=False), training=False)
                return tuple(outputs) if isinstance(outputs, (list, tuple)) else (outputs,)

            self._functions[decoder_name] = tf.function(run, reduce_retracing=True, autograph=False)
        return self._functions[decoder_name]

    def swap(self, faces: np.ndarray, direction: str = "a2b") -> tuple[np.ndarray, np.ndarray | None]:
        """faces uint8 BGR (N, n, n, 3) → swapped uint8 BGR (N, n, n, 3), and the learned mask float32
        (N, n, n) in [0, 1] (None when the model has no mask head). direction 'a2b', 'b2a', 'a2a' or 'b2b'."""
        if direction not in DIRECTIONS:
            raise FaceswapError(f"swap direction must be one of {', '.join(DIRECTIONS)}, not '{direction}'")
        faces = np.asarray(faces)
        n = self.input_size
        if faces.ndim != 4 or faces.shape[1:] != (n, n, 3):
            raise FaceswapError(f"this {self.model_name} model swaps {n}x{n} BGR faces, not faces of shape "
                                f"{tuple(faces.shape[1:])}: crop them with coverage {self.coverage} to {n} px")
        run = self._function(DIRECTIONS[direction])
        swapped = np.empty(faces.shape, np.uint8)
        masks = np.empty(faces.shape[:3], np.float32) if self.has_mask else None
        for start in range(0, len(faces), self.batch_size):
            # The feed's conversion, exactly: the model sees the numbers it was trained on.
            chunk = np.multiply(faces[start:start + self.batch_size], np.float32(1 / 255), dtype=np.float32)
            outputs = run(chunk)
            face = np.asarray(outputs[0], np.float32)
            swapped[start:start + len(chunk)] = np.clip(np.rint(face * 255), 0, 255).astype(np.uint8)
            if masks is not None:
                learned = outputs[1] if self._masker is None else self._masker(chunk)
                masks[start:start + len(chunk)] = np.clip(np.asarray(learned, np.float32)[..., 0], 0, 1)
        return swapped, masks


def load_swapper(model_dir: Path) -> Swapper:
    """The model in model_dir, loaded with Keras safe_mode; FaceswapError (one line) when it cannot."""
    state = read_state(Path(model_dir))
    if state is None:
        raise FaceswapError(f"{model_dir} holds no trained model: train one with `faceswap.py train -m "
                            f"{model_dir}` first")
    names = ("encoder", "decoder_a", "decoder_b") + (("masker",) if state.config.mask_model else ())
    models = load_models(Path(model_dir), state, names)
    return Swapper(models["encoder"], models["decoder_a"], models["decoder_b"], state.config,
                   iteration=state.iteration, masker=models.get("masker"), shapes=_read_shapes(Path(model_dir)),
                   convert_settings=state.training.convert)


def _read_shapes(model_dir: Path) -> dict[str, np.ndarray] | None:
    """The mean face shapes train kept in MODEL/poses.json; None without them."""
    try:
        return face_shapes(json.loads((model_dir / POSES).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None
