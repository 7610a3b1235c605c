"""train --init-from end to end on real faces: a new model started from a trained one's weights (every part, or
some of them with a decoder taken from the other side), the encoder held by --freeze-encoder, the origin kept in
state.json through a resume, the new model converting and evaluating like any other, and the models that do not
fit refused in one line."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from lib.model.saved import load_models
from lib.model.state import read_state
from tests.conftest import DATA, assert_one_line_error, assert_quiet, run_cli
from tests.model import extracted_faces

pytestmark = pytest.mark.slow
SMALL = ("--batch-size", "2", "--seed", "1", "--preview-every", "0")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Faces of A and B and a lightweight --learn-mask model trained 3 steps on them."""
    faces_a, faces_b = extracted_faces(tmp_path_factory, "A"), extracted_faces(tmp_path_factory, "B")
    model = tmp_path_factory.mktemp("source") / "model"
    run_cli("train", "-A", faces_a, "-B", faces_b, "-m", model, "--model", "lightweight", "--learn-mask",
            "--iterations", "3", *SMALL, check=True)
    return faces_a, faces_b, model


def _weights(model: Path) -> dict[str, list[np.ndarray]]:
    state = read_state(model)
    assert state is not None
    found = load_models(model, state, ("encoder", "decoder_a", "decoder_b", "masker"))
    return {stem: [np.asarray(w) for w in part.get_weights()] for stem, part in found.items()}


def _largest_change(before: list[np.ndarray], after: list[np.ndarray]) -> float:
    assert [a.shape for a in before] == [a.shape for a in after]
    return max(float(np.abs(a - b).max()) for a, b in zip(before, after))


def test_every_part_taken_and_the_encoder_held(trained: tuple[Path, Path, Path], tmp_path: Path) -> None:
    faces_a, faces_b, source = trained
    model = tmp_path / "model"
    result = run_cli("train", "-A", faces_a, "-B", faces_b, "-m", model, "--init-from", source,
                     "--freeze-encoder", "5", "--iterations", "2", *SMALL)
    assert result.returncode == 0, result.stderr
    assert_quiet(result.stderr)
    assert f"new model from {source}" in result.stderr
    assert "the encoder is held as it came (--freeze-encoder 5)" in result.stderr
    state = json.loads((model / "state.json").read_text())
    origin = json.loads((source / "state.json").read_text())
    assert state["iteration"] == 2 and state["config"] == origin["config"]
    assert state["origin"] == {"model": str(source.resolve()), "iteration": 3,
                               "parts": {"encoder": "encoder", "decoder-A": "decoder-A", "decoder-B": "decoder-B",
                                         "mask": "mask"}}
    assert state["training"]["warmup"] == 0 and state["training"]["freeze_encoder"] == 5
    before, after = _weights(source), _weights(model)
    # Held: the encoder as it came (the weight average of unchanged weights is the weights). Trained from
    # where they were: the decoders moved by a few Adam steps, far less than random weights differ.
    assert _largest_change(before["encoder"], after["encoder"]) < 1e-6
    for stem in ("decoder_a", "decoder_b", "masker"):
        assert 1e-6 < _largest_change(before[stem], after[stem]) < 2e-3, stem

    # The same command again resumes the new model, which keeps its origin; past iteration 5 the encoder trains.
    again = run_cli("train", "-A", faces_a, "-B", faces_b, "-m", model, "--init-from", source,
                    "--freeze-encoder", "5", "--iterations", "4", *SMALL)
    assert again.returncode == 0, again.stderr
    assert "resuming at iteration 2" in again.stderr and "iteration 5: the encoder trains again" in again.stderr
    resumed = json.loads((model / "state.json").read_text())
    assert resumed["iteration"] == 6 and resumed["origin"] == state["origin"]
    assert _largest_change(before["encoder"], _weights(model)["encoder"]) > 1e-6

    # It converts and evaluates like any model.
    run_cli("convert", "-i", DATA / "video" / "A_obama_kenburns.mp4", "-o", tmp_path / "out.mp4", "-m", model,
            "-D", "dlib-hog", check=True)
    assert (tmp_path / "out.mp4").stat().st_size > 0
    run_cli("evaluate", "-m", model, "-A", faces_a, "-B", faces_b, "--max-faces", "2", "-o", tmp_path / "eval",
            check=True)
    assert (tmp_path / "eval" / "report.json").is_file()


def test_a_decoder_from_the_other_side(trained: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """--parts encoder,decoder-A=decoder-B: the old B decoder becomes the new A, the new B starts random, and the
    learning rate warms up."""
    faces_a, faces_b, source = trained
    model = tmp_path / "model"
    result = run_cli("train", "-A", faces_b, "-B", faces_a, "-m", model, "--init-from", source,
                     "--parts", "encoder, decoder-A=decoder-B", "--iterations", "1", "--batch-size", "2",
                     "--seed", "2", "--preview-every", "0")  # another seed: the random B decoder is another
    assert result.returncode == 0, result.stderr
    assert "decoder-A from its decoder-B" in result.stderr
    state = json.loads((model / "state.json").read_text())
    assert state["origin"]["parts"] == {"encoder": "encoder", "decoder-A": "decoder-B"}
    assert state["training"]["warmup"] == 100
    before, after = _weights(source), _weights(model)
    assert _largest_change(before["decoder_b"], after["decoder_a"]) < 1e-3
    assert _largest_change(before["decoder_a"], after["decoder_a"]) > 1e-2
    assert _largest_change(before["decoder_b"], after["decoder_b"]) > 1e-2  # random, not taken
    assert _largest_change(before["encoder"], after["encoder"]) < 1e-3


def test_what_does_not_fit_is_refused(trained: tuple[Path, Path, Path], tmp_path: Path) -> None:
    faces_a, faces_b, source = trained
    model = tmp_path / "model"

    def train(*options: str | Path) -> subprocess.CompletedProcess[str]:
        return run_cli("train", "-A", faces_a, "-B", faces_b, "-m", model, "--iterations", "1", *SMALL, *options)

    for options, words in (
            (("--init-from", source, "--size", "128"), ("--size 128 does not fit", "size 64")),
            (("--init-from", source, "--model", "original"), ("--model original does not fit",)),
            (("--init-from", tmp_path), ("holds no trained model",)),
            (("--init-from", tmp_path / "nowhere"), ("no such model folder",)),
            (("--init-from", source, "--parts", "encoder,nose"), ("no part 'nose'",)),
            (("--init-from", source, "--parts", "encoder=decoder-A"), ("only a decoder",)),
            (("--init-from", source, "--parts", "decoder-A,decoder-A=decoder-B"), ("decoder-A is given twice",)),
            (("--parts", "encoder"), ("give --init-from",)),
            (("--init-from", model), ("the model folder itself",))):
        assert_one_line_error(train(*options), *words)
        assert not model.exists()
    assert_one_line_error(run_cli("train", "-A", faces_a, "-B", faces_b, "-m", source, "--init-from", model,
                                  "--iterations", "1"), "already holds one", "leave --init-from out")
