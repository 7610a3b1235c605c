"""Convert plugins: colour adjustment (color/), the mask that says which pixels are swapped (mask/) and
where the frames go (writer/). Each kind's registry maps a CLI name to 'module:Class', imported when chosen."""
from __future__ import annotations

from lib.swap import FaceSwapper, SwapModel, SwapOptions
from plugins.convert.color import REGISTRY as COLORS
from plugins.convert.mask import REGISTRY as MASKS
from plugins.registry import load_plugin


def load_face_swapper(model: SwapModel, options: SwapOptions) -> FaceSwapper:
    """lib.swap's FaceSwapper for this model with the mask and colour plugins the options name; the options not
    given (SwapOptions.given) are the model's own convert settings, where it has them."""
    options = options.over(model.convert_settings)
    mask = load_plugin(MASKS, "mask", options.mask_for(model))()
    color = load_plugin(COLORS, "colour adjustment", options.color)()
    finder = None
    if options.follow > 0:  # the swapped face's landmarks, found as extract finds a face's
        from plugins.extract.align.dlib68 import AlignOptions, Dlib68Aligner
        finder = Dlib68Aligner(AlignOptions())
    return FaceSwapper(model, mask, color, options, finder)
