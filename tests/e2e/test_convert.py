"""`convert` end to end with a tiny model trained through the real CLI on real faces (tests.conftest.peer_model).

The main paths (video to video, sound, the split -> convert -> join round trip, bad input) go through the real
CLI; the matrix of colour, mask and blend options calls scripts.convert.run in this process (the same code
after argument parsing) so that TensorFlow and the model load once.
"""
from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from lib.align import align_matrix, coverage_matrix
from lib.alignments import Alignments, load_alignments
from lib.image import SYNTHETIC_KEY, is_marked_synthetic, png_text, read_image
from lib.video import VideoReader, VideoWriter, find_ffmpeg, probe_video, video_comment
from tests.conftest import DATA, PEER_VIDEO, ROOT, assert_one_line_error, assert_quiet, peer_model, run_cli

pytestmark = pytest.mark.slow  # the fast tier leaves the end-to-end runs out

VIDEO = PEER_VIDEO  # 91 frames, 426x240, 5 fps: one man, a face in every frame
SIZE = 256




@dataclass(frozen=True)
class Setup:
    """What every test here starts from: a trained model and the alignments of peer/test.mp4."""

    model: Path
    alignments_path: Path
    alignments: Alignments
    face_png: Path  # a face of the man in test.mp4, from extract
    work: Path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    peer = peer_model(tmp_path_factory)
    return Setup(peer / "model", peer / "alignments.json", load_alignments(peer / "alignments.json"),
                 sorted((peer / "faces").glob("*.png"))[0], tmp_path_factory.mktemp("convert"))


def _footprint(shape: tuple[int, ...], landmarks: list[np.ndarray], coverage: float, grow: int) -> np.ndarray:
    """Pixels of a frame inside the square crop of `coverage` around each face, grown by `grow` pixels."""
    region = np.zeros(shape[:2], np.uint8)
    for points in landmarks:
        matrix = coverage_matrix(align_matrix(points, SIZE), SIZE, coverage, SIZE)
        square = np.full((SIZE, SIZE), 255, np.uint8)
        region |= cv2.warpAffine(square, matrix, (shape[1], shape[0]), flags=cv2.WARP_INVERSE_MAP)
    if grow:
        region = cv2.dilate(region, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    return region > 0


def _faces_of(alignments: Alignments, name: str) -> list[np.ndarray]:
    return [face.landmarks for face in alignments.frames[name].faces]


# --- video in, video out -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def video_out(setup: Setup) -> tuple[Path, subprocess.CompletedProcess[str]]:
    target = setup.work / "swapped.mp4"
    result = run_cli("convert", "-i", VIDEO, "-o", target, "-m", setup.model, "-p", setup.alignments_path,
                     check=True)
    return target, result


def test_video_keeps_frame_count_and_fps(video_out: tuple[Path, Any]) -> None:
    target, result = video_out
    assert_quiet(result.stderr)
    assert "convert: 91/91 frame (100%)" in result.stderr  # plain progress lines: stderr is no terminal here
    info, source = probe_video(target), probe_video(VIDEO)
    assert (info.frame_count, info.fps, info.width, info.height) == (91, 5.0, 426, 240)
    assert (source.frame_count, source.fps) == (91, 5.0)
    assert video_comment(target) == "synthetic: made with faceswap"
    assert "frames read: 91, written: 91, with a face swapped: 91" in result.stderr
    assert [p.name for p in target.parent.iterdir() if p.name.startswith(".")] == []


def test_video_changes_the_face_and_nothing_far_from_it(video_out: tuple[Path, Any], setup: Setup,
                                                        tmp_path: Path) -> None:
    """Far from the face the swapped video matches the source re-encoded alone with the same settings (the
    codec's tolerance: the source itself is a low-bitrate stream, ~2 levels off after any re-encode)."""
    target, _ = video_out
    source = [frame for _, frame in VideoReader(VIDEO)]
    plain = VideoWriter(tmp_path / "plain.mp4", 426, 240, 5.0)
    for frame in source:
        plain.write(frame)
    plain.close()
    reencoded = [frame for _, frame in VideoReader(tmp_path / "plain.mp4")]
    swapped = [frame for _, frame in VideoReader(target)]
    assert len(swapped) == len(source) == 91
    inside_change, outside_change = [], []
    for index in range(0, 91, 10):
        faces = _faces_of(setup.alignments, f"test_{index:06d}")
        near = _footprint(source[index].shape, faces, 1.0, 12)  # the whole aligned face, and a margin
        inner = _footprint(source[index].shape, faces, 0.35, 0)  # the middle of the face: eyes, nose, mouth
        inside_change.append(np.abs(swapped[index].astype(int) - source[index]).mean(2)[inner].mean())
        far = np.abs(swapped[index].astype(int) - reencoded[index]).mean(2)[~near]
        outside_change.append(far.mean())
        assert np.percentile(far, 99.5) < 8, index
    assert min(inside_change) > 6, inside_change
    assert max(outside_change) < 1.2, outside_change


# --- images out, every option --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def frames_folder(setup: Setup) -> Path:
    """Four real frames of test.mp4 as PNG, and a photo without a face, with their own alignments file
    (extract's default place) that lists the photo with no face."""
    folder = setup.work / "frames"
    folder.mkdir()
    for index, (_, frame) in enumerate(VideoReader(VIDEO)):
        if index % 20 == 0:
            cv2.imwrite(str(folder / f"frame_{index:03d}.png"), frame)
    cv2.imwrite(str(folder / "dogs.png"), read_image(DATA / "negative" / "dogs.jpg"))
    run_cli("extract", "-i", folder, "-o", setup.work / "frames_faces", "-D", "dlib-hog", check=True)
    alignments = load_alignments(folder / "alignments.json")
    assert alignments.frames["dogs.png"].faces == [] and alignments.face_count == 5
    return folder


def _convert(setup: Setup, source: Path, target: Path, **options: Any) -> Any:
    """scripts.convert.run.run in this process; options are Config's fields or SwapOptions'."""
    from lib.swap import SwapOptions
    from scripts.convert.args import Config
    from scripts.convert.run import run

    swap = {name: options.pop(name) for name in list(options) if name in SwapOptions.__dataclass_fields__}
    return run(Config(input=source, output=target, model_dir=setup.model, swap=SwapOptions(**swap), **options))


MODES = [
    {"color": "none", "blend": "gaussian", "mask": "hull"},
    {"color": "avg-color", "blend": "poisson", "mask": "none"},
    {"color": "match-hist", "blend": "gaussian", "mask": "auto", "sharpen": 1.0, "erosion": 5.0, "blur": 10.0,
     "grain": 1.0},
    {"color": "color-transfer", "blend": "poisson", "mask": "hull", "erosion": -5.0, "blur": 0.0},
]


@pytest.mark.parametrize("mode", MODES, ids=lambda mode: "-".join(str(v) for v in mode.values()))
def test_every_mode_changes_only_the_face_region(mode: dict[str, Any], setup: Setup, frames_folder: Path,
                                                  tmp_path: Path) -> None:
    from lib.model.swapper import load_swapper

    coverage = load_swapper(setup.model).coverage
    summary = _convert(setup, frames_folder, tmp_path / "out", **mode)
    assert (summary.frames_written, summary.frames_swapped, summary.faces_swapped) == (6, 5, 5)
    assert summary.passed == {"no face": 1}
    # No face: the very same file. PNG output is lossless, so outside the face's crop nothing moves at all.
    assert (tmp_path / "out" / "dogs.png").read_bytes() == (frames_folder / "dogs.png").read_bytes()
    alignments = load_alignments(frames_folder / "alignments.json")
    for path in sorted(frames_folder.glob("frame_*.png")):
        out_path = tmp_path / "out" / path.name
        source, out = read_image(path), read_image(out_path)
        crop = _footprint(source.shape, _faces_of(alignments, path.name), coverage, 3)
        inner = _footprint(source.shape, _faces_of(alignments, path.name), 0.35, 0)
        diff = np.abs(out.astype(int) - source).max(2)
        assert diff[~crop].max() == 0, f"{mode}: {path.name} changed outside the face"
        assert diff[inner].mean() > 5, f"{mode}: {path.name} face unchanged"
        assert png_text(out_path.read_bytes()).get(SYNTHETIC_KEY.decode(), "").startswith("synthetic")


def test_evaluate_swaps_each_face_exactly_as_convert(setup: Setup, frames_folder: Path, tmp_path: Path) -> None:
    """evaluate measures what convert makes: for the same frames, faces and settings its swapped frames are
    convert's output pixel for pixel (PNG is lossless), and every pixel convert changed lies inside the mask
    evaluate measures seams along."""
    from lib.evaluation.scores import swap_video
    from lib.frames import frames_with_faces, open_lookup
    from lib.media import FrameSource
    from lib.model.swapper import load_swapper
    from lib.swap import SwapOptions
    from plugins.convert import load_face_swapper

    options = {"color": "match-hist", "erosion": 3.0, "blur": 8.0, "sharpen": 0.5, "grain": 0.5}
    summary = _convert(setup, frames_folder, tmp_path / "out", **options)
    assert summary.faces_swapped == 5
    source = FrameSource(frames_folder)
    frames = [(frame.image, frame.faces[0]) for frame in frames_with_faces(source, [], open_lookup(source, None),
                                                                           None, 0.0)
              if frame.image is not None and frame.faces]
    swapper = load_face_swapper(load_swapper(setup.model), SwapOptions(**options))
    names = sorted(path.name for path in frames_folder.glob("frame_*.png"))
    results = [result for _, _, result in swap_video(swapper, frames)]
    assert len(results) == len(names) == 5
    for name, (frame, _), result in zip(names, frames, results):
        assert result is not None
        converted = read_image(tmp_path / "out" / name)
        np.testing.assert_array_equal(result.image, converted, err_msg=name)
        changed = np.any(converted != frame, axis=2)
        assert changed.sum() > 500, name
        assert (result.faces[0].frame_mask(frame.shape)[changed] > 0).all(), name


def test_follow_moves_the_swapped_features_and_0_turns_it_off(setup: Setup, frames_folder: Path,
                                                               tmp_path: Path) -> None:
    """By default (--follow 1) the swapped face's features are warped toward where the source's are (the model
    keeps each person's mean face shape from train); --follow 0 pastes the model's face as drawn. Only the
    face's region differs between the two."""
    from lib.model.swapper import load_swapper
    from scripts.convert.args import Config
    from scripts.convert.converter import settings_line

    model = load_swapper(setup.model)
    assert model.shapes is not None
    followed = _convert(setup, frames_folder, tmp_path / "followed")
    drawn = _convert(setup, frames_folder, tmp_path / "drawn", follow=0.0)
    assert followed.faces_swapped == drawn.faces_swapped == 5 and followed.unfollowed <= 1
    line = settings_line(Config(input=frames_folder, output=tmp_path / "x", model_dir=setup.model), model, 0.0)
    assert line.endswith(", follow 1 (face shape 0.8)")
    alignments = load_alignments(frames_folder / "alignments.json")
    moved = 0
    for path in sorted(frames_folder.glob("frame_*.png")):
        a, b = read_image(tmp_path / "followed" / path.name), read_image(tmp_path / "drawn" / path.name)
        crop = _footprint(a.shape, _faces_of(alignments, path.name), model.coverage, 3)
        diff = np.abs(a.astype(int) - b).max(2)
        assert diff[~crop].max() == 0, path.name
        moved += int(diff[crop].max() > 0)
    assert moved >= 4  # of the 5 faces (a 4-step model draws a nearly flat face: the moves are small)


def test_swap_model_uses_the_other_decoder(setup: Setup, frames_folder: Path, tmp_path: Path) -> None:
    a2b = _convert(setup, frames_folder, tmp_path / "a2b", color="none")
    b2a = _convert(setup, frames_folder, tmp_path / "b2a", color="none", swap_model=True)
    assert a2b.faces_swapped == b2a.faces_swapped == 5
    # The tiny model's two decoders have barely left their starting points: their faces differ a little,
    # but an option that did not reach the model would give the same pixels.
    for path in sorted(frames_folder.glob("frame_*.png")):
        one, other = read_image(tmp_path / "a2b" / path.name), read_image(tmp_path / "b2a" / path.name)
        assert not np.array_equal(one, other), path.name


def test_reference_swaps_only_that_person(setup: Setup, tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, (_, frame) in enumerate(VideoReader(VIDEO)):
        if index in (5, 50):
            cv2.imwrite(str(folder / f"frame_{index:03d}.png"), frame)
    shutil.copy(DATA / "stills" / "obama" / "obama.jpg", folder)  # somebody else: left as they are
    summary = _convert(setup, folder, tmp_path / "out", reference=[setup.face_png], detector="dlib-hog")
    assert summary.frames_swapped == 2
    assert summary.passed == {"not the --reference person": 1}
    assert np.array_equal(read_image(tmp_path / "out" / "obama.png"), read_image(folder / "obama.jpg"))


def test_frame_ranges_pass_or_drop_the_other_frames(setup: Setup, frames_folder: Path, tmp_path: Path) -> None:
    kept = _convert(setup, frames_folder, tmp_path / "kept", frame_ranges=["1-2"], keep_unchanged=True)
    assert (kept.frames_written, kept.frames_swapped) == (6, 2)  # dogs.png sorts first: frames 1, 2 have faces
    for name in ("dogs.png", "frame_040.png", "frame_060.png"):
        assert (tmp_path / "kept" / name).read_bytes() == (frames_folder / name).read_bytes()
    dropped = _convert(setup, frames_folder, tmp_path / "dropped", frame_ranges=["1-2"])
    assert (dropped.frames_written, dropped.dropped) == (2, 4)
    assert sorted(p.name for p in (tmp_path / "dropped").iterdir()) == ["frame_000.png", "frame_020.png"]


def test_faces_found_on_the_fly_without_alignments(setup: Setup, frames_folder: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    for path in sorted(frames_folder.glob("*.png"))[:3]:
        shutil.copy(path, bare)
    result = run_cli("convert", "-i", bare, "-o", tmp_path / "out", "-m", setup.model, "-D", "dlib-hog")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("finding faces on the fly") == 1
    assert "with a face swapped: 2" in result.stderr
    assert (tmp_path / "out" / "dogs.png").read_bytes() == (bare / "dogs.png").read_bytes()


def test_one_image_in_gives_that_image_file(setup: Setup, frames_folder: Path, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes((frames_folder / "frame_020.png").read_bytes())
    for name in ("out.png", "out.jpg"):
        result = run_cli("convert", "-i", photo, "-o", tmp_path / name, "-m", setup.model, "-D", "dlib-hog")
        assert result.returncode == 0, result.stderr
        assert (tmp_path / name).is_file(), name
        out, source = read_image(tmp_path / name), read_image(photo)
        assert out.shape == source.shape and np.abs(out.astype(int) - source).max() > 30
    assert png_text((tmp_path / "out.png").read_bytes())[SYNTHETIC_KEY.decode()].startswith("synthetic")
    assert b"synthetic: made with faceswap" in (tmp_path / "out.jpg").read_bytes()[:200]
    assert_one_line_error(run_cli("convert", "-i", frames_folder, "-o", tmp_path / "many.png", "-m", setup.model),
                          "one image file", "folder")
    assert not (tmp_path / "many.png").exists()


def test_video_cut_short_is_said_once_and_counted(setup: Setup, tmp_path: Path) -> None:
    """An mp4 with its index at the front, cut after half its bytes: the frames before the cut are converted,
    and the run says once how many of the announced frames it read."""
    whole = tmp_path / "whole.mp4"
    subprocess.run([find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-i", str(VIDEO), "-c", "copy",
                    "-movflags", "+faststart", str(whole)], check=True)
    clip = tmp_path / "test.mp4"  # the name the alignments file knows
    clip.write_bytes(whole.read_bytes()[:whole.stat().st_size // 2])
    result = run_cli("convert", "-i", clip, "-o", tmp_path / "out.mp4", "-m", setup.model, "-p",
                     setup.alignments_path)
    assert result.returncode == 0, result.stderr
    read = probe_video(tmp_path / "out.mp4").frame_count
    assert 10 < read < 91
    assert result.stderr.count(f"{read} of 91 frames decoded") == 2  # the warning, and the summary's line
    assert f"video: {read} of 91 frames decoded" in result.stderr


def test_unknown_output_suffix_is_an_error(setup: Setup, tmp_path: Path) -> None:
    result = run_cli("convert", "-i", VIDEO, "-o", tmp_path / "result.xyz", "-m", setup.model)
    assert_one_line_error(result, "result.xyz", ".mp4", ".gif", ".png")
    assert list(tmp_path.iterdir()) == []


# --- sound and the split -> convert -> join round trip -------------------------------------------------------

def test_sound_is_kept(setup: Setup, tmp_path: Path) -> None:
    """The first 6 s of the real clip with a 440 Hz tone as its sound; named test.mp4 so the alignments fit."""
    clip = tmp_path / "test.mp4"
    subprocess.run([find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-i", str(VIDEO), "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=6", "-map", "0:v", "-map", "1:a", "-t", "6", "-c:v", "copy",
                    "-c:a", "aac", str(clip)], check=True)
    target = tmp_path / "out.mp4"
    run_cli("convert", "-i", clip, "-o", target, "-m", setup.model, "-p", setup.alignments_path, "--crf", "23",
            check=True)
    info, source = probe_video(target), probe_video(clip)
    assert info.has_audio and (info.frame_count, info.fps) == (source.frame_count, source.fps)
    assert abs(info.duration - source.duration) < 0.3


def test_split_convert_join_round_trip(setup: Setup, tmp_path: Path) -> None:
    run_cli("tools", "video", "split", "-i", VIDEO, "-o", tmp_path / "frames", check=True)
    # Frames named test_000000.png ... find their faces in the video's alignments file.
    run_cli("convert", "-i", tmp_path / "frames", "-o", tmp_path / "swapped", "-m", setup.model,
            "-p", setup.alignments_path, check=True)
    assert len(list((tmp_path / "swapped").iterdir())) == 91
    run_cli("tools", "video", "join", "-i", tmp_path / "swapped", "-o", tmp_path / "joined.mp4",
            "--reference-video", VIDEO, check=True)
    info = probe_video(tmp_path / "joined.mp4")
    assert (info.frame_count, info.fps, info.width, info.height) == (91, 5.0, 426, 240)
    assert video_comment(tmp_path / "joined.mp4") == "synthetic: made with faceswap"
    # Frames straight to a video, the frame rate taken from the original.
    run_cli("convert", "-i", tmp_path / "frames", "-o", tmp_path / "direct.mp4", "-m", setup.model,
            "-p", setup.alignments_path, "--reference-video", VIDEO, check=True)
    info = probe_video(tmp_path / "direct.mp4")
    assert (info.frame_count, info.fps) == (91, 5.0) and not info.has_audio


@pytest.mark.parametrize(("signum", "started_ignoring"), [(signal.SIGINT, False), (signal.SIGTERM, False),
                                                          (signal.SIGINT, True)],
                         ids=["ctrl-c", "sigterm", "ctrl-c-started-ignoring-it"])
def test_interrupted_run_leaves_no_partial_video(signum: int, started_ignoring: bool, setup: Setup,
                                                 tmp_path: Path) -> None:
    """Stopped while it writes, convert removes its partial video; also when it was started with SIGINT ignored
    (as by a launcher, or a test worker), which Python alone would leave ignored."""
    target = tmp_path / "out.mp4"
    command = [sys.executable, str(ROOT / "faceswap.py"), "convert", "-i", str(VIDEO), "-o", str(target), "-m",
               str(setup.model), "-p", str(setup.alignments_path)]
    if started_ignoring:  # the shell sets SIGINT ignored, then becomes convert
        command = ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *command]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(p.name.startswith(".out.partial") for p in tmp_path.iterdir()):  # encoding has begun
        assert process.poll() is None and time.monotonic() < deadline, "convert ended before it could be stopped"
        time.sleep(0.02)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []


def test_a_gif_out_is_marked_synthetic(setup: Setup, tmp_path: Path) -> None:
    target = tmp_path / "out.gif"
    summary = _convert(setup, VIDEO, target, alignments=setup.alignments_path, frame_ranges=["0-5"])
    assert summary.frames_written == 6 and summary.frames_swapped > 0
    assert target.read_bytes()[:6] == b"GIF89a" and is_marked_synthetic(target)


def test_a_killed_runs_partial_video_is_removed_by_the_next_run(setup: Setup, tmp_path: Path) -> None:
    """kill -9 gives convert no chance to clean up: its hidden partial video stays, and the next convert to the
    same output removes it."""
    target = tmp_path / "out.mp4"
    command = [sys.executable, str(ROOT / "faceswap.py"), "convert", "-i", str(VIDEO), "-o", str(target), "-m",
               str(setup.model), "-p", str(setup.alignments_path)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not any(p.name.startswith(".out.partial") for p in tmp_path.iterdir()):  # the writer has begun
        assert process.poll() is None and time.monotonic() < deadline, "convert ended before it could be killed"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    left = [p.name for p in tmp_path.iterdir()]
    assert left == [f".out.partial-{process.pid}.mp4"], left
    run_cli(*command[2:], check=True)
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


# --- bad input -----------------------------------------------------------------------------------------------

def test_missing_or_foreign_model(setup: Setup, tmp_path: Path) -> None:
    assert_one_line_error(run_cli("convert", "-i", VIDEO, "-o", tmp_path / "o.mp4", "-m", tmp_path / "nope"),
                          "model folder not found")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "model.keras").write_text("not a model")
    assert_one_line_error(run_cli("convert", "-i", VIDEO, "-o", tmp_path / "o.mp4", "-m", foreign,
                                  "-p", setup.alignments_path))
    assert not (tmp_path / "o.mp4").exists()


def test_alignments_of_other_frames(setup: Setup, frames_folder: Path, tmp_path: Path) -> None:
    assert_one_line_error(run_cli("convert", "-i", VIDEO, "-o", tmp_path / "o.mp4", "-m", setup.model,
                                  "-p", frames_folder / "alignments.json"),
                          "lists none of the frames", "alignments file")
    small = tmp_path / "test.mp4"  # the same video at half size: names match, sizes do not
    subprocess.run([find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-i", str(VIDEO), "-vf", "scale=212:120",
                    str(small)], check=True)
    assert_one_line_error(run_cli("convert", "-i", small, "-o", tmp_path / "o.mp4", "-m", setup.model,
                                  "-p", setup.alignments_path), "426x240", "212x120")
    assert not (tmp_path / "o.mp4").exists()


def test_existing_output_is_kept_unless_overwrite(setup: Setup, tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    target.write_bytes(b"precious")
    assert_one_line_error(run_cli("convert", "-i", VIDEO, "-o", target, "-m", setup.model), "--overwrite")
    assert target.read_bytes() == b"precious"
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "x.png").write_bytes(b"precious")
    assert_one_line_error(run_cli("convert", "-i", VIDEO, "-o", tmp_path / "folder", "-m", setup.model),
                          "--overwrite")


def test_bad_frames_and_videos(setup: Setup, frames_folder: Path, tmp_path: Path) -> None:
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy(frames_folder / "frame_000.png", mixed)
    shutil.copy(frames_folder / "dogs.png", mixed)
    assert_one_line_error(run_cli("convert", "-i", mixed, "-o", tmp_path / "o.mp4", "-m", setup.model,
                                  "--fps", "5"), "different sizes")
    assert_one_line_error(run_cli("convert", "-i", frames_folder, "-o", tmp_path / "o.mp4", "-m", setup.model),
                          "--fps", "--reference-video")
    vfr = tmp_path / "vfr.mp4"  # every frame of the first 6 s, then every third: a variable frame rate
    subprocess.run([find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-i", str(VIDEO), "-vf",
                    r"select='lt(n\,30)+not(mod(n\,3))'", "-fps_mode", "vfr", str(vfr)], check=True)
    assert_one_line_error(run_cli("convert", "-i", vfr, "-o", tmp_path / "o.mp4", "-m", setup.model),
                          "variable frame rate", "cfr")
    sound_only = tmp_path / "sound.mp4"
    subprocess.run([find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=1",
                    "-c:a", "aac", str(sound_only)], check=True)
    assert_one_line_error(run_cli("convert", "-i", sound_only, "-o", tmp_path / "o.mp4", "-m", setup.model),
                          "no readable video stream")
    assert not (tmp_path / "o.mp4").exists()
