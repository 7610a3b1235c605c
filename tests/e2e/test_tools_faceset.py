"""`tools sort`, `tools clean`, `tools alignments` (remove-deleted, missing, merge, draw, extract) and
`tools preview` through the real CLI, on real faces with real bad ones mixed in."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cv2
import pytest

from lib.alignments import load_alignments
from lib.facefile import read_face_meta
from lib.image import SYNTHETIC_KEY, png_metadata, png_text, read_face_file, read_image, write_png
from tests.conftest import DATA, assert_one_line_error, peer_model, run_cli
from tests.model import extracted_faces

pytestmark = pytest.mark.slow  # the fast tier leaves the end-to-end runs out

MAN = DATA / "peer" / "test.mp4"  # 91 frames of one man moving and talking


def _rows(table: Path) -> list[dict[str, str]]:
    with table.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}


@pytest.fixture(scope="module")
def man(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Faces of every third frame of the man's clip and the clip's alignments file."""
    folder = tmp_path_factory.mktemp("man")
    run_cli("extract", "-i", MAN, "-o", folder / "faces", "-p", folder / "test_alignments.json", "-D", "dlib-hog",
            "--every-n", "3", check=True)
    return folder / "faces", folder / "test_alignments.json"


@pytest.fixture(scope="module")
def patch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A detector's false positive: dlib's HOG finds a 'face' in the mission patch on the astronaut's sleeve (and
    dlib's predictor places landmarks on it; the mesh would drop it: tests/plugins/test_default_pipeline.py)."""
    folder = tmp_path_factory.mktemp("astronaut")
    run_cli("extract", "-i", DATA / "stills" / "single" / "astronaut.jpg", "-o", folder, "-p",
            folder / "a.json", "-D", "dlib-hog", "-A", "dlib68", check=True)
    found = sorted(folder.glob("*.png"), key=lambda path: read_face_meta(path).face.score)  # type: ignore[union-attr]
    assert len(found) == 2
    return found[0]  # the lower score: the patch, not Eileen Collins


def test_sort_by_identity_groups_the_people_and_undo_restores(tmp_path_factory: pytest.TempPathFactory,
                                                              tmp_path: Path) -> None:
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for side in "AB":
        for path in extracted_faces(tmp_path_factory, side).glob("*.png"):
            shutil.copy(path, mixed)
    before = _snapshot(mixed)
    result = run_cli("tools", "sort", "-i", mixed, "--by", "identity")
    assert result.returncode == 0, result.stderr
    rows = _rows(mixed / "sort.csv")
    assert len(rows) == 50 and [int(row["rank"]) for row in rows] == list(range(1, 51))
    sources = [row["file"].split("_")[0] for row in rows]  # A_obama... or B_biden...
    assert len(set(sources[:25])) == 1 and len(set(sources[25:])) == 1 and sources[0] != sources[-1]
    assert sorted(path.name for path in mixed.glob("*.png")) == sorted(row["new_name"] for row in rows)
    assert run_cli("tools", "sort", "-i", mixed, "--undo").returncode == 0
    assert _snapshot(mixed) == before


@pytest.mark.parametrize("key", ["blur", "yaw", "pitch", "size", "histogram", "score"])
def test_sort_by_each_key_copies_in_order_and_is_stable(key: str, man: tuple[Path, Path], tmp_path: Path) -> None:
    faces, _ = man
    first = run_cli("tools", "sort", "-i", faces, "--by", key, "-o", tmp_path / "one")
    assert first.returncode == 0, first.stderr
    run_cli("tools", "sort", "-i", faces, "--by", key, "-o", tmp_path / "two", check=True)
    rows = _rows(tmp_path / "one" / "sort.csv")
    assert rows == _rows(tmp_path / "two" / "sort.csv")
    assert sorted(row["file"] for row in rows) == sorted(path.name for path in faces.glob("*.png"))
    values = [float(row["value"]) for row in rows]
    if key in ("blur", "size", "score"):
        assert values == sorted(values, reverse=True)
    elif key in ("yaw", "pitch"):
        assert values == sorted(values)
    for row in rows:  # the copies are the faces, bytes and metadata
        assert (tmp_path / "one" / row["new_name"]).read_bytes() == (faces / row["file"]).read_bytes()
    assert not (faces / "sort.csv").exists()


def test_clean_moves_the_injected_faces_and_undo_puts_them_back(man: tuple[Path, Path], patch: Path,
                                                                  tmp_path_factory: pytest.TempPathFactory,
                                                                  tmp_path: Path) -> None:
    folder = tmp_path / "faces"
    shutil.copytree(man[0], folder)
    good = sorted(path.name for path in folder.glob("*.png"))
    injected = {}
    for path in sorted(extracted_faces(tmp_path_factory, "B").glob("*.png"))[:2]:  # somebody else
        shutil.copy(path, folder / f"zz_{path.name}")
        injected[f"zz_{path.name}"] = "other_person"
    shutil.copy(patch, folder / "zz_patch.png")
    injected["zz_patch.png"] = "not_a_face"
    image, meta = read_face_file(folder / good[3])
    write_png(folder / "zz_blurred.png", cv2.GaussianBlur(image, (0, 0), 4), meta)  # the same face, out of focus
    injected["zz_blurred.png"] = "blurry"
    shutil.copy(folder / good[5], folder / "zz_copy.png")
    injected["zz_copy.png"] = "duplicate"
    before = _snapshot(folder)

    result = run_cli("tools", "clean", "-i", folder)
    assert result.returncode == 0, result.stderr
    report = json.loads((folder / "clean_report.json").read_text())
    verdicts = {entry["file"]: entry["reason"] for entry in report["files"]}
    assert {name: verdicts[name] for name in injected} == injected
    # The clip's last frames (75-90) are one still picture: with the mesh's steady landmarks their faces come out
    # the same (dlib's jitter made them differ), and all but the first are duplicates.
    frozen = [f"test_{index:06d}_0.png" for index in range(78, 91, 3)]
    assert {name: verdicts[name] for name in good if verdicts[name] is not None} == dict.fromkeys(frozen,
                                                                                                   "duplicate")
    for name, reason in injected.items():
        assert (folder / "_rejected" / reason / name).is_file()
    assert sorted(path.name for path in folder.glob("*.png")) == [name for name in good if name not in frozen]
    # The kept faces' expressions (the man's clip: his eyes open, his mouth shut), in the report and the summary.
    kept = len(good) - len(frozen)
    assert report["expressions"] == {"with_expression": kept, "eyes_closed": 0, "mouth_open": 0}
    assert f"expressions ({kept} of {kept} faces scored): eyes closed 0, mouth open 0" in result.stderr

    assert run_cli("tools", "clean", "-i", folder, "--undo").returncode == 0
    assert _snapshot(folder) == before and not (folder / "_rejected").exists()
    dry = run_cli("tools", "clean", "-i", folder, "--dry-run")
    assert dry.returncode == 0 and "would be moved" in dry.stderr
    assert sorted(path.name for path in folder.glob("*.png")) == sorted([*good, *injected])


def test_remove_deleted_then_convert_swaps_only_the_faces_left(man: tuple[Path, Path], model: Path,
                                                              tmp_path: Path) -> None:
    faces = tmp_path / "faces"
    shutil.copytree(man[0], faces)
    alignments = tmp_path / "test_alignments.json"
    shutil.copy(man[1], alignments)
    deleted = sorted(faces.glob("*.png"))[2:5]
    gone = {read_face_meta(path).frame for path in deleted}  # type: ignore[union-attr]
    for path in deleted:
        path.unlink()
    result = run_cli("tools", "alignments", "remove-deleted", "-f", faces, "-p", alignments)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "test_alignments.json.bak").read_bytes() == man[1].read_bytes()
    after = load_alignments(alignments)
    assert {name for name, entry in after.frames.items() if not entry.faces} >= gone
    assert after.face_count == len(list(faces.glob("*.png")))
    # convert swaps exactly the frames whose faces are left
    frames = tmp_path / "frames"
    run_cli("tools", "video", "split", "-i", MAN, "-o", frames, check=True)
    done = run_cli("convert", "-i", frames, "-o", tmp_path / "out", "-m", model, "-p", alignments,
                   "--frame-ranges", "0-20")
    assert done.returncode == 0, done.stderr
    for name in gone:
        assert (tmp_path / "out" / f"{name}.png").read_bytes() == (frames / f"{name}.png").read_bytes()
        assert SYNTHETIC_KEY.decode() not in png_text((tmp_path / "out" / f"{name}.png").read_bytes())
    kept = [name for name, entry in after.frames.items() if entry.faces and entry.index <= 20]
    assert kept and all(SYNTHETIC_KEY.decode() in png_text((tmp_path / "out" / f"{name}.png").read_bytes())
                        for name in kept)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model a few steps old (tests.conftest.peer_model): it loads and changes faces."""
    return peer_model(tmp_path_factory) / "model"


def test_missing_merge_draw_extract(man: tuple[Path, Path], tmp_path: Path) -> None:
    faces, alignments = man
    missing = run_cli("tools", "alignments", "missing", "-p", alignments, "-i", MAN)
    assert missing.returncode == 0, missing.stderr
    listed = missing.stdout.split()
    # Every third frame was extracted, and the man's face is in each of them.
    assert len(listed) == 91 - 31 and "test_000001" in listed and "test_000000" not in listed
    original = load_alignments(alignments)
    names = sorted(original.frames, key=lambda name: original.frames[name].index)
    halves = []
    for part, chosen in (("first", names[:16]), ("second", names[12:])):
        copy = load_alignments(alignments)
        copy.frames = {name: copy.frames[name] for name in chosen}
        copy.save(tmp_path / f"{part}.json")
        halves.append(tmp_path / f"{part}.json")
    run_cli("tools", "alignments", "merge", "-p", *halves, "-o", tmp_path / "merged.json", check=True)
    merged = load_alignments(tmp_path / "merged.json")
    assert set(merged.frames) == set(original.frames) and merged.face_count == original.face_count
    run_cli("tools", "alignments", "draw", "-i", MAN, "-p", alignments, "-o", tmp_path / "drawn", check=True)
    drawn = sorted((tmp_path / "drawn").glob("*.png"))
    assert len(drawn) == sum(bool(entry.faces) for entry in original.frames.values())
    frame_index = original.frames[names[0]].index
    source = [frame for index, frame in _frames(MAN) if index == frame_index][0]
    marked = read_image(drawn[0])
    assert marked.shape == source.shape and (marked != source).any(axis=2).sum() > 68
    run_cli("tools", "alignments", "extract", "-i", MAN, "-p", alignments, "-o", tmp_path / "small", "--size",
            "128", check=True)
    again = sorted((tmp_path / "small").glob("*.png"))
    assert [path.name for path in again] == sorted(path.name for path in faces.glob("*.png"))
    assert read_image(again[0]).shape == (128, 128, 3) and png_metadata(again[0].read_bytes())["size"] == 128
    # mismatched inputs: a one-line error
    assert_one_line_error(run_cli("tools", "alignments", "draw", "-i", DATA / "video" / "A_obama_kenburns.mp4",
                                  "-p", alignments, "-o", tmp_path / "x"), "lists none of the frames")
    assert_one_line_error(run_cli("tools", "alignments", "merge", "-p", alignments, DATA / "video" / "nope.json",
                                  "-o", tmp_path / "m.json"), "not found")
    assert_one_line_error(run_cli("tools", "alignments", "remove-deleted", "-f",
                                  DATA / "chips" / "John_Simm", "-p", alignments), "extract")


def _frames(video: Path) -> list:
    from lib.video import VideoReader

    return list(VideoReader(video))


def test_preview_writes_a_labelled_sheet(man: tuple[Path, Path], model: Path, tmp_path: Path) -> None:
    _, alignments = man
    result = run_cli("tools", "preview", "-i", MAN, "-m", model, "-p", alignments, "--frames", "0", "30", "60",
                     "--vary", "mask=hull,none", "color=avg-color,none", "-o", tmp_path / "sheet.png")
    assert result.returncode == 0, result.stderr
    sheet = read_image(tmp_path / "sheet.png")
    assert sheet.shape[0] == 5 * 192 and sheet.shape[1] == 280 + 3 * 192  # the original row and 2 x 2 settings
    assert SYNTHETIC_KEY.decode() in png_text((tmp_path / "sheet.png").read_bytes())
    assert_one_line_error(run_cli("tools", "preview", "-i", MAN, "-m", model, "--vary", "glow=1"), "--vary glow")
    # no --frames: four frames spread over the clip, with convert's default settings
    run_cli("tools", "preview", "-i", MAN, "-m", model, "-p", alignments, "-o", tmp_path / "default.png",
            check=True)
    assert read_image(tmp_path / "default.png").shape == (2 * 192, 280 + 4 * 192, 3)
