"""The default extract (RetinaFace and MediaPipe's mesh) end to end through the real CLI on the bundled clips:
extract → train → convert (the mesh mask) → evaluate; what each face carries; and files written before the mesh
(version 1: 68 points only) still working in convert, train, tools and evaluate."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lib.alignments import load_alignments
from lib.facefile import read_face_meta
from lib.image import SYNTHETIC_KEY, png_metadata, png_text, read_face_file, read_image, write_png
from lib.video import VideoReader
from tests.conftest import DATA, assert_one_line_error, assert_quiet, run_cli

pytestmark = pytest.mark.slow  # the fast tier leaves the end-to-end runs out

CLIPS = {"A": DATA / "video" / "A_obama_kenburns.mp4", "B": DATA / "video" / "B_biden_kenburns.mp4"}
TRAIN = ("--model", "lightweight", "--learn-mask", "--iterations", "2", "--batch-size", "4", "--preview-every",
         "0")


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both clips extracted with the defaults (every third frame) and a model trained 2 steps on their faces."""
    folder = tmp_path_factory.mktemp("default")
    for side, clip in CLIPS.items():
        result = run_cli("extract", "-i", clip, "-o", folder / f"faces_{side}", "-p", folder / f"{side}.json",
                         "--every-n", "3", check=True)
        assert_quiet(result.stderr)
        assert "frames read: 25, with faces: 25, faces written: 25" in result.stderr
    run_cli("train", "-A", folder / "faces_A", "-B", folder / "faces_B", "-m", folder / "model", *TRAIN,
            check=True)
    return folder


def test_every_face_carries_its_mesh_and_expression(work: Path) -> None:
    alignments = load_alignments(work / "A.json")
    raw = json.loads((work / "A.json").read_text())
    assert raw["version"] == 2 and alignments.face_count == 25
    for path in sorted((work / "faces_A").glob("*.png")):
        meta = read_face_meta(path)
        assert meta is not None and meta.face.mesh is not None, path.name
        assert meta.face.mesh.points.shape == (478, 3) and meta.face.mesh.blendshapes.shape == (52,)
        assert png_metadata(path.read_bytes())["version"] == 2
        entry = alignments.frames[meta.frame].faces[0]
        assert entry.mesh is not None
        np.testing.assert_allclose(meta.face.mesh.points, entry.mesh.points, atol=1 / 32)
        # The mesh and the 68 points describe one face: its eye corners are dlib's (within a fifth of the eyes).
        eyes = float(np.linalg.norm(entry.landmarks[36:42].mean(0) - entry.landmarks[42:48].mean(0)))
        assert np.linalg.norm(entry.mesh.points[33, :2] - entry.landmarks[36]) < 0.2 * eyes
        assert np.linalg.norm(entry.mesh.points[263, :2] - entry.landmarks[45]) < 0.2 * eyes


def test_convert_with_the_mesh_mask_and_evaluate(work: Path) -> None:
    out = work / "swapped.mp4"
    converted = run_cli("convert", "-i", CLIPS["A"], "-p", work / "A.json", "-m", work / "model", "-o", out,
                        "--mask", "learned-mesh")
    assert converted.returncode == 0, converted.stderr
    assert_quiet(converted.stderr)
    assert "mask learned-mesh" in converted.stderr
    # Every third frame has its face in the alignments file: those are swapped, the others pass unchanged.
    assert "with a face swapped: 25 (25 faces)" in converted.stderr
    assert VideoReader(out).expected == 75
    evaluated = run_cli("evaluate", "-m", work / "model", "-A", work / "faces_A", "-B", work / "faces_B",
                        "--max-faces", "4", "-i", CLIPS["A"], "--max-frames", "6")
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads((work / "model" / "evaluation" / "report.json").read_text())
    assert report["video"]["frames"] == 6 and report["video"]["faces"] == 6  # found on the fly, by the default
    assert report["a2b"]["faces"] == 4


def test_the_mesh_mask_swaps_only_inside_the_face_oval(work: Path, tmp_path: Path) -> None:
    """One frame converted with the mesh's oval: every changed pixel lies inside the oval (grown by the feather),
    and the oval, not the 68-point hull, decides: the two masks give different frames."""
    frames = tmp_path / "frames"
    run_cli("tools", "video", "split", "-i", CLIPS["A"], "-o", frames, check=True)
    for path in sorted(frames.glob("*.png"))[1:]:
        path.unlink()
    alignments = work / "A.json"
    outputs = {}
    for mask in ("mesh", "hull"):
        run_cli("convert", "-i", frames, "-p", alignments, "-m", work / "model", "-o", tmp_path / mask, "--mask",
                mask, "--follow", "0", "--blur", "0", check=True)
        outputs[mask] = read_image(tmp_path / mask / "A_obama_kenburns_000000.png")
    source = read_image(frames / "A_obama_kenburns_000000.png")
    face = load_alignments(alignments).frames["A_obama_kenburns_000000"].faces[0]
    assert face.mesh is not None
    import cv2

    from lib.facemesh import mesh_mask

    oval = mesh_mask(face.mesh.points, max(source.shape[:2]))[:source.shape[0], :source.shape[1]]
    grown = cv2.dilate(oval, np.ones((5, 5), np.uint8)) > 0
    changed = np.any(outputs["mesh"] != source, axis=2)
    assert changed.sum() > 500 and not changed[~grown].any()
    assert np.any(outputs["mesh"] != outputs["hull"])


def _as_version_1(folder: Path, alignments: Path, target: Path) -> tuple[Path, Path]:
    """Copies of a face folder and its alignments file as extract wrote them before the mesh: version 1, no mesh
    field (the 68 points, box and score as they were)."""
    faces = target / "faces_v1"
    faces.mkdir(parents=True)
    for path in sorted(folder.glob("*.png")):
        image, meta = read_face_file(path)
        assert meta is not None
        meta.pop("mesh")
        meta["version"] = 1
        write_png(faces / path.name, image, meta)
    raw = json.loads(alignments.read_text())
    raw["version"] = 1
    for entry in raw["frames"].values():
        for face in entry["faces"]:
            face.pop("mesh")
    old = target / "v1.json"
    old.write_text(json.dumps(raw, indent=1))
    return faces, old


def test_version_1_faces_and_alignments_keep_working(work: Path, tmp_path: Path) -> None:
    faces, alignments = _as_version_1(work / "faces_A", work / "A.json", tmp_path)
    assert all(meta is not None and meta.face.mesh is None
               for meta in map(read_face_meta, sorted(faces.glob("*.png"))))
    # convert, with the mesh mask asked for: faces without a mesh get the 68-point hull
    out = tmp_path / "swapped"
    done = run_cli("convert", "-i", CLIPS["A"], "-p", alignments, "-m", work / "model", "-o", out,
                   "--writer", "images", "--mask", "mesh", "--frame-ranges", "0-5")
    assert done.returncode == 0, done.stderr
    assert "with a face swapped: 2 (2 faces)" in done.stderr  # frames 0 and 3 are in the file
    assert SYNTHETIC_KEY.decode() in png_text(sorted(out.glob("*.png"))[0].read_bytes())
    # train on them, and evaluate with them
    model = tmp_path / "model"
    run_cli("train", "-A", faces, "-B", work / "faces_B", "-m", model, *TRAIN, check=True)
    run_cli("evaluate", "-m", model, "-A", faces, "-B", work / "faces_B", "--max-faces", "3", check=True)
    # tools: sort and rebuild read them; sorting by expression says what it needs, in one line
    run_cli("tools", "sort", "-i", faces, "--by", "yaw", "-o", tmp_path / "sorted", check=True)
    assert_one_line_error(run_cli("tools", "sort", "-i", faces, "--by", "expression", "-o", tmp_path / "x"),
                          "no expression scores", "-A mediapipe")
    run_cli("tools", "alignments", "rebuild", "-f", faces, "-p", tmp_path / "rebuilt.json", check=True)
    assert load_alignments(tmp_path / "rebuilt.json").face_count == 25


def test_a_face_folder_of_both_versions_sorts_by_expression(work: Path, tmp_path: Path) -> None:
    mixed = tmp_path / "mixed"
    shutil.copytree(work / "faces_A", mixed)
    old, _ = _as_version_1(work / "faces_B", work / "B.json", tmp_path)
    for path in sorted(old.glob("*.png"))[:3]:
        shutil.copy(path, mixed / path.name)
    result = run_cli("tools", "sort", "-i", mixed, "--by", "expression", "-o", tmp_path / "sorted")
    assert result.returncode == 0, result.stderr
    assert "expressions (25 of 28 faces scored)" in result.stderr
    ranked = sorted((tmp_path / "sorted").glob("*.png"))
    assert [path.name.split("_", 1)[1][0] for path in ranked[-3:]] == ["B", "B", "B"]  # the unscored last
