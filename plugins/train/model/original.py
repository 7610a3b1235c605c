"""The classic 64 px deepfakes autoencoder: one encoder, one decoder per side, pixel-shuffle upscaling."""
from __future__ import annotations

import keras

from lib.model.blocks import conv_block, output_heads, upscale_block
from lib.model.parts import ModelOptions, ModelParts, check_size


class Original:
    """Four strided 5x5 convolutions, Dense 1024, Dense 4·4·1024, decoders upscaling 8 → 64 px."""

    NAME = "original"
    SIZE = 64
    ENCODER_FILTERS: tuple[int, ...] = (128, 256, 512, 1024)
    DENSE = 1024  # the bottleneck, and the channels of the 4x4 map it is reshaped to
    # The encoder's last upscale (4 → 8 px), then the decoders'.
    DECODER_FILTERS: tuple[int, ...] = (512, 256, 128, 64)

    def __init__(self, options: ModelOptions) -> None:
        self.options = options
        self.size = check_size(self.NAME, options.size, self.SIZE, self.SIZE, self.SIZE)

    def _features(self) -> tuple[keras.KerasTensor, keras.KerasTensor]:
        """The encoder's input and its strided convolutions' features, flattened."""
        inputs = keras.Input((self.size, self.size, 3), name="face")
        x = inputs
        for filters in self.ENCODER_FILTERS:
            x = conv_block(x, filters)
        return inputs, keras.layers.Flatten()(x)

    def build(self) -> ModelParts:
        inputs, x = self._features()
        x = keras.layers.Dense(self.DENSE)(x)
        x = keras.layers.Dense(4 * 4 * self.DENSE)(x)
        x = keras.layers.Reshape((4, 4, self.DENSE))(x)
        latent = upscale_block(x, self.DECODER_FILTERS[0])
        encoder = keras.Model(inputs, latent, name="encoder")
        return ModelParts(encoder, self._decoder("decoder_a"), self._decoder("decoder_b"), self.size)

    def _decoder(self, name: str) -> keras.Model:
        inputs = keras.Input((8, 8, self.DECODER_FILTERS[0]), name="latent")
        x = inputs
        for filters in self.DECODER_FILTERS[1:]:
            x = upscale_block(x, filters)
        return keras.Model(inputs, output_heads(x, self.options.learn_mask), name=name)
