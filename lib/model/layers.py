"""Custom Keras layers. Each is registered and has get_config, so .keras files reload with safe_mode=True."""
from __future__ import annotations

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="faceswap")
class PixelShuffle(keras.layers.Layer):
    """Sub-pixel upscaling: (B, H, W, C·s²) → (B, H·s, W·s, C), a depth-to-space rearrangement."""

    def __init__(self, scale: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale = int(scale)

    def call(self, inputs: Any) -> Any:
        return keras.ops.depth_to_space(inputs, self.scale, data_format="channels_last")

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        batch, height, width, channels = input_shape
        s = self.scale
        return (batch, None if height is None else height * s, None if width is None else width * s,
                None if channels is None else channels // (s * s))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="faceswap")
class ChannelSlice(keras.layers.Layer):
    """Channels start to stop of an NHWC tensor: (B, H, W, C) → (B, H, W, stop - start)."""

    def __init__(self, start: int = 0, stop: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start, self.stop = int(start), int(stop)

    def call(self, inputs: Any) -> Any:
        return inputs[..., self.start:self.stop]

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (*input_shape[:-1], self.stop - self.start)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "start": self.start, "stop": self.stop}
