"""A contact sheet of swaps to look at: for each held-out clip, the frames where the source shuts its eyes, opens
its mouth widest, smiles most, turns its head most and looks most neutral (as MediaPipe's landmarker reads the
source), cut around the face; the source above each swap of the clip (one row per swapped video: before / after).

    python -m bench.contact --clip CLIP ALIGNMENTS SWAPPED [SWAPPED ...] [--clip ...] --out contact.png
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from lib.alignments import load_alignments
from lib.image import SYNTHETIC_PNG_TEXT, write_png
from lib.metrics import interocular
from lib.types import Frame, Landmarks
from lib.video import VideoReader

TILE = 176  # pixels a side of each face shown
LABEL = 22  # pixels of caption above each column
PICKS = ("eyes shut", "mouth open", "smile", "head turned", "neutral")
Clips = dict[str, tuple[Path, Path, list[Path]]]
"""name -> (clip, its alignments file, the clip swapped by each model)."""


def _faces(alignments: Path) -> dict[int, Landmarks]:
    """The largest face of each frame of an alignments file, by frame index."""
    found = {}
    for entry in load_alignments(alignments).frames.values():
        if entry.faces:
            found[entry.index] = max((face.landmarks for face in entry.faces), key=interocular)
    return found


def pick_frames(clip: Path, alignments: Path) -> dict[str, int]:
    """PICKS -> the index of the frame that shows it most, as the judge reads the source."""
    from lib.evaluation.realism import MeshJudge

    judge = MeshJudge()
    faces = _faces(alignments)
    looks = {}
    for index, frame in VideoReader(clip):
        if index in faces:
            look = judge.look(frame, faces[index])
            if look is not None:
                looks[index] = look
    if not looks:
        raise SystemExit(f"no face seen in {clip}")
    indices = list(looks)
    blink, jaw, smile = (np.array([looks[i].expression[k] for i in indices]) for k in range(3))
    yaw = np.abs([looks[i].pose[0] for i in indices])
    scores = {"eyes shut": blink, "mouth open": jaw, "smile": smile, "head turned": yaw,
              "neutral": -(blink + jaw + smile + yaw / 30)}
    return {label: indices[int(np.argmax(scores[label]))] for label in PICKS}


def _tile(frame: Frame, landmarks: Landmarks) -> Frame:
    """A square around the face, 2.2 face widths across, TILE pixels a side."""
    centre = landmarks.mean(axis=0)
    half = 1.1 * float(np.ptp(landmarks[:, 0]))
    scale = TILE / (2 * half)
    matrix = np.array([[scale, 0.0, TILE / 2 - scale * centre[0]], [0.0, scale, TILE / 2 - scale * centre[1]]])
    return np.asarray(cv2.warpAffine(frame, matrix, (TILE, TILE), flags=cv2.INTER_CUBIC,
                                     borderMode=cv2.BORDER_CONSTANT), np.uint8)


def _frames(video: Path, wanted: set[int]) -> dict[int, Frame]:
    return {index: frame for index, frame in VideoReader(video) if index in wanted}


def contact_sheet(clips: Clips) -> Frame:
    """One block per clip: a caption row, the source's picked faces, then each swapped video's. BGR uint8."""
    blocks = []
    for name, (clip, alignments, swapped) in clips.items():
        picks = pick_frames(clip, alignments)
        faces = _faces(alignments)
        wanted = set(picks.values())
        rows = []
        for video in [clip, *swapped]:
            frames = _frames(video, wanted)
            rows.append(np.hstack([_tile(frames[i], faces[i]) for i in picks.values()]))
        caption = np.full((2 * LABEL, TILE * len(picks), 3), 255, np.uint8)
        cv2.putText(caption, f"{name}: source above, then each swap", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (0, 0, 0), 1, cv2.LINE_AA)
        for column, label in enumerate(picks):
            cv2.putText(caption, label, (4 + column * TILE, LABEL + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0),
                        1, cv2.LINE_AA)
        blocks.append(np.vstack([caption, *rows]))
    return np.vstack(blocks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.contact", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", nargs="+", action="append", required=True, type=Path,
                        metavar="CLIP ALIGNMENTS SWAPPED", help="a held-out clip, its alignments, its swaps")
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    args = parser.parse_args(argv)
    clips: Clips = {}
    for given in args.clip:
        if len(given) < 3:
            parser.error("--clip takes a clip, its alignments file and at least one swapped video")
        clip, alignments, *swapped = given
        clips[clip.stem] = (clip, alignments, swapped)
    write_png(args.out, contact_sheet(clips), text=SYNTHETIC_PNG_TEXT)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
