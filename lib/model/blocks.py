"""Building blocks for the model plugins (Keras functional API): convolutions, upscales, residual blocks,
output heads and the PatchGAN discriminator. Tensors are NHWC."""
from __future__ import annotations

from typing import Any

import keras

from lib.model.layers import PatchConv2D, PixelShuffle

LEAK = 0.1  # LeakyReLU slope of the classic deepfakes models
# Maps this many pixels across or fewer, of this many channels or more, are convolved as a matrix product
# (PatchConv2D). On a 2-core AVX2 CPU with oneDNN, forward and back: 4x4 maps of 512 and 1024 channels 1.7x
# and 2.2x faster than Conv2D; of 256 channels, and maps of 8 px and more, Conv2D is as fast or faster.
PATCH_CONV_PIXELS = 4
PATCH_CONV_CHANNELS = 512


def _norm(x: Any, norm: str | None, groups: int = 16) -> Any:
    """'group' (GroupNorm), 'instance' (one group per channel) or None."""
    if norm is None:
        return x
    channels = int(x.shape[-1])
    if norm == "instance":
        return keras.layers.GroupNormalization(groups=channels, epsilon=1e-5)(x)
    if norm == "group":
        return keras.layers.GroupNormalization(groups=min(groups, channels), epsilon=1e-5)(x)
    raise ValueError(f"unknown normalisation {norm!r}")


def conv_block(x: Any, filters: int, kernel: int = 5, strides: int = 2, norm: str | None = None) -> Any:
    """Convolution (default: 5x5, stride 2, halves the size), optional normalisation, LeakyReLU."""
    x = keras.layers.Conv2D(filters, kernel, strides=strides, padding="same")(x)
    x = _norm(x, norm)
    return keras.layers.LeakyReLU(LEAK)(x)


def upscale_block(x: Any, filters: int, kernel: int = 3, norm: str | None = None) -> Any:
    """Double the size: a convolution to filters·4 channels, LeakyReLU, pixel shuffle to filters channels."""
    small = x.shape[1] is not None and x.shape[1] <= PATCH_CONV_PIXELS and x.shape[-1] >= PATCH_CONV_CHANNELS
    x = (PatchConv2D if small else keras.layers.Conv2D)(filters * 4, kernel, padding="same")(x)
    x = _norm(x, norm)
    x = keras.layers.LeakyReLU(LEAK)(x)
    return PixelShuffle(2)(x)


def residual_block(x: Any, norm: str | None = "group", kernel: int = 3) -> Any:
    """x + conv(act(norm(conv(x)))), keeping the channel count; the add is followed by LeakyReLU."""
    filters = int(x.shape[-1])
    y = keras.layers.Conv2D(filters, kernel, padding="same")(x)
    y = _norm(y, norm)
    y = keras.layers.LeakyReLU(LEAK)(y)
    y = keras.layers.Conv2D(filters, kernel, padding="same")(y)
    y = _norm(y, norm)
    y = keras.layers.Add()([x, y])
    return keras.layers.LeakyReLU(LEAK)(y)


def output_heads(x: Any, learn_mask: bool, kernel: int = 5) -> list[Any]:
    """The face (sigmoid, 3 channels, BGR [0, 1]) and, with learn_mask, a 1-channel sigmoid mask.

    Both are float32 even under mixed precision: the losses and the saved outputs want full precision.
    """
    face = keras.layers.Conv2D(3, kernel, padding="same", activation="sigmoid", dtype="float32",
                               name="face")(x)
    if not learn_mask:
        return [face]
    mask = keras.layers.Conv2D(1, kernel, padding="same", activation="sigmoid", dtype="float32",
                               name="mask")(x)
    return [face, mask]


def mask_network(size: int, filters: tuple[int, ...] = (16, 32, 64, 96, 128), name: str = "masker"
                 ) -> keras.Model:
    """The occlusion-aware mask: faces (B, n, n, 3) BGR [0, 1] → where the face is seen (B, n, n, 1), float32
    in [0, 1]. A small U-Net on the model's input crop (n a multiple of 16): it finds the face and what is in
    front of it from the input itself, at full resolution, for either person.

    Two 3x3 convolutions per level, strided 3x3 convolutions down to n/16 px, bilinear upsampling with the
    level's features joined back on the way up.
    """
    inputs = keras.Input((size, size, 3), name="face")
    x = keras.layers.Rescaling(2.0, offset=-1.0)(inputs)
    skips = []
    for level, width in enumerate(filters):
        if level:
            x = conv_block(x, width, kernel=3, strides=2)
        x = conv_block(x, width, kernel=3, strides=1)
        skips.append(x)
    for width, skip in zip(reversed(filters[:-1]), reversed(skips[:-1])):
        x = keras.layers.UpSampling2D(2, interpolation="bilinear")(x)
        x = keras.layers.Concatenate()([x, skip])
        x = conv_block(x, width, kernel=3, strides=1)
    mask = keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid", dtype="float32", name="mask")(x)
    return keras.Model(inputs, mask, name=name)


def patch_discriminator(size: int, filters: int = 64, name: str = "discriminator") -> keras.Model:
    """A pix2pix-style PatchGAN: faces (B, n, n, 3) BGR [0, 1] → logits (B, p, p, 1) float32, one per patch.

    Three strided 4x4 convolutions (n/8 patches, each seeing ~46 px), then a 4x4 convolution to one logit.
    """
    inputs = keras.Input((size, size, 3), name="face")
    x = keras.layers.Rescaling(2.0, offset=-1.0)(inputs)
    x = keras.layers.Conv2D(filters, 4, strides=2, padding="same")(x)
    x = keras.layers.LeakyReLU(0.2)(x)
    for mult in (2, 4):
        x = keras.layers.Conv2D(filters * mult, 4, strides=2, padding="same")(x)
        x = _norm(x, "instance")
        x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Conv2D(filters * 8, 4, padding="same")(x)
    x = _norm(x, "instance")
    x = keras.layers.LeakyReLU(0.2)(x)
    logits = keras.layers.Conv2D(1, 4, padding="same", dtype="float32", name="logits")(x)
    return keras.Model(inputs, logits, name=name)
