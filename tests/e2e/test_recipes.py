"""Recipes by name through the real CLI: `train --recipe` fills the options not given, the model keeps the recipe's
convert settings, and convert and evaluate use them unless told otherwise."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from lib.model.state import read_state
from lib.recipes import RECIPES
from tests.conftest import DATA, run_cli
from tests.model import extracted_faces

pytestmark = pytest.mark.slow  # the fast tier leaves the end-to-end runs out


def test_a_recipe_trains_and_its_convert_settings_stay_with_the_model(tmp_path_factory: pytest.TempPathFactory,
                                                                      tmp_path: Path) -> None:
    faces_a, faces_b = extracted_faces(tmp_path_factory, "A"), extracted_faces(tmp_path_factory, "B")
    model = tmp_path / "model"
    cpu = RECIPES["cpu"]
    trained = run_cli("train", "-A", faces_a, "-B", faces_b, "-m", model, "--recipe", "cpu", "--batch-size", "4",
                      "--iterations", "4", "--preview-every", "0", check=True)
    state = read_state(model)
    assert state is not None
    assert state.config.model == cpu.train["model"] and state.config.learn_mask == cpu.train["learn_mask"]
    assert state.training.learning_rate == cpu.train["learning_rate"]
    assert state.training.batch_size == 4  # given: the recipe's 8 gives way
    assert (state.training.recipe, state.training.convert) == ("cpu", dict(cpu.convert))
    assert "no longer warped" in trained.stderr  # each run of the recipe ends on unwarped faces

    report = tmp_path / "eval"
    run_cli("evaluate", "-m", model, "-A", faces_a, "-B", faces_b, "--max-faces", "2", "-o", report, check=True)
    settings = json.loads((report / "report.json").read_text())["settings"]
    assert cpu.convert and all(settings[name] == value for name, value in cpu.convert.items())
    # convert takes them too, and what its command line gives wins (one photo: faces found as it goes).
    converted = run_cli("convert", "-i", DATA / "stills" / "obama" / "obama.jpg", "-o", tmp_path / "out.png",
                        "-m", model, "-D", "dlib-hog", "--sharpen", "0", check=True)
    assert cpu.convert["sharpen"] and "sharpen" not in converted.stderr
    assert f"follow {cpu.convert['follow']:g}" in converted.stderr and "kept to skin" in converted.stderr
