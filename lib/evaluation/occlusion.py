"""Whether the mask leaves what is in front of a face in place: held-out occluders pasted onto held-out faces,
the faces swapped as convert swaps them, and two numbers per direction (evaluate --occluders):

- occluder_kept: of the occluder's pixels over the face (inside the face hull, in the model's crop), the share
  where the pasted mask is below one half: the original frame shows through, the occluder stays in front.
- face_iou: the intersection over union of the mask (as its plugin made it, above one half) and the face hull
  less the occluder: the face that is visible, which the swap should cover.

Each face gets one occluder (in turn from the folder), placed as training places them (lib.occlusion.place,
near the mouth, nose or eyes) from a random stream seeded by the face's position: every run is the same.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import cv2
import numpy as np

from lib.align import transform_points
from lib.evaluation.held_out import HeldOutFaces, pick_evenly
from lib.evaluation.scores import SWAPS, swap_faces
from lib.masks import hull_mask
from lib.occlusion import Occluder, paste, place
from lib.swap import FaceSwapper, SwappedFrame

SEED = 12
SAMPLES = 8  # faces per direction shown in occlusion.png
FACE = 128  # pixels per face there


def _strip(images: list[np.ndarray]) -> np.ndarray:
    return np.hstack([cv2.resize(image, (FACE, FACE), interpolation=cv2.INTER_AREA) for image in images])


def occlude(faces: HeldOutFaces, occluders: list[Occluder], seed: int = SEED
            ) -> tuple[HeldOutFaces, list[np.ndarray]]:
    """The faces with an occluder pasted over each (copies), and each occluder's alpha in face pixels."""
    images, alphas = [], []
    for index, (image, landmarks) in enumerate(zip(faces.images, faces.landmarks)):
        rng = np.random.default_rng([seed, index])
        centre, size = place(rng, landmarks)
        covered = image.copy()
        alphas.append(paste(covered, occluders[index % len(occluders)], centre, size, rng=rng))
        images.append(covered)
    return replace(faces, images=images), alphas


def score_masks(faces: HeldOutFaces, results: list[SwappedFrame], alphas: list[np.ndarray],
                names: list[str] | None = None) -> dict[str, Any]:
    """occluder_kept and face_iou (means over the faces), and occluder_kept per occluder name when names (one
    per face) are given."""
    kept, iou = [], []
    by_name: dict[str, list[float]] = {}
    for index, (landmarks, result, alpha) in enumerate(zip(faces.landmarks, results, alphas)):
        face = result.faces[0]
        n = face.mask.shape[0]
        occluder = cv2.warpAffine(alpha, face.matrix, (n, n), flags=cv2.INTER_LINEAR) >= 0.5
        hull = hull_mask(transform_points(face.matrix, landmarks), n) > 0.5
        over_face = occluder & hull
        visible = hull & ~occluder
        if over_face.any():
            kept.append(float((face.mask[over_face] < 0.5).mean()))
            if names is not None:
                by_name.setdefault(names[index], []).append(kept[-1])
        made = face.made >= 0.5
        union = made | visible
        if union.any():
            iou.append(float((made & visible).sum() / union.sum()))
    scores: dict[str, Any] = {"faces": len(results), "measured": len(kept),
                              "occluder_kept": float(np.mean(kept)) if kept else None,
                              "face_iou": float(np.mean(iou)) if iou else None}
    if names is not None:
        scores["kept_by_occluder"] = {name: float(np.mean(values)) for name, values in sorted(by_name.items())}
    return scores


def score_occlusion(swapper: FaceSwapper, faces_a: HeldOutFaces, faces_b: HeldOutFaces,
                    occluders: list[Occluder]) -> tuple[dict[str, Any], np.ndarray]:
    """Per swap direction (a2b, b2a): occluder_kept and face_iou of the faces of its source side with the
    occluders pasted on; and a picture of some of them (rows: occluded face, swap, mask; per direction). """
    faces = {"A": faces_a, "B": faces_b}
    report: dict[str, Any] = {}
    rows = []
    for direction, (source, _) in SWAPS.items():
        covered, alphas = occlude(faces[source], occluders)
        results = swap_faces(swapper, covered, direction)
        names = [occluders[index % len(occluders)].name for index in range(len(results))]
        report[direction] = score_masks(covered, results, alphas, names)
        shown = pick_evenly(len(results), SAMPLES)
        rows.append(_strip([covered.images[i] for i in shown]))
        rows.append(_strip([results[i].image for i in shown]))
        rows.append(_strip([cv2.cvtColor(np.round(results[i].faces[0].frame_mask(results[i].image.shape) * 255)
                                         .astype(np.uint8), cv2.COLOR_GRAY2BGR) for i in shown]))
    width = max(row.shape[1] for row in rows)
    picture = np.vstack([np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0))) for row in rows])
    return report, picture
