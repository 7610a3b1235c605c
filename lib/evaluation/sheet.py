"""The evaluation sheet: sample faces (source, swap, mask per direction) above the metric table."""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from lib.evaluation.report import metric_rows
from lib.evaluation.scores import Sample
from lib.preview import make_preview

FACE = 128  # pixels per face on the sheet


def _faces(images: list[np.ndarray]) -> np.ndarray:
    resized = [cv2.resize(image, (FACE, FACE), interpolation=cv2.INTER_AREA) for image in images]
    return np.asarray(resized, np.float32) / 255


def _mask_image(mask: np.ndarray) -> np.ndarray:
    return np.repeat(np.round(mask[..., None] * 255), 3, 2).astype(np.uint8)


def make_sheet(report: dict[str, Any], samples: dict[str, list[Sample]]) -> np.ndarray:
    """Rows A, A->B, mask, B, B->A, mask of sample faces, then the metric table; BGR uint8."""
    rows = []
    for direction, label in (("a2b", "A->B"), ("b2a", "B->A")):
        shown = samples[direction]
        rows += [(label[0], _faces([s.source for s in shown])), (label, _faces([s.swap for s in shown])),
                 ("mask", _faces([_mask_image(s.mask) for s in shown]))]
    grid = make_preview(rows)
    model = report["model"]
    lines = [(f"{model['name']} at iteration {model['iteration']}: {report['faces']['A']['used']} A and "
              f"{report['faces']['B']['used']} B faces", "A->B", "B->A"), *metric_rows(report)]
    font, scale, line, gap = cv2.FONT_HERSHEY_SIMPLEX, 0.5, 22, 16
    # Each column as wide as its widest text, so that long values ("0.93 / 1.00 (+0.00)") never run together.
    widths = [max(cv2.getTextSize(row[column], font, scale, 1)[0][0] for row in lines) for column in range(3)]
    width = max(grid.shape[1], 10 + sum(widths) + 2 * gap + 10)
    starts = (10, width - 10 - widths[2] - gap - widths[1], width - 10 - widths[2])
    table = np.zeros((line * (len(lines) + 1), width, 3), np.uint8)
    for index, row in enumerate(lines):
        y = line * (index + 1)
        for x, text in zip(starts, row):
            cv2.putText(table, text, (x, y), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    sheet = np.zeros((grid.shape[0] + table.shape[0], width, 3), np.uint8)  # the faces at its left
    sheet[:grid.shape[0], :grid.shape[1]] = grid
    sheet[grid.shape[0]:] = table
    return sheet
