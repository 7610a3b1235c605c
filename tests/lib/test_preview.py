"""The preview grid: labelled rows of real faces, masks shown as a tint of what they leave out."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from lib.image import read_image
from lib.preview import make_preview
from tests.conftest import DATA

N = 64


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    """Four real face chips at N pixels, float32 BGR [0, 1]."""
    paths = sorted((DATA / "chips" / "John_Simm").glob("*.jpg"))[:4]
    return np.stack([cv2.resize(read_image(p), (N, N), interpolation=cv2.INTER_AREA) for p in paths]
                    ).astype(np.float32) / 255


def _margin(grid: np.ndarray, count: int) -> int:
    return grid.shape[1] - count * N


def test_grid_has_one_row_per_stage_and_the_faces_in_place(faces: np.ndarray) -> None:
    labels = ["A", "A→A", "A→B", "B", "B→B", "B→A"]
    rows = [(label, faces[::-1] if i % 2 else faces) for i, label in enumerate(labels)]
    grid = make_preview(rows)
    assert grid.dtype == np.uint8 and grid.ndim == 3 and grid.shape[0] == 6 * N
    margin = _margin(grid, 4)
    assert margin > 0
    for r, (_, row_faces) in enumerate(rows):
        for c in range(4):
            cell = grid[r * N:(r + 1) * N, margin + c * N:margin + (c + 1) * N]
            np.testing.assert_array_equal(cell, np.round(row_faces[c] * 255).astype(np.uint8))
        label_area = grid[r * N:(r + 1) * N, :margin]
        assert label_area.max() > 200  # the label is written
    # Different labels draw different text.
    assert not np.array_equal(grid[:N, :margin], grid[N:2 * N, :margin])


def test_mask_tints_only_what_it_leaves_out(faces: np.ndarray) -> None:
    mask = np.zeros((4, N, N, 1), np.float32)
    for face_mask in mask:
        cv2.circle(face_mask, (N // 2, N // 2), N // 3, 1.0, -1)
    grid = make_preview([("A", faces), ("A→B", faces)], {"A→B": mask})
    margin = _margin(grid, 4)
    plain = grid[:N, margin:margin + N].astype(int)
    tinted = grid[N:2 * N, margin:margin + N].astype(int)
    kept, left_out = mask[0, ..., 0] == 1, mask[0, ..., 0] == 0
    np.testing.assert_array_equal(tinted[kept], plain[kept])
    redness = (tinted[..., 2] - tinted[..., 1])[left_out].mean() - (plain[..., 2] - plain[..., 1])[left_out].mean()
    assert redness > 40
    assert tinted[..., 1][left_out].mean() < 0.7 * plain[..., 1][left_out].mean()  # darker


def test_short_rows_are_padded_and_empty_rows_refused(faces: np.ndarray) -> None:
    grid = make_preview([("A", faces), ("B", faces[:2])])
    margin = _margin(grid, 4)
    assert grid[N:, margin + 2 * N:].max() == 0
    with pytest.raises(ValueError):
        make_preview([])
