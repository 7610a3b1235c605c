"""demo's command line and its Config."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from lib.errors import check_range

DEFAULT_OUTPUT = Path("demo_output")
DEFAULT_MINUTES = 5.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT,
                        help=f"folder for everything the demo makes (default: {DEFAULT_OUTPUT}); run it again "
                             "with the same folder to train the model further")
    parser.add_argument("--minutes", type=float, default=DEFAULT_MINUTES,
                        help=f"minutes of training in this run (default: {DEFAULT_MINUTES:g}: a recognisable swap "
                             "on a 2-core CPU; more is better)")


@dataclass(frozen=True)
class Config:
    output: Path = DEFAULT_OUTPUT
    minutes: float = DEFAULT_MINUTES

    def __post_init__(self) -> None:
        check_range("--minutes", self.minutes, 0.1, 10**6)
