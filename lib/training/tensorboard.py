"""TensorBoard event files for a training run, written without the tensorboard package (only viewing needs it)."""
from __future__ import annotations

from pathlib import Path

import tensorflow as tf
from tensorflow.core.framework import summary_pb2


class ScalarLog:
    """Scalars (losses, speed) per iteration in MODEL_DIR/logs, as tf.summary.scalar writes them."""

    def __init__(self, folder: Path) -> None:
        self._writer = tf.summary.create_file_writer(str(folder))
        # tf.summary.write with the scalars plugin's tag is what tf.summary.scalar writes, without importing
        # the tensorboard package.
        plugin = summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
        self._metadata = summary_pb2.SummaryMetadata(plugin_data=plugin)

    def write(self, step: int, scalars: dict[str, float]) -> None:
        with self._writer.as_default(step=step):
            for name, value in scalars.items():
                tf.summary.write(name, tf.constant(value, tf.float32), metadata=self._metadata)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
