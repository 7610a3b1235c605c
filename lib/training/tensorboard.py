"""TensorBoard event files for a training run in MODEL/logs: losses, speed and held-out metrics as scalars, the
preview grid as an image. `tensorboard --logdir MODEL/logs` shows the run live."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf


class TrainingLog:
    """Writes scalars and images by iteration; flushed after every write so a watching TensorBoard keeps up."""

    def __init__(self, folder: Path) -> None:
        self._writer = tf.summary.create_file_writer(str(folder))

    def scalars(self, step: int, values: dict[str, float | None]) -> None:
        with self._writer.as_default(step=step):
            for name, value in values.items():
                if value is not None:
                    tf.summary.scalar(name, float(value))
        self._writer.flush()

    def image(self, step: int, name: str, image: np.ndarray) -> None:
        """A BGR uint8 image (H, W, 3)."""
        with self._writer.as_default(step=step):
            tf.summary.image(name, np.ascontiguousarray(image[None, ..., ::-1]))
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
