"""`extract` end to end on real photos and video: what it finds, what it writes, filters and resuming.

The video run goes through the real CLI; the others call scripts.extract.run in this process (the same code
after argument parsing) so that TensorFlow loads once and each run's Summary can be read.
"""
from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from lib.align import align_matrix, eye_centres, template_points, transform_points, warp_face
from lib.alignments import Alignments, load_alignments
from lib.facefile import FaceMeta, read_face_meta
from lib.image import png_metadata, read_image
from lib.types import DetectedFace
from lib.video import VideoReader
from plugins.extract.pipeline import FaceFinder
from scripts.extract.args import Config
from scripts.extract.extractor import Summary
from scripts.extract.run import run
from tests.conftest import DATA, assert_quiet, run_cli

pytestmark = pytest.mark.slow  # the fast tier leaves the end-to-end runs out

RecordProperty = Callable[[str, object], None]

VIDEO = DATA / "video" / "A_obama_kenburns.mp4"
SIZE = 256
META_FIELDS = {"schema", "version", "source", "frame", "frame_index", "face_index", "frame_shape", "box",
               "score", "landmarks", "matrix", "size", "mesh"}


@dataclass(frozen=True)
class Extracted:
    """The outcome of one extract run."""

    faces: Path
    alignments: Alignments
    summary: Summary | None = None
    stderr: str = ""

    def face_files(self) -> list[Path]:
        return sorted(self.faces.glob("*.png"))


def extract(source: Path, folder: Path, **options: Any) -> Extracted:
    """Run extract in this process, faces to folder/faces, alignments to folder/alignments.json."""
    summary = run(Config(input=source, output=folder / "faces", alignments=folder / "alignments.json", **options))
    return Extracted(folder / "faces", load_alignments(folder / "alignments.json"), summary)


def copy_into(folder: Path, *paths: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for path in paths:
        shutil.copy(path, folder / path.name)
    return folder


def rolled(path: Path, degrees: float) -> np.ndarray:
    """A real photo turned by degrees (counter-clockwise) on a canvas big enough to keep all of it."""
    image = read_image(path)
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_width, new_height = int(height * sin + width * cos), int(height * cos + width * sin)
    matrix[:, 2] += (new_width - width) / 2, (new_height - height) / 2
    return np.asarray(cv2.warpAffine(image, matrix, (new_width, new_height)), np.uint8)


def eye_angle(landmarks: np.ndarray) -> float:
    """The eye line's angle from horizontal, degrees."""
    left, right = eye_centres(landmarks)
    return float(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])))


# ---------------------------------------------------------------------------------------------------- video

@pytest.fixture(scope="module")
def video_run(tmp_path_factory: pytest.TempPathFactory) -> Extracted:
    folder = tmp_path_factory.mktemp("video")
    result = run_cli("extract", "-i", VIDEO, "-o", folder / "faces", "-p", folder / "alignments.json", check=True)
    return Extracted(folder / "faces", load_alignments(folder / "alignments.json"), stderr=result.stderr)


def test_video_gives_one_face_per_frame(video_run: Extracted) -> None:
    assert_quiet(video_run.stderr)  # mtcnn runs on TensorFlow: none of its log lines show
    frame_count = VideoReader(VIDEO).expected
    assert frame_count == 75
    frames = video_run.alignments.frames
    assert len(frames) == frame_count
    assert video_run.alignments.kind == "video" and video_run.alignments.source == VIDEO.name
    assert sorted(entry.index for entry in frames.values()) == list(range(frame_count))
    for name, entry in frames.items():
        assert name == f"A_obama_kenburns_{entry.index:06d}"
        assert entry.shape == (256, 256)
        assert len(entry.faces) == 1
    names = [path.name for path in video_run.face_files()]
    assert names == [f"A_obama_kenburns_{i:06d}_0.png" for i in range(frame_count)]
    assert "frames read: 75, with faces: 75, faces written: 75" in video_run.stderr
    assert "Traceback" not in video_run.stderr


def test_video_landmarks_move_smoothly(video_run: Extracted) -> None:
    # A slow Ken Burns zoom: the face drifts a few pixels per frame at most, so no frame's landmarks jump.
    entries = sorted(video_run.alignments.frames.values(), key=lambda entry: entry.index)
    centres = np.array([entry.faces[0].landmarks.mean(0) for entry in entries])
    assert np.linalg.norm(np.diff(centres, axis=0), axis=1).max() < 4.0


def test_every_nth_frame_of_a_video_with_refeed(tmp_path: Path, video_run: Extracted) -> None:
    done = extract(VIDEO, tmp_path, every_n=5, refeed=5)
    assert done.summary is not None and done.summary.frames_read == 15
    assert sorted(entry.index for entry in done.alignments.frames.values()) == list(range(0, 75, 5))
    expected = [f"A_obama_kenburns_{i:06d}_0.png" for i in range(0, 75, 5)]
    assert [path.name for path in done.face_files()] == expected
    for path in done.face_files():
        meta = read_face_meta(path)
        assert meta is not None
        assert path.name == f"A_obama_kenburns_{meta.frame_index:06d}_0.png"
    # --refeed 5 averages jittered predictions: the landmarks move a little from the plain run's, no more.
    shifts = [np.linalg.norm(entry.faces[0].landmarks - video_run.alignments.frames[name].faces[0].landmarks,
                             axis=1).mean() for name, entry in done.alignments.frames.items()]
    assert 0.05 < np.mean(shifts) < 3.0, shifts


# --------------------------------------------------------------------------------------------------- photos

@pytest.fixture(scope="module")
def photos_run(tmp_path_factory: pytest.TempPathFactory) -> Extracted:
    """Group photos, a photo of a clock (no face: the photo of dogs in tests/data has a frontal dog's head that
    RetinaFace and the mesh take for a face, docs/extract.md), two portraits and one of them rolled by 25 degrees
    each way."""
    folder = tmp_path_factory.mktemp("photos")
    source = copy_into(folder / "frames", *sorted((DATA / "peer").glob("test_img*.jpg")),
                       DATA / "occluders" / "clock.png", DATA / "stills" / "obama" / "obama.jpg",
                       DATA / "stills" / "obama" / "obama2.jpg")
    for degrees in (25, -25):
        cv2.imwrite(str(source / f"obama2_rolled{degrees}.png"), rolled(source / "obama2.jpg", degrees))
    return extract(source, folder)


def test_group_photos_have_several_faces(photos_run: Extracted) -> None:
    counts = {name: len(photos_run.alignments.frames[f"{name}.jpg"].faces)
              for name in ("test_img1", "test_img2", "test_img3", "test_img4")}
    assert all(count >= 2 for count in counts.values()), counts  # measured 3, 3, 2, 8
    assert sum(counts.values()) >= 14, counts
    for name, count in counts.items():
        assert len(list(photos_run.faces.glob(f"{name}_000000_*.png"))) == count


def test_a_photo_without_a_face_is_listed_without_faces(photos_run: Extracted) -> None:
    entry = photos_run.alignments.frames["clock.png"]
    assert entry.faces == [] and entry.shape == (150, 200)
    assert not list(photos_run.faces.glob("clock_*"))
    assert photos_run.summary is not None
    assert photos_run.summary.frames_read == len(photos_run.alignments.frames) == 9
    assert photos_run.summary.frames_with_faces == 8


def test_face_files_carry_their_metadata(photos_run: Extracted) -> None:
    by_file: dict[str, tuple[FaceMeta, dict]] = {}
    for path in photos_run.face_files():
        raw = png_metadata(path.read_bytes())
        assert raw is not None and set(raw) == META_FIELDS, path.name
        meta = read_face_meta(path)
        assert meta is not None
        by_file[path.name] = (meta, raw)
    assert len(by_file) == photos_run.alignments.face_count
    for entry_name, entry in photos_run.alignments.frames.items():
        stem = Path(entry_name).stem
        for face_index, face in enumerate(entry.faces):
            meta, raw = by_file[f"{stem}_000000_{face_index}.png"]
            assert (meta.source, meta.frame, meta.frame_index) == ("frames", entry_name, 0)
            assert meta.face_index == face_index
            assert meta.frame_shape == entry.shape and meta.size == SIZE
            assert meta.face.box == face.box and meta.face.score == pytest.approx(face.score, abs=1e-4)
            np.testing.assert_allclose(meta.face.landmarks, face.landmarks, atol=0.01)
            # The file keeps the landmarks to 2 decimals: the matrix made from them places them within a fiftieth
            # of a pixel of where the stored one does.
            remade = align_matrix(face.landmarks, SIZE)
            np.testing.assert_allclose(transform_points(meta.matrix, face.landmarks),
                                       transform_points(remade, face.landmarks), atol=0.02)


def test_face_pixels_are_the_warped_frame(photos_run: Extracted) -> None:
    for name in ("obama_000000_0.png", "test_img4_000000_5.png", "obama2_rolled25_000000_0.png"):
        path = photos_run.faces / name
        meta = read_face_meta(path)
        assert meta is not None
        frame = read_image(photos_run.faces.parent / "frames" / meta.frame)
        face = read_image(path)
        assert face.shape == (SIZE, SIZE, 3)
        difference = np.abs(warp_face(frame, meta.matrix, SIZE).astype(int) - face.astype(int))
        assert difference.mean() < 0.5, name  # the stored matrix is rounded to 6 decimals


def portraits(photos_run: Extracted) -> list[FaceMeta]:
    names = ("obama", "obama2", "obama2_rolled25", "obama2_rolled-25")
    found = [read_face_meta(photos_run.faces / f"{name}_000000_0.png") for name in names]
    assert all(meta is not None for meta in found)
    return [meta for meta in found if meta is not None]


def test_eyes_land_on_the_template_eyes(photos_run: Extracted, record_property: RecordProperty) -> None:
    target = eye_centres(template_points(SIZE))
    offsets = np.array([np.linalg.norm(eye_centres(meta.landmarks_at(meta.size)) - target, axis=1)
                        for meta in portraits(photos_run)])
    record_property("eye_offset_px_max", round(float(offsets.max()), 2))
    # 256 px face, 69 px between the template's eyes; measured up to 6 px (a face's own proportions).
    assert offsets.max() <= 8.0, offsets
    assert offsets.mean() <= 4.0, offsets


def test_rolled_head_comes_out_upright(photos_run: Extracted, record_property: RecordProperty) -> None:
    _, upright, turned_left, turned_right = portraits(photos_run)
    for meta, degrees in ((turned_left, 25), (turned_right, -25)):
        # The frame really shows the head rolled (counter-clockwise turns the eye line by minus degrees).
        assert abs(eye_angle(meta.face.landmarks) - (eye_angle(upright.face.landmarks) - degrees)) < 2.0
        angle = eye_angle(meta.landmarks_at(meta.size))
        record_property(f"aligned_eye_angle_rolled{degrees}", round(angle, 2))
        assert abs(angle) < 4.0  # measured 2.5
        assert abs(angle - eye_angle(upright.landmarks_at(upright.size))) < 3.0  # as the unrolled photo comes out


@pytest.fixture(scope="module")
def mtcnn() -> FaceFinder:
    return FaceFinder("mtcnn")


def test_aligned_faces_are_found_again(photos_run: Extracted, mtcnn: FaceFinder) -> None:
    target = eye_centres(template_points(SIZE))
    names = ["obama_000000_0.png", "obama2_rolled25_000000_0.png", "obama2_rolled-25_000000_0.png",
             "test_img2_000000_1.png"]
    for name in names:
        found: list[DetectedFace] = mtcnn.find([read_image(photos_run.faces / name)])[0]
        assert len(found) == 1, name
        # The face sits where the template says: the middle of the crop, eyes on the template's eyes.
        offsets = np.linalg.norm(eye_centres(found[0].landmarks) - target, axis=1)
        assert offsets.max() < 12.0, (name, offsets)  # measured up to 7.5


def test_no_temporary_files_are_left(photos_run: Extracted, video_run: Extracted) -> None:
    for folder in (photos_run.faces, photos_run.faces.parent, video_run.faces, video_run.faces.parent):
        assert not [path for path in folder.iterdir() if re.search(r"\.tmp$", path.name)]


# --------------------------------------------------------------------------------------------------- filters

@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("people")
    return copy_into(folder / "frames", DATA / "stills" / "obama" / "obama.jpg",
                     DATA / "stills" / "biden" / "biden.jpg", DATA / "stills" / "obama" / "obama2.jpg")


def faces_by_frame(done: Extracted) -> dict[str, int]:
    return {name: len(entry.faces) for name, entry in done.alignments.frames.items()}


def test_filter_keeps_only_the_reference_person(people: Path, tmp_path: Path) -> None:
    done = extract(people, tmp_path, filter=[DATA / "stills" / "obama" / "obama3.jpg"])
    assert faces_by_frame(done) == {"obama.jpg": 1, "biden.jpg": 0, "obama2.jpg": 1}
    assert [path.name for path in done.face_files()] == ["obama2_000000_0.png", "obama_000000_0.png"]
    assert done.summary is not None and done.summary.faces_filtered == {"not the --filter person": 1}


def test_nfilter_drops_the_reference_person(people: Path, tmp_path: Path) -> None:
    done = extract(people, tmp_path, nfilter=[DATA / "stills" / "obama" / "obama3.jpg"])
    assert faces_by_frame(done) == {"obama.jpg": 0, "biden.jpg": 1, "obama2.jpg": 0}
    assert [path.name for path in done.face_files()] == ["biden_000000_0.png"]
    assert done.summary is not None and done.summary.faces_filtered == {"an --nfilter person": 2}


def test_min_size_drops_small_faces(tmp_path: Path) -> None:
    source = copy_into(tmp_path / "frames", DATA / "peer" / "test_img4.jpg")
    done = extract(source, tmp_path, detector="dlib-hog", min_size=10_000)
    assert faces_by_frame(done) == {"test_img4.jpg": 0}
    assert done.summary is not None and done.summary.faces_filtered["smaller than --min-size"] >= 1


# ----------------------------------------------------------------------------------------------- resuming

def test_skip_existing_resumes_from_face_files_and_alignments(tmp_path: Path) -> None:
    source = copy_into(tmp_path / "frames", DATA / "stills" / "obama" / "obama.jpg",
                       DATA / "stills" / "biden" / "biden.jpg", DATA / "negative" / "dogs.jpg")
    first = extract(source, tmp_path, detector="dlib-hog")
    assert faces_by_frame(first) == {"obama.jpg": 1, "biden.jpg": 1, "dogs.jpg": 0}
    written = {path.name: path.stat().st_mtime_ns for path in first.face_files()}

    (tmp_path / "alignments.json").unlink()  # as if the run had been killed before writing it
    second = extract(source, tmp_path, detector="dlib-hog", skip_existing=True)
    assert second.summary is not None
    assert second.summary.frames_skipped_existing == 2  # recovered from their face files
    assert second.summary.frames_read == 1  # only the dogs, which left no face file, were detected again
    assert {path.name: path.stat().st_mtime_ns for path in second.face_files()} == written
    assert faces_by_frame(second) == faces_by_frame(first)
    for name in ("obama.jpg", "biden.jpg"):
        before, after = first.alignments.frames[name], second.alignments.frames[name]
        assert (after.index, after.shape, after.faces[0].box) == (before.index, before.shape, before.faces[0].box)
        np.testing.assert_allclose(after.faces[0].landmarks, before.faces[0].landmarks, atol=0.01)

    third = extract(source, tmp_path, detector="dlib-hog", skip_existing=True)
    assert third.summary is not None
    assert third.summary.frames_skipped_existing == 3 and third.summary.frames_read == 0
    assert third.summary.faces_written == 0
    assert faces_by_frame(third) == faces_by_frame(first)


def test_an_unfinished_run_leaves_the_earlier_alignments_file_as_it_was(tmp_path: Path) -> None:
    """A run that does not build on the alignments file there (no --skip-existing) replaces it only when it
    finishes: Ctrl-C part-way leaves the earlier, whole file byte for byte."""
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import PEER_VIDEO, ROOT

    alignments = tmp_path / "alignments.json"
    run_cli("extract", "-i", PEER_VIDEO, "-o", tmp_path / "first", "-p", alignments, "-D", "dlib-hog", check=True)
    before = alignments.read_bytes()
    process = subprocess.Popen([sys.executable, str(ROOT / "faceswap.py"), "extract", "-i", str(PEER_VIDEO), "-o",
                                str(tmp_path / "second"), "-p", str(alignments), "-D", "dlib-hog"], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        while process.poll() is None and len(list((tmp_path / "second").glob("*.png"))) < 5:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 130, stderr
    written = len(list((tmp_path / "second").glob("*.png")))
    assert 5 <= written < 91, written  # stopped part-way
    assert f"{alignments} is left as it was (this run did not finish" in stderr
    assert alignments.read_bytes() == before
