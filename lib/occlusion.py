"""Occluders: things in front of a face. Training pastes them over its input faces so that the learned mask
learns what is not face (train --occlusion-aug); evaluate pastes held-out ones to measure it (--occluders).

An occluder is a BGR uint8 patch with an alpha (float32 in [0, 1]) of the same size. Training's come from
real photographs without faces that scikit-image ships (objects and textures cut to random shapes, or into a
horse's silhouette), from the backgrounds of the training faces, and from the skin of the training faces
shaped like a hand. Where it goes is drawn near the mouth, the nose or an eye, where hands, microphones,
cups and glasses are.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from lib.align import LEFT_EYE, MOUTH, RIGHT_EYE
from lib.errors import FaceswapError
from lib.image import IMAGE_EXTENSIONS, UnreadableImage, read_image_alpha
from lib.masks import hull_points

NOSE = slice(27, 36)
# scikit-image's sample photographs used for training: none shows a face. Its astronaut and camera (people),
# lfw_subset (faces), and clock, moon, retina and logo (kept for tests/data/occluders, the held-out set) are not.
TRAINING_PHOTOS = ("brick", "chelsea", "coffee", "coins", "grass", "gravel", "hubble_deep_field",
                   "immunohistochemistry", "rocket", "page", "text", "colorwheel", "cell", "microaneurysms")
LONGEST = 256  # training photos are kept at most this large
# Where an occluder is centred: (share, landmark group). The rest of the time: anywhere on the face hull.
PLACES = ((0.4, MOUTH), (0.2, NOSE), (0.15, LEFT_EYE), (0.15, RIGHT_EYE))
SIZE = (0.3, 0.75)  # an occluder's longer side, as a share of the face's width (jaw to jaw)
# Share of photo and background occluders recoloured near the skin of a face (its colour, shifted a little
# toward red, yellow, light or dark): arms, fingers, skin-toned, orange or red objects must be told from the
# face by their edges and texture, not their colour.
SKIN_TONED = 0.5


@dataclass(frozen=True, eq=False)
class Occluder:
    """An object to put in front of a face: image BGR uint8 (h, w, 3), alpha float32 (h, w) in [0, 1]; name: its
    file's name (held-out occluders) or its kind (training's)."""

    image: np.ndarray
    alpha: np.ndarray
    name: str = ""


def blob(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A random smooth closed shape filling most of a height x width box: float32 (height, width) in {0, 1}.

    A star-shaped outline: a radius per angle that varies smoothly (a few random harmonics) around an ellipse.
    """
    angles = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    radius = np.ones_like(angles)
    for harmonic in range(2, 6):
        radius += rng.normal(0, 0.12 / harmonic * 2) * np.cos(harmonic * angles + rng.uniform(0, 2 * np.pi))
    radius = np.clip(radius, 0.45, 1.2) / 1.2
    points = np.stack([(width - 1) / 2 * (1 + radius * np.cos(angles)),
                       (height - 1) / 2 * (1 + radius * np.sin(angles))], axis=1)
    shape = np.zeros((height, width), np.uint8)
    cv2.fillPoly(shape, [np.round(points * 16).astype(np.int32)], 1, cv2.LINE_AA, 4)
    return shape.astype(np.float32)


def hand(rng: np.random.Generator, size: int) -> np.ndarray:
    """A hand-like shape (a palm and four or five fingers, spread at random) in a size x size box: float32."""
    shape = np.zeros((size, size), np.uint8)
    palm = (size // 2, int(size * 0.68))
    cv2.ellipse(shape, palm, (int(size * 0.26), int(size * 0.22)), 0, 0, 360, 1, -1, cv2.LINE_AA)
    fingers = int(rng.integers(4, 6))
    spread = rng.uniform(0.6, 1.2)
    for k in range(fingers):
        angle = -np.pi / 2 + spread * (k - (fingers - 1) / 2) / fingers * 1.6
        length = size * rng.uniform(0.3, 0.45) * (0.7 if k in (0, fingers - 1) else 1.0)
        start = np.array(palm, np.float64) + 0.15 * size * np.array([np.cos(angle), np.sin(angle)])
        end = start + length * np.array([np.cos(angle), np.sin(angle)])
        cv2.line(shape, tuple(np.round(start).astype(int)), tuple(np.round(end).astype(int)), 1,
                 max(2, int(size * 0.09)), cv2.LINE_AA)
    return shape.astype(np.float32)


@cache
def training_photos() -> tuple[np.ndarray, ...]:
    """scikit-image's face-free sample photographs (TRAINING_PHOTOS) as BGR uint8, at most LONGEST px."""
    from skimage import data  # only training needs it; convert and evaluate never load it

    photos = []
    for name in TRAINING_PHOTOS:
        image = np.asarray(getattr(data, name)())
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else cv2.cvtColor(image,
                                                                                             cv2.COLOR_RGB2BGR)
        scale = LONGEST / max(image.shape[:2])
        if scale < 1:
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        photos.append(np.ascontiguousarray(image, np.uint8))
    return tuple(photos)


@cache
def horse() -> np.ndarray:
    """scikit-image's horse silhouette (True: horse), a real shape for a textured occluder."""
    from skimage import data

    return ~np.asarray(data.horse(), bool)


def _crop(rng: np.random.Generator, image: np.ndarray, height: int, width: int) -> np.ndarray:
    """A random part of image resized to height x width (a random share of it, so textures vary in scale)."""
    h, w = image.shape[:2]
    share = rng.uniform(0.3, 1.0)
    ch, cw = max(4, int(h * share)), max(4, int(w * share))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return np.asarray(cv2.resize(image[y:y + ch, x:x + cw], (width, height), interpolation=cv2.INTER_AREA),
                      np.uint8)


class OccluderMaker:
    """Random training occluders: photos cut to blobs or a silhouette, backgrounds of other faces, skin shaped
    like a hand. faces: BGR uint8 face images (aligned, as the feed keeps them) to take backgrounds and skin
    from; skin_boxes: for each, a box ((x0, y0), (x1, y1)) of cheek skin in its pixels, or None."""

    def __init__(self, faces: Sequence[np.ndarray], skin_boxes: Sequence[np.ndarray | None]) -> None:
        self.photos = training_photos()
        self.faces = list(faces)
        self.skin = [(i, box) for i, box in enumerate(skin_boxes) if box is not None]
        self.kinds: list[tuple[float, Callable[[np.random.Generator, int], Occluder]]] = [
            (0.45, self._photo), (0.15, self._silhouette), (0.2, self._background), (0.2, self._hand)]

    def make(self, rng: np.random.Generator, size: int) -> Occluder:
        """One occluder whose longer side is size pixels."""
        shares = np.array([share for share, _ in self.kinds])
        _, kind = self.kinds[int(rng.choice(len(self.kinds), p=shares / shares.sum()))]
        occluder = kind(rng, size)
        if kind != self._hand and self.skin and rng.random() < SKIN_TONED:
            occluder = Occluder(self._skin_toned(rng, occluder.image), occluder.alpha)
        return occluder

    def _skin_patch(self, rng: np.random.Generator) -> np.ndarray | None:
        index, box = self.skin[int(rng.integers(len(self.skin)))]
        (x0, y0), (x1, y1) = np.round(box).astype(int)
        patch = self.faces[index][max(0, y0):y1, max(0, x0):x1]
        return patch if patch.size else None

    def _skin_toned(self, rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
        """image with the colours (LAB mean and spread) of a face's skin, its texture kept."""
        patch = self._skin_patch(rng)
        if patch is None:
            return image
        lab = cv2.cvtColor(image, cv2.COLOR_BGR2Lab).astype(np.float32)
        skin = cv2.cvtColor(patch, cv2.COLOR_BGR2Lab).reshape(-1, 3).astype(np.float32)
        mean, std = lab.reshape(-1, 3).mean(0), lab.reshape(-1, 3).std(0) + 1e-3
        target_std = np.maximum(skin.std(0), (8.0, 2.0, 2.0)) * rng.uniform(0.7, 2.0, 3)
        # OpenCV's 8-bit LAB: L in 0..255, a and b offset by 128; shifts toward red (a) and yellow (b).
        shift = np.array([rng.uniform(-25, 25), rng.uniform(0, 15), rng.uniform(-5, 15)])
        toned = (lab - mean) / std * target_std + skin.mean(0) + shift
        return np.asarray(cv2.cvtColor(np.clip(toned, 0, 255).astype(np.uint8), cv2.COLOR_Lab2BGR), np.uint8)

    def _shape(self, rng: np.random.Generator, size: int) -> tuple[int, int]:
        aspect = rng.uniform(0.4, 1.0)
        long, short = size, max(4, int(size * aspect))
        return (long, short) if rng.random() < 0.5 else (short, long)

    def _photo(self, rng: np.random.Generator, size: int) -> Occluder:
        height, width = self._shape(rng, size)
        image = _crop(rng, self.photos[int(rng.integers(len(self.photos)))], height, width)
        return Occluder(image, blob(rng, height, width))

    def _silhouette(self, rng: np.random.Generator, size: int) -> Occluder:
        shape = horse()
        scale = size / max(shape.shape)
        height, width = max(4, int(shape.shape[0] * scale)), max(4, int(shape.shape[1] * scale))
        alpha = cv2.resize(shape.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
        if rng.random() < 0.5:
            alpha = alpha[:, ::-1]
        image = _crop(rng, self.photos[int(rng.integers(len(self.photos)))], height, width)
        return Occluder(image, np.ascontiguousarray(alpha))

    def _background(self, rng: np.random.Generator, size: int) -> Occluder:
        """A corner of another face's image: the wall, clothes or hair behind someone."""
        if not self.faces:
            return self._photo(rng, size)
        face = self.faces[int(rng.integers(len(self.faces)))]
        side = face.shape[0]
        corner = max(8, side // 4)
        y = 0 if rng.random() < 0.5 else side - corner
        x = 0 if rng.random() < 0.5 else side - corner
        height, width = self._shape(rng, size)
        image = cv2.resize(face[y:y + corner, x:x + corner], (width, height), interpolation=cv2.INTER_LINEAR)
        return Occluder(np.asarray(image, np.uint8), blob(rng, height, width))

    def _hand(self, rng: np.random.Generator, size: int) -> Occluder:
        """Skin of another face in the shape of a hand, shaded darker toward its edges."""
        patch = self._skin_patch(rng) if self.skin else None
        if patch is None:
            return self._photo(rng, size)
        image = cv2.resize(patch, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        alpha = hand(rng, size)
        if rng.random() < 0.5:
            alpha = np.ascontiguousarray(alpha[::-1])  # fingers down, or up
        inside = cv2.distanceTransform((alpha > 0.5).astype(np.uint8), cv2.DIST_L2, 3)
        shade = 0.75 + 0.25 * np.clip(inside / max(1.0, size * 0.08), 0, 1)
        image = np.clip(image * shade[..., None], 0, 255).astype(np.uint8)
        return Occluder(image, alpha)


def skin_box(landmarks: np.ndarray) -> np.ndarray:
    """A box of cheek skin between the nose and the left jaw of 68 landmarks: ((x0, y0), (x1, y1))."""
    points = np.asarray(landmarks, np.float64)
    x0, x1 = sorted((points[3, 0] * 0.35 + points[31, 0] * 0.65, points[31, 0] * 0.2 + points[3, 0] * 0.8))
    y0, y1 = sorted((points[29, 1], points[33, 1]))
    return np.array([[x0, y0], [x1, max(y1, y0 + 2)]])


def place(rng: np.random.Generator, landmarks: np.ndarray) -> tuple[np.ndarray, float]:
    """Where an occluder goes on a face (68 landmarks in some image's pixels) and how large it is: its centre
    (x, y) and the length of its longer side, in the same pixels."""
    points = np.asarray(landmarks, np.float64)
    width = float(np.linalg.norm(points[16] - points[0]))
    pick = rng.random()
    centre = None
    for share, group in PLACES:
        if pick < share:
            centre = points[group].mean(0)
            break
        pick -= share
    if centre is None:
        outline = hull_points(points)
        weights = rng.dirichlet(np.ones(len(outline)))
        centre = 0.5 * (weights @ outline) + 0.5 * points[30]
    centre = centre + rng.normal(0, 0.06 * width, 2)
    return centre, float(rng.uniform(*SIZE) * width)


def paste(image: np.ndarray, occluder: Occluder, centre: np.ndarray, size: float, *,
          rng: np.random.Generator | None = None) -> np.ndarray:
    """Paste the occluder, scaled so its longer side is size pixels, centred at centre, into image (BGR uint8,
    in place); with rng, a random turn, a soft edge and sometimes defocus. Returns its alpha in the image's
    pixels: float32 (H, W) in [0, 1]."""
    h, w = occluder.alpha.shape
    scale = size / max(h, w)
    angle = float(rng.uniform(-40, 40)) if rng is not None else 0.0
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, scale)
    matrix[:, 2] += np.asarray(centre, np.float64) - ((w - 1) / 2, (h - 1) / 2)
    height, width = image.shape[:2]
    flags = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    patch = cv2.warpAffine(occluder.image, matrix, (width, height), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(occluder.alpha, matrix, (width, height), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    if rng is not None:
        if rng.random() < 0.5:  # an edge a little out of focus
            alpha = cv2.GaussianBlur(alpha, (0, 0), rng.uniform(0.3, 1.2))
        if rng.random() < 0.3:  # the whole object out of focus
            patch = cv2.GaussianBlur(patch, (0, 0), rng.uniform(0.5, 1.5))
    alpha = np.clip(np.asarray(alpha, np.float32), 0.0, 1.0)
    a = alpha[..., None]
    image[...] = np.clip(image * (1 - a) + patch * a + 0.5, 0, 255).astype(np.uint8)
    return alpha


def load_occluders(folder: Path) -> tuple[list[Occluder], list[str]]:
    """The images of a folder as occluders, sorted by name: an image with an alpha channel is cut by it,
    one without is cut to a random blob (the same one every run: seeded by its position). Returns the
    occluders and the names of the files skipped as unreadable."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FaceswapError(f"occluder folder not found: {folder}")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    occluders, skipped = [], []
    for number, path in enumerate(paths):
        try:
            image, alpha = read_image_alpha(path)
        except (OSError, UnreadableImage):
            skipped.append(path.name)
            continue
        if alpha is None:
            alpha = blob(np.random.default_rng(number), *image.shape[:2])
        occluders.append(Occluder(np.ascontiguousarray(image), np.ascontiguousarray(alpha), path.name))
    if not occluders:
        raise FaceswapError(f"no readable image in {folder}: --occluders wants a folder of object photos "
                            "(PNG with an alpha channel, or any image, cut to a random shape)")
    return occluders, skipped
