"""The evaluation report: report.json's schema, numbers made JSON-safe, and the rows of the metric table."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

SCHEMA = "faceswap-evaluation"
VERSION = 1


def finite(value: Any) -> Any:
    """A report with NaN and infinity turned into None (JSON has neither), numbers rounded to 4 places."""
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return round(float(value), 4) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _number(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"


def _pose_tracking(scores: dict[str, Any], angle: str) -> str:
    """'2.1 (+8.0)': the pose error once the mean signed error is taken away, and that mean."""
    tracking, offset = scores.get("pose_tracking_degrees"), scores.get("pose_offset_degrees")
    if not tracking or not offset:
        return "-"
    return f"{_number(tracking[angle], 1)} ({'-' if offset[angle] is None else f'{offset[angle]:+.1f}'})"


def _share(value: Any) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.0%}"


def metric_rows(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(metric, A->B value, B->A value) rows for the console table and the sheet."""
    a2b, b2a = report["a2b"], report["b2a"]
    rows = [("faces measured (landmarks lost)", f"{a2b['measured']} ({a2b['landmarks_failed']})",
             f"{b2a['measured']} ({b2a['landmarks_failed']})")]
    for label, key in (("identity: distance to target (lower)", "to_target"),
                       ("identity: distance to source (higher)", "to_source"),
                       ("identity: retrieval as target (higher)", "retrieval")):
        rows.append((label, _number(a2b["identity"][key]), _number(b2a["identity"][key])))
    for angle in ("yaw", "pitch", "roll"):
        rows.append((f"pose kept: {angle} error, degrees (lower)", _number(a2b["pose_error_degrees"][angle], 1),
                     _number(b2a["pose_error_degrees"][angle], 1)))
    for angle in ("yaw", "pitch"):
        rows.append((f"pose followed: {angle} error less the shared offset (offset)", _pose_tracking(a2b, angle),
                     _pose_tracking(b2a, angle)))
    coverage = report.get("pose_coverage")
    if coverage:  # the target's decoder never drew these poses: its swaps take the target's own
        shares = [" / ".join(_share(coverage[d][angle]) for angle in ("yaw", "pitch")) for d in ("a2b", "b2a")]
        rows.append(("sources beyond the target's training poses: yaw / pitch", shares[0], shares[1]))
    expressions = report.get("expression_coverage")
    if expressions:  # what the target's decoder was shown, beside what the sources ask of it
        for key, label in (("eyes_closed", "eyes shut"), ("mouth_open", "mouth open")):
            shown = [f"{expressions[d]['sources'][key]} / {expressions[d]['target_trained'][key]}"
                     for d in ("a2b", "b2a")]
            rows.append((f"sources with {label} / target's training faces with it", shown[0], shown[1]))
    for part in ("face", "eyes", "mouth"):
        rows.append((f"expression kept: {part} NME (lower)", _number(a2b["expression_nme"][part]),
                     _number(b2a["expression_nme"][part])))
    for part in ("face", "eyes", "mouth"):
        rows.append((f"colour kept: {part} Delta E to the source (lower)",
                     _number((a2b.get("colour_delta_e") or {}).get(part), 1),
                     _number((b2a.get("colour_delta_e") or {}).get(part), 1)))
    pairs = [dict(realism_rows(report[d].get("realism"))) for d in ("a2b", "b2a")]
    rows += [(f"realism: {label}", pairs[0][label], pairs[1].get(label, "-")) for label in pairs[0]]
    rows.append(("reconstruction A->A / B->B: SSIM (higher)", _number(report["a2a"]["ssim"]),
                 _number(report["b2b"]["ssim"])))
    rows.append(("reconstruction A->A / B->B: PSNR dB (higher)", _number(report["a2a"]["psnr"], 1),
                 _number(report["b2b"]["psnr"], 1)))
    occlusion = report.get("occlusion")
    if occlusion:
        rows.append(("occlusion: occluder kept in front (higher)", _number(occlusion["a2b"]["occluder_kept"]),
                     _number(occlusion["b2a"]["occluder_kept"])))
        rows.append(("occlusion: mask IoU with the visible face (higher)", _number(occlusion["a2b"]["face_iou"]),
                     _number(occlusion["b2a"]["face_iou"])))
    for section in ("video", "video_b"):
        video = report.get(section)
        if not video:
            continue
        column = (lambda text: (text, "")) if video["direction"] == "a2b" else (lambda text: ("", text))
        rows.append(("video: landmark jitter, swap / source (near 1)",
                     *column(f"{_number(video['jitter']['swap'])} / {_number(video['jitter']['source'])}")))
        rows.append(("video: seam gradient jump (near 0)", *column(_number(video["seam_gradient"]["jump"], 2))))
        rows += [(f"video: {label}", *column(value)) for label, value in realism_rows(video.get("realism"))]
    return rows


def _carried(numbers: dict[str, Any] | None) -> str:
    """'0.82 / 0.95 (+0.01)': correlation / range ratio (what the swap adds where the source shows little)."""
    if not numbers or numbers.get("r") is None:
        return "-"
    return f"{_number(numbers['r'], 2)} / {_number(numbers['range'], 2)} ({numbers['added']:+.2f})"


def realism_rows(realism: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(label, value) rows of lib.evaluation.realism.summarise's numbers, judged by MediaPipe's landmarker."""
    if not realism:
        return []
    rows = [("detail kept, swap / frame (0.85-1.15)", _number(realism.get("detail"), 2))]
    for name, label in (("blink", "blink"), ("jaw_open", "jaw open"), ("smile", "smile")):
        rows.append((f"{label} carried: r / range (added)", _carried((realism.get("expression") or {}).get(name))))
    pose = realism.get("pose_error_degrees") or {}
    rows.append(("pose error by MediaPipe: yaw / pitch, degrees",
                 f"{_number(pose.get('yaw'), 1)} / {_number(pose.get('pitch'), 1)}"))
    edge = realism.get("edge_delta_e") or {}
    rows.append(("edge colour: Delta E p95 ring - inner (<= 1)", _number(edge.get("excess"), 1)))
    return rows


# What a swap should reach on held-out faces (issue 11; docs/quality.md). The quality score divides each
# metric by its target, so 1.0 means "on target" for every one of them on average.
RETRIEVAL_TARGET = 0.98  # share of swaps recognised as the target person
TARGETS = {"distance_to_target": 0.45, "yaw_error": 4.0, "pitch_error": 4.0, "face_nme": 0.055,
           "ssim_shortfall": 0.25}


def quality_score(report: dict[str, Any]) -> float | None:
    """One number to rank checkpoints by, lower is better: the mean, over A->B and B->A, of the distance to the
    target person / 0.45, the yaw and pitch errors / 4 degrees, the face NME / 0.055, and (1 - SSIM) of A->A
    and B->B / 0.25; plus, for a direction whose swaps are not yet recognised as the target (retrieval under
    RETRIEVAL_TARGET), its shortfall / (1 - RETRIEVAL_TARGET), halved. A model that still redraws the source keeps
    its pose and expression perfectly; the added term ranks it behind any that swaps, and is 0 once both
    directions swap. None when a metric could not be measured."""
    terms = []
    shortfall = 0.0
    for direction, own in (("a2b", "a2a"), ("b2a", "b2b")):
        scores = report[direction]
        values = (scores["identity"]["to_target"], scores["pose_error_degrees"]["yaw"],
                  scores["pose_error_degrees"]["pitch"], scores["expression_nme"]["face"],
                  None if report[own]["ssim"] is None else 1 - report[own]["ssim"])
        retrieval = scores["identity"]["retrieval"]
        if any(value is None or not math.isfinite(value) for value in (*values, retrieval)):
            return None
        terms += [value / target for value, target in zip(values, TARGETS.values())]
        shortfall += max(0.0, RETRIEVAL_TARGET - retrieval) / (1 - RETRIEVAL_TARGET) / 2
    return float(np.mean(terms)) + shortfall
