"""`train`: placeholder until the train issue lands; the command exists so the CLI shape is fixed."""
from __future__ import annotations

import argparse
from dataclasses import dataclass

from lib.errors import FaceswapError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rest", nargs=argparse.REMAINDER)


@dataclass(frozen=True)
class Config:
    rest: list[str]


def run(cfg: Config) -> None:
    raise FaceswapError("train is not built yet")
