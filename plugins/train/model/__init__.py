"""Model plugins: a shared encoder and two decoders, described as Keras models (lib.model.parts); training
lives in lib/training."""
from __future__ import annotations

REGISTRY = {
    "original": "plugins.train.model.original:Original",
    "lightweight": "plugins.train.model.lightweight:Lightweight",
    "residual": "plugins.train.model.residual:Residual",
    "liae": "plugins.train.model.liae:Liae",
    "liae-oneway": "plugins.train.model.liae:LiaeOneWay",
}
SUMMARIES = {
    "original": "the classic deepfakes autoencoder, 64 px, 82 M parameters",
    "lightweight": "a small 64 px model that learns something useful on a CPU in an hour (--size 128: twice the "
                   "detail for about a third more work)",
    "liae": "DeepFaceLab's LIAE at lightweight's size: one decoder for both people, 64 px",
    "liae-oneway": "liae as DeepFaceLab has it, for swaps of A to B: B drawn from the shared code alone, 64 px",
    "residual": "high quality: residual blocks and group normalisation, 128 px (--size 64-256)",
}
