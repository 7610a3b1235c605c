"""The swap itself, in one place for convert, evaluate and the benchmarks: crop each face as train saw it, run
the model, make the mask, match the colour, sharpen, and blend the face back into its frame.

The mask and colour steps are objects handed in by the caller (plugins/convert builds them from their names):
    mask.make(landmarks, size, learned, mesh) -> Mask, mask.needs_learned: bool
    color.adjust(face, reference, mask) -> Face
and, for options.follow, a landmark finder (plugins.extract.align's dlib68, as extract uses it):
    finder.align(image, [Detection]) -> [Landmarks]
"""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Protocol

import cv2
import numpy as np

from lib.align import (
    ALIGNED_SIZE,
    align_matrix,
    compose,
    coverage_matrix,
    invert,
    landmark_offsets,
    offset_maps,
    paste_face,
    predictor_box,
    transform_points,
    warp_face,
)
from lib.blend import BLENDS, erode_mask, feather_mask, keep_to_skin, sharpen
from lib.errors import FaceswapError, check_range
from lib.masks import blank_background
from lib.metrics import interocular
from lib.pose import head_pose, turn_landmarks
from lib.types import Detection, Face, Frame, Landmarks, Mask, Matrix, MeshXY

# Every mask fades to nothing over this share of the crop at the crop's border, so that the crop's straight edge
# never shows in the frame, whatever the mask (the face hull reaches past a 0.6-coverage crop at the forehead).
BORDER_FADE = 0.125
# options.follow moves these of the swapped face's 68 landmarks: brows, nose, eyes and mouth (the jaw line lies
# mostly outside the crop and the mask: the frame's own).
FOLLOWED = slice(17, 68)
FINDER_SIZE = 256  # the model's output is enlarged to this for the landmark finder (trained on large faces)
FOLLOW_SIDES = {"a2b": ("A", "B"), "b2a": ("B", "A")}  # a swap direction -> (source person, target person)
MAX_FOLLOW_TURN = 30.0  # degrees: a larger difference between the source's pose and the aim's is a misread face
# A face's place in the frame it was filmed in: image pixels -> frame pixels, and the frame's (height, width).
View = tuple[Matrix, tuple[int, ...]]


class SwapModel(Protocol):
    """What the swap needs of a model (lib.model.swapper.Swapper is one)."""

    input_size: int
    coverage: float
    has_mask: bool
    mask_input: bool  # blank the crop's background before the model sees it (a model trained so)
    shapes: dict[str, np.ndarray] | None  # each person's mean face shape, aligned (ALIGNED_SIZE px); None: unknown
    convert_settings: Mapping[str, Any]  # the model's own convert options (SwapOptions fields; SwapOptions.over)

    def swap(self, faces: np.ndarray, direction: str) -> tuple[np.ndarray, np.ndarray | None]: ...


class MaskMaker(Protocol):
    needs_learned: bool

    def make(self, landmarks: Landmarks, size: int, learned: Mask | None, mesh: MeshXY | None = None) -> Mask: ...


class ColorAdjuster(Protocol):
    def adjust(self, face: Face, reference: Face, mask: Mask) -> Face: ...


class LandmarkFinder(Protocol):
    def align(self, frame: Frame, detections: list[Detection]) -> list[Landmarks]: ...


@dataclass(frozen=True)
class SwapOptions:
    """How a swapped face goes back into its frame. mask, color: plugin names (mask 'auto': the learned mask
    when the model has one, else the hull); blend: a name of lib.blend.BLENDS. erosion and blur are shares (%)
    of the model's crop: erosion > 0 shrinks the mask, < 0 grows it; blur feathers its edge. sharpen: the
    unsharp-mask amount. batch_size: faces per model call. follow: how far the swapped face's features move to
    their aim (follow_aim); follow_shape: how much of the target person's own face shape the aim keeps (1: all of
    it, 0: the source's), the trade between likeness and the source's expression."""

    mask: str = "auto"
    color: str = "avg-color"
    blend: str = "gaussian"
    erosion: float = 0.0
    blur: float = 5.0
    sharpen: float = 0.0
    batch_size: int = 16
    follow: float = 1.0
    follow_shape: float = 0.8
    skin: bool = False  # keep the mask's edge to the swapped face's skin colours (lib.blend.keep_to_skin)
    grain: float = 0.0  # how much of the frame's detail finer than the model's crop is kept (lib.blend.keep_grain)
    # The options the user chose (the command line's); None: all of them (options made in code). The others give
    # way to a model's own convert settings (over).
    given: frozenset[str] | None = None

    def __post_init__(self) -> None:
        check_range("mask erosion", self.erosion, -50, 50, unit="% of the face crop")
        check_range("mask blur", self.blur, 0, 50, unit="% of the face crop")
        check_range("sharpen amount", self.sharpen, 0, 3)
        check_range("grain kept", self.grain, 0, 1)
        check_range("faces per model call", self.batch_size, 1, 256)
        check_range("landmark follow", self.follow, 0, 1)
        check_range("face shape kept by --follow", self.follow_shape, 0, 1)

    def over(self, settings: Mapping[str, Any]) -> SwapOptions:
        """These options over a model's convert settings (a recipe's, kept in its state.json): each option not
        given takes the model's value, where it has one."""
        if self.given is None:
            return self
        names = {item.name for item in fields(self)} - {"given"} - self.given
        return replace(self, **{name: value for name, value in settings.items() if name in names})

    def mask_for(self, model: SwapModel) -> str:
        """The mask plugin's name once 'auto' is resolved for this model: the learned mask inside the face hull
        when the model learned one, else the hull."""
        if self.mask != "auto":
            return self.mask
        return "learned-hull" if model.has_mask else "hull"


@dataclass(frozen=True, eq=False)
class SwappedFace:
    """One face as it was swapped. crop: the model's input (its background blanked for a model trained so),
    output: its raw output, face: what was pasted (colour-matched, sharpened); all BGR uint8 (n, n, 3).
    mask: float32 (n, n) in [0, 1], feathered, as pasted. matrix: frame pixels -> crop pixels. made: the mask as
    its plugin made it, before erosion, feathering and the fade at the crop's border (float32 (n, n)).
    unfollowed: options.follow found no landmarks on the model's output, so the face was pasted as drawn."""

    crop: Face
    output: Face
    face: Face
    mask: Mask
    matrix: Matrix
    made: Mask
    unfollowed: bool = False

    def frame_mask(self, shape: tuple[int, ...]) -> Mask:
        """The pasted mask in the pixels of a frame of this (height, width, ...) shape: float32 in [0, 1]."""
        height, width = shape[:2]
        warped = cv2.warpAffine(self.mask, self.matrix, (width, height),
                                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                                borderValue=0.0)
        return np.asarray(warped, np.float32)


@dataclass(frozen=True, eq=False)
class SwappedFrame:
    """A frame with its faces swapped (a new array; the input frame is left as it was), and each face."""

    image: Frame
    faces: list[SwappedFace] = field(default_factory=list)


def crop_face(frame: Frame, matrix: Matrix, size: int) -> Face:
    """The model's input crop of a face: warped like extract, and when the face is 2x or more larger than
    the crop, warped at a whole multiple first and shrunk with INTER_AREA, free of aliasing like the crops
    train saw (lib/training/feed.py shrinks its faces the same way). BGR uint8 (size, size, 3)."""
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    factor = min(8, int(1 / scale)) if scale > 0 else 1
    if factor < 2:
        return warp_face(frame, matrix, size)
    # Output pixel j averages big pixels f*j .. f*j + f - 1, whose centre is f*j + (f - 1) / 2.
    upscale = np.array([[factor, 0.0, (factor - 1) / 2], [0.0, factor, (factor - 1) / 2]])
    big = warp_face(frame, compose(upscale, matrix), size * factor)
    return np.asarray(cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA), np.uint8)


def border_fade(size: int, width: float) -> Mask:
    """1 inside, falling smoothly (smoothstep) to 0 at the edges of a size x size crop over `width` pixels.
    float32 (size, size)."""
    distance = np.minimum(np.arange(size), np.arange(size)[::-1]) + 0.5  # to the nearest edge, pixel centres
    ramp = np.clip(distance / max(width, 1e-6), 0.0, 1.0)
    ramp = ramp * ramp * (3 - 2 * ramp)
    return np.asarray(np.minimum.outer(ramp, ramp), np.float32)


def follow(output: Face, source: Landmarks, aim: Landmarks, *, finder: LandmarkFinder,
           strength: float) -> Face | None:
    """A model's output crop warped so that its brows, eyes, nose and mouth move `strength` of the way to where
    the swapped face should have them (aim, crop pixels); None when the finder loses the face, looked for near
    the source face's landmarks (crop pixels). The learned mask is not moved: it says which of the source's
    pixels are face and which are in front of it (a hand, a microphone), and those stay where they are."""
    size = output.shape[0]
    scale = FINDER_SIZE / size
    big = np.asarray(cv2.resize(output, (FINDER_SIZE, FINDER_SIZE), interpolation=cv2.INTER_CUBIC), np.uint8)
    near = np.asarray(source, np.float64) * scale
    found = finder.align(big, [Detection(predictor_box(near), 1.0, near)])[0] / scale
    ratio = interocular(found) / max(interocular(source), 1e-6)
    if not np.isfinite(found).all() or not 0.67 <= ratio <= 1.5:
        return None
    drawn = found[FOLLOWED]
    wanted = drawn + strength * (np.asarray(aim, np.float64)[FOLLOWED] - drawn)
    map_x, map_y = offset_maps(np.eye(2, 3), landmark_offsets(drawn, wanted, size))
    return np.asarray(cv2.remap(output, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE),
                      np.uint8)


def follow_aim(landmarks: Landmarks, matrix: Matrix, view: View, *, shapes: tuple[np.ndarray, np.ndarray] | None,
               coverage: float, size: int, keep_shape: float = 1.0) -> np.ndarray:
    """Where a swapped face's 68 landmarks belong, in the pixels of its size x size crop (matrix: image pixels ->
    crop): the target person's mean face shape moved as the source face (landmarks, image pixels) differs from
    its own person's mean (its expression), then turned (lib.pose.turn_landmarks) to the source's head pose as
    head_pose reads both in the frame the view places the image in. shapes: the (source, target) people's mean
    aligned shapes (ALIGNED_SIZE pixels); without them, the source's own landmarks. keep_shape: the share of the
    difference between the two mean shapes the aim takes (1: the target's shape, 0: the source's own)."""
    source = transform_points(matrix, landmarks)
    if shapes is None:
        return source
    to_crop = coverage_matrix(np.eye(2, 3), ALIGNED_SIZE, coverage, size)
    aim = source + keep_shape * (transform_points(to_crop, shapes[1]) - transform_points(to_crop, shapes[0]))
    to_frame, frame_shape = view
    crop_to_frame = compose(to_frame, invert(matrix))
    placed = transform_points(crop_to_frame, aim)
    turn = np.subtract(head_pose(transform_points(to_frame, landmarks), frame_shape)[:2],
                       head_pose(placed, frame_shape)[:2])
    if not np.isfinite(turn).all():
        return aim
    # One turn: a second, to take up the degree or two it misses on a real face, measured no better in
    # bench.quality (the pose read on the warped swap is what counts, not the aim's own).
    yaw, pitch = (float(angle) for angle in np.clip(turn, -MAX_FOLLOW_TURN, MAX_FOLLOW_TURN))
    turned = turn_landmarks(placed, yaw, pitch, tuple(frame_shape[:2]))
    if turned is None or not np.isfinite(turned).all():
        return aim
    return transform_points(invert(crop_to_frame), np.asarray(turned, np.float64))


class FaceSwapper:
    """Crops every face of a group of frames, swaps them in as few model calls as possible, and pastes them
    back. The model is called on batches of exactly options.batch_size faces (the last padded with black), so
    a compiled model is traced once, not once per group size."""

    def __init__(self, model: SwapModel, mask: MaskMaker, color: ColorAdjuster, options: SwapOptions,
                 finder: LandmarkFinder | None = None) -> None:
        if options.follow > 0 and finder is None:
            raise FaceswapError("following the source's landmarks needs a landmark finder")
        if options.blend not in BLENDS:
            raise FaceswapError(f"unknown blend '{options.blend}': choose one of {', '.join(BLENDS)}")
        if mask.needs_learned and not model.has_mask:
            raise FaceswapError("the learned mask needs a model trained with a mask head: use the hull mask")
        self.model = model
        self.mask = mask
        self.color = color
        self.options = options
        self.finder = finder
        self.blend = BLENDS[options.blend]
        self.size = int(model.input_size)
        self.coverage = float(model.coverage)
        self.erosion = options.erosion / 100 * self.size
        self.blur = options.blur / 100 * self.size
        self.border = border_fade(self.size, BORDER_FADE * self.size)
        self.timings = {"crop": 0.0, "model": 0.0, "paste": 0.0}

    def matrix(self, landmarks: Landmarks) -> Matrix:
        """Frame pixels -> pixels of the model's input crop (the same crop train sees)."""
        return coverage_matrix(align_matrix(landmarks, ALIGNED_SIZE), ALIGNED_SIZE, self.coverage, self.size)

    def _run_model(self, crops: np.ndarray, direction: str) -> tuple[np.ndarray, np.ndarray | None]:
        size = self.options.batch_size
        faces, masks = [], []
        for start in range(0, len(crops), size):
            batch = crops[start:start + size]
            count = len(batch)
            if count < size:
                batch = np.concatenate([batch, np.zeros((size - count, *batch.shape[1:]), np.uint8)])
            swapped, learned = self.model.swap(batch, direction)
            faces.append(np.asarray(swapped[:count], np.uint8))
            if learned is not None:
                masks.append(np.asarray(learned[:count], np.float32))
        return np.concatenate(faces), np.concatenate(masks) if masks else None

    def swap_frames(self, frames: Sequence[Frame], faces: Sequence[Sequence[Landmarks]],
                    direction: str = "a2b", views: Sequence[View] | None = None,
                    meshes: Sequence[Sequence[MeshXY | None]] | None = None) -> list[SwappedFrame]:
        """Swap every face (68 landmarks in frame pixels) of every frame; faces of one frame are pasted in
        order, each over the frame as swapped so far. direction: 'a2b', 'b2a', 'a2a' or 'b2b'. views: where each
        image sits in the frame it was filmed in, for head poses (default: each image is that frame). meshes: each
        face's mesh in frame pixels (None where it has none), for a mask drawn from the mesh."""
        start = time.perf_counter()
        jobs = [(index, landmarks, self.matrix(landmarks)) for index, found in enumerate(faces)
                for landmarks in found]
        face_meshes = [mesh for index, found in enumerate(faces)
                       for mesh in (meshes[index] if meshes is not None else [None] * len(found))]
        images = list(frames)
        results: list[list[SwappedFace]] = [[] for _ in images]
        if not jobs:
            return [SwappedFrame(image) for image in images]
        crops = np.stack([crop_face(images[index], matrix, self.size) for index, _, matrix in jobs])
        inputs = (np.stack([blank_background(crop, transform_points(matrix, landmarks))
                            for crop, (_, landmarks, matrix) in zip(crops, jobs)])
                  if self.model.mask_input else crops)
        after_crop = time.perf_counter()
        outputs, learned = self._run_model(inputs, direction)
        after_model = time.perf_counter()
        for job, (index, landmarks, matrix) in enumerate(jobs):
            output, points = outputs[job], transform_points(matrix, landmarks)  # points: crop pixels
            unfollowed = False
            # A reconstruction (a2a, b2b) stays as the model drew it: it measures the model.
            if self.options.follow > 0 and direction in FOLLOW_SIDES:
                assert self.finder is not None
                view = views[index] if views is not None else (np.eye(2, 3), images[index].shape[:2])
                sides = FOLLOW_SIDES[direction]
                shapes = None if self.model.shapes is None else (self.model.shapes[sides[0]],
                                                                 self.model.shapes[sides[1]])
                aim = follow_aim(landmarks, matrix, view, shapes=shapes, coverage=self.coverage, size=self.size,
                                 keep_shape=self.options.follow_shape)
                moved = follow(output, points, aim, finder=self.finder, strength=self.options.follow)
                unfollowed = moved is None
                output = output if moved is None else moved
            mesh = face_meshes[job]
            made = self.mask.make(points, self.size, None if learned is None else learned[job],
                                  None if mesh is None else transform_points(matrix, mesh))
            if self.options.skin:
                made = keep_to_skin(output, made)
            mask = erode_mask(made, self.erosion)
            face = self.color.adjust(output, crops[job], mask)
            face = sharpen(face, self.options.sharpen)
            pasted = feather_mask(mask * self.border, self.blur)
            images[index] = paste_face(images[index], face, pasted, matrix, self.blend,
                                       grain=self.options.grain)
            results[index].append(SwappedFace(inputs[job], output, face, pasted, matrix, made, unfollowed))
        self.timings["crop"] += after_crop - start
        self.timings["model"] += after_model - after_crop
        self.timings["paste"] += time.perf_counter() - after_model
        return [SwappedFrame(image, found) for image, found in zip(images, results)]
