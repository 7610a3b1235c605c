"""The high-quality model: residual blocks and group normalisation, 128 px by default (64-256)."""
from __future__ import annotations

import keras

from lib.model.blocks import conv_block, output_heads, residual_block, upscale_block
from lib.model.parts import ModelOptions, ModelParts, check_size

ENCODER_FILTERS = (64, 128, 256, 512, 512)  # five stride-2 steps: n → n/32
DECODER_FILTERS = (384, 256, 128, 64)  # four upscales: n/16 → n
LATENT = 512


class Residual:
    """Encoder: [-1, 1] input, 5 strided convs with GroupNorm and residual blocks, Dense 512 bottleneck,
    Dense to (n/32)²·512, one upscale. Decoders: 4 upscales, each but the last followed by a residual block."""

    def __init__(self, options: ModelOptions) -> None:
        self.options = options
        self.size = check_size("residual", options.size, 128, 64, 256, step=32)

    def build(self) -> ModelParts:
        inputs = keras.Input((self.size, self.size, 3), name="face")
        x = keras.layers.Rescaling(2.0, offset=-1.0)(inputs)  # the boundary is [0, 1]; this model wants [-1, 1]
        for i, filters in enumerate(ENCODER_FILTERS):
            x = conv_block(x, filters, norm=None if i == 0 else "group")
            if 1 <= i <= 3:
                x = residual_block(x)
        x = keras.layers.Flatten()(x)
        x = keras.layers.Dense(LATENT)(x)
        side = self.size // 32
        x = keras.layers.Dense(side * side * 512)(x)
        x = keras.layers.Reshape((side, side, 512))(x)
        latent = upscale_block(x, 512, norm="group")
        encoder = keras.Model(inputs, latent, name="encoder")
        return ModelParts(encoder, self._decoder("decoder_a", side * 2), self._decoder("decoder_b", side * 2),
                          self.size)

    def _decoder(self, name: str, side: int) -> keras.Model:
        inputs = keras.Input((side, side, 512), name="latent")
        x = inputs
        for i, filters in enumerate(DECODER_FILTERS):
            x = upscale_block(x, filters, norm="group")
            if i < len(DECODER_FILTERS) - 1:
                x = residual_block(x)
        return keras.Model(inputs, output_heads(x, self.options.learn_mask), name=name)
