"""DeepFaceLab's LIAE at the lightweight model's width: one encoder, one decoder for both people, and the
person carried by a code of their own beside a code both share: made symmetric (liae), so it swaps both ways,
and as DeepFaceLab has it (liae-oneway), for swaps of A to B."""
from __future__ import annotations

import keras

from lib.model.blocks import output_heads, upscale_block
from lib.model.layers import ChannelSlice
from lib.model.parts import ModelParts
from plugins.train.model.original import Original


class Liae(Original):
    """Encoder: strided 5x5 convolutions 64-128-256-512, then three "inter" codes of the flattened features
    (each Dense 512, Dense 4·4·256, an upscale to 8·8·128): inter_a, inter_b and inter_ab, side by side in its
    output. The decoder (upscales 128-64-32 to 64 px) is one model in both decoder_a and decoder_b: decoder_a
    draws from (inter_a, inter_ab), decoder_b from (inter_b, inter_ab).

    A's faces train (inter_a, inter_ab) and B's (inter_b, inter_ab); a swap of A to B reads A's face with
    inter_b. Meant to carry pose and expression through inter_ab to a decoder that has drawn both people in
    every pose either was recorded in, where a decoder per person (original, lightweight) draws only its own
    person's poses; docs/experiments.md measures how far it does.
    """

    NAME = "liae"
    SIZE = 64
    ENCODER_FILTERS = (64, 128, 256, 512)
    DENSE = 512
    CODE = 128  # channels of each 8x8 code
    DECODER_FILTERS = (128, 64, 32)
    CODES: tuple[str, ...] = ("a", "b", "ab")  # the inter codes, in their order in the encoder's output
    DRAWS: dict[str, tuple[str, str]] = {"a": ("a", "ab"), "b": ("b", "ab")}  # what decoder_<side> feeds it

    def build(self) -> ModelParts:
        inputs, features = self._features()
        codes = [self._inter(features, f"inter_{name}") for name in self.CODES]
        encoder = keras.Model(inputs, keras.layers.Concatenate(name="codes")(codes), name="encoder")
        decoder = self._shared_decoder()
        return ModelParts(encoder, self._side(decoder, "a"), self._side(decoder, "b"), self.size)

    def _inter(self, features: keras.KerasTensor, name: str) -> keras.KerasTensor:
        x = keras.layers.Dense(self.DENSE, name=f"{name}_dense")(features)
        x = keras.layers.Dense(4 * 4 * 2 * self.CODE, name=f"{name}_map")(x)
        x = keras.layers.Reshape((4, 4, 2 * self.CODE), name=f"{name}_4x4")(x)
        return upscale_block(x, self.CODE)

    def _shared_decoder(self) -> keras.Model:
        inputs = keras.Input((8, 8, 2 * self.CODE), name="code")
        x = inputs
        for filters in self.DECODER_FILTERS:
            x = upscale_block(x, filters)
        return keras.Model(inputs, output_heads(x, self.options.learn_mask), name="decoder")

    def _side(self, decoder: keras.Model, side: str) -> keras.Model:
        """decoder_<side>: the encoder's codes → the decoder fed the codes DRAWS names for the side."""
        inputs = keras.Input((8, 8, len(self.CODES) * self.CODE), name="codes")
        slices = {name: ChannelSlice(i * self.CODE, (i + 1) * self.CODE, name=f"inter_{name}")(inputs)
                  for i, name in enumerate(self.CODES) if name in self.DRAWS[side]}
        outputs = decoder(keras.layers.Concatenate()([slices[name] for name in self.DRAWS[side]]))
        return keras.Model(inputs, outputs, name=f"decoder_{side}")



class LiaeOneWay(Liae):
    """DeepFaceLab's LIAE as DeepFaceLab has it, for swaps of A to B: B is drawn from (inter_ab, inter_ab), A from
    (inter_a, inter_ab), and there is no inter_b. A swap of A to B feeds the decoder A's face through inter_ab
    alone, the code both people's faces train, in the form B's faces train it. B to A (inter_a of B's face) is
    the symmetric liae's swap. docs/experiments.md measures it against liae.
    """

    NAME = "liae-oneway"
    CODES = ("a", "ab")
    DRAWS = {"a": ("a", "ab"), "b": ("ab", "ab")}
