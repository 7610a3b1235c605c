"""Line plots drawn with OpenCV (no plotting package needed): one panel per metric, a line per series."""
from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from lib.types import Frame

PANEL = (360, 220)  # width, height of one panel in pixels
MARGIN = (52, 24, 14, 34)  # left, top, right, bottom
COLOURS = [(200, 120, 30), (40, 110, 230), (60, 170, 60), (160, 60, 160)]  # BGR
FONT = cv2.FONT_HERSHEY_SIMPLEX
Series = dict[str, tuple[Sequence[float], Sequence[float | None]]]
"""A panel's lines: label -> (x values, y values; None where there is no value)."""


def _label(value: float) -> str:
    return f"{value:.3g}"


def _panel(title: str, series: Series, x_label: str, target: float | None) -> Frame:
    width, height = PANEL
    left, top, right, bottom = MARGIN
    image = np.full((height, width, 3), 255, np.uint8)
    points = [(x, y) for xs, ys in series.values() for x, y in zip(xs, ys) if y is not None and math.isfinite(y)]
    cv2.putText(image, title, (left, 16), FONT, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    if not points:
        return image
    xs_all = [x for x, _ in points]
    ys_all = [y for _, y in points] + ([target] if target is not None else [])
    x0, x1 = min(xs_all), max(xs_all)
    y0, y1 = min(ys_all), max(ys_all)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y0, y1 = y0 - 0.5 * abs(y0 or 1), y1 + 0.5 * abs(y1 or 1)

    def at(x: float, y: float) -> tuple[int, int]:
        px = left + (x - x0) / (x1 - x0) * (width - left - right)
        py = height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom)
        return int(round(px)), int(round(py))

    cv2.rectangle(image, (left, top), (width - right, height - bottom), (180, 180, 180), 1)
    for value in (y0, y1):
        cv2.putText(image, _label(value), (2, at(x0, value)[1] + 4), FONT, 0.35, (80, 80, 80), 1, cv2.LINE_AA)
    for value in (x0, x1):
        x, _ = at(value, y0)
        cv2.putText(image, _label(value), (x - 10, height - bottom + 14), FONT, 0.35, (80, 80, 80), 1, cv2.LINE_AA)
    cv2.putText(image, x_label, (width // 2 - 30, height - 4), FONT, 0.35, (80, 80, 80), 1, cv2.LINE_AA)
    if target is not None:
        start, end = at(x0, target), at(x1, target)
        for x in range(start[0], end[0], 8):  # dashed: the target
            cv2.line(image, (x, start[1]), (min(x + 4, end[0]), start[1]), (0, 0, 200), 1)
    for index, (label, (xs, ys)) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        line = [at(x, y) for x, y in zip(xs, ys) if y is not None and math.isfinite(y)]
        if len(line) > 1:
            cv2.polylines(image, [np.array(line, np.int32)], False, colour, 2, cv2.LINE_AA)
        for point in line:
            cv2.circle(image, point, 3, colour, -1, cv2.LINE_AA)
        # Right-aligned inside the panel, however long the label (a recipe's name).
        label_width = cv2.getTextSize(label, FONT, 0.38, 1)[0][0]
        cv2.putText(image, label, (max(width - right - label_width - 4, 0), top + 14 + 14 * index), FONT, 0.38,
                    colour, 1, cv2.LINE_AA)
    return image


def plot_panels(panels: dict[str, Series], x_label: str, targets: dict[str, float] | None = None,
                columns: int = 3) -> Frame:
    """A grid of panels (title -> its series) on a white background; a dashed red line marks each panel's
    target when one is given. BGR uint8."""
    if not panels:
        raise ValueError("plot_panels needs at least one panel")
    images = [_panel(title, series, x_label, (targets or {}).get(title)) for title, series in panels.items()]
    rows = -(-len(images) // columns)
    width, height = PANEL
    grid = np.full((rows * height, min(columns, len(images)) * width, 3), 255, np.uint8)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        grid[row * height:(row + 1) * height, column * width:(column + 1) * width] = image
    return grid
