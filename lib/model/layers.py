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


@keras.saving.register_keras_serializable(package="faceswap")
class PatchConv2D(keras.layers.Conv2D):
    """A stride-1 'same' Conv2D computed as one matrix product: the kernel times the input's k·k shifted copies
    side by side. Same weights and outputs as Conv2D. Used on the wide maps of a few pixels behind the models'
    bottleneck, where a CPU's convolution is slow: 1.7-2.2x slower forward and back than this on 4x4 maps of
    512-1024 channels with oneDNN, 2-5x without (lib.model.blocks; the "4x4 maps" rows of `python -m bench.train`
    measure a whole step each way). A matrix product runs near a CPU's or a GPU's peak at any size.
    """

    def __init__(self, filters: int, kernel_size: Any, **kwargs: Any) -> None:
        super().__init__(filters, kernel_size, **kwargs)
        if (tuple(self.strides) != (1, 1) or tuple(self.dilation_rate) != (1, 1) or self.padding != "same"
                or self.groups != 1 or self.data_format != "channels_last"):
            raise ValueError("PatchConv2D takes stride 1, no dilation, 'same' padding, one group, channels last")

    def convolution_op(self, inputs: Any, kernel: Any) -> Any:
        height, width = inputs.shape[1], inputs.shape[2]
        if height is None or width is None:
            return super().convolution_op(inputs, kernel)
        rows, cols = self.kernel_size
        top, left = (rows - 1) // 2, (cols - 1) // 2  # as TensorFlow pads 'same'
        padded = keras.ops.pad(inputs, [[0, 0], [top, rows - 1 - top], [left, cols - 1 - left], [0, 0]])
        patches = keras.ops.concatenate([padded[:, i:i + height, j:j + width, :]
                                         for i in range(rows) for j in range(cols)], axis=-1)
        return keras.ops.matmul(patches, keras.ops.reshape(kernel, (-1, self.filters)))
