"""Derive lib/align.py's mean-face TEMPLATE and PREDICTOR_BOX from real 68-point shapes.

Run from the checkout: `python -m scripts.derive_template tests/data`. The shapes are dlib's ground truth
(landmarks/training_with_face_landmarks.xml) plus dlib's predictions on the other photos of the data folder
(HOG detector, upsample 1, faces of 60 px or more). Their Procrustes mean, taken together with their mirror
images, is made exactly symmetric and normalised: inner points (17-67) span [0, 1] in x, brows touch y = 0.
"""
from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import dlib
import numpy as np
import numpy.typing as npt

from lib.align import INNER, MIRROR_68, transform_points, umeyama
from lib.image import read_image
from lib.types import Box
from lib.weights import LANDMARKS_68, dlib_model

Shape = npt.NDArray[np.float64]
"""68 points (x, y), shape (68, 2)."""
Corners = npt.NDArray[np.float64]
"""A box as left, top, right, bottom, shape (4,)."""

GROUND_TRUTH = Path("landmarks") / "training_with_face_landmarks.xml"
PREDICTED_FROM = ("stills/*/*.jpg", "peer/*.jpg", "chips/*/*.jpg")
MIN_FACE = 60  # smaller faces give noisy predictions
ITERATIONS = 10  # the mean settles in 3 or 4


@dataclass(frozen=True)
class Annotated:
    """One photo of a dlib training XML file: its (height, width) and its faces, each a box and 68 points."""

    shape: tuple[int, int]
    faces: list[tuple[Box, Shape]]


def read_ground_truth(xml_path: Path) -> dict[str, Annotated]:
    """The annotated photos of a dlib training XML file (imglab's format), by file name."""
    photos = {}
    for image in ET.parse(xml_path).getroot().iter("image"):
        faces = []
        for box in image.iter("box"):
            top, left, width, height = (int(box.get(key, "0")) for key in ("top", "left", "width", "height"))
            points = np.array([[float(part.get("x", "0")), float(part.get("y", "0"))]
                               for part in box.iter("part")])
            faces.append((Box(left, top, left + width, top + height), points))
        photos[str(image.get("file"))] = Annotated((int(image.get("height", "0")), int(image.get("width", "0"))),
                                                   faces)
    return photos


def ground_truth(xml_path: Path) -> list[tuple[Shape, Corners]]:
    """The annotated shapes and boxes of a dlib training XML file."""
    return [(points, np.array(box.as_list(), np.float64)) for photo in read_ground_truth(xml_path).values()
            for box, points in photo.faces]


def predicted(images: list[Path]) -> list[tuple[Shape, Corners]]:
    """dlib's shapes and HOG boxes for the faces of MIN_FACE px or more in these photos."""
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(dlib_model(LANDMARKS_68)))
    samples = []
    for path in images:
        rgb = np.ascontiguousarray(read_image(path)[..., ::-1])
        for rect in detector(rgb, 1):
            if rect.width() < MIN_FACE:
                continue
            shape = np.array([[p.x, p.y] for p in predictor(rgb, rect).parts()], np.float64)
            # dlib's right and bottom are inclusive, as the predictor saw them in training.
            samples.append((shape, np.array([rect.left(), rect.top(), rect.right(), rect.bottom()], np.float64)))
    return samples


def mirrored(shape: Shape) -> Shape:
    """The shape of the mirror-image face, points renumbered so each keeps its meaning."""
    return np.column_stack([-shape[MIRROR_68, 0], shape[MIRROR_68, 1]])


def symmetrised(mean: Shape) -> Shape:
    """The mean of a shape and its mirror image about the vertical through its inner points' centre."""
    centre = (mean[INNER, 0].min() + mean[INNER, 0].max()) / 2
    return (mean + np.column_stack([2 * centre - mean[MIRROR_68, 0], mean[MIRROR_68, 1]])) / 2


def normalised(mean: Shape) -> Shape:
    """Shifted and scaled so the inner points span [0, 1] in x and the brows touch y = 0."""
    inner = mean[INNER]
    low = np.array([inner[:, 0].min(), inner[:, 1].min()])
    return (mean - low) / (inner[:, 0].max() - inner[:, 0].min())


def procrustes_mean(shapes: list[Shape]) -> Shape:
    """The symmetric, normalised mean of shapes, each similarity-aligned to it on the inner points."""
    mean = normalised(shapes[0])
    for _ in range(ITERATIONS):
        aligned = [transform_points(umeyama(shape[INNER], mean[INNER]), shape) for shape in shapes]
        mean = normalised(symmetrised(np.mean(aligned, axis=0)))
    return mean


def mean_box(samples: list[tuple[Shape, Corners]], template: Shape) -> Corners:
    """The predictor's boxes in face space, averaged and made symmetric about x = 0.5."""
    boxes = []
    for shape, corners in samples:
        to_template = umeyama(shape[INNER], template[INNER])
        boxes.append(transform_points(to_template, corners.reshape(2, 2)).ravel())
    left, top, right, bottom = np.mean(boxes, axis=0)
    half_width = (right - left) / 2
    return np.array([0.5 - half_width, top, 0.5 + half_width, bottom])


def derive(data: Path) -> tuple[Shape, Corners, int]:
    """TEMPLATE, PREDICTOR_BOX and the number of real shapes they come from, for the data folder."""
    images = sorted(path for pattern in PREDICTED_FROM for path in data.glob(pattern))
    samples = ground_truth(data / GROUND_TRUTH) + predicted(images)
    shapes = [shape for shape, _ in samples]
    template = procrustes_mean(shapes + [mirrored(shape) for shape in shapes])
    return template, mean_box(samples, template), len(samples)


def format_template(template: Shape, per_line: int = 5) -> str:
    """Python source for the TEMPLATE array, rounded to 4 decimals as lib/align.py has it."""
    points = [f"[{round(float(x), 4)}, {round(float(y), 4)}]" for x, y in template]
    lines = [", ".join(points[i:i + per_line]) + "," for i in range(0, len(points), per_line)]
    return "TEMPLATE = np.array([\n" + "\n".join(f"    {line}" for line in lines) + "\n])"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the test media folder (tests/data)")
    args = parser.parse_args(argv)
    if not (args.data / GROUND_TRUTH).is_file():
        print(f"error: {args.data / GROUND_TRUTH} not found: give the test media folder (tests/data)",
              file=sys.stderr)
        return 1
    template, box, count = derive(args.data)
    print(f"# Procrustes mean of {count} real 68-point shapes and their mirror images.")
    print(format_template(template))
    print(f"PREDICTOR_BOX = ({', '.join(str(round(float(v), 4)) for v in box)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
