#!/usr/bin/env python3
"""faceswap: swap faces in photos and videos, for consensual, disclosed use. See README.md."""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import logging
import signal
import sys
import typing
from types import ModuleType

from lib.errors import FaceswapError
from scripts.console import setup_logging

COMMANDS = {
    "extract": "detect, align and cut out faces from photos or a video",
    "train": "train an A<->B model on two folders of faces",
    "convert": "swap faces in frames or a video with a trained model",
    "evaluate": "measure a trained model: identity, pose, expression, reconstruction, video stability",
    "tools": "alignments and video utilities",
    "demo": "the whole pipeline on the bundled clips of two people: extract, train, convert both ways, evaluate",
}


def _arguments(command: str) -> ModuleType:
    """scripts/<command>/args.py: the command's arguments, its Config and (for most) check(config), the
    problems found from the command line and the files it names; it loads no TensorFlow or dlib, so -h and those
    errors come at once. scripts/<command>/run.py does the work."""
    return importlib.import_module(f"scripts.{command}.args")


def build_parser(commands: dict[str, str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faceswap.py", description="Swap faces in photos and videos. Use only with consent, and say "
                                        "that the result is synthetic.")
    parser.add_argument("-v", "--debug", action="store_true", help="show debug logs and full tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, summary in (commands or COMMANDS).items():
        command_parser = sub.add_parser(name, help=summary, description=summary)
        _arguments(name).add_arguments(command_parser)
    return parser


def to_config(config_type: type, args: argparse.Namespace) -> object:
    """A frozen Config from the parsed arguments of the same names; a field that is itself a dataclass (a
    group of options, such as lib.swap.SwapOptions) is filled the same way from the same arguments. An argument
    left out (argparse.SUPPRESS) keeps the field's default; a group with a `given` field learns which it got."""
    hints = typing.get_type_hints(config_type)
    values: dict[str, object] = {}
    for item in dataclasses.fields(config_type):
        if dataclasses.is_dataclass(hints[item.name]):
            values[item.name] = to_config(hints[item.name], args)
        elif item.name == "given":
            values["given"] = frozenset(f.name for f in dataclasses.fields(config_type) if hasattr(args, f.name))
        elif hasattr(args, item.name):
            values[item.name] = getattr(args, item.name)
    return config_type(**values)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Build only the chosen command's arguments: the others' modules need not load.
    chosen = next((a for a in argv if not a.startswith("-")), None)
    chosen = chosen if chosen in COMMANDS else None
    parser = build_parser({chosen: COMMANDS[chosen]} if chosen else None)
    args = parser.parse_args(argv)
    setup_logging(args.debug)  # before TensorFlow is imported: its own logging reads the environment
    try:
        arguments = _arguments(args.command)
        config = to_config(arguments.Config, args)
        if hasattr(arguments, "check"):
            arguments.check(config)  # what the command line and its files show, before TensorFlow loads (~5 s)
        importlib.import_module(f"scripts.{args.command}.run").run(config)
    except FaceswapError as err:
        if args.debug:
            logging.getLogger("faceswap").exception("error")
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    # Ctrl-C (SIGINT) stops every command cleanly, removing what it had half-written, even when whatever started
    # this process ignored the signal (Python then leaves it ignored: a kill -INT would do nothing).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
