"""`train` end to end through the real CLI on real faces: a new model, resume, contradicting options, bad
input, SIGINT, SIGTERM on two logical CPU devices (--distributed), and a non-finite loss."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lib.align import ALIGNED_SIZE, mean_aligned_shape
from lib.image import SYNTHETIC_KEY, is_marked_synthetic, png_text, read_image
from lib.model.state import read_state
from lib.model.swapper import load_swapper
from lib.pose import pose_range
from lib.training.faces import load_faces
from scripts.console import NATIVE_LOG
from tests.conftest import ROOT, assert_one_line_error, assert_quiet, run_cli
from tests.model import extracted_faces, still_faces

pytestmark = pytest.mark.slow  # the fast tier leaves the end-to-end runs out
SMALL = ("--model", "lightweight", "--batch-size", "2", "--seed", "1")


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return extracted_faces(tmp_path_factory, "A"), extracted_faces(tmp_path_factory, "B")




def test_same_faces_for_both_people_are_refused(faces: tuple[Path, Path], tmp_path: Path) -> None:
    assert_one_line_error(run_cli("train", "-A", faces[0], "-B", faces[0], "-m", tmp_path / "model"),
                          "-A and -B are the same folder")
    copy = tmp_path / "copy_of_a"
    copy.mkdir()
    for path in sorted(faces[0].iterdir())[:20]:
        (copy / path.name).write_bytes(path.read_bytes())
    assert_one_line_error(run_cli("train", "-A", faces[0], "-B", copy, "-m", tmp_path / "model"),
                          "hold the same faces", "20 of the 20")
    assert not (tmp_path / "model").exists()


def test_minutes_bound_the_run_and_debug_shows_tensorflow(faces: tuple[Path, Path], tmp_path: Path) -> None:
    result = run_cli("-v", "train", "-A", faces[0], "-B", faces[1], "-m", tmp_path / "model", *SMALL,
                     "--minutes", "0.05", "--preview-every", "0")
    assert result.returncode == 0, result.stderr
    assert "this run (--minutes)" in result.stderr
    # train turns oneDNN on, and TensorFlow says so in its own log format: shown under -v only.
    assert any(NATIVE_LOG.match(line.encode()) for line in result.stderr.splitlines()), result.stderr[-2000:]


def _state(model_dir: Path) -> dict:
    return json.loads((model_dir / "state.json").read_text())


def test_train_then_resume(faces: tuple[Path, Path], tmp_path: Path) -> None:
    model = tmp_path / "model"
    first = run_cli("train", "-A", faces[0], "-B", faces[1], "-m", model, *SMALL, "--learn-mask",
                    "--iterations", "10", "--save-every", "10", "--preview-every", "10", "--timelapse-every", "5",
                    "--snapshot-every", "10")
    assert first.returncode == 0, first.stderr
    assert "saved at iteration 10" in first.stderr and "iterations: 10 this run (--iterations), 10 in total" \
        in first.stderr
    assert_quiet(first.stderr)
    state = _state(model)
    assert (state["iteration"], state["model"], state["config"]["learn_mask"]) == (10, "lightweight", True)
    preview = read_image(model / "preview.png")
    assert preview.shape[0] == 6 * 64  # rows A, A->A, A->B, B, B->B, B->A
    assert SYNTHETIC_KEY.decode() in png_text((model / "preview.png").read_bytes())
    assert sorted(p.name for p in (model / "timelapse").iterdir()) == ["00000005.png", "00000010.png"]
    assert all(is_marked_synthetic(p) for p in (model / "timelapse").iterdir())
    assert (model / "snapshots" / "10" / "state.json").is_file()
    events = b"".join(p.read_bytes() for p in (model / "logs").iterdir())  # TensorBoard scalars at iteration 10
    assert all(name in events for name in (b"loss_a", b"loss_b", b"mask_a", b"egs_per_second", b"scalars"))

    second = run_cli("train", "-A", faces[0], "-B", faces[1], "-m", model, "--iterations", "2",
                     "--learning-rate", "1e-4", "--preview-every", "0", "--no-warp-after", "0.5")
    assert second.returncode == 0, second.stderr
    assert "iteration 11: the inputs are no longer warped (--no-warp-after 0.5)" in second.stderr
    # --iterations counts from where the model left off (as deepfakes/faceswap): 10 + 2.
    assert "resuming at iteration 10" in second.stderr and "saved at iteration 12" in second.stderr
    assert "iterations: 2 this run (--iterations), 12 in total" in second.stderr
    resumed = _state(model)
    assert resumed["iteration"] == 12 and resumed["config"] == state["config"]
    assert resumed["training"]["learning_rate"] == 1e-4 and resumed["training"]["batch_size"] == 2
    assert resumed["created"] == state["created"]
    assert sorted(p.name for p in model.iterdir() if p.name.startswith("ckpt-")) == ["ckpt-10", "ckpt-12"]
    swapper = load_swapper(model)
    assert swapper.has_mask and swapper.iteration == 12

    for option, words in ((("--model", "original"), "--model original contradicts"),
                          (("--coverage", "0.5"), "--coverage 0.5 contradicts"),
                          (("--gan",), "--gan contradicts"),
                          (("--loss", "mae"), "--loss mae:1 contradicts")):
        assert_one_line_error(run_cli("train", "-A", faces[0], "-B", faces[1], "-m", model, *option), words,
                              "train a new model in another folder")
    assert _state(model) == resumed


def test_bad_input(faces: tuple[Path, Path], tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    model = tmp_path / "model"
    assert_one_line_error(run_cli("train", "-A", tmp_path / "nope", "-B", faces[1], "-m", model), "does not exist")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run_cli("train", "-A", faces[0], "-B", tmp_path / "empty", "-m", model),
                          "no face images")
    assert_one_line_error(run_cli("train", "-A", still_faces(tmp_path_factory), "-B", faces[1], "-m", model),
                          "at least 8")
    assert_one_line_error(run_cli("train", "-A", faces[0], "-B", faces[1], "-m", model, "--coverage", "2"),
                          "--coverage must be between")
    assert_one_line_error(run_cli("train", "-A", faces[0], "-B", faces[1], "-m", model, "--loss", "l2"), "--loss")
    assert_one_line_error(run_cli("train", "-A", faces[0], "-B", faces[1], "-m", model, "--no-warp-after", "0.7"),
                          "give --minutes or --iterations")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("not a model")
    assert_one_line_error(run_cli("train", "-A", faces[0], "-B", faces[1], "-m", tmp_path / "other"),
                          "not a faceswap model folder")
    assert not model.exists()


def _train_until_signal(command: list[str], signum: int) -> tuple[int, str]:
    """Start a training process, wait for its first step, send signum, return (exit code, stderr)."""
    process = subprocess.Popen(command, cwd=ROOT, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lines = []
    try:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if "first step" in line:
                process.send_signal(signum)
                break
        lines.extend(process.stderr)
        process.wait(timeout=120)
    finally:
        process.kill()
        process.wait()
    return process.returncode, "".join(lines)


def test_sigint_saves_and_exits_cleanly(faces: tuple[Path, Path], tmp_path: Path) -> None:
    model = tmp_path / "model"
    code, stderr = _train_until_signal(
        [sys.executable, str(ROOT / "faceswap.py"), "train", "-A", str(faces[0]), "-B", str(faces[1]), "-m",
         str(model), *SMALL, "--iterations", "100000", "--save-every", "100000", "--preview-every", "0"],
        signal.SIGINT)
    assert code == 0, stderr
    state = read_state(model)
    assert state is not None and state.iteration >= 1
    assert f"saved at iteration {state.iteration}" in stderr
    swapped, mask = load_swapper(model).swap(np.zeros((1, 64, 64, 3), np.uint8))
    assert swapped.shape == (1, 64, 64, 3) and mask is None


DISTRIBUTED = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import faceswap
sys.exit(faceswap.main(sys.argv[1:]))
"""


def test_distributed_on_two_logical_cpus_stops_on_sigterm(faces: tuple[Path, Path], tmp_path: Path) -> None:
    model = tmp_path / "model"
    code, stderr = _train_until_signal(
        [sys.executable, "-c", DISTRIBUTED, "train", "-A", str(faces[0]), "-B", str(faces[1]), "-m", str(model),
         *SMALL, "--distributed", "--iterations", "100000", "--preview-every", "0"], signal.SIGTERM)
    assert code == 0, stderr
    assert "2 devices" in stderr and "SIGTERM" in stderr
    state = read_state(model)
    assert state is not None and state.iteration >= 1 and f"saved at iteration {state.iteration}" in stderr


def test_distributed_without_devices_is_an_error(faces: tuple[Path, Path], tmp_path: Path) -> None:
    assert_one_line_error(run_cli("train", "-A", faces[0], "-B", faces[1], "-m", tmp_path / "model", *SMALL,
                                  "--distributed", "--iterations", "1"), "--distributed", "two or more GPUs")
    assert read_state(tmp_path / "model") is None


def test_non_finite_loss_stops_without_saving(faces: tuple[Path, Path], tmp_path: Path) -> None:
    """Weights that went NaN make the loss NaN: train stops, says so, and leaves the last save alone.
    (In this process: scripts.train.run is what the CLI calls after parsing.)"""
    from lib.errors import FaceswapError
    from lib.model.parts import ModelOptions
    from lib.model.state import ModelConfig, TrainingConfig
    from lib.training.checkpoint import save_checkpoint
    from lib.training.trainer import LossOptions, Trainer
    from plugins.train.model.lightweight import Lightweight
    from scripts.train.args import Config
    from scripts.train.run import run

    trainer = Trainer(Lightweight(ModelOptions()).build(), LossOptions())
    trainer.build_optimizers()
    kernel = trainer.decoder_a.get_layer("face").kernel
    kernel.assign(np.full(kernel.shape, np.nan, np.float32))
    model = tmp_path / "model"
    config = ModelConfig(model="lightweight", size=64, coverage=0.6, learn_mask=False, gan=False, gan_loss="lsgan",
                         gan_weight=0.1, loss="mae:1", eye_multiplier=3.0, mouth_multiplier=2.0,
                         background_weight=0.1)
    training = TrainingConfig(batch_size=2, learning_rate=5e-5, clip_norm=1.0, color_match=0.0, motion_blur=0.0,
                              warp=True)
    saved = save_checkpoint(model, trainer, config=config, training=training, iteration=5, previous=None)
    with pytest.raises(FaceswapError) as err:
        run(Config(input_a=faces[0], input_b=faces[1], model_dir=model, iterations=3, preview_every=0))
    message = str(err.value)
    assert "\n" not in message and "not finite at iteration 6" in message
    assert "the last good save (iteration 5) is kept" in message
    assert read_state(model) == saved
    assert sorted(p.name for p in model.iterdir() if p.name.startswith("ckpt-")) == ["ckpt-5"]


@pytest.fixture(scope="module")
def split_faces(faces: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each side's 25 real faces, every third one held out of training: train_A, held_A, train_B, held_B."""
    root = tmp_path_factory.mktemp("split")
    folders = {name: root / name for name in ("train_A", "held_A", "train_B", "held_B")}
    for folder in folders.values():
        folder.mkdir()
    for side, source in zip("AB", faces):
        for index, path in enumerate(sorted(source.glob("*.png"))):
            target = folders[f"held_{side}" if index % 3 == 2 else f"train_{side}"]
            (target / path.name).write_bytes(path.read_bytes())
    return folders


def test_heldout_evaluation_keeps_the_best_and_stops_on_a_plateau(split_faces: dict[str, Path],
                                                                   tmp_path: Path) -> None:
    model = tmp_path / "model"
    result = run_cli("train", "-A", split_faces["train_A"], "-B", split_faces["train_B"], "-m", model, *SMALL,
                     "--learn-mask", "--holdout-A", split_faces["held_A"], "--holdout-B", split_faces["held_B"],
                     "--eval-every", "1", "--eval-faces", "3", "--stop-after-plateau", "1", "--iterations", "30",
                     "--preview-every", "2")
    assert result.returncode == 0, result.stderr
    assert_quiet(result.stderr)
    assert "held-out faces: 3 of A, 3 of B" in result.stderr and "held-out at 1:" in result.stderr
    curves = json.loads((model / "curves.json").read_text())
    points = curves["heldout"]
    scores = [point["score"] for point in points]
    assert 2 <= len(points) < 30 and all(score is not None for score in scores)
    # It stopped at the first evaluation that did not beat the best one before it.
    assert scores[-1] >= min(scores[:-1]) and all(b < a for a, b in zip(scores[:-2], scores[1:-1]))
    assert "--stop-after-plateau" in result.stderr
    best = read_state(model / "best")
    assert best is not None and best.iteration == points[scores.index(min(scores))]["iteration"]
    poses = json.loads((model / "poses.json").read_text())  # what evaluate compares held-out faces with
    trained_a = load_faces(split_faces["train_A"]).poses
    assert trained_a is not None and poses["covered"]["A"] == pose_range(trained_a)
    # ... and each person's mean face shape, which convert's --follow keeps in the swap.
    landmarks_b = load_faces(split_faces["train_B"]).landmarks
    assert landmarks_b is not None and poses["shape_size"] == ALIGNED_SIZE
    np.testing.assert_allclose(poses["shape"]["B"], mean_aligned_shape(landmarks_b, ALIGNED_SIZE), atol=0.006)
    shapes = load_swapper(model / "best").shapes
    assert shapes is not None and set(shapes) == {"A", "B"} and shapes["A"].shape == (68, 2)
    assert (model / "best" / "poses.json").read_text() == (model / "poses.json").read_text()
    assert (model / "curves.png").is_file() and read_image(model / "curves.png").shape[0] > 200
    events = b"".join(p.read_bytes() for p in (model / "logs").iterdir())
    assert b"heldout/a2b/distance_to_target" in events and b"heldout/score" in events and b"preview" in events

    # evaluate gives the numbers training logged, for the same checkpoint and faces.
    report_dir = tmp_path / "report"
    run_cli("evaluate", "-m", model / "best", "-A", split_faces["held_A"], "-B", split_faces["held_B"],
            "--max-faces", "3", "-o", report_dir, check=True)
    report = json.loads((report_dir / "report.json").read_text())
    logged = points[scores.index(min(scores))]
    for direction in ("a2b", "b2a"):
        assert report[direction]["identity"]["to_target"] == pytest.approx(logged[direction]["distance_to_target"],
                                                                            abs=1e-3)
        assert report[direction]["pose_error_degrees"]["yaw"] == pytest.approx(logged[direction]["yaw_error"],
                                                                                abs=0.05)
        assert report[direction]["expression_nme"]["face"] == pytest.approx(logged[direction]["face_nme"],
                                                                             abs=1e-3)
    assert report["a2a"]["ssim"] == pytest.approx(logged["ssim"]["a2a"], abs=1e-3)


def test_heldout_faces_that_training_sees_are_refused(split_faces: dict[str, Path], tmp_path: Path) -> None:
    assert_one_line_error(run_cli("train", "-A", split_faces["train_A"], "-B", split_faces["train_B"], "-m",
                                  tmp_path / "model", "--holdout-A", split_faces["train_A"], "--holdout-B",
                                  split_faces["held_B"]), "--holdout-A", "never trains on")
    assert_one_line_error(run_cli("train", "-A", split_faces["train_A"], "-B", split_faces["train_B"], "-m",
                                  tmp_path / "model", "--holdout-A", split_faces["held_A"]), "--holdout-B")
