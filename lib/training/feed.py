"""The training feed: endless batches of augmented A and B faces with masks and loss weights, made ahead of
the model by worker threads (OpenCV releases the GIL) and handed to TensorFlow through tf.data."""
from __future__ import annotations

import math
import os
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np
import tensorflow as tf

from lib.align import (
    MIRROR_68,
    compose,
    coverage_matrix,
    invert,
    landmark_offsets,
    offset_maps,
    resize_matrix,
    transform_points,
)
from lib.errors import check_range
from lib.expression import close_eyes, expression_features, rarity_weights
from lib.masks import blank_background, hull_mask, region_weights
from lib.occlusion import OccluderMaker, paste, place, skin_box
from lib.pose import turn_landmarks
from lib.training import augment
from lib.training.batch import ARRAYS, Batch, SideBatch, join_sides
from lib.training.faces import FaceSet


@dataclass(frozen=True)
class WarpSchedule:
    """When a run's batches stop being warped (train --no-warp-after): from batch number `batches` of the run
    on, or from the first batch asked for `seconds` after the run's first, whichever comes first (None: never
    by that measure). The feed reads it as it asks its workers for each batch, so a batch's warp never depends
    on when a worker got to it."""

    batches: int | None = None
    seconds: float | None = None

    def unwarped(self, index: int, elapsed: float) -> bool:
        return ((self.batches is not None and index >= self.batches)
                or (self.seconds is not None and elapsed >= self.seconds))


# The most pose_transfer turns a face (degrees, yaw and pitch each): beyond, the warp stretches the far cheek.
MAX_TURN = 25.0


def default_workers() -> int:
    """Feed threads by default: every core makes faces for a GPU (the model's own threads then wait on the GPU),
    2 to 16."""
    return min(16, max(2, os.cpu_count() or 2))


@dataclass(frozen=True)
class FeedOptions:
    """What the feed makes: model input size n, the crop, the batch, the augmentation and the workers."""

    size: int
    coverage: float = 0.6
    batch_size: int = 16
    rotation: float = 10
    zoom: float = 0.05
    shift: float = 0.05
    flip: float = 0.5
    warp: bool = True
    color_jitter: bool = True
    color_match: float = 0.0
    motion_blur: float = 0.0
    eye_multiplier: float = 3.0
    mouth_multiplier: float = 2.0
    mask_input: bool = False  # blank each face's background (outside its grown hull), in input and target alike
    # Share of input faces with an occluder pasted over them (lib/occlusion.py): the mask target then leaves the
    # occluder out and the reconstruction loss ignores its pixels.
    occlusion: float = 0.0
    # Share of faces redrawn, input and target alike, turned to the head pose (yaw, pitch) of a random face of
    # the other person: a decoder learns its person in the other's poses too, as far as a smooth 2D warp of the
    # face shows them (no new side of the head is drawn).
    pose_transfer: float = 0.0
    # Share of faces shown with both eyes shut (lib.expression.close_eyes), input and target alike: a decoder whose
    # person never blinks on film still learns to draw a blink.
    blink: float = 0.0
    # How strongly faces of rare expressions (closed eyes, an open mouth) are shown more often: 0 all alike, 1
    # every expression about as often as any other (lib.expression.rarity_weights).
    expression_balance: float = 0.0
    workers: int = 2
    seed: int | None = None

    def __post_init__(self) -> None:
        # The options train's command line gives (coverage, batch, probabilities, ...) are checked there, once
        # (scripts/train/args.py); these are the feed's own.
        check_range("model input size", self.size, 16, 1024, unit="pixels")
        check_range("random rotation", self.rotation, 0, 180, unit="degrees")
        check_range("random zoom", self.zoom, 0, 0.5)
        check_range("random shift", self.shift, 0, 0.5)
        check_range("flip probability", self.flip, 0, 1)
        check_range("occlusion share", self.occlusion, 0, 1)
        check_range("pose transfer share", self.pose_transfer, 0, 1)
        check_range("share of faces with their eyes shut", self.blink, 0, 1)
        check_range("expression balance", self.expression_balance, 0, 1)


def _to_float(images: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] to float32 [0, 1], the same way everywhere (the plain crop must match exactly)."""
    return np.multiply(images, np.float32(1 / 255), dtype=np.float32)


class _Side:
    """One side's faces, kept at a working size where the crop is about n pixels, and how to sample them."""

    def __init__(self, faces: FaceSet, options: FeedOptions) -> None:
        size, n = faces.size, options.size
        work = min(size, math.ceil(n / options.coverage))
        # Shrinking every face once with INTER_AREA keeps the crops free of aliasing (a bilinear warp that
        # shrinks 2x or more skips pixels) and makes each per-sample warp read a small image.
        if work < size:
            self.images = np.stack([cv2.resize(image, (work, work), interpolation=cv2.INTER_AREA)
                                    for image in faces.images])
            self.from_cache = invert(resize_matrix(size, work))
        else:
            self.images = faces.images
            self.from_cache = np.eye(2, 3)
        if options.mask_input and faces.landmarks is not None:
            to_cache = invert(self.from_cache)
            self.images = np.stack([blank_background(image, transform_points(to_cache, points))
                                    for image, points in zip(self.images, faces.landmarks)])
        self.landmarks = faces.landmarks
        self.poses = faces.poses  # (yaw, pitch) of each face in its frame: what pose_transfer lends
        # How often each face is drawn: rare expressions more often with options.expression_balance (None: alike).
        self.chances = (None if faces.landmarks is None or options.expression_balance <= 0 else
                        rarity_weights(expression_features(faces.landmarks), options.expression_balance))
        self.size = size
        self.crop = coverage_matrix(np.eye(2, 3), size, options.coverage, n)
        self.options = options
        self.stats: np.ndarray | None = None
        if options.color_match > 0:
            # The face's colours only, inside its hull: a crop's background (a blue wall) would otherwise tint
            # the other person's face, and the decoders learn to paint that tint into eyes and mouth.
            everyone = np.arange(len(self.images))
            hulls = None if self.landmarks is None else np.stack(
                [hull_mask(transform_points(self.crop, points), options.size) for points in self.landmarks])
            self.stats = augment.lab_stats(augment.bgr_to_lab(self.crops(everyone)), hulls)

    def __len__(self) -> int:
        return len(self.images)

    def crops(self, indices: np.ndarray) -> np.ndarray:
        """The plain coverage crops of these faces, float32 BGR [0, 1] (len, n, n, 3)."""
        n = self.options.size
        sample = compose(self.crop, self.from_cache)
        flags = augment.interpolation(sample)
        return _to_float(np.stack([cv2.warpAffine(self.images[i], sample, (n, n), flags=flags,
                                                  borderMode=cv2.BORDER_REPLICATE) for i in indices]))

    def occluder_sources(self) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        """The faces (as kept) and a box of cheek skin on each, for OccluderMaker."""
        if self.landmarks is None:
            return list(self.images), [None] * len(self.images)
        to_cache = invert(self.from_cache)
        return list(self.images), [skin_box(transform_points(to_cache, points)) for points in self.landmarks]

    def batch(self, rng: np.random.Generator, other: _Side, occlusion: tuple[np.random.Generator, OccluderMaker]
              | None = None, *, warp: bool = True) -> SideBatch:
        """One side's batch: warped, target (B, n, n, 3), mask, weight, occluder (B, n, n, 1); float32. occlusion:
        the random stream and maker of the occluders pasted over options.occlusion of the inputs; occluder is
        each one's opacity (0 without). warp False: the inputs are not warped even with options.warp."""
        opts, n, count = self.options, self.options.size, self.options.batch_size
        pair = np.empty((2, count, n, n, 3), np.uint8)  # inputs and targets, coloured alike below
        mask = np.ones((count, n, n, 1), np.float32)
        weight = np.ones((count, n, n, 1), np.float32)
        occluders = np.zeros((count, n, n, 1), np.float32)
        indices = (rng.integers(len(self), size=count) if self.chances is None else
                   rng.choice(len(self), size=count, p=self.chances))
        for j, i in enumerate(indices):
            transform, flipped = augment.random_similarity(rng, n, rotation=opts.rotation, zoom=opts.zoom,
                                                           shift=opts.shift, flip=opts.flip)
            matrix = compose(transform, self.crop)  # face pixels -> crop pixels
            sample = compose(matrix, self.from_cache)
            flags = augment.interpolation(sample)
            landmarks, moved = self._borrowed_pose(rng, i, matrix, other)
            image = self._eyes_shut(rng, i)
            if moved is None:
                pair[1, j] = cv2.warpAffine(image, sample, (n, n), flags=flags, borderMode=cv2.BORDER_REPLICATE)
            else:
                map_x, map_y = offset_maps(sample, moved)
                pair[1, j] = cv2.remap(image, map_x, map_y, flags, borderMode=cv2.BORDER_REPLICATE)
            if warp and opts.warp:
                map_x, map_y = augment.warp_maps(rng, sample, n, moved)
                pair[0, j] = cv2.remap(image, map_x, map_y, flags, borderMode=cv2.BORDER_REPLICATE)
            else:
                pair[0, j] = pair[1, j]
            if landmarks is not None:
                points = transform_points(matrix, landmarks)
                points = points[MIRROR_68] if flipped else points
                mask[j, ..., 0] = hull_mask(points, n)
                weight[j, ..., 0] = region_weights(points, n, opts.eye_multiplier, opts.mouth_multiplier)
                if occlusion is not None and occlusion[0].random() < opts.occlusion:
                    occ_rng, maker = occlusion
                    centre, length = place(occ_rng, points)
                    alpha = paste(pair[0, j], maker.make(occ_rng, max(4, int(length))), centre, length,
                                  rng=occ_rng)
                    # The mask learns to leave the object out; the decoder is not asked to draw it.
                    mask[j, ..., 0] *= 1 - alpha
                    weight[j, ..., 0] *= 1 - alpha
                    occluders[j, ..., 0] = alpha
        images = self._colour(rng, _to_float(pair), indices, other)
        return SideBatch(warped=images[0], target=images[1], mask=mask, weight=weight, occluder=occluders)

    def _eyes_shut(self, rng: np.random.Generator, index: int) -> np.ndarray:
        """Face `index` as kept, or for options.blink of the faces a copy with its eyes shut (the upper lids 70 to
        100 % of the way down). No random number is drawn without options.blink: batches stay as they were."""
        image = self.images[index]
        if self.landmarks is None or self.options.blink <= 0 or rng.random() >= self.options.blink:
            return image
        points = transform_points(invert(self.from_cache), self.landmarks[index])
        return close_eyes(image, points, float(rng.uniform(0.7, 1.0)))

    def _borrowed_pose(self, rng: np.random.Generator, index: int, matrix: np.ndarray,
                       other: _Side) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Face `index`'s landmarks (face pixels), for options.pose_transfer of the faces turned to the head pose
        of a random face of the other side (lib.pose.turn_landmarks); and the backward offsets in crop pixels
        that move its pixels so (None when not moved)."""
        own = None if self.landmarks is None else self.landmarks[index]
        if (own is None or self.poses is None or other.poses is None or self.options.pose_transfer <= 0
                or rng.random() >= self.options.pose_transfer):
            return own, None
        turn = np.clip(other.poses[rng.integers(len(other))] - self.poses[index], -MAX_TURN, MAX_TURN)
        moved = (turn_landmarks(own, float(turn[0]), float(turn[1]), self.size) if np.isfinite(turn).all()
                 else None)
        if moved is None:
            return own, None
        offsets = landmark_offsets(transform_points(matrix, own), transform_points(matrix, moved),
                                   self.options.size)
        return moved, offsets

    def _colour(self, rng: np.random.Generator, pair: np.ndarray, indices: np.ndarray,
                other: _Side) -> np.ndarray:
        """Colour match, LAB jitter and motion blur, the same on a sample's input and target."""
        opts = self.options
        count = pair.shape[1]
        matched: np.ndarray = np.less(rng.random(count), opts.color_match)
        if opts.color_jitter or matched.any():
            # Both are per-channel affine maps in LAB: compose them, convert the batch once each way.
            scale, offset = np.ones((count, 3)), np.zeros((count, 3))
            for j, i in enumerate(indices):
                if matched[j] and self.stats is not None and other.stats is not None:
                    reference = other.stats[rng.integers(len(other))]
                    scale[j], offset[j] = augment.match_affine(self.stats[i], reference)
                if opts.color_jitter:
                    jitter_scale, jitter_offset = augment.jitter_affine(rng)
                    scale[j], offset[j] = scale[j] * jitter_scale, offset[j] * jitter_scale + jitter_offset
            lab = augment.bgr_to_lab(pair)
            for j in range(count):
                augment.apply_affine(lab[0, j], scale[j], offset[j])
                augment.apply_affine(lab[1, j], scale[j], offset[j])
            pair = augment.lab_to_bgr(lab)
        for k in np.flatnonzero(rng.random(count) < opts.motion_blur):
            j = int(k)
            kernel = augment.motion_kernel(rng, opts.size)
            pair[0, j] = augment.motion_blur(pair[0, j], kernel)
            pair[1, j] = augment.motion_blur(pair[1, j], kernel)
        return pair


class Feed:
    """Endless augmented batches of both sides, reproducible from options.seed."""

    def __init__(self, faces_a: FaceSet, faces_b: FaceSet, options: FeedOptions,
                 schedule: WarpSchedule | None = None) -> None:
        self.options = options
        self.schedule = schedule or WarpSchedule()
        self._sides = {"a": _Side(faces_a, options), "b": _Side(faces_b, options)}
        seed = options.seed if options.seed is not None else np.random.SeedSequence().entropy
        self._seed = int(seed)  # type: ignore[arg-type]
        self._occluders: OccluderMaker | None = None
        # The first batch made without the warp (the schedule's, decided when it is asked for); inf: none yet.
        self.unwarped_from: float = math.inf
        if options.occlusion > 0:
            faces, skin = [], []
            for side in self._sides.values():  # backgrounds and skin of both people
                side_faces, side_skin = side.occluder_sources()
                faces += side_faces
                skin += side_skin
            self._occluders = OccluderMaker(faces, skin)

    def make_batch(self, index: int) -> Batch:
        """Batch number index of the endless sequence (depends only on the seed, the index and whether the
        schedule had stopped the warp by then)."""
        sides = []
        for number, (key, side) in enumerate(self._sides.items()):
            other = self._sides["b" if key == "a" else "a"]
            rng = np.random.default_rng([self._seed, index, number])
            # Occluders draw from a stream of their own: the rest of the batch is the same with or without them.
            occlusion = (None if self._occluders is None else
                         (np.random.default_rng([self._seed, index, number, 1]), self._occluders))
            sides.append(side.batch(rng, other, occlusion, warp=index < self.unwarped_from))
        return join_sides(*sides)

    def batches(self) -> Iterator[Batch]:
        """Batches in order, made by options.workers threads that keep working ahead of the consumer; the warp
        schedule's clock starts with the first."""
        pool = ThreadPoolExecutor(self.options.workers, thread_name_prefix="feed")
        started = time.monotonic()

        def ask(index: int) -> Future[Batch]:
            if index < self.unwarped_from and self.schedule.unwarped(index, time.monotonic() - started):
                self.unwarped_from = index
            return pool.submit(self.make_batch, index)

        ahead = 2 * self.options.workers
        try:
            pending: deque[Future[Batch]] = deque(ask(index) for index in range(ahead))
            asked = ahead
            while True:
                batch = pending.popleft().result()
                pending.append(ask(asked))
                asked += 1
                yield batch
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def element_spec(self) -> dict[str, tf.TensorSpec]:
        """The static shapes and dtypes of a batch, as TensorSpecs."""
        count, n = self.options.batch_size, self.options.size
        return {f"{name}_{key}": tf.TensorSpec((count, n, n, 3 if name in ("warped", "target") else 1),
                                               tf.float32)
                for key in self._sides for name in ARRAYS}

    def dataset(self) -> tf.data.Dataset:
        """The batches as an endless tf.data.Dataset of dicts of float32 tensors with static shapes.

        The feed's threads already work ahead: tf.data keeps two batches ready, without autotuning. Deleting an
        iterator waits for the autotuning thread, which (TensorFlow 2.21) may sleep through the cancellation for up
        to a minute: train ended up to a minute after its last step (measured: 0 to 17 s, then 0 s without it)."""
        dataset = tf.data.Dataset.from_generator(self.batches, output_signature=self.element_spec())
        options = tf.data.Options()
        options.autotune.enabled = False
        return dataset.prefetch(2).with_options(options)

    def preview_faces(self, count: int) -> dict[str, np.ndarray]:
        """Fixed, unaugmented crops spread over each side: a, b float32 BGR [0, 1] (count, n, n, 3)."""
        faces = {}
        for key, side in self._sides.items():
            # Spread over the set; a set smaller than count repeats.
            indices = np.arange(count) * len(side) // count if count <= len(side) else np.arange(count) % len(side)
            faces[key] = side.crops(indices)
        return faces
