"""A training run's curves, for people who never open TensorBoard: MODEL/curves.json keeps the losses and the
held-out scores against the iteration across resumed runs, and curves.png draws them."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lib.evaluation.report import TARGETS
from lib.fileio import write_json_atomic
from lib.plots import Series, plot_panels
from lib.types import Frame

FILE = "curves.json"
DIRECTIONS = {"a2b": "A->B", "b2a": "B->A"}
# Curve panels of the realism measures: (key of realism_numbers, title, target drawn dashed).
REALISM_PANELS = (("detail", "detail kept, swap / frame", 0.85), ("blink_r", "blink carried: r", 0.7),
                  ("jaw_open_r", "jaw open carried: r", 0.9), ("edge_excess", "edge colour: ring - inner", 1.0))


def heldout_numbers(report: dict[str, Any]) -> dict[str, Any]:
    """The held-out metrics a curve follows, from a report of evaluate's schema (plus `score`)."""
    numbers: dict[str, Any] = {"score": report.get("score")}
    for direction in DIRECTIONS:
        scores = report[direction]
        numbers[direction] = {"distance_to_target": scores["identity"]["to_target"],
                              "retrieval": scores["identity"]["retrieval"],
                              "yaw_error": scores["pose_error_degrees"]["yaw"],
                              "pitch_error": scores["pose_error_degrees"]["pitch"],
                              "face_nme": scores["expression_nme"]["face"],
                              # Reports written before these were measured lack them.
                              "yaw_tracking": (scores.get("pose_tracking_degrees") or {}).get("yaw"),
                              "pitch_tracking": (scores.get("pose_tracking_degrees") or {}).get("pitch"),
                              "eyes_delta_e": (scores.get("colour_delta_e") or {}).get("eyes"),
                              "mouth_delta_e": (scores.get("colour_delta_e") or {}).get("mouth"),
                              **realism_numbers(scores.get("realism"))}
    numbers["ssim"] = {"a2a": report["a2a"]["ssim"], "b2b": report["b2b"]["ssim"]}
    return numbers


def realism_numbers(realism: dict[str, Any] | None) -> dict[str, float | None]:
    """The realism measures (lib.evaluation.realism.summarise) as flat numbers; None where not measured."""
    realism = realism or {}
    expression = realism.get("expression") or {}
    numbers: dict[str, float | None] = {"detail": realism.get("detail")}
    for name in ("blink", "jaw_open", "smile"):
        carried = expression.get(name) or {}
        numbers |= {f"{name}_r": carried.get("r"), f"{name}_range": carried.get("range"),
                    f"{name}_added": carried.get("added")}
    pose = realism.get("pose_error_degrees") or {}
    numbers |= {"judged_yaw_error": pose.get("yaw"), "judged_pitch_error": pose.get("pitch"),
                "edge_excess": (realism.get("edge_delta_e") or {}).get("excess")}
    return numbers


class Curves:
    """Losses every few iterations and held-out numbers at each evaluation, by iteration."""

    def __init__(self, model_dir: Path, up_to: int) -> None:
        """The curves of model_dir, without points past iteration up_to (a run that ended before saving them)."""
        self.path = Path(model_dir) / FILE
        self.losses: list[dict[str, Any]] = []
        self.heldout: list[dict[str, Any]] = []
        if self.path.is_file():
            try:
                raw = json.loads(self.path.read_text())
                self.losses = [p for p in raw.get("losses", []) if p["iteration"] <= up_to]
                self.heldout = [p for p in raw.get("heldout", []) if p["iteration"] <= up_to]
            except (ValueError, KeyError, TypeError, AttributeError):
                self.losses, self.heldout = [], []  # a damaged file: the curves start again

    def add_losses(self, iteration: int, losses: dict[str, float]) -> None:
        self.losses.append({"iteration": iteration, **{name: round(value, 6) for name, value in losses.items()}})

    def add_heldout(self, iteration: int, report: dict[str, Any]) -> None:
        self.heldout.append({"iteration": iteration, **heldout_numbers(report)})

    def save(self) -> None:
        write_json_atomic(self.path, {"losses": self.losses, "heldout": self.heldout})

    def plot(self) -> Frame:
        """Panels: the losses, then each held-out metric for A->B and B->A with its target dashed."""
        iterations = [point["iteration"] for point in self.losses]
        panels: dict[str, Series] = {"loss": {
            name: (iterations, [point.get(name) for point in self.losses]) for name in ("loss_a", "loss_b")}}
        if any("mask_a" in point for point in self.losses):
            names = ("mask_a", "mask_b") + (("mask_net",) if any("mask_net" in p for p in self.losses) else ())
            panels["mask loss"] = {name: (iterations, [point.get(name) for point in self.losses])
                                   for name in names}
        targets: dict[str, float] = {}
        if self.heldout:
            at = [point["iteration"] for point in self.heldout]
            for key, title in (("distance_to_target", "identity: distance to target"),
                               ("yaw_error", "yaw error (degrees)"), ("pitch_error", "pitch error (degrees)"),
                               ("face_nme", "expression: face NME")):
                panels[title] = {label: (at, [point[direction][key] for point in self.heldout])
                                 for direction, label in DIRECTIONS.items()}
                targets[title] = TARGETS[key]
            for key, title, target in REALISM_PANELS:
                panels[title] = {label: (at, [point[direction].get(key) for point in self.heldout])
                                 for direction, label in DIRECTIONS.items()}
                targets[title] = target
            panels["reconstruction SSIM"] = {label: (at, [point["ssim"][key] for point in self.heldout])
                                             for key, label in (("a2a", "A->A"), ("b2b", "B->B"))}
            targets["reconstruction SSIM"] = 1 - TARGETS["ssim_shortfall"]
            panels["held-out score (1 = on target)"] = {"score": (at, [point["score"] for point in self.heldout])}
            targets["held-out score (1 = on target)"] = 1.0
        return plot_panels(panels, "iteration", targets)
