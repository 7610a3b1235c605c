"""A small autoencoder for CPUs: the original's layout with a quarter of its work per face; at 128 px, a strided
stem in front of the same encoder and one more upscale in each decoder, so the faces drawn carry twice the detail
for about a third more work."""
from __future__ import annotations

import keras

from lib.model.blocks import conv_block, output_heads, upscale_block
from lib.model.parts import ModelOptions, check_size
from plugins.train.model.original import Original

# The 128 px model's extra stages: a stride-2 convolution of this many filters in front of the encoder (128 -> 64),
# and a last upscale of this many in each decoder (64 -> 128).
STEM_FILTERS = 32
TOP_FILTERS = 16


class Lightweight(Original):
    """Strided 5x5 convolutions 64-128-256-512, Dense 512, Dense 4·4·512, decoders 128-64-32 to 64 px; at 128 px
    (--size 128) a 32-filter stem first and a 16-filter upscale last."""

    NAME = "lightweight"
    ENCODER_FILTERS = (64, 128, 256, 512)
    DENSE = 512
    DECODER_FILTERS = (256, 128, 64, 32)

    def __init__(self, options: ModelOptions) -> None:
        self.options = options
        self.size = check_size(self.NAME, options.size, self.SIZE, self.SIZE, 2 * self.SIZE, step=self.SIZE)

    def _features(self) -> tuple[keras.KerasTensor, keras.KerasTensor]:
        inputs = keras.Input((self.size, self.size, 3), name="face")
        x = inputs if self.size == self.SIZE else conv_block(inputs, STEM_FILTERS)
        for filters in self.ENCODER_FILTERS:
            x = conv_block(x, filters)
        return inputs, keras.layers.Flatten()(x)

    def _decoder(self, name: str) -> keras.Model:
        inputs = keras.Input((8, 8, self.DECODER_FILTERS[0]), name="latent")
        x = inputs
        for filters in self.DECODER_FILTERS[1:] + ((TOP_FILTERS,) if self.size > self.SIZE else ()):
            x = upscale_block(x, filters)
        return keras.Model(inputs, output_heads(x, self.options.learn_mask), name=name)
