"""A small 64 px autoencoder for CPUs: the original's layout with a quarter of its work per face."""
from __future__ import annotations

import keras

from lib.model.blocks import conv_block, output_heads, upscale_block
from plugins.train.model import ModelOptions, ModelParts, check_size


class Lightweight:
    """Strided 5x5 convolutions 64-128-256-512, Dense 512, Dense 4·4·512, decoders 128-64-32 to 64 px."""

    def __init__(self, options: ModelOptions) -> None:
        self.options = options
        self.size = check_size("lightweight", options.size, 64, 64, 64)

    def build(self) -> ModelParts:
        inputs = keras.Input((self.size, self.size, 3), name="face")
        x = inputs
        for filters in (64, 128, 256, 512):
            x = conv_block(x, filters)
        x = keras.layers.Flatten()(x)
        x = keras.layers.Dense(512)(x)
        x = keras.layers.Dense(4 * 4 * 512)(x)
        x = keras.layers.Reshape((4, 4, 512))(x)
        latent = upscale_block(x, 256)
        encoder = keras.Model(inputs, latent, name="encoder")
        return ModelParts(encoder, self._decoder("decoder_a"), self._decoder("decoder_b"), self.size)

    def _decoder(self, name: str) -> keras.Model:
        inputs = keras.Input((8, 8, 256), name="latent")
        x = inputs
        for filters in (128, 64, 32):
            x = upscale_block(x, filters)
        return keras.Model(inputs, output_heads(x, self.options.learn_mask), name=name)
