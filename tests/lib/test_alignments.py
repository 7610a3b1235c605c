"""The alignments file, face-file metadata and Box: round trips and every way a file can be wrong."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lib.alignments import (
    Alignments,
    FrameEntry,
    LazyFrames,
    SpooledFrames,
    load_alignments,
    mesh_from_json,
    mesh_to_json,
)
from lib.errors import FaceswapError
from lib.facefile import FaceMeta, meta_from_json
from lib.types import Box, DetectedFace, Mesh
from tests.conftest import DATA, file_size_limit, landmark_truth


@pytest.fixture(scope="module")
def real_alignments() -> Alignments:
    """The ground-truth faces of dlib's example photos, as an alignments file would hold them."""
    alignments = Alignments("landmarks", "images")
    for name, photo in landmark_truth().items():
        faces = [DetectedFace(box, 0.99, points + 0.25) for box, points in photo.faces]
        alignments.frames[name] = FrameEntry(0, photo.shape, faces)
    alignments.frames["dogs.jpg"] = FrameEntry(0, (916, 900), [])
    return alignments


def _same_faces(a: list[DetectedFace], b: list[DetectedFace]) -> bool:
    return len(a) == len(b) and all(
        x.box == y.box and x.score == pytest.approx(y.score, abs=1e-4)
        and np.allclose(x.landmarks, y.landmarks, atol=0.005) for x, y in zip(a, b))


def test_round_trip(tmp_path: Path, real_alignments: Alignments) -> None:
    path = tmp_path / "alignments.json"
    real_alignments.save(path)
    loaded = load_alignments(path)
    assert (loaded.source, loaded.kind) == ("landmarks", "images")
    assert loaded.frames.keys() == real_alignments.frames.keys()
    assert loaded.face_count == real_alignments.face_count == 18
    for name, entry in real_alignments.frames.items():
        assert loaded.frames[name].shape == entry.shape
        assert _same_faces(loaded.frames[name].faces, entry.faces)
    assert loaded.frames["dogs.jpg"].faces == []
    assert [p.name for p in tmp_path.iterdir()] == ["alignments.json"]  # written through a temporary file


def test_save_replaces_an_old_file(tmp_path: Path, real_alignments: Alignments) -> None:
    path = tmp_path / "alignments.json"
    path.write_text("old")
    real_alignments.save(path)
    assert load_alignments(path).face_count == 18
    assert [p.name for p in tmp_path.iterdir()] == ["alignments.json"]


def _raw(real_alignments: Alignments) -> dict[str, Any]:
    return json.loads(json.dumps(real_alignments.to_json()))


def _damage_landmarks(raw: dict[str, Any]) -> None:
    raw["frames"]["2008_001009.jpg"]["faces"][0]["landmarks"] = [[1, 2]] * 67


def _damage_shape(raw: dict[str, Any]) -> None:
    raw["frames"]["2008_001009.jpg"]["shape"] = "480x360"


def _drop_box(raw: dict[str, Any]) -> None:
    del raw["frames"]["2008_001009.jpg"]["faces"][1]["box"]


def _drop_frames(raw: dict[str, Any]) -> None:
    del raw["frames"]


def _frames_as_list(raw: dict[str, Any]) -> None:
    raw["frames"] = list(raw["frames"].values())


def _damage_version(raw: dict[str, Any]) -> None:
    raw["version"] = "one"


@pytest.mark.parametrize("damage", [_damage_landmarks, _damage_shape, _drop_box, _drop_frames, _frames_as_list,
                                    _damage_version])
def test_damaged_entries_are_refused(tmp_path: Path, real_alignments: Alignments, damage: Any) -> None:
    raw = _raw(real_alignments)
    damage(raw)
    path = tmp_path / "alignments.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(FaceswapError, match="damaged") as caught:
        load_alignments(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_newer_version_is_refused(tmp_path: Path, real_alignments: Alignments) -> None:
    raw = _raw(real_alignments)
    raw["version"] = 99
    path = tmp_path / "alignments.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(FaceswapError, match="newer"):
        load_alignments(path)


@pytest.mark.parametrize("content", [b"", b'{"schema": "faceswap-al', b"\xff\xd8\xff\xe0 binary", b"frames: []"])
def test_non_json_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "alignments.json"
    path.write_bytes(content)
    with pytest.raises(FaceswapError, match="not an alignments file"):
        load_alignments(path)


@pytest.mark.parametrize("content", [{"frames": {}}, [1, 2, 3], {"schema": "faceswap-face", "version": 1}, "text"])
def test_foreign_json_is_refused(tmp_path: Path, content: object) -> None:
    path = tmp_path / "alignments.json"
    path.write_text(json.dumps(content))
    with pytest.raises(FaceswapError, match="not a faceswap alignments file"):
        load_alignments(path)


def test_a_real_photo_is_not_an_alignments_file() -> None:
    with pytest.raises(FaceswapError, match="not an alignments file"):
        load_alignments(DATA / "stills" / "obama" / "obama.jpg")


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FaceswapError, match="run extract first"):
        load_alignments(tmp_path / "nope.json")


def test_face_metadata_round_trip(real_alignments: Alignments) -> None:
    face = real_alignments.frames["2008_001009.jpg"].faces[1]
    matrix = np.array([[1.5, -0.25, 10.0], [0.25, 1.5, -3.0]])
    meta = FaceMeta("landmarks", "2008_001009.jpg", 0, 1, (480, 360), face, matrix, 256)
    back = meta_from_json(json.loads(json.dumps(meta.to_json())))
    assert back is not None
    assert (back.source, back.frame, back.frame_index, back.face_index, back.frame_shape, back.size) == \
        ("landmarks", "2008_001009.jpg", 0, 1, (480, 360), 256)
    assert _same_faces([back.face], [face])
    np.testing.assert_allclose(back.matrix, matrix)
    np.testing.assert_allclose(back.landmarks_at(back.size), face.landmarks @ matrix[:, :2].T + matrix[:, 2],
                               atol=0.02)


@pytest.mark.parametrize("change", [
    {"schema": "something-else"}, {"version": 3}, {"landmarks": [[0, 0]] * 5}, {"matrix": [[1, 0], [0, 1]]},
    {"box": [1, 2]}, {"frame_index": "first"}, {"frame_shape": "480x360"}, {"version": "one"}, {"box": "1234"},
])
def test_foreign_newer_or_damaged_face_metadata_is_none(real_alignments: Alignments, change: dict) -> None:
    face = real_alignments.frames["2008_001009.jpg"].faces[0]
    raw = FaceMeta("s", "f", 0, 0, (480, 360), face, np.eye(2, 3), 256).to_json()
    assert meta_from_json(raw) is not None
    raw.update(change)
    assert meta_from_json(raw) is None


def test_box_iou() -> None:
    box = Box(10, 20, 50, 80)
    assert box.iou(box) == 1.0
    assert box.iou(Box(50, 20, 90, 80)) == 0.0  # touching edges share no pixel
    assert box.iou(Box(1000, 1000, 1010, 1010)) == 0.0
    assert box.iou(Box(30, 20, 70, 80)) == pytest.approx(20 * 60 / (2 * 40 * 60 - 20 * 60))
    assert box.iou(Box(20, 30, 40, 70)) == pytest.approx(20 * 40 / (40 * 60))  # inside
    assert Box(30, 20, 70, 80).iou(box) == box.iou(Box(30, 20, 70, 80))
    assert Box(5, 5, 5, 5).iou(Box(5, 5, 5, 5)) == 0.0  # empty boxes
    assert (box.width, box.height, box.as_list()) == (40, 60, [10, 20, 50, 80])


# --- version 2: the mesh ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def meshed_face() -> DetectedFace:
    """Obama's face with its real mesh and expression scores (the face landmarker on the photo)."""
    from lib.facemesh import FaceMesh, landmarks_68
    from lib.image import read_image
    from plugins.extract.detect import DetectOptions
    from plugins.extract.detect.retinaface import RetinafaceDetector

    frame = read_image(DATA / "stills" / "obama" / "obama.jpg")
    detection = RetinafaceDetector(DetectOptions()).detect([frame])[0][0]
    assert detection.keypoints is not None
    found = FaceMesh().fit(frame, detection.keypoints)
    return DetectedFace(detection.box, detection.score, landmarks_68(found.points), Mesh(found.points,
                                                                                          found.blendshapes))


def _same_mesh(a: DetectedFace, b: DetectedFace, unit: float = 1 / 16) -> None:
    assert a.mesh is not None and b.mesh is not None
    assert np.abs(a.mesh.points - b.mesh.points).max() <= unit / 2 + 1e-9
    np.testing.assert_allclose(a.mesh.blendshapes, b.mesh.blendshapes, atol=5e-4 + 1e-7)


def test_mesh_round_trip_in_alignments_and_face_files(tmp_path: Path, meshed_face: DetectedFace) -> None:
    alignments = Alignments("obama", "images", {"obama.jpg": FrameEntry(0, (600, 800), [meshed_face])})
    alignments.save(tmp_path / "alignments.json")
    loaded = load_alignments(tmp_path / "alignments.json").frames["obama.jpg"].faces[0]
    assert _same_faces([loaded], [meshed_face])
    _same_mesh(loaded, meshed_face)
    meta = FaceMeta("obama", "obama.jpg", 0, 0, (600, 800), meshed_face, np.eye(2, 3), 256)
    raw = json.loads(json.dumps(meta.to_json()))
    assert raw["version"] == 2
    back = meta_from_json(raw)
    assert back is not None
    _same_mesh(back.face, meshed_face)
    mesh_at = back.mesh_at(128)
    assert mesh_at is not None and mesh_at.shape == (478, 2)
    # What a face costs: the mesh packed, the blendshapes as numbers (docs/extract.md).
    assert len(json.dumps(raw["mesh"])) < 4500
    size = (tmp_path / "alignments.json").stat().st_size
    assert size < 9000, size  # the 68 points (one number a line) and the mesh: about 7.9 kB a face


def test_a_face_too_large_for_sixteenths_of_a_pixel_round_trips(meshed_face: DetectedFace) -> None:
    assert meshed_face.mesh is not None
    points = meshed_face.mesh.points * 20  # a face 20 times the size: thousands of pixels across
    raw = mesh_to_json(Mesh(points, meshed_face.mesh.blendshapes))
    assert raw["unit"] > 1 / 16
    back = mesh_from_json(json.loads(json.dumps(raw)))
    assert np.abs(back.points - points).max() <= raw["unit"] / 2 + 1e-9


def test_version_1_files_load_without_a_mesh(tmp_path: Path, real_alignments: Alignments,
                                             meshed_face: DetectedFace) -> None:
    """A file written before the mesh (version 1): no mesh field anywhere."""
    raw = _raw(real_alignments)
    raw["version"] = 1
    assert "mesh" not in json.dumps(raw)
    path = tmp_path / "alignments.json"
    path.write_text(json.dumps(raw))
    loaded = load_alignments(path)
    assert loaded.face_count == 18 and all(face.mesh is None for entry in loaded.frames.values()
                                           for face in entry.faces)
    face_raw = FaceMeta("s", "f", 0, 0, (480, 360), real_alignments.frames["2008_001009.jpg"].faces[0],
                        np.eye(2, 3), 256).to_json()
    face_raw["version"] = 1
    meta = meta_from_json(face_raw)
    assert meta is not None and meta.face.mesh is None and meta.mesh_at(256) is None


def _damage_mesh_points(raw: dict[str, Any]) -> None:
    raw["points"] = raw["points"][:-8]


def _mesh_not_base64(raw: dict[str, Any]) -> None:
    raw["points"] = "**" + raw["points"][2:]


def _mesh_blendshapes(raw: dict[str, Any]) -> None:
    raw["blendshapes"] = raw["blendshapes"][:50]


def _mesh_origin(raw: dict[str, Any]) -> None:
    raw["origin"] = [1.5, 2, 3]


@pytest.mark.parametrize("damage", [_damage_mesh_points, _mesh_not_base64, _mesh_blendshapes, _mesh_origin])
def test_a_damaged_mesh_is_refused(tmp_path: Path, meshed_face: DetectedFace, damage: Any) -> None:
    raw = Alignments("obama", "images", {"obama.jpg": FrameEntry(0, (600, 800), [meshed_face])}).to_json()
    damage(raw["frames"]["obama.jpg"]["faces"][0]["mesh"])
    path = tmp_path / "alignments.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(FaceswapError, match="damaged"):
        load_alignments(path)
    face_raw = FaceMeta("s", "f", 0, 0, (600, 800), meshed_face, np.eye(2, 3), 256).to_json()
    damage(face_raw["mesh"])
    assert meta_from_json(face_raw) is None


# --- a frame a line: flat memory for long inputs ---------------------------------------------------------------

def _write_a_frame_a_line(path: Path, raw: dict[str, Any]) -> None:
    """raw (an alignments file's JSON) laid out as save writes it: the header, a frame a line, the close."""
    header = {key: value for key, value in raw.items() if key != "frames"}
    lines = [f"{json.dumps(name)}: {json.dumps(entry)}" for name, entry in raw["frames"].items()]
    path.write_text(json.dumps(header)[:-1] + ', "frames": {\n' + ",\n".join(lines) + "\n}}\n")


def test_spooled_frames_are_saved_a_frame_a_line_and_read_lazily(tmp_path: Path, real_alignments: Alignments,
                                                                   meshed_face: DetectedFace) -> None:
    """extract's spool (frames on disk as they come, a known frame given first) saved, then read back as convert
    reads it: the same frames, in index order, as the whole file read at once."""
    spool = SpooledFrames(tmp_path, {"obama.jpg": FrameEntry(7, (600, 800), [meshed_face])})
    spooled = Alignments("landmarks", "images", spool)
    for index, (name, entry) in enumerate(sorted(real_alignments.frames.items(), reverse=True)):
        spooled.frames[name] = FrameEntry(index, entry.shape, entry.faces)
    assert list(tmp_path.iterdir()) == []  # the spool has no name: nothing is left behind, whatever happens
    path = tmp_path / "alignments.json"
    spooled.save(path)
    spool.close()
    lines = path.read_text().splitlines()
    assert len(lines) == len(real_alignments.frames) + 3 and lines[-1] == "}}"  # header, a line a frame, close
    lazy, whole = load_alignments(path, lazy=True), load_alignments(path)
    assert isinstance(lazy.frames, LazyFrames) and isinstance(whole.frames, dict)
    assert list(lazy.frames) == list(whole.frames) == spooled.ordered()
    assert [whole.frames[name].index for name in whole.frames] == sorted(e.index for e in whole.frames.values())
    assert lazy.to_json() == whole.to_json()
    _same_mesh(lazy.frames["obama.jpg"].faces[0], meshed_face)
    for name, entry in real_alignments.frames.items():
        assert _same_faces(lazy.frames[name].faces, entry.faces), name


def test_a_spool_out_of_room_fails_in_one_line_and_keeps_the_frames_before(tmp_path: Path,
                                                                            real_alignments: Alignments) -> None:
    """extract's spool on a full disk: the frame that does not fit is a FaceswapError when it is added (not an
    OSError at some later seek or close), and the frames before it read back whole."""
    spool = SpooledFrames(tmp_path)
    entries = [(f"{copy}-{name}", entry) for copy in range(20) for name, entry in real_alignments.frames.items()]
    added: list[tuple[str, FrameEntry]] = []
    with file_size_limit(16 * 1024), pytest.raises(FaceswapError) as err:
        for name, entry in entries:
            spool[name] = entry
            added.append((name, entry))
    assert "File too large" in str(err.value) and "\n" not in str(err.value)
    assert 0 < len(added) < len(entries) and list(spool) == [name for name, _ in added]
    for name, entry in added:
        assert _same_faces(spool[name].faces, entry.faces), name
    spool.close()


@pytest.mark.parametrize("damage", [_damage_landmarks, _damage_shape, _drop_box, _damage_version])
def test_a_damaged_frame_line_is_refused_when_read_lazily(tmp_path: Path, real_alignments: Alignments,
                                                          damage: Any) -> None:
    raw = _raw(real_alignments)
    damage(raw)
    path = tmp_path / "alignments.json"
    _write_a_frame_a_line(path, raw)
    with pytest.raises(FaceswapError, match="damaged") as caught:
        load_alignments(path, lazy=True)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_file_cut_short_or_laid_out_otherwise(tmp_path: Path, real_alignments: Alignments) -> None:
    path = tmp_path / "alignments.json"
    real_alignments.save(path)
    path.write_text("\n".join(path.read_text().splitlines()[:-2]) + "\n")  # the last frame and the close gone
    with pytest.raises(FaceswapError, match="ends part-way"):
        load_alignments(path, lazy=True)
    path.write_text(json.dumps(_raw(real_alignments), indent=1))  # an older file's layout: read whole
    older = load_alignments(path, lazy=True)
    assert isinstance(older.frames, dict) and older.frames.keys() == real_alignments.frames.keys()
