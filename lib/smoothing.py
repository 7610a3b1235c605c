"""Temporal smoothing of landmarks on video, so a swapped face does not jitter from frame to frame.

Faces are linked into tracks from frame to frame (nearest landmark centre, within a share of the face's
size), and each face's 68 points are replaced by a Gaussian-weighted mean over the same track in the
neighbouring frames, before and after. Looking ahead needs a delay: LandmarkSmoother holds `radius` frames
back and hands frames out in order. A track breaks at a cut or a jump, so unrelated faces never mix.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from lib.errors import check_range
from lib.types import Landmarks

Item = TypeVar("Item")
# A face that moved more than this share of its size since the last frame starts a new track.
MAX_MOVE = 0.35
MAX_SIGMA = 10.0  # frames: past this, smoothing drags a face behind the head


def check_sigma(sigma: float | None) -> None:
    """FaceswapError unless sigma (frames) is None (the default) or within 0..MAX_SIGMA."""
    check_range("landmark smoothing", sigma, 0, MAX_SIGMA, unit="frames")


@dataclass
class _Entry(Generic[Item]):
    item: Item
    faces: list[Landmarks]
    tracks: list[int] = field(default_factory=list)


def _centre_and_size(landmarks: Landmarks) -> tuple[np.ndarray, float]:
    points = np.asarray(landmarks, np.float64)
    span = points.max(0) - points.min(0)
    return points.mean(0), float(max(span.max(), 1.0))


class LandmarkSmoother(Generic[Item]):
    """Push (item, faces) per frame in order; get back (item, smoothed faces) in the same order, `radius`
    frames later (all of them after flush()). sigma is in frames; 0 turns smoothing off (no delay)."""

    def __init__(self, sigma: float) -> None:
        if sigma < 0:
            raise ValueError(f"sigma must be 0 or more, not {sigma}")
        self.sigma = sigma
        self.radius = int(math.ceil(2.5 * sigma)) if sigma > 0 else 0
        self._weights = (np.exp(-0.5 * (np.arange(-self.radius, self.radius + 1) / sigma) ** 2)
                         if sigma > 0 else np.ones(1))
        self._window: deque[_Entry[Item]] = deque()
        self._pending = 0  # the newest entries of the window not handed out yet
        self._next_track = 0

    def _link(self, faces: list[Landmarks]) -> list[int]:
        """Track ids for the faces of a new frame: greedy nearest match to the previous frame's faces."""
        previous = self._window[-1] if self._window else None
        candidates = []
        if previous is not None:
            for new_index, face in enumerate(faces):
                centre, size = _centre_and_size(face)
                for old_index, old in enumerate(previous.faces):
                    old_centre, old_size = _centre_and_size(old)
                    distance = float(np.linalg.norm(centre - old_centre)) / max(size, old_size)
                    if distance <= MAX_MOVE and 0.7 < size / old_size < 1.4:
                        candidates.append((distance, new_index, old_index))
        tracks = [-1] * len(faces)
        taken: set[int] = set()
        for _, new_index, old_index in sorted(candidates):
            if tracks[new_index] < 0 and old_index not in taken:
                assert previous is not None
                tracks[new_index] = previous.tracks[old_index]
                taken.add(old_index)
        for index, track in enumerate(tracks):
            if track < 0:
                tracks[index] = self._next_track
                self._next_track += 1
        return tracks

    def _smoothed(self, position: int) -> list[Landmarks]:
        entry = self._window[position]
        out = []
        for face, track in zip(entry.faces, entry.tracks):
            total = np.zeros((len(face), 2), np.float64)
            weight_sum = 0.0
            for offset in range(-self.radius, self.radius + 1):
                other = position + offset
                if not 0 <= other < len(self._window):
                    continue
                neighbour = self._window[other]
                if track in neighbour.tracks:
                    weight = float(self._weights[offset + self.radius])
                    total += weight * np.asarray(neighbour.faces[neighbour.tracks.index(track)], np.float64)
                    weight_sum += weight
            out.append(total / weight_sum)
        return out

    def _emit(self) -> tuple[Item, list[Landmarks]]:
        position = len(self._window) - self._pending
        self._pending -= 1
        entry = self._window[position]
        smoothed = self._smoothed(position) if self.radius else entry.faces
        while len(self._window) - self._pending > self.radius:  # keep radius frames of history
            self._window.popleft()
        return entry.item, smoothed

    def push(self, item: Item, faces: list[Landmarks]) -> list[tuple[Item, list[Landmarks]]]:
        """Add the next frame; returns the frames that are now ready (none while the look-ahead fills)."""
        self._window.append(_Entry(item, list(faces), self._link(list(faces))))
        self._pending += 1
        ready = []
        while self._pending > self.radius:
            ready.append(self._emit())
        return ready

    def flush(self) -> list[tuple[Item, list[Landmarks]]]:
        """The frames still held back, at the end of the input."""
        ready = []
        while self._pending:
            ready.append(self._emit())
        return ready
