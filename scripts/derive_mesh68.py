"""Derive lib/facemesh.py's MESH_68: each of the 68 iBUG points as a fixed blend of 8 of MediaPipe's mesh points.

Run from the checkout: `python -m scripts.derive_mesh68 MEDIA` where MEDIA holds franck.mp4 and cap12.mp4
(`bench/fetch-media.sh MEDIA`), and cap13.mp4 if it is there (then held out, and the agreement on it printed).
On every 4th frame of franck and every 2nd of cap12, each frame and its mirror image: RetinaFace's keypoints seed
both dlib's 68-point predictor (as extract places it) and the mesh; on a third of them again with the frame shrunk
until the eyes are 10 to 35 px apart (the mesh on small faces, dlib's points from the full frame). Then per point,
after a similarity takes each mesh to a common pose: the weights (summing to 1) of its 24 nearest mesh points that
best give dlib's point (least squares, a small ridge, the worst 5 % of frames left out), the 8 largest kept and
fitted again. The hand-checked photos in tests/data are never used: they test the result.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from lib.align import eye_centres, transform_points, umeyama
from lib.facemesh import FaceMesh
from lib.media import FrameSource
from lib.types import Detection
from plugins.extract.align import AlignOptions
from plugins.extract.align.dlib68 import Dlib68Aligner
from plugins.extract.detect import DetectOptions
from plugins.extract.detect.retinaface import RetinafaceDetector

Array = npt.NDArray[np.float64]
VIDEOS = {"franck.mp4": 4, "cap12.mp4": 2}  # training videos and the frame step
HELD_OUT = "cap13.mp4"
CANDIDATES, KEPT, RIDGE, TRIM = 24, 8, 1e-4, 0.05
SMALL_EVERY = 3  # every third sampled frame also shrunk
SMALL_EYES = (10.0, 35.0)  # eye distance of a shrunk face, pixels


class Sampler:
    """Meshes and dlib's 68 points of the single face in video frames."""

    def __init__(self) -> None:
        self.detector = RetinafaceDetector(DetectOptions(min_size=8, rotate=False))
        self.dlib = Dlib68Aligner(AlignOptions())
        self.mesh = FaceMesh()
        self.rng = np.random.default_rng(0)

    def video(self, path: Path, step: int) -> tuple[Array, Array]:
        """(meshes (N, 478, 2), dlib's points (N, 68, 2)) from every step-th frame of a video and its mirror."""
        meshes, points = [], []
        for index, frame in enumerate(FrameSource(path)):
            if index % step or frame.image is None:
                continue
            for image in (frame.image, np.ascontiguousarray(frame.image[:, ::-1])):
                found = self._sample(image, shrink=index // step % SMALL_EVERY == 0)
                for mesh, dlib in found:
                    meshes.append(mesh)
                    points.append(dlib)
        return np.array(meshes), np.array(points)

    def _sample(self, image: np.ndarray, *, shrink: bool) -> list[tuple[Array, Array]]:
        detections = self.detector.detect([image])[0]
        if len(detections) != 1:
            return []
        dlib = self.dlib.align(image, detections)[0]
        found = [(self.mesh.fit(image, _keypoints(detections[0])).points[:, :2], dlib)]
        if shrink:
            eyes = float(np.linalg.norm(np.diff(eye_centres(dlib), axis=0)))
            scale = self.rng.uniform(*SMALL_EYES) / eyes
            small = np.asarray(cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), np.uint8)
            detections = self.detector.detect([small])[0]
            if len(detections) == 1:  # pixel centres: x' = (x + 0.5) * scale - 0.5
                mesh = self.mesh.fit(small, _keypoints(detections[0])).points[:, :2]
                found.append((mesh, (dlib + 0.5) * scale - 0.5))
        return found


def _keypoints(detection: Detection) -> Array:
    assert detection.keypoints is not None  # RetinaFace gives them
    return detection.keypoints


def common_pose(meshes: Array, points: Array) -> tuple[Array, Array]:
    """Both taken by the similarity that best lays each mesh on the first one (scaled to unit width)."""
    reference = meshes[0] / np.ptp(meshes[0][:, 0])
    moved_meshes, moved_points = [], []
    for mesh, dlib in zip(meshes, points):
        matrix = umeyama(mesh, reference)
        moved_meshes.append(transform_points(matrix, mesh))
        moved_points.append(transform_points(matrix, dlib))
    return np.array(moved_meshes), np.array(moved_points)


def blend_weights(meshes: Array, target: Array, chosen: npt.NDArray[np.int64],
                  used: npt.NDArray[np.bool_]) -> Array:
    """Weights summing to 1 of the chosen mesh points that best give target (N, 2), by ridge least squares."""
    count = len(chosen)
    a = np.concatenate([meshes[used][:, chosen, 0], meshes[used][:, chosen, 1]])
    b = np.concatenate([target[used, 0], target[used, 1]])
    even = np.full(count, 1 / count)
    basis = np.eye(count)[:, :-1] - np.eye(count)[:, -1:]  # directions that keep the sum
    design = a @ basis
    step = np.linalg.solve(design.T @ design + RIDGE * len(b) * np.eye(count - 1), design.T @ (b - a @ even))
    return np.asarray(even + basis @ step, np.float64)


def fit_point(meshes: Array, target: Array) -> tuple[npt.NDArray[np.int64], Array]:
    """The KEPT mesh points and weights for one of the 68 points; frames where the blend misses most are left
    out."""
    chosen = np.argsort(np.linalg.norm(meshes.mean(0) - target.mean(0), axis=1))[:CANDIDATES]
    used = np.ones(len(meshes), bool)
    weights = np.zeros(len(chosen))
    for round_ in range(5):
        if round_ == 3:  # three rounds with every candidate, then two with the largest weights
            chosen = chosen[np.argsort(-np.abs(weights))[:KEPT]]
        weights = blend_weights(meshes, target, chosen, used)
        miss = np.linalg.norm((meshes[:, chosen] * weights[None, :, None]).sum(1) - target, axis=1)
        used = miss <= np.quantile(miss, 1 - TRIM)
    return chosen, weights


def agreement(indices: npt.NDArray[np.int64], weights: Array, meshes: Array, points: Array) -> float:
    """Mean distance between the blended points and dlib's, over the eye distance."""
    blended = (meshes[:, indices] * weights[None, :, :, None]).sum(2)
    eyes = np.array([np.linalg.norm(np.diff(eye_centres(p), axis=0)) for p in points])
    return float((np.linalg.norm(blended - points, axis=2).mean(1) / eyes).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("media", type=Path, help="the folder fetch-media.sh filled")
    args = parser.parse_args(argv)
    missing = [name for name in VIDEOS if not (args.media / name).is_file()]
    if missing:
        print(f"error: {', '.join(missing)} not in {args.media}: run bench/fetch-media.sh {args.media}",
              file=sys.stderr)
        return 1
    sampler = Sampler()
    samples = [sampler.video(args.media / name, step) for name, step in VIDEOS.items()]
    meshes, points = common_pose(np.concatenate([s[0] for s in samples]), np.concatenate([s[1] for s in samples]))
    fitted = [fit_point(meshes, points[:, i]) for i in range(68)]
    indices = np.array([chosen for chosen, _ in fitted])
    weights = np.round(np.array([w for _, w in fitted]), 4)
    weights[:, 0] += 1 - weights.sum(1)  # exactly 1 after rounding
    fit = agreement(indices, weights, meshes, points)
    print(f"# Fitted on {len(meshes)} faces; mean distance to dlib's points {fit:.4f} of the eye distance")
    if (args.media / HELD_OUT).is_file():
        held = sampler.video(args.media / HELD_OUT, 2)
        print(f"# Held out ({HELD_OUT}, {len(held[0])} faces): {agreement(indices, weights, *held):.4f}")
    print("MESH_68 = (")
    for chosen, row in zip(indices, weights):
        print(f"    (({', '.join(str(int(i)) for i in chosen)}), ({', '.join(f'{w:.4f}' for w in row)})),")
    print(")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
