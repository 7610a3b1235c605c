"""Colour adjustment plugins on real face chips: each moves the face's colours to the reference's, inside
the mask, and keeps the face's shape and dtype."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from lib.image import read_image
from plugins.convert.color import REGISTRY
from plugins.registry import load_plugin
from tests.conftest import DATA

CHIPS = DATA / "chips"


def _chip(person: str, index: int = 0) -> np.ndarray:
    return read_image(sorted((CHIPS / person).glob("*.jpg"))[index])


def _face_mask(size: int) -> np.ndarray:
    """An ellipse over the middle of an aligned chip: where the face is."""
    mask = np.zeros((size, size), np.float32)
    cv2.ellipse(mask, (size // 2, size // 2), (size * 3 // 10, size * 4 // 10), 0, 0, 360, 1.0, -1)
    return mask


def _plugin(name: str):  # noqa: ANN202
    return load_plugin(REGISTRY, "colour adjustment", name)()


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return _chip("John_Schneider")


@pytest.fixture(scope="module")
def tinted(reference: np.ndarray) -> np.ndarray:
    """The same face with warmer, brighter, flatter colours: what a model trained on other light gives."""
    face = reference.astype(np.float32) * 0.7 + np.array([10, 40, 70], np.float32)
    return np.clip(face, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_plugin_keeps_shape_and_dtype(name: str, reference: np.ndarray, tinted: np.ndarray) -> None:
    out = _plugin(name).adjust(tinted, reference, _face_mask(reference.shape[0]))
    assert out.shape == tinted.shape and out.dtype == np.uint8


def test_none_changes_nothing(reference: np.ndarray, tinted: np.ndarray) -> None:
    out = _plugin("none").adjust(tinted, reference, _face_mask(reference.shape[0]))
    assert np.array_equal(out, tinted)


@pytest.mark.parametrize("name", ["avg-color", "match-hist", "color-transfer"])
def test_plugin_brings_the_mean_colour_back(name: str, reference: np.ndarray, tinted: np.ndarray) -> None:
    mask = _face_mask(reference.shape[0])
    inside = mask > 0.5
    before = np.abs(tinted[inside].mean(0) - reference[inside].mean(0)).max()
    out = _plugin(name).adjust(tinted, reference, mask)
    after = np.abs(out[inside].mean(0) - reference[inside].mean(0)).max()
    assert before > 20
    assert after < 2.5, f"{name}: mean colour still {after:.1f} off (was {before:.1f})"


@pytest.mark.parametrize("name", ["match-hist", "color-transfer"])
def test_spread_follows_the_reference(name: str, reference: np.ndarray, tinted: np.ndarray) -> None:
    """The tint flattened the contrast to 70 %; these two restore the spread, not only the mean."""
    mask = _face_mask(reference.shape[0])
    inside = mask > 0.5
    out = _plugin(name).adjust(tinted, reference, mask)
    ratio = out[inside].astype(np.float32).std(0) / reference[inside].astype(np.float32).std(0)
    assert np.all(np.abs(ratio - 1) < 0.1), ratio
    assert np.abs(out.astype(int) - reference).mean() < 6


def test_another_persons_face_moves_toward_the_reference_colours(reference: np.ndarray) -> None:
    other = _chip("John_Simm")
    mask = _face_mask(reference.shape[0])
    inside = mask > 0.5
    reference_lab = cv2.cvtColor(reference, cv2.COLOR_BGR2LAB)[inside].mean(0)
    for name in ("avg-color", "match-hist", "color-transfer"):
        out = _plugin(name).adjust(other, reference, mask)
        before = np.abs(cv2.cvtColor(other, cv2.COLOR_BGR2LAB)[inside].mean(0) - reference_lab).sum()
        after = np.abs(cv2.cvtColor(out, cv2.COLOR_BGR2LAB)[inside].mean(0) - reference_lab).sum()
        assert after < before * 0.5, f"{name}: {before:.1f} -> {after:.1f}"


@pytest.mark.parametrize("name", ["avg-color", "match-hist", "color-transfer"])
def test_empty_mask_leaves_the_face_alone(name: str, reference: np.ndarray, tinted: np.ndarray) -> None:
    empty = np.zeros(reference.shape[:2], np.float32)
    assert np.array_equal(_plugin(name).adjust(tinted, reference, empty), tinted)


def test_only_masked_pixels_are_measured(reference: np.ndarray) -> None:
    """Paint the reference's corners green: outside the mask, so the adjustment must not turn green."""
    mask = _face_mask(reference.shape[0])
    painted = reference.copy()
    painted[mask == 0] = (0, 255, 0)
    out = _plugin("avg-color").adjust(reference, painted, mask)
    assert np.abs(out.astype(int) - reference).max() <= 1
