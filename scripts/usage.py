"""docs/usage.md, generated from the argument parsers themselves: every command and option with its help.

    python -m scripts.usage            # rewrite docs/usage.md
    python -m scripts.usage --check    # exit 1 when docs/usage.md differs from the parsers (tests run it)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from lib.recipes import RECIPES, Recipe

ROOT = Path(__file__).resolve().parents[1]
USAGE = ROOT / "docs" / "usage.md"
HEADER = ("# Every command and option\n\n"
          "Generated from the argument parsers by `python -m scripts.usage` (do not edit by hand; "
          "`tests/test_usage.py` fails when this page and the code differ). The same text is in "
          "`python faceswap.py COMMAND -h`. The README walks through the commands; "
          "[guide.md](guide.md) explains them.\n")


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _option(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    if isinstance(action, argparse.BooleanOptionalAction):
        return " / ".join(f"`{name}`" for name in action.option_strings)
    takes = action.nargs != 0
    metavar = action.metavar or (action.dest.upper() if action.choices is None else None)
    if takes and metavar is None:
        metavar = "{" + ",".join(str(choice) for choice in action.choices or ()) + "}"
    shown = f" {metavar}" if takes else ""
    if takes and action.nargs in ("+", "*"):
        shown += " ..."
    return ", ".join(f"`{name}{shown}`" for name in action.option_strings).replace("|", "\\|")


def _help(action: argparse.Action) -> str:
    text = action.help or ""
    if "%(" in text:
        text = text % {**vars(action), "prog": "faceswap.py"}
    if action.choices is not None and action.option_strings and "{" not in _option(action):
        text += f" (one of: {', '.join(str(choice) for choice in action.choices)})"
    return _cell(text)


def _parser_section(parser: argparse.ArgumentParser, title: str, level: int) -> list[str]:
    lines = [f"{'#' * level} {title}", ""]
    if parser.description:
        lines += [_cell(parser.description), ""]
    lines += ["```", " ".join(parser.format_usage().split()).removeprefix("usage: "), "```", ""]
    subparsers = None
    for group in parser._action_groups:  # argparse keeps its groups here; no public accessor
        actions = [a for a in group._group_actions if a.help != argparse.SUPPRESS
                   and not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]
        subparsers = subparsers or next((a for a in group._group_actions
                                         if isinstance(a, argparse._SubParsersAction)), None)
        if not actions:
            continue
        name = {"options": "options", "positional arguments": "arguments"}.get(group.title or "", group.title)
        lines += [f"*{name}*", "", "| option | what it does |", "|---|---|"]
        lines += [f"| {_option(a)} | {_help(a)} |" for a in actions]
        lines.append("")
    if subparsers is not None:
        for name, sub in subparsers.choices.items():
            lines += _parser_section(sub, f"{title} {name}", level + 1)
    return lines


def option_words(options: dict[str, Any]) -> str:
    """Options as a command line says them: {'batch_size': 8, 'skin': True} -> '--batch-size 8 --skin'; the
    model's name first, bare, as a recipe is read ('lightweight --learn-mask ...')."""
    words = [str(options["model"])] if "model" in options else []
    for name, value in options.items():
        if name == "model":
            continue
        flag = "--" + name.replace("_", "-")
        words.append(flag if value is True else f"--no-{flag[2:]}" if value is False else f"{flag} {value:g}"
                     if isinstance(value, float) else f"{flag} {value}")
    return " ".join(words)


def recipe_lines(recipe: Recipe) -> list[str]:
    """A recipe as usage.md lists it: its training options, warp share and convert settings."""
    lines = [f"- **`{recipe.name}`**: {recipe.summary}. Trains with `{option_words(dict(recipe.train))}`"]
    if recipe.warp_share is not None:
        share = recipe.warp_share
        lines[-1] += f", each run unwarped after {share:.0%} of it (`--no-warp-after {share:g}`)"
    if recipe.convert:
        lines[-1] += f"; converts with `{option_words(dict(recipe.convert))}`"
    lines[-1] += "."
    return lines


def usage_markdown() -> str:
    """The whole page, from faceswap.py's parser (COLUMNS fixed, so the usage lines do not depend on the
    terminal)."""
    sys.path.insert(0, str(ROOT))
    from faceswap import COMMANDS, build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    lines = [HEADER, "Common to every command: `-v`, `--debug`: show debug logs and full tracebacks.", ""]
    lines += [f"- [{name}](#faceswappy-{name}): {summary}" for name, summary in COMMANDS.items()]
    lines += ["- [recipes](#recipes): `train --recipe`'s named option sets", ""]
    for name, sub in commands.choices.items():
        lines += _parser_section(sub, f"faceswap.py {name}", 2)
    lines += ["## Recipes", "", "`train --recipe NAME` (lib/recipes.py): the recipe's options for those not "
              "given; the model keeps its convert settings, which a plain `convert -m MODEL` uses (an option "
              "given wins).", ""]
    for recipe in RECIPES.values():
        lines += recipe_lines(recipe)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.usage", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/usage.md is not what the code says")
    args = parser.parse_args(argv)
    text = usage_markdown()
    if args.check:
        if not USAGE.is_file() or USAGE.read_text(encoding="utf-8") != text:
            print(f"{USAGE} differs from the argument parsers: run python -m scripts.usage", file=sys.stderr)
            return 1
        return 0
    USAGE.write_text(text, encoding="utf-8")
    print(f"wrote {USAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
