"""Held-out evaluation while training: a capped sample of each side's held-out faces, swapped by the model as it is
now and scored by evaluate's own code (lib/evaluation), so the numbers are the ones `evaluate` gives for the same
checkpoint and faces. The faces' unswapped landmarks and descriptors are measured once, at the start."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lib.evaluation.held_out import load_held_out
from lib.evaluation.measure import FaceMeasurer
from lib.evaluation.report import finite, quality_score
from lib.evaluation.scores import References, measure_references, score_faces, swap_every_way
from lib.swap import FaceSwapper, SwapModel


class HeldOutCheck:
    """Scores a model on held-out faces A and B (at most max_faces per side, evenly spaced as evaluate takes
    them). make_swapper builds convert's FaceSwapper for a model (the caller chooses the mask and colour)."""

    def __init__(self, folder_a: Path, folder_b: Path, max_faces: int, measurer: FaceMeasurer,
                 make_swapper: Callable[[SwapModel], FaceSwapper]) -> None:
        self.faces = {"A": load_held_out(folder_a, max_faces), "B": load_held_out(folder_b, max_faces)}
        self.measurer = measurer
        self.make_swapper = make_swapper
        self.references: References = measure_references(self.faces["A"], self.faces["B"], measurer)

    def __len__(self) -> int:
        return len(self.faces["A"]) + len(self.faces["B"])

    def evaluate(self, model: SwapModel) -> dict[str, Any]:
        """Every face metric per direction (as evaluate's report.json) and `score` (lower is better)."""
        swapped = swap_every_way(self.make_swapper(model), self.faces["A"], self.faces["B"])
        report, _ = score_faces(self.faces["A"], self.faces["B"], swapped, self.measurer,
                                references=self.references)
        report = finite(report)
        report["score"] = quality_score(report)
        return report
