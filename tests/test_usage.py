"""docs/usage.md is what the argument parsers say (scripts/usage.py generates it)."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from lib.recipes import RECIPES
from scripts import usage


def test_usage_page_matches_the_parsers() -> None:
    assert usage.USAGE.read_text(encoding="utf-8") == usage.usage_markdown(), \
        "docs/usage.md is out of date: run python -m scripts.usage"


def test_every_command_and_option_is_on_the_page() -> None:
    text = usage.usage_markdown()
    for heading in ("## faceswap.py extract", "## faceswap.py train", "## faceswap.py convert",
                    "## faceswap.py evaluate", "### faceswap.py tools sort", "## faceswap.py demo"):
        assert heading in text
    for option in ("`--init-from MODEL`", "`--follow F`", "`--no-rotate`", "`--warp` / `--no-warp`",
                   "`-D {retinaface,mtcnn,dlib-hog,dlib-cnn}`"):
        assert option in text, option


def test_check_fails_on_a_stale_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "usage.md"
    monkeypatch.setattr(usage, "USAGE", page)
    assert usage.main(["--check"]) == 1  # missing
    assert usage.main([]) == 0 and usage.main(["--check"]) == 0
    page.write_text(page.read_text().replace("start from this model folder's weights", "start from scratch"))
    assert usage.main(["--check"]) == 1
    assert "run python -m scripts.usage" in capsys.readouterr().err


def test_the_readme_states_each_recipe_as_lib_recipes_defines_it() -> None:
    """The README's recipe lines are typed by hand: each must say the recipe's options as lib/recipes.py has
    them (changing a recipe without the README turns this red)."""
    readme = " ".join((usage.ROOT / "README.md").read_text(encoding="utf-8").split())
    for recipe in RECIPES.values():
        assert f"**`{recipe.name}`**: `{usage.option_words(dict(recipe.train))}`" in readme, recipe.name
        if recipe.warp_share is not None:
            assert f"`--no-warp-after {recipe.warp_share:g}`" in readme
        if recipe.convert:
            assert f"converts with `{usage.option_words(dict(recipe.convert))}`" in readme, recipe.name


def test_option_words() -> None:
    words = usage.option_words({"model": "lightweight", "learn_mask": True, "batch_size": 8, "learning_rate": 4e-4,
                                "warp": False})
    assert words == "lightweight --learn-mask --batch-size 8 --learning-rate 0.0004 --no-warp"


def test_train_help_states_the_defaults_a_new_model_gets() -> None:
    """train's help says each default in words; the values a new model gets are scripts.train.args.DEFAULTS:
    they must agree (a default changed in one place only turns this red)."""
    from scripts.train.args import DEFAULTS, add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    checked = 0
    for action in parser._actions:
        said = re.search(r"\(default: ([^)]*)\)", action.help or "")
        if action.dest not in DEFAULTS or said is None or re.search(r"\b(when|with)\b", said.group(1)):
            continue
        value = DEFAULTS[action.dest]
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        assert re.split(r"[,\s]", said.group(1))[0] == shown, f"{action.option_strings[0]}: {said.group(0)}"
        checked += 1
    assert checked >= 12
