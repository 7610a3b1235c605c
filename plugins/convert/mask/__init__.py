"""Which pixels of the swapped face replace the frame's: every plugin has `make(landmarks, size, learned, mesh)`
-> float32 (size, size) in [0, 1], where landmarks are the face's 68 points in pixels of the size x size
model crop, learned is the model's own mask (None when it has no mask head) and mesh the face's 478 mesh points in
the same pixels (None for a face found without one). Erosion and feathering are applied afterwards, the same for
every plugin (lib/blend.py)."""
from __future__ import annotations

REGISTRY = {
    "learned-hull": "plugins.convert.mask.learned_hull:LearnedHullMask",
    "learned": "plugins.convert.mask.learned:LearnedMask",
    "hull": "plugins.convert.mask.hull:HullMask",
    "mesh": "plugins.convert.mask.mesh:MeshMask",
    "learned-mesh": "plugins.convert.mask.mesh:LearnedMeshMask",
    "none": "plugins.convert.mask.none:NoMask",
}
